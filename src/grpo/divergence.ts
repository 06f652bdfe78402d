/**
 * KL to the reference policy and entropy, per token. All are differentiable with respect to the policy's
 * log-probs or logits, so β·KL can sit inside the loss.
 */
import * as tf from '@tensorflow/tfjs-core';
import { assertRank, assertSameShape } from './checks';

/**
 * TRL's per-token KL estimator ("k3", Schulman): with d = log π_ref(o_t) − log π_θ(o_t),
 *
 *     k3_t = exp(d) − d − 1
 *
 * It needs only the sampled token's log-probs, is ≥ 0 for every sample, and is unbiased for KL(π_θ ‖ π_ref) when
 * the tokens are drawn from π_θ.
 */
export function computeK3KlPerToken(policyLogProbs: tf.Tensor2D, refLogProbs: tf.Tensor2D): tf.Tensor2D {
  assertRank('computeK3KlPerToken', 'policyLogProbs', policyLogProbs, 2);
  assertSameShape('computeK3KlPerToken', 'policyLogProbs', policyLogProbs, 'refLogProbs', refLogProbs);
  return tf.tidy(() => {
    const logRatio = tf.sub(refLogProbs, policyLogProbs);
    return tf.sub(tf.sub(tf.exp(logRatio), logRatio), 1) as tf.Tensor2D;
  });
}

/**
 * Log-probabilities are floored at −1e30 before they multiply a probability: a logit of −inf (a token masked out of
 * the vocabulary) has probability 0 and must contribute 0, not 0·(−inf) = NaN, in the value and in the gradient.
 * A floor, not a `where(p > 0, …)`: tfjs has no gradient for the comparison that would feed the `where`. For finite
 * logits the floor never binds (a log-softmax is ≥ min logit − max logit − log V); the one value it changes is a KL
 * that is truly +inf (the reference gives 0 probability to a token the policy can emit), reported as ~1e30.
 */
const LOG_PROB_FLOOR = -1e30;

function floored(logProbs: tf.Tensor): tf.Tensor {
  return tf.maximum(logProbs, LOG_PROB_FLOOR);
}

/**
 * Exact KL over the whole vocabulary from logits [B,T,V] (seed 001, "方式 2"), per token [B,T]:
 *
 *     KL_t(π_θ ‖ π_ref) = Σ_v π_θ(v) · (log π_θ(v) − log π_ref(v))
 *
 * with log π from a log-softmax (max-shifted, so no overflow and no +1e-10 fudge as in the seed). Tokens with
 * logit −inf in both policies contribute 0.
 */
export function computeFullKlPerToken(policyLogits: tf.Tensor3D, refLogits: tf.Tensor3D): tf.Tensor2D {
  assertRank('computeFullKlPerToken', 'policyLogits', policyLogits, 3);
  assertSameShape('computeFullKlPerToken', 'policyLogits', policyLogits, 'refLogits', refLogits);
  return tf.tidy(() => {
    const policyLogProbs = tf.logSoftmax(policyLogits);
    const logRatio = tf.sub(floored(policyLogProbs), floored(tf.logSoftmax(refLogits)));
    return tf.sum(tf.mul(tf.exp(policyLogProbs), logRatio), -1) as tf.Tensor2D;
  });
}

/**
 * Entropy of the softmax over the last axis, e.g. logits [B,T,V] → [B,T]:
 *
 *     H = −Σ_v π(v) · log π(v),   log π = log_softmax(logits)
 */
export function computeEntropyFromLogits(logits: tf.Tensor): tf.Tensor {
  if (logits.rank < 1) throw new Error('computeEntropyFromLogits: logits must have a vocabulary axis');
  return tf.tidy(() => {
    const logProbs = tf.logSoftmax(logits);
    return tf.neg(tf.sum(tf.mul(tf.exp(logProbs), floored(logProbs)), -1));
  });
}

/**
 * Per-token KL estimators of the sampled token, with verl's names (`kl_penalty` / `kl_loss_type`) and TRL's k3:
 *
 *     kl (k1):      log π_θ − log π_ref
 *     abs:          |log π_θ − log π_ref|
 *     mse (k2):     ½ (log π_θ − log π_ref)²
 *     k3 (TRL):     exp(d) − d − 1,  d = clamp(log π_ref − log π_θ, ±logRatioClamp)
 *     low_var_kl:   clamp(exp(d) − d − 1, ±valueClamp), d as for k3          (verl's k3)
 *     k1+, k3+:     the value of kl / low_var_kl, the gradient of mse        (verl's straight-through "+")
 *
 * Our `k3` is TRL's (its value unclamped) and differs from verl's `k3`, which is an alias of `low_var_kl`.
 */
export type KlPenalty = 'kl' | 'k1' | 'abs' | 'mse' | 'k2' | 'k3' | 'low_var_kl' | 'k1+' | 'k3+';

export const KL_PENALTIES: readonly KlPenalty[] = ['kl', 'k1', 'abs', 'mse', 'k2', 'k3', 'low_var_kl', 'k1+', 'k3+'];

