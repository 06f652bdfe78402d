/**
 * Float64 reference implementations in plain JS, written from the formulas (CS336 / torch semantics, TRL variants,
 * seed 001) independently of src/grpo, so the tfjs float32 code is checked against a second implementation.
 */
export type Matrix = number[][];

export function refMean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

export function refStd(values: number[], unbiased: boolean): number {
  const m = refMean(values);
  const squares = values.reduce((a, v) => a + (v - m) * (v - m), 0);
  return Math.sqrt(squares / (unbiased ? values.length - 1 : values.length));
}

/**
 * (r − mean_g) / (σ + eps) with σ the group std, the batch std, or no division; mean and σ over the finite rewards
 * only, and 0 for a failed (NaN) reward, a group whose finite rewards all tie, or a group with < 2 finite rewards.
 * Written directly from the definition (no scaling, no shared code with src/grpo/statistics.ts).
 */
export function refGroupAdvantages(
  rewards: number[],
  groupSize: number,
  scale: 'group' | 'batch' | 'none',
  unbiased: boolean,
  eps: number,
): number[] {
  const scored = (values: number[]) => values.filter((v) => !Number.isNaN(v));
  const batchStd = refStd(scored(rewards), unbiased);
  return rewards.map((r, i) => {
    const start = i - (i % groupSize);
    const group = scored(rewards.slice(start, start + groupSize));
    if (Number.isNaN(r) || group.length < 2 || group.every((v) => v === group[0])) return 0;
    const centred = r - refMean(group);
    if (scale === 'none') return centred;
    return centred / ((scale === 'group' ? refStd(group, unbiased) : batchStd) + eps);
  });
}

/** torch-style masked mean over flat data of any shape; returns flat values of the reduced shape. */
export function refMaskedMean(x: number[], mask: number[], shape: number[], dim?: number): number[] {
  if (dim === undefined) {
    const num = x.reduce((a, v, i) => a + v * mask[i], 0);
    return [num / mask.reduce((a, b) => a + b, 0)];
  }
  const axis = dim < 0 ? dim + shape.length : dim;
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const size = shape[axis];
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const out: number[] = [];
  for (let o = 0; o < outer; o++) {
    for (let n = 0; n < inner; n++) {
      let num = 0;
      let den = 0;
      for (let k = 0; k < size; k++) {
        const index = (o * size + k) * inner + n;
        num += x[index] * mask[index];
        den += mask[index];
      }
      out.push(num / den);
    }
  }
  return out;
}

/** A [B][1] or [B][T] advantage at token t of rollout i. */
function advantageAt(advantages: Matrix, i: number, t: number): number {
  return advantages[i].length === 1 ? advantages[i][0] : advantages[i][t];
}

export function refNaiveLoss(advantages: Matrix, logp: Matrix): Matrix {
  return logp.map((row, i) => row.map((l, t) => -advantageAt(advantages, i, t) * l));
}

export interface RefClip {
  loss: Matrix;
  ratio: Matrix;
  low: Matrix;
  high: Matrix;
}

export function refClipLoss(advantages: Matrix, logp: Matrix, old: Matrix, epsLow: number, epsHigh: number): RefClip {
  const ratio = logp.map((row, i) => row.map((l, t) => Math.exp(l - old[i][t])));
  const loss = ratio.map((row, i) =>
    row.map((r, t) => {
      const a = advantageAt(advantages, i, t);
      const clipped = Math.min(Math.max(r, 1 - epsLow), 1 + epsHigh);
      return -Math.min(r * a, clipped * a);
    }),
  );
  const low = ratio.map((row, i) => row.map((r, t) => (r < 1 - epsLow && advantageAt(advantages, i, t) < 0 ? 1 : 0)));
  const high = ratio.map((row, i) => row.map((r, t) => (r > 1 + epsHigh && advantageAt(advantages, i, t) > 0 ? 1 : 0)));
  return { loss, ratio, low, high };
}

/** CS336 microbatch: mean over rollouts of the per-rollout masked mean, / steps. */
export function refMicrobatchLoss(perToken: Matrix, mask: Matrix, steps: number): number {
  const perRollout = perToken.map((row, i) => {
    const num = row.reduce((a, v, t) => a + v * mask[i][t], 0);
    return num / mask[i].reduce((a, b) => a + b, 0);
  });
  return refMean(perRollout) / steps;
}

export interface RefAggregation {
  steps?: number;
  maxLength?: number;
  items?: number;
}

export function refAggregate(perToken: Matrix, mask: Matrix, mode: string, options: RefAggregation = {}): number {
  const steps = options.steps ?? 1;
  const rowSums = perToken.map((row, i) => row.reduce((a, v, t) => a + v * mask[i][t], 0));
  const rowCounts = mask.map((row) => row.reduce((a, b) => a + b, 0));
  const total = rowSums.reduce((a, b) => a + b, 0);
  const count = rowCounts.reduce((a, b) => a + b, 0);
  switch (mode) {
    case 'grpo':
      return refMean(rowSums.map((s, i) => s / Math.max(rowCounts[i], 1))) / steps;
    case 'bnpo':
      return total / Math.max(count, 1) / steps;
    case 'dapo':
      return total / (options.items as number);
    case 'dr_grpo':
      return total / (perToken.length * (options.maxLength as number)) / steps;
    default:
      throw new Error(`unknown mode ${mode}`);
  }
}

export function refK3(logp: Matrix, ref: Matrix): Matrix {
  return logp.map((row, i) =>
    row.map((l, t) => {
      const d = ref[i][t] - l;
      return Math.exp(d) - d - 1;
    }),
  );
}

