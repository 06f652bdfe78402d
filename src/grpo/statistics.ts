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
