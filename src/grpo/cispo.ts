/**
 * CISPO (MiniMax-M1, arXiv 2506.13585): clip the importance weight, not the update. The clipped weight is a
 * constant, so every token keeps a gradient (−sg(ŵ)·A·∇log π_θ); PPO/GRPO clipping instead zeroes the gradient of
 * the tokens outside the trust region, which are often the rare "fork" tokens of reasoning.
 *
 *     TRL  (`trl/trainer/grpo_trainer.py` _compute_loss, commit f2cd57710ae345ea6428ae95363267fcf38a3dc8):
 *          ŵ = min(w, ε_high)                  ε_high is ScaleRL's ε_max (TRL recommends 5), no lower bound
 *     verl (`verl/trainer/ppo/core_algos.py` compute_policy_loss_cispo, commit b178a3cd):
 *          ŵ = clip(exp(clip(log w, −20, 20)), 1 − ε_low, 1 + ε_high)
 *     ℓ_it = −sg(ŵ_it) · A_it · log π_θ(o_it)
 *
 * The loss value is not that of GRPO (it is scaled by log π_θ, not by w); only its gradient is the clipped
 * importance-weighted policy gradient.
 */
import * as tf from '@tensorflow/tfjs-core';
import { assertAdvantageShape, assertNonNegativeFinite, assertRank, assertSameShape } from './checks';
import type { ClippedSurrogate } from './policyLoss';

/** Whose clip bounds: TRL's `[0, ε_high]` or verl's `[1 − ε_low, 1 + ε_high]` with the log-ratio clamped at ±20. */
export type CispoClip = 'trl' | 'verl';

export const CISPO_CLIPS: readonly CispoClip[] = ['trl', 'verl'];

/** verl clamps the log-ratio before exp "for numerical stability". */
const VERL_LOG_RATIO_CLAMP = 20;

/**
 * Per-token CISPO loss [B,T]. `logWeights` are the log importance weights (log π_θ − log π_old, or GSPO's, see
 * gspo.ts) and must not be differentiated through here: the weight enters as a constant (`stopGradient`).
 * Flags: `highClipped` = ŵ < w with A > 0 (TRL's `cispo_clip_ratio`), `lowClipped` = ŵ > w with A < 0 (verl only).
 */
export function computeCispoLoss(
  advantages: tf.Tensor2D,
  policyLogProbs: tf.Tensor2D,
  logWeights: tf.Tensor2D,
  options: { clip: CispoClip; epsilonLow: number; epsilonHigh: number },
  stopGradient: <T extends tf.Tensor>(x: T) => T,
): ClippedSurrogate {
  const fn = 'computeCispoLoss';
  const { clip, epsilonLow, epsilonHigh } = options;
  assertRank(fn, 'policyLogProbs', policyLogProbs, 2);
  assertSameShape(fn, 'policyLogProbs', policyLogProbs, 'logWeights', logWeights);
  assertAdvantageShape(fn, 'advantages', advantages, policyLogProbs);
  assertNonNegativeFinite(fn, 'epsilonLow', epsilonLow);
  assertNonNegativeFinite(fn, 'epsilonHigh', epsilonHigh);
  if (clip !== 'trl' && clip !== 'verl') throw new Error(`${fn}: clip must be one of ${CISPO_CLIPS.join(', ')}, got '${String(clip)}'`);
  return tf.tidy(() => {
    const logW = stopGradient(logWeights);
    const ratio = tf.exp(clip === 'verl' ? tf.clipByValue(logW, -VERL_LOG_RATIO_CLAMP, VERL_LOG_RATIO_CLAMP) : logW);
    // TRL's clamp has no lower bound; tf.clipByValue needs one, and a weight is never below 0.
    const [lower, upper] = clip === 'trl' ? [0, epsilonHigh] : [1 - epsilonLow, 1 + epsilonHigh];
    const clipped = tf.clipByValue(ratio, lower, upper);
    const loss = tf.neg(tf.mul(tf.mul(clipped, advantages), policyLogProbs));
    const highClipped = tf.logicalAnd(tf.greater(ratio, upper), tf.greater(advantages, 0));
    const lowClipped = tf.logicalAnd(tf.less(ratio, lower), tf.less(advantages, 0));
    return {
      loss: loss as tf.Tensor2D,
      ratio: ratio as tf.Tensor2D,
      lowClipped: tf.cast(lowClipped, 'float32') as tf.Tensor2D,
      highClipped: tf.cast(highClipped, 'float32') as tf.Tensor2D,
    };
  });
}