export function refLogSoftmax(logits: number[]): number[] {
  const max = Math.max(...logits);
  const logSum = Math.log(logits.reduce((a, z) => a + Math.exp(z - max), 0)) + max;
  return logits.map((z) => z - logSum);
}

/** KL(p ‖ q) per token from logits [B][T][V]. */
export function refFullKl(policyLogits: number[][][], refLogits: number[][][]): Matrix {
  return policyLogits.map((row, i) =>
    row.map((logits, t) => {
      const lp = refLogSoftmax(logits);
      const lq = refLogSoftmax(refLogits[i][t]);
      return lp.reduce((a, l, v) => (Math.exp(l) > 0 ? a + Math.exp(l) * (l - lq[v]) : a), 0);
    }),
  );
}

export function refEntropy(logits: number[]): number {
  return -refLogSoftmax(logits).reduce((a, l) => (Math.exp(l) > 0 ? a + Math.exp(l) * l : a), 0);
}

export function refDiscountedReturns(rewards: Matrix, gamma: number): Matrix {
  return rewards.map((row) => {
    const out = new Array<number>(row.length).fill(0);
    for (let t = row.length - 1; t >= 0; t--) {
      // Written as the explicit sum Σ_{s≥t} γ^(s−t) r_s rather than the recursion the product uses.
      out[t] = row.slice(t).reduce((a, r, k) => a + gamma ** k * r, 0);
    }
    return out;
  });
}

/** Seed 001 process supervision with masking: returns of masked rewards, normalised per position over the group. */
export function refProcessAdvantages(
  rewards: Matrix,
  mask: Matrix,
  groupSize: number,
  gamma: number,
  eps: number,
  unbiased: boolean,
): Matrix {
  const returns = refDiscountedReturns(
    rewards.map((row, i) => row.map((r, t) => r * mask[i][t])),
    gamma,
  );
  return returns.map((row, i) =>
    row.map((value, t) => {
      const start = i - (i % groupSize);
      const column = returns.slice(start, start + groupSize).map((r) => r[t]);
      return ((value - refMean(column)) / (refStd(column, unbiased) + eps)) * mask[i][t];
    }),
  );
}

/** Σ_it w_it x_it: reduces a per-token matrix so each token's gradient is checked with its own weight. */
export function weightedSum(values: Matrix, weights: number[]): number {
  return values.flat().reduce((a, v, i) => a + v * weights[i], 0);
}

/** verl kl_penalty_forward (+ TRL k3) per token, float64, written from the formulas. */
export function refKlPenalty(logp: number, ref: number, estimator: string, logRatioClamp = 20, valueClamp = 10): number {
  const clamp = (x: number, b: number) => (b > 0 ? Math.min(b, Math.max(-b, x)) : x);
  const base = estimator.replace('+', '');
  switch (base) {
    case 'kl':
    case 'k1':
      return logp - ref;
    case 'abs':
      return Math.abs(logp - ref);
    case 'mse':
    case 'k2':
      return 0.5 * (logp - ref) ** 2;
    default: {
      const d = clamp(ref - logp, logRatioClamp);
      const k3 = Math.exp(d) - d - 1;
      return estimator === 'k3' ? k3 : clamp(k3, valueClamp);
    }
  }
}

/** verl compute_policy_loss_vanilla per token, literally: max(−Aρ, −A·clip(ρ)), then min(·, −A·c) where A < 0. */
export function refVerlDualClip(a: number, logp: number, old: number, epsLow: number, epsHigh: number, c: number): number {
  const ratio = Math.exp(logp - old);
  const clipped = Math.max(-a * ratio, -a * Math.min(Math.max(ratio, 1 - epsLow), 1 + epsHigh));
  return a < 0 ? Math.min(-a * c, clipped) : clipped;
}

/** TRL _compute_loss with `delta`, literally: coef_1 = min(ρ, δ); −min(coef_1·A, clip(ρ)·A). */
export function refTrlDelta(a: number, logp: number, old: number, epsLow: number, epsHigh: number, delta: number): number {
  const ratio = Math.exp(logp - old);
  const coef2 = Math.min(Math.max(ratio, 1 - epsLow), 1 + epsHigh);
  return -Math.min(Math.min(ratio, delta) * a, coef2 * a);
}

/** verl agg_loss (core_algos.py @ b178a3c, global_batch_info unset) × 1/S as dp_actor scales it, literally. */
export function refVerlAggLoss(perToken: Matrix, mask: Matrix, mode: string, steps: number, lossScaleFactor?: number): number {
  const rowSums = perToken.map((row, i) => row.reduce((a, v, t) => a + v * mask[i][t], 0));
  const counts = mask.map((row) => row.reduce((a, b) => a + b, 0));
  const seqMask = counts.map((n): number => (n > 0 ? 1 : 0));
  const nonEmpty = seqMask.reduce((a, b) => a + b, 0);
  let loss: number;
  if (mode === 'token-mean') loss = rowSums.reduce((a, b) => a + b, 0) / counts.reduce((a, b) => a + b, 0);
  else if (mode === 'seq-mean-token-sum') loss = rowSums.reduce((a, s, i) => a + s * seqMask[i], 0) / nonEmpty;
  else if (mode === 'seq-mean-token-mean') loss = rowSums.reduce((a, s, i) => a + (s / (counts[i] + 1e-8)) * seqMask[i], 0) / nonEmpty;
  else if (mode === 'seq-mean-token-sum-norm') loss = rowSums.reduce((a, b) => a + b, 0) / (lossScaleFactor ?? perToken[0].length);
  else throw new Error(`unknown verl mode ${mode}`);
  return loss / steps;
}
