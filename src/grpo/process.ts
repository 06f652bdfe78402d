/**
 * Seed 001's per-position estimator (supervision "discounted_returns"): a reward per token, discounted returns
 * R_it = Σ_{s≥t} γ^(s−t) r_is, normalised across the group separately at each position t. It is seed 001's own
 * formula (`compute_process_advantages` in ../shared/seeds/001), not DeepSeekMath's: DeepSeekMath §4.1.3 normalises
 * the step rewards over all steps of the group and sums them undiscounted — that one is stepSupervision.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { assertNonNegativeFinite, assertRank, assertSameShape } from './checks';
import { assertGroups, meanAlong, stdAlong, StdKind } from './statistics';

/**
 * Discounted return-to-go per token: R_t = r_t + γ·R_{t+1}, R_T = 0, i.e. R_t = Σ_{s≥t} γ^(s−t) r_s.
 *
 * On the device, without reading the rewards back (webgpu cannot read synchronously): a doubling scan. After the
 * pass with offset k, R_t holds Σ γ^(s−t) r_s over s ∈ [t, t + 2k); adding γ^k·R_{t+k} doubles the window, so
 * ⌈log₂ T⌉ passes of O(B·T) reach every later token, where a dense formulation would need a T×T discount matrix.
 */
export function computeDiscountedReturns(tokenRewards: tf.Tensor2D, gamma: number): tf.Tensor2D {
  assertRank('computeDiscountedReturns', 'tokenRewards', tokenRewards, 2);
  assertNonNegativeFinite('computeDiscountedReturns', 'gamma', gamma);
  const [batch, tokens] = tokenRewards.shape;
  return tf.tidy(() => {
    let returns: tf.Tensor2D = tf.clone(tokenRewards);
    for (let offset = 1; offset < tokens; offset *= 2) {
      const later = tf.pad(tf.slice(returns, [0, offset], [batch, tokens - offset]), [[0, 0], [0, offset]]);
      returns = tf.add(returns, tf.mul(later, gamma ** offset));
    }
    return returns;
  });
}

export interface ProcessSupervisionOptions {
  /** Discount γ of the return-to-go; 1 sums all later rewards. */
  gamma: number;
  /** Added to the std before dividing; default 1e-8 as in seed 001. */
  advantageEps?: number;
  /** Default `'unbiased'` (torch.std, seed 001). */
  stdKind?: StdKind;
  /** Default true; false only centres the returns (Dr. GRPO style). */
  normalizeByStd?: boolean;
}

/**
 * Per-token advantages from per-token rewards r [B,T] (B = groups × groupSize, consecutive groups):
 *
 *     R_it = r_it·m_it + γ·R_i,t+1                                   (rewards outside the mask are dropped)
 *     A_it = (R_it − mean_{j∈g} R_jt) / (std_{j∈g} R_jt + eps) · m_it
 *
 * normalised across the group separately at each position t. As in seed 001 the whole group enters the statistics
 * at every t, so a rollout that has already ended counts there with return 0. Outcome supervision is the special
 * case of one reward on the last token with γ = 1 and equal lengths: every A_it then equals the outcome advantage A_i.
 * Positions outside the mask get advantage 0 (they carry no loss anyway).
 */
export function computeProcessSupervisionAdvantages(
  tokenRewards: tf.Tensor2D,
  responseMask: tf.Tensor2D,
  groupSize: number,
  options: ProcessSupervisionOptions,
): tf.Tensor2D {
  const fn = 'computeProcessSupervisionAdvantages';
  const { gamma, advantageEps = 1e-8, stdKind = 'unbiased', normalizeByStd = true } = options;
  assertRank(fn, 'tokenRewards', tokenRewards, 2);
  assertSameShape(fn, 'tokenRewards', tokenRewards, 'responseMask', responseMask);
  assertGroups(fn, tokenRewards.shape[0], groupSize);
  assertNonNegativeFinite(fn, 'advantageEps', advantageEps);
  assertNonNegativeFinite(fn, 'gamma', gamma);
  const mask = tf.cast(responseMask, 'float32');
  const maskedRewards = tf.mul(tokenRewards, mask) as tf.Tensor2D;
  const returns = computeDiscountedReturns(maskedRewards, gamma);
  const advantages = tf.tidy(() => {
    const [batch, tokens] = returns.shape;
    const grouped = tf.reshape(returns, [batch / groupSize, groupSize, tokens]);
    const centred = tf.sub(grouped, meanAlong(grouped, 1));
    const scaled = normalizeByStd ? tf.div(centred, tf.add(stdAlong(grouped, 1, stdKind), advantageEps)) : centred;
    return tf.mul(tf.reshape(scaled, [batch, tokens]), mask) as tf.Tensor2D;
  });
  tf.dispose([mask, maskedRewards, returns]);
  return advantages;
}
