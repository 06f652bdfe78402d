import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { aggregateTokenLoss, LossAggregation, maskedMean } from '../../../src/grpo';
import { assertClose, assertNoLeak, centralDifferences, describeOnBackends, normals, rows } from './helpers';
import { refAggregate, refMaskedMean } from './reference';

/** Deterministic 0/1 mask with about a quarter zeros. */
function randomMask(seed: number, count: number): number[] {
  return normals(seed, count).map((value) => (value > -0.7 ? 1 : 0));
}

describeOnBackends('maskedMean', () => {
  const x = () => tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
  const m = () => tf.tensor2d([[1, 0, 1], [0, 0, 0]]);

  it('averages over everything when dim is undefined (hand-computed)', () => {
    const result = maskedMean(x(), m());
    assert.equal(result.rank, 0);
    assertClose(result, [2], 0);
  });

  it('reduces along dim 0, 1, −1 and −2, giving NaN for an all-zero mask slice (hand-computed)', () => {
    assertClose(maskedMean(x(), m(), 0), [1, NaN, 3], 0, 'dim 0');
    assertClose(maskedMean(x(), m(), 1), [2, NaN], 0, 'dim 1');
    assertClose(maskedMean(x(), m(), -1), [2, NaN], 0, 'dim -1');
    assertClose(maskedMean(x(), m(), -2), [1, NaN, 3], 0, 'dim -2');
  });

  it('gives NaN for an all-zero mask overall, and lets NaN through even where masked, as the reference', () => {
    assertClose(maskedMean(x(), tf.zerosLike(x())), [NaN], 0);
    assertClose(maskedMean(tf.tensor2d([[NaN, 1]]), tf.tensor2d([[0, 1]]), 1), [NaN], 0);
  });

  it('accepts a boolean mask', () => {
    assertClose(maskedMean(x(), tf.tensor2d([[true, false, true], [false, false, true]], undefined, 'bool'), 1), [2, 6], 0);
  });

  it('matches the float64 reference on a [2,3,4] tensor for every dim', () => {
    const shape = [2, 3, 4];
    const values = normals(21, 24);
    const mask = randomMask(22, 24);
    for (const dim of [undefined, 0, 1, 2, -1, -2, -3]) {
      const result = maskedMean(tf.tensor3d(values, [2, 3, 4]), tf.tensor3d(mask, [2, 3, 4]), dim);
      assertClose(result, refMaskedMean(values, mask, shape, dim), 1e-6, `dim ${dim}`);
    }
  });

  it('has gradient m / Σm with respect to the tensor', () => {
    const mask = [1, 0, 1, 1, 1, 0];
    const gradient = tf.grad((t: tf.Tensor) => maskedMean(t, tf.tensor2d(mask, [2, 3])))(tf.tensor2d(normals(23, 6), [2, 3]));
    assertClose(gradient, mask.map((v) => v / 4), 1e-7);
  });

  it('rejects an out-of-range dim and a mask of another shape', () => {
    assert.throws(() => maskedMean(x(), m(), 2), /dim 2 is out of range for a tensor of rank 2 \(allowed -2…1\)/);
    assert.throws(() => maskedMean(x(), m(), -3), /dim -3 is out of range/);
    assert.throws(() => maskedMean(x(), tf.ones([2, 2])), /tensor \[2,3\] and mask \[2,2\] must have the same shape/);
  });

  it('leaks no tensors', async () => {
    const [values, mask] = [x(), m()];
    await assertNoLeak(() => maskedMean(values, mask, -1));
  });
});