export interface KlClamps {
  /**
   * |log π_ref − log π_θ| is clamped to this before the exp of k3 / low_var_kl; default 20 as verl (exp(20) ≈ 4.9e8
   * stays finite in float32, exp(100) does not). 0: no clamp (TRL's k3 as written). Out of the clamp the gradient
   * is 0, as torch.clamp's.
   */
  logRatioClamp?: number;
  /** low_var_kl (and k3+) values are clamped to ±this; default 10 as verl. 0: no clamp. */
  valueClamp?: number;
}

export const DEFAULT_KL_LOG_RATIO_CLAMP = 20;
export const DEFAULT_KL_VALUE_CLAMP = 10;

/**
 * The per-token KL penalty [B,T] chosen by `estimator`, differentiable w.r.t. policyLogProbs. verl
 * `kl_penalty` / `kl_penalty_forward` (verl/trainer/ppo/core_algos.py @ b178a3cd56f58b2d502255daba591e92833930a7),
 * whose clamps (log-ratio ±20, low_var_kl value ±10) this copies, configurable; verl's k1 / abs / mse have no clamp
 * and need none (linear or quadratic in the log-ratio).
 */
export function computeKlPenaltyPerToken(
  policyLogProbs: tf.Tensor2D,
  refLogProbs: tf.Tensor2D,
  estimator: KlPenalty,
  clamps: KlClamps = {},
): tf.Tensor2D {
  const fn = 'computeKlPenaltyPerToken';
  assertRank(fn, 'policyLogProbs', policyLogProbs, 2);
  assertSameShape(fn, 'policyLogProbs', policyLogProbs, 'refLogProbs', refLogProbs);
  if (!KL_PENALTIES.includes(estimator)) throw new Error(`${fn}: estimator must be one of ${KL_PENALTIES.join(', ')}, got '${estimator}'`);
  const { logRatioClamp = DEFAULT_KL_LOG_RATIO_CLAMP, valueClamp = DEFAULT_KL_VALUE_CLAMP } = clamps;
  for (const [name, value] of Object.entries({ logRatioClamp, valueClamp })) {
    if (!(value >= 0)) throw new Error(`${fn}: ${name} must be ≥ 0 (0: no clamp), got ${value}`);
  }
  return tf.tidy(() => {
    if (estimator === 'k1+' || estimator === 'k3+') {
      const forward = estimator === 'k1+' ? 'kl' : 'low_var_kl';
      return straightThroughK2(policyLogProbs, refLogProbs, (logp, ref) => klForward(logp, ref, forward, logRatioClamp, valueClamp));
    }
    return klForward(policyLogProbs, refLogProbs, estimator, logRatioClamp, valueClamp);
  });
}

function clampSymmetric(x: tf.Tensor, bound: number): tf.Tensor {
  return bound > 0 ? tf.clipByValue(x, -bound, bound) : x;
}

function klForward(logp: tf.Tensor2D, ref: tf.Tensor2D, estimator: KlPenalty, logRatioClamp: number, valueClamp: number): tf.Tensor2D {
  switch (estimator) {
    case 'kl':
    case 'k1':
      return tf.sub(logp, ref);
    case 'abs':
      return tf.abs(tf.sub(logp, ref)) as tf.Tensor2D;
    case 'mse':
    case 'k2':
      return tf.mul(tf.square(tf.sub(logp, ref)), 0.5) as tf.Tensor2D;
    default: {
      const d = clampSymmetric(tf.sub(ref, logp), logRatioClamp);
      const k3 = tf.sub(tf.sub(tf.exp(d), d), 1);
      return (estimator === 'k3' ? k3 : clampSymmetric(k3, valueClamp)) as tf.Tensor2D;
    }
  }
}

/**
 * verl's "+" estimators: `k2 − k2.detach() + forward.detach()`, i.e. the forward estimator's value with k2's
 * gradient (log π_θ − log π_ref) · dy, which is the unbiased gradient of the KL (verl PR 2953). tfjs has no detach,
 * so the same as a custom gradient; the reference gets none.
 */
function straightThroughK2(
  logp: tf.Tensor2D,
  ref: tf.Tensor2D,
  forward: (logp: tf.Tensor2D, ref: tf.Tensor2D) => tf.Tensor2D,
): tf.Tensor2D {
  const op = tf.customGrad((a: tf.Tensor | tf.GradSaveFunc, b: tf.Tensor | tf.GradSaveFunc, save: tf.Tensor | tf.GradSaveFunc) => {
    const [policy, reference] = [a as tf.Tensor2D, b as tf.Tensor2D];
    (save as tf.GradSaveFunc)([policy, reference]);
    return {
      value: forward(policy, reference),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.mul(dy, tf.sub(saved[0], saved[1])), tf.zerosLike(saved[1])],
    };
  });
  return op(logp, ref) as tf.Tensor2D;
}

/**
 * computeKlPenaltyPerToken's value for one token, on the host in float64: in src/protocol/klPenalty.ts, so the reader
 * of compact token blocks recomputes a step's `kl` column with the very same function (src/protocol/tokenBlocks.ts).
 */
export { klPenaltyValue } from '../protocol/klPenalty';
