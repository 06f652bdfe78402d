/**
 * Per-token policy-gradient losses [B,T]: CS336's three (no baseline, REINFORCE with baseline, GRPO-Clip) and the
 * asymmetric clip of DAPO that GRPO-Clip is a special case of. Advantages may be [B,1] (one per rollout) or [B,T]
 * (process supervision); they broadcast over the tokens.
 */
import * as tf from '@tensorflow/tfjs-core';
import { assertAdvantageShape, assertNonNegativeFinite, assertRank, assertSameShape, required } from './checks';

/**
 * CS336 `compute_naive_policy_gradient_loss`: ℓ_it = −A_i · log π_θ(o_it). With raw rewards as A this is plain
 * REINFORCE; with group-normalised advantages, REINFORCE with the group mean as baseline.
 */
export function computeNaivePolicyGradientLoss(
  rawRewardsOrAdvantages: tf.Tensor2D,
  policyLogProbs: tf.Tensor2D,
): tf.Tensor2D {
  const fn = 'computeNaivePolicyGradientLoss';
  assertRank(fn, 'policyLogProbs', policyLogProbs, 2);
  assertAdvantageShape(fn, 'rawRewardsOrAdvantages', rawRewardsOrAdvantages, policyLogProbs);
  return tf.tidy(() => tf.neg(tf.mul(rawRewardsOrAdvantages, policyLogProbs)) as tf.Tensor2D);
}

/** Per-token results of the clipped surrogate, all [B,T]; the flags are 0/1 float32. */
export interface ClippedSurrogate {
  loss: tf.Tensor2D;
  /** ρ = π_θ / π_old = exp(log π_θ − log π_old). */
  ratio: tf.Tensor2D;
  /** ρ < 1 − ε_low with A < 0: the clip removed this token's gradient from below. */
  lowClipped: tf.Tensor2D;
  /** ρ > 1 + ε_high with A > 0: the clip removed this token's gradient from above. */
  highClipped: tf.Tensor2D;
  /** With a dual clip c: A < 0 and the loss was bounded by −A·c (verl `pg_clipfrac_lower`); absent without. */
  dualClipped?: tf.Tensor2D;
}

/**
 * Asymmetric clipped surrogate (DAPO "clip-higher", TRL `epsilon` / `epsilon_high`, verl `clip_ratio_low/high`):
 *
 *     ρ_it = exp(log π_θ(o_it) − log π_old(o_it))
 *     ℓ_it = −min(ρ_it A_it, clip(ρ_it, 1 − ε_low, 1 + ε_high) A_it)
 *
 * A larger ε_high lets unlikely tokens with positive advantage grow faster, which keeps entropy from collapsing.
 * The flags mark the tokens where the clipped term is the smaller one, i.e. where the clip zeroes the gradient.
 *
 * `dualClip` c (> 1; verl `clip_ratio_c`, Ye et al. 2019 dual-clip PPO): for A < 0 the per-token loss is also
 * bounded above by −A·c, so a token whose ratio has run far above 1 cannot push with an unbounded weight:
 *
 *     ℓ_it = min(ℓ_it, −A_it · c)   where A_it < 0
 *
 * verl compute_policy_loss_vanilla (core_algos.py @ b178a3cd56f58b2d502255daba591e92833930a7). TRL's two-sided
 * clipping `delta` (INTELLECT-2; `coef_1 = clamp(ρ, max=δ)` before the min, grpo_trainer.py @ f2cd577) is the same
 * function when δ ≥ 1 + ε_high: for A < 0, −min(min(ρ, δ)A, clip(ρ)A) = |A|·max(min(ρ, δ), clip(ρ)) = min(ℓ, |A|δ);
 * for A > 0, min(ρ, δ) only matters above 1 + ε_high, where clip(ρ) already is the smaller. So δ is passed as c.
 */
export function computeAsymmetricClipLoss(
  advantages: tf.Tensor2D,
  policyLogProbs: tf.Tensor2D,
  oldLogProbs: tf.Tensor2D,
  epsilonLow: number,
  epsilonHigh: number,
  dualClip?: number,
): ClippedSurrogate {
  const fn = 'computeAsymmetricClipLoss';
  assertRank(fn, 'policyLogProbs', policyLogProbs, 2);
  assertSameShape(fn, 'policyLogProbs', policyLogProbs, 'oldLogProbs', oldLogProbs);
  assertAdvantageShape(fn, 'advantages', advantages, policyLogProbs);
  assertNonNegativeFinite(fn, 'epsilonLow', epsilonLow);
  assertNonNegativeFinite(fn, 'epsilonHigh', epsilonHigh);
  if (dualClip !== undefined && !(dualClip > 1 && Number.isFinite(dualClip))) {
    throw new Error(`${fn}: dualClip (clip_ratio_c / delta) must be a finite number > 1, got ${dualClip}`);
  }
  return tf.tidy(() => {
    const ratio = tf.exp(tf.sub(policyLogProbs, oldLogProbs));
    const clippedRatio = tf.clipByValue(ratio, 1 - epsilonLow, 1 + epsilonHigh);
    const clipLoss = tf.neg(tf.minimum(tf.mul(ratio, advantages), tf.mul(clippedRatio, advantages)));
    const dual = dualClip === undefined ? undefined : applyDualClip(clipLoss, advantages, dualClip);
    const loss = dual?.loss ?? clipLoss;
    const lowClipped = tf.logicalAnd(tf.less(ratio, 1 - epsilonLow), tf.less(advantages, 0));
    const highClipped = tf.logicalAnd(tf.greater(ratio, 1 + epsilonHigh), tf.greater(advantages, 0));
    const result = {
      loss: loss as tf.Tensor2D,
      ratio: ratio as tf.Tensor2D,
      lowClipped: tf.cast(lowClipped, 'float32') as tf.Tensor2D,
      highClipped: tf.cast(highClipped, 'float32') as tf.Tensor2D,
    };
    return dual ? { ...result, dualClipped: dual.flags } : result;
  });
}

