/**
 * The KL penalty as a reward (verl `algorithm.use_kl_in_reward`), with verl's fixed or adaptive coefficient. Plain
 * numbers on the host; the per-token KL comes from klPenaltyValue.
 */
import { KlClamps, klPenaltyValue, KlPenalty } from './divergence';

/** verl `algorithm.kl_ctrl`. */
export interface KlControlConfig {
  type: 'fixed' | 'adaptive';
  /** Initial (fixed: constant) coefficient β; verl default 0.001. */
  kl_coef: number;
  /** Adaptive: the KL per token the controller steers towards; verl default 0.1. */
  target_kl: number;
  /** Adaptive: samples over which the coefficient may change by ±20 %; verl default 10000. */
  horizon: number;
}

/**
 * verl AdaptiveKLController.update / FixedKLController.update (core_algos.py @ b178a3cd56f58b2d502255daba591e92833930a7,
 * from Ziegler et al. 2019):
 *
 *     e = clip(KL / target − 1, −0.2, 0.2);   β ← β · (1 + e · n / horizon)      (adaptive; fixed: β unchanged)
 *
 * with n the batch size (verl passes `n_steps = batch_size`).
 */
export function nextKlCoefficient(control: KlControlConfig, coefficient: number, currentKl: number, batchSize: number): number {
  if (control.type === 'fixed') return coefficient;
  if (!(control.horizon > 0)) throw new Error(`nextKlCoefficient: horizon must be > 0, got ${control.horizon}`);
  if (!Number.isFinite(currentKl)) return coefficient; // no token to measure: leave β as it is
  const error = Math.min(0.2, Math.max(-0.2, currentKl / control.target_kl - 1));
  return coefficient * (1 + (error * batchSize) / control.horizon);
}

export interface KlPenalisedRewards {
  /** r_i − β Σ_t kl_it (NaN stays NaN: a failed sample stays failed). */
  rewards: number[];
  /** verl's `current_kl`: the batch mean of each sequence's mean per-token KL (sequences without tokens skipped). */
  currentKl: number;
}

/**
 * verl `apply_kl_penalty` (verl/trainer/ppo/ray_trainer.py @ b178a3c) for outcome rewards: the token-level reward
 * `score − β·kl_t` summed over the response, which is what verl's GRPO advantage sums back into one score per
 * sequence. kl_t uses the sampling policy's log-probs (verl: `old_log_probs`) against the reference's.
 */
export function applyKlPenaltyToRewards(
  rewards: readonly number[],
  oldLogProbs: readonly (readonly number[])[],
  refLogProbs: readonly (readonly number[])[],
  beta: number,
  estimator: KlPenalty,
  clamps: KlClamps = {},
): KlPenalisedRewards {
  if (oldLogProbs.length !== rewards.length || refLogProbs.length !== rewards.length) {
    throw new Error(`applyKlPenaltyToRewards: ${rewards.length} rewards, ${oldLogProbs.length} and ${refLogProbs.length} log-prob rows`);
  }
  const perSequence: number[] = [];
  const penalised = rewards.map((reward, i) => {
    const kl = oldLogProbs[i].map((logp, t) => klPenaltyValue(logp, refLogProbs[i][t], estimator, clamps));
    const total = kl.reduce((a, b) => a + b, 0);
    if (kl.length > 0) perSequence.push(total / kl.length);
    return reward - beta * total;
  });
  const currentKl = perSequence.length ? perSequence.reduce((a, b) => a + b, 0) / perSequence.length : Number.NaN;
  return { rewards: penalised, currentKl };
}
