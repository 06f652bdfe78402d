/**
 * The per-token KL estimators of a sampled token as plain float64 arithmetic. One function, used by the trainer
 * (the KL penalty in the reward, src/grpo/klControl.ts) and by the reader of compact token blocks
 * (src/protocol/tokenBlocks.ts), which recomputes a step's `kl` column from its stored log-probs with it. Here, in
 * the protocol layer, so the host can use it without importing the tensor code; src/grpo/divergence.ts re-exports
 * it next to its tensor twin computeKlPenaltyPerToken (test/unit/grpo/klControl.test.ts checks they agree).
 */

/** verl's `kl_penalty` names and TRL's k3 (see KlPenalty in src/grpo/divergence.ts, the same union). */
export type SampledKlEstimator = 'kl' | 'k1' | 'abs' | 'mse' | 'k2' | 'k3' | 'low_var_kl' | 'k1+' | 'k3+';

export const SAMPLED_KL_ESTIMATORS: readonly SampledKlEstimator[] = ['kl', 'k1', 'abs', 'mse', 'k2', 'k3', 'low_var_kl', 'k1+', 'k3+'];

/** The clamps of k3 / low_var_kl (defaults 20 and 10, as verl); 0 turns one off. */
export interface KlValueClamps {
  logRatioClamp?: number;
  valueClamp?: number;
}

/** computeKlPenaltyPerToken's value for one token, on the host in float64 (for the KL penalty in the reward). */
export function klPenaltyValue(logp: number, ref: number, estimator: SampledKlEstimator, clamps: KlValueClamps = {}): number {
  const { logRatioClamp = 20, valueClamp = 10 } = clamps;
  const clamp = (x: number, bound: number) => (bound > 0 ? Math.min(bound, Math.max(-bound, x)) : x);
  switch (estimator) {
    case 'kl':
    case 'k1':
    case 'k1+':
      return logp - ref;
    case 'abs':
      return Math.abs(logp - ref);
    case 'mse':
    case 'k2':
      return 0.5 * (logp - ref) ** 2;
    case 'k3':
    case 'low_var_kl':
    case 'k3+': {
      const d = clamp(ref - logp, logRatioClamp);
      const k3 = Math.exp(d) - d - 1;
      return estimator === 'k3' ? k3 : clamp(k3, valueClamp);
    }
    default:
      throw new Error(`klPenaltyValue: estimator must be one of ${SAMPLED_KL_ESTIMATORS.join(', ')}, got '${String(estimator)}'`);
  }
}