describeOnBackends('aggregateTokenLoss (TRL loss_type)', () => {
  // Row sums 3 and 4 over 2 and 1 active tokens.
  const loss = () => tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
  const mask = () => tf.tensor2d([[1, 1, 0], [1, 0, 0]]);

  it('aggregates each mode as TRL does (hand-computed)', () => {
    assertClose(aggregateTokenLoss(loss(), mask(), 'grpo'), [(1.5 + 4) / 2], 1e-7, 'grpo');
    assertClose(aggregateTokenLoss(loss(), mask(), 'bnpo'), [7 / 3], 1e-7, 'bnpo');
    assertClose(aggregateTokenLoss(loss(), mask(), 'dapo', { numItemsInBatch: 10 }), [0.7], 1e-7, 'dapo');
    assertClose(aggregateTokenLoss(loss(), mask(), 'dr_grpo', { maxCompletionLength: 4 }), [7 / 8], 1e-7, 'dr_grpo');
  });

  it('divides by the accumulation steps except for dapo, whose divisor already covers the whole step', () => {
    const options = { gradientAccumulationSteps: 2, numItemsInBatch: 10, maxCompletionLength: 4 };
    assertClose(aggregateTokenLoss(loss(), mask(), 'grpo', options), [2.75 / 2], 1e-7);
    assertClose(aggregateTokenLoss(loss(), mask(), 'bnpo', options), [7 / 6], 1e-7);
    assertClose(aggregateTokenLoss(loss(), mask(), 'dapo', options), [0.7], 1e-7);
    assertClose(aggregateTokenLoss(loss(), mask(), 'dr_grpo', options), [7 / 16], 1e-7);
  });

  it('counts an empty rollout as 0 in grpo and an empty batch as 0 in bnpo (TRL clamp), not NaN', () => {
    const emptyRow = tf.tensor2d([[1, 1, 0], [0, 0, 0]]);
    assertClose(aggregateTokenLoss(loss(), emptyRow, 'grpo'), [0.75], 1e-7);
    assertClose(aggregateTokenLoss(loss(), tf.zeros([2, 3]), 'bnpo'), [0], 0);
  });

  const options = { gradientAccumulationSteps: 3, numItemsInBatch: 40, maxCompletionLength: 9 };
  for (const lossType of ['grpo', 'bnpo', 'dapo', 'dr_grpo'] as LossAggregation[]) {
    it(`${lossType}: matches the float64 reference in value and gradient`, () => {
      const [B, T] = [4, 6];
      const values = normals(31, B * T);
      const mask = rows(randomMask(32, B * T), T);
      const refOptions = { steps: 3, items: 40, maxLength: 9 };
      const reference = (x: number[]) => refAggregate(rows(x, T), mask, lossType, refOptions);
      const aggregate = (x: tf.Tensor) => aggregateTokenLoss(x as tf.Tensor2D, tf.tensor2d(mask), lossType, options);
      assertClose(aggregate(tf.tensor2d(values, [B, T])), [reference(values)], 1e-6, 'value');
      const gradient = tf.grad(aggregate)(tf.tensor2d(values, [B, T]));
      assertClose(gradient, centralDifferences(reference, values, 1e-5), 1e-6, 'gradient');
    });
  }

  it('requires the divisor of dapo and dr_grpo, naming it, and rejects unknown modes', () => {
    assert.throws(() => aggregateTokenLoss(loss(), mask(), 'dapo'), /numItemsInBatch is required for lossType 'dapo'/);
    assert.throws(() => aggregateTokenLoss(loss(), mask(), 'dr_grpo'), /maxCompletionLength is required for lossType 'dr_grpo'/);
    assert.throws(
      () => aggregateTokenLoss(loss(), mask(), 'sum' as LossAggregation),
      /lossType must be one of grpo, bnpo, dapo, dr_grpo, token-mean, seq-mean-token-sum, seq-mean-token-mean, seq-mean-token-sum-norm, got 'sum'/,
    );
    assert.throws(
      () => aggregateTokenLoss(loss(), mask(), 'grpo', { gradientAccumulationSteps: 0 }),
      /gradientAccumulationSteps must be a positive integer/,
    );
  });

  it('leaks no tensors', async () => {
    const [values, weights] = [loss(), mask()];
    for (const lossType of ['grpo', 'bnpo', 'dapo', 'dr_grpo'] as LossAggregation[]) {
      await assertNoLeak(() => aggregateTokenLoss(values, weights, lossType, { numItemsInBatch: 3, maxCompletionLength: 3 }));
    }
  });
});
