/**
 * Group statistics shared by outcome and process supervision: rollouts come in consecutive groups of `groupSize`
 * (one prompt, G samples), and advantages compare each sample with the others of its group.
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * `'unbiased'` divides by n − 1 as `torch.std` does (CS336, TRL, seed 001); `'population'` divides by n as
 * `numpy.std` does (the seed-000 bandit).
 */
export type StdKind = 'unbiased' | 'population';

/**
 * A group of one sample has no baseline to compare with and its unbiased std is 0/0, so G = 1 is refused up front
 * rather than surfacing as NaN advantages; the batch must also split into whole groups.
 */
export function assertGroups(fn: string, batchSize: number, groupSize: number): void {
  if (!Number.isInteger(groupSize) || groupSize < 2) {
    throw new Error(
      `${fn}: groupSize must be an integer ≥ 2, got ${groupSize}: a group of one sample has no baseline ` +
        '(its mean is itself) and the std of one sample is undefined',
    );
  }
  if (batchSize % groupSize !== 0) {
    throw new Error(`${fn}: ${batchSize} rollouts do not split into groups of ${groupSize}`);
  }
}

/** Mean along `axis`, keeping the axis so the result broadcasts back over the group. */
export function meanAlong(x: tf.Tensor, axis: number): tf.Tensor {
  return tf.mean(x, axis, true);
}

/** Standard deviation along `axis` (kept), with the divisor chosen by `kind`. */
export function stdAlong(x: tf.Tensor, axis: number, kind: StdKind): tf.Tensor {
  return tf.tidy(() => {
    const count = x.shape[axis < 0 ? x.rank + axis : axis];
    const squaredDeviations = tf.sum(tf.square(tf.sub(x, meanAlong(x, axis))), axis, true);
    return tf.sqrt(tf.div(squaredDeviations, kind === 'unbiased' ? count - 1 : count));
  });
}

/** Float64 mean of plain numbers, for metrics (NaN in, NaN out). */
export function mean(values: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < values.length; i++) total += values[i];
  return total / values.length;
}

/** Float64 std of plain numbers with the divisor chosen by `kind`. */
export function std(values: ArrayLike<number>, kind: StdKind): number {
  const centre = mean(values);
  let total = 0;
  for (let i = 0; i < values.length; i++) total += (values[i] - centre) ** 2;
  return Math.sqrt(total / (kind === 'unbiased' ? values.length - 1 : values.length));
}

/** Float64 statistics of the scored (finite) values of one group; non-finite values are failed samples. */
export interface ScoredStats {
  /** How many values are finite. */
  count: number;
  /** Mean of the finite values (NaN when there are none). */
  mean: number;
  /** Std of the finite values with the chosen divisor: exactly 0 when they all tie, NaN when undefined (n − 1 = 0). */
  std: number;
  /** Every finite value equal (max = min), tested exactly: a tie is 0, not a rounding residue. */
  tied: boolean;
}

/**
 * Mean and std of the finite entries of `values`, in float64; when the plain sums overflow they are redone on the
 * values divided by the largest magnitude, so a reward of 1e200 (whose square overflows even float64) still gives
 * finite statistics. An explicit tie check
 * returns std = 0 and the exact common value as mean: six rewards of 0.3 sum to 1.7999999999999998 in float64, and
 * that residue (5e-17) divided by an equally tiny std would turn a tie into ±0.7.
 */
export function scoredStats(values: ArrayLike<number>, kind: StdKind): ScoredStats {
  const scored: number[] = [];
  for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i])) scored.push(values[i]);
  const count = scored.length;
  if (count === 0) return { count, mean: Number.NaN, std: Number.NaN, tied: false };
  const largest = scored.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const smallest = scored.reduce((m, v) => Math.min(m, v), Infinity);
  const tied = scored.every((v) => v === smallest);
  const divisor = kind === 'unbiased' ? count - 1 : count;
  if (tied) return { count, mean: smallest, std: divisor > 0 ? 0 : Number.NaN, tied };
  const plain = centredMoments(scored, 1, divisor);
  // Rescaled only when the plain sums overflow: dividing by `largest` costs the last bit of the common cases.
  const { mean: centre, std } = Number.isFinite(plain.std) ? plain : centredMoments(scored, largest, divisor);
  return { count, mean: centre, std, tied };
}

/** Mean and std of `values / scale`, scaled back: scale = max |v| keeps every partial sum finite. */
function centredMoments(values: number[], scale: number, divisor: number): { mean: number; std: number } {
  let total = 0;
  for (const v of values) total += v / scale;
  const centre = total / values.length;
  let squares = 0;
  for (const v of values) squares += (v / scale - centre) ** 2;
  return { mean: centre * scale, std: Math.sqrt(squares / divisor) * scale };
}