/** ℓ → min(ℓ, −A·c) where A < 0 (verl's `torch.where(advantages < 0, clip_pg_losses2, clip_pg_losses1)`). */
function applyDualClip(clipLoss: tf.Tensor, advantages: tf.Tensor2D, c: number): { loss: tf.Tensor2D; flags: tf.Tensor2D } {
  const negative = tf.less(advantages, 0);
  // The bound is +∞ where A ≥ 0, so one `minimum` does it: no `where` on the policy's side of the tape (tfjs has no
  // gradient for the logical ops such a condition would need once it depends on the loss's shape).
  const bound = tf.where(negative, tf.mul(tf.neg(advantages), c), tf.fill(advantages.shape, Number.POSITIVE_INFINITY));
  const loss = tf.minimum(clipLoss, bound) as tf.Tensor2D;
  const flags = tf.cast(tf.greater(clipLoss, bound), 'float32') as tf.Tensor2D;
  return { loss, flags };
}

/**
 * CS336 `compute_grpo_clip_loss`: ℓ_it = −min(ρ_it A_i, clip(ρ_it, 1 − ε, 1 + ε) A_i), ρ = exp(log π_θ − log π_old).
 * metadata: `clipped` (1 where the clipped term was the smaller, so the token gets no gradient), `ratio`,
 * `lowClipped`, `highClipped`, all [B,T].
 */
export function computeGrpoClipLoss(
  advantages: tf.Tensor2D,
  policyLogProbs: tf.Tensor2D,
  oldLogProbs: tf.Tensor2D,
  cliprange: number,
): { loss: tf.Tensor2D; metadata: Record<string, tf.Tensor2D> } {
  assertNonNegativeFinite('computeGrpoClipLoss', 'cliprange', cliprange);
  return tf.tidy(() => {
    const { loss, ratio, lowClipped, highClipped } = computeAsymmetricClipLoss(
      advantages,
      policyLogProbs,
      oldLogProbs,
      cliprange,
      cliprange,
    );
    // The two flags are exclusive (they need opposite signs of A), so their sum is their union.
    const clipped = tf.add(lowClipped, highClipped) as tf.Tensor2D;
    return { loss, metadata: { clipped, ratio, lowClipped, highClipped } };
  });
}

/** CS336 `loss_type` of `compute_policy_gradient_loss`. */
export type PolicyGradientLossType = 'no_baseline' | 'reinforce_with_baseline' | 'grpo_clip';

export const POLICY_GRADIENT_LOSS_TYPES: readonly PolicyGradientLossType[] = [
  'no_baseline',
  'reinforce_with_baseline',
  'grpo_clip',
];

/**
 * CS336 `compute_policy_gradient_loss`: dispatches on `lossType`.
 *
 *     no_baseline:              −r_i · log π_θ          needs rawRewards [B,1]
 *     reinforce_with_baseline:  −A_i · log π_θ          needs advantages [B,1]
 *     grpo_clip:                GRPO-Clip               needs advantages, oldLogProbs, cliprange
 *
 * A missing argument for the chosen type throws an error naming it. metadata is that of the chosen loss ({} for the
 * first two).
 */
export function computePolicyGradientLoss(
  policyLogProbs: tf.Tensor2D,
  lossType: PolicyGradientLossType,
  rawRewards?: tf.Tensor2D,
  advantages?: tf.Tensor2D,
  oldLogProbs?: tf.Tensor2D,
  cliprange?: number,
): { loss: tf.Tensor2D; metadata: Record<string, tf.Tensor2D> } {
  const fn = 'computePolicyGradientLoss';
  const forType = `for lossType '${lossType}'`;
  switch (lossType) {
    case 'no_baseline':
      return {
        loss: computeNaivePolicyGradientLoss(required(fn, 'rawRewards', forType, rawRewards), policyLogProbs),
        metadata: {},
      };
    case 'reinforce_with_baseline':
      return {
        loss: computeNaivePolicyGradientLoss(required(fn, 'advantages', forType, advantages), policyLogProbs),
        metadata: {},
      };
    case 'grpo_clip':
      return computeGrpoClipLoss(
        required(fn, 'advantages', forType, advantages),
        policyLogProbs,
        required(fn, 'oldLogProbs', forType, oldLogProbs),
        required(fn, 'cliprange', forType, cliprange),
      );
    default:
      throw new Error(`${fn}: lossType must be one of ${POLICY_GRADIENT_LOSS_TYPES.join(', ')}, got '${lossType}'`);
  }
}
