/**
 * Float64 references of the policy-term variants (GSPO, CISPO, top-entropy tokens, ESS), written from the upstream
 * formulas (TRL grpo_trainer.py / verl core_algos.py, commits cited in src/grpo/gspo.ts, cispo.ts, entropyMask.ts)
 * independently of src/grpo.
 */
import { Matrix } from './reference';

/** TRL `importance_sampling_level: "sequence"`: each row's mean log-ratio over its active tokens (0 when empty). */
export function refSequenceLogRatio(logp: Matrix, old: Matrix, mask: Matrix): number[] {
  return logp.map((row, i) => {
    const count = mask[i].reduce((a, b) => a + b, 0);
    const sum = row.reduce((a, l, t) => a + (l - old[i][t]) * mask[i][t], 0);
    return sum / Math.max(count, 1);
  });
}

/** GSPO per-token loss: the row's clipped sequence surrogate on every token; flags per token as the trainer keeps them. */
export function refGspoLoss(advantages: number[], logp: Matrix, old: Matrix, mask: Matrix, epsLow: number, epsHigh: number): { loss: Matrix; ratio: number[] } {
  const ratio = refSequenceLogRatio(logp, old, mask).map(Math.exp);
  const loss = logp.map((row, i) => {
    const a = advantages[i];
    const w = ratio[i];
    const clipped = Math.min(Math.max(w, 1 - epsLow), 1 + epsHigh);
    return row.map(() => -Math.min(w * a, clipped * a));
  });
  return { loss, ratio };
}

/** CISPO: −clip(w)·A·log π with the weight a constant; TRL clamps at ε_high only, verl to [1 − ε_low, 1 + ε_high]. */
export function refCispoWeights(logp: Matrix, old: Matrix, clip: 'trl' | 'verl', epsLow: number, epsHigh: number): Matrix {
  return logp.map((row, i) =>
    row.map((l, t) => {
      const d = l - old[i][t];
      if (clip === 'trl') return Math.min(Math.exp(d), epsHigh);
      return Math.min(Math.max(Math.exp(Math.min(Math.max(d, -20), 20)), 1 - epsLow), 1 + epsHigh);
    }),
  );
}

/** torch.quantile (linear interpolation) of the active entropies, and the keep mask H ≥ τ over active tokens. */
export function refHighEntropyMask(entropy: Matrix, mask: Matrix, rho: number): Matrix {
  const active = entropy.flat().filter((_, k) => mask.flat()[k] > 0).sort((a, b) => a - b);
  if (active.length === 0) return entropy.map((row) => row.map(() => 0));
  const position = (1 - rho) * (active.length - 1);
  const lo = Math.floor(position);
  const hi = Math.ceil(position);
  const threshold = active[lo] + (active[hi] - active[lo]) * (position - lo);
  return entropy.map((row, i) => row.map((h, t) => (mask[i][t] > 0 && h >= threshold ? 1 : 0)));
}
