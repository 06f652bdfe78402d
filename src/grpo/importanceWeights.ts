/**
 * Effective sample size of the importance weights w = π_θ / π_old over the active tokens, normalised to (0, 1]:
 *
 *     ESS = 1 / mean_t[(w_t / mean_t w_t)²] = (Σ w)² / (n · Σ w²)
 *
 * 1 when every weight is equal (on-policy: the first pass of every step), → 1/n when one token carries all the
 * weight. verl logs the same normalised quantity for its rollout correction weights
 * (`verl/trainer/ppo/rollout_corr_helper.py`, `rollout_is_eff_sample_size`, commit b178a3cd; it adds 1e-8 to the
 * mean and clamps the weights at its rejection thresholds, which GRPO's ratios do not have). Computed in float64 on
 * the host from the ratios the trainer already reads back.
 */

/** ESS of the weights `ratios[i][t]` (rows of any length: the active tokens only). NaN when there are none. */
export function effectiveSampleSize(ratios: readonly (readonly number[])[]): number {
  let sum = 0;
  let squares = 0;
  let count = 0;
  for (const row of ratios) {
    for (const w of row) {
      sum += w;
      squares += w * w;
      count++;
    }
  }
  if (count === 0) return Number.NaN;
  // All weights 0 (every token's probability underflowed): no sample carries information.
  if (squares === 0) return 0;
  return (sum * sum) / (count * squares);
}
