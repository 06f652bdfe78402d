/** Issue 13 item 5: verl's loss_agg_mode next to TRL's loss_type. */
import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { aggregateTokenLoss, VERL_LOSS_AGG_MODES } from '../../../src/grpo';
import { assertClose, centralDifferences, describeOnBackends, normals, rows } from './helpers';
import { refAggregate, refVerlAggLoss } from './reference';

const [B, T] = [4, 5];
// Row 2 is empty; the others are shorter than T (completions shorter than max_completion_length).
const MASK = [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0], [1, 1, 0, 0, 0]];

describeOnBackends('aggregateTokenLoss: verl loss_agg_mode', () => {
  it('hand-computed: ℓ = 1 on every token, 10 active in 3 non-empty rows, S = 2, L = 8', () => {
    const ones = tf.ones([B, T]) as tf.Tensor2D;
    const mask = tf.tensor2d(MASK);
    const options = { gradientAccumulationSteps: 2, maxCompletionLength: 8 };
    assertClose(aggregateTokenLoss(ones, mask, 'token-mean', options), [10 / 10 / 2], 1e-7);
    assertClose(aggregateTokenLoss(ones, mask, 'seq-mean-token-sum', options), [10 / 3 / 2], 1e-7);
    assertClose(aggregateTokenLoss(ones, mask, 'seq-mean-token-mean', options), [3 / 3 / 2], 1e-7);
    // TRL grpo counts the empty row in its mean: 3/4.
    assertClose(aggregateTokenLoss(ones, mask, 'grpo', options), [3 / 4 / 2], 1e-7);
    assertClose(aggregateTokenLoss(ones, mask, 'seq-mean-token-sum-norm', options), [10 / 8 / 2], 1e-7);
    assertClose(aggregateTokenLoss(ones, mask, 'seq-mean-token-sum-norm', { ...options, lossScaleFactor: 4 }), [10 / 4 / 2], 1e-7);
    assertClose(aggregateTokenLoss(ones, mask, 'seq-mean-token-sum-norm', { gradientAccumulationSteps: 2 }), [10 / T / 2], 1e-7);
  });

  for (const mode of VERL_LOSS_AGG_MODES) {
    it(`${mode}: value and gradient match verl's agg_loss (float64, literally) on random inputs with an empty row`, () => {
      const values = normals(101, B * T, 2);
      const run = (x: tf.Tensor) => aggregateTokenLoss(x as tf.Tensor2D, tf.tensor2d(MASK), mode, { gradientAccumulationSteps: 3, maxCompletionLength: 7 });
      const ref = (x: number[]) => refVerlAggLoss(rows(x, T), MASK, mode, 3, mode === 'seq-mean-token-sum-norm' ? 7 : undefined);
      assertClose(run(tf.tensor2d(values, [B, T])), [ref(values)], 1e-6);
      const gradient = tf.grad((x: tf.Tensor) => run(x))(tf.tensor2d(values, [B, T]));
      assertClose(gradient, centralDifferences(ref, values, 1e-5), 1e-6, 'gradient');
    });
  }

  it('token-mean is bnpo; with no empty row seq-mean-token-mean is grpo', () => {
    const values = rows(normals(103, B * T), T);
    const full = MASK.map((row) => row.map(() => 1));
    for (const [mask, verl, trl] of [[MASK, 'token-mean', 'bnpo'], [full, 'seq-mean-token-mean', 'grpo']] as const) {
      const got = aggregateTokenLoss(tf.tensor2d(values), tf.tensor2d(mask as number[][]), verl, { gradientAccumulationSteps: 2 });
      assertClose(got, [refAggregate(values, mask as number[][], trl, { steps: 2 })], 1e-6, `${verl} = ${trl}`);
    }
  });

  it('an all-empty micro-batch gives 0, not NaN; a bad loss_scale_factor is refused', () => {
    const zeros = tf.zeros([2, 3]) as tf.Tensor2D;
    for (const mode of VERL_LOSS_AGG_MODES) assertClose(aggregateTokenLoss(tf.ones([2, 3]) as tf.Tensor2D, zeros, mode), [0], 0, mode);
    assert.throws(() => aggregateTokenLoss(zeros, zeros, 'seq-mean-token-sum-norm', { lossScaleFactor: 0 }), /lossScaleFactor must be a finite number > 0/);
  });
});
