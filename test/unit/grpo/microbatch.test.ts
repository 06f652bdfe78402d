import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { grpoMicrobatchLoss, PolicyGradientLossType } from '../../../src/grpo';
import {
  assertClose,
  assertNoLeak,
  centralDifferences,
  describeOnBackends,
  logRatiosAwayFromKinks,
  normals,
  rows,
} from './helpers';
import { Matrix, refClipLoss, refMicrobatchLoss, refNaiveLoss } from './reference';

const [B, T] = [4, 5];
const CLIPRANGE = 0.2;
const STEPS = 2;
// Padding at the end of rollouts 1 and 3, as right-padded responses have.
const MASK: Matrix = [
  [1, 1, 1, 1, 1],
  [1, 1, 1, 0, 0],
  [1, 1, 1, 1, 0],
  [1, 0, 0, 0, 0],
];
const OLD = rows(normals(41, B * T, 1, -2), T);
const LOGP = logRatiosAwayFromKinks(42, B * T, CLIPRANGE, CLIPRANGE).map((r, i) => Math.fround(r + OLD.flat()[i]));
const RAW_REWARDS = rows([1, 0, 0, 1], 1);
const ADVANTAGES = rows(normals(43, B), 1);

function referenceLoss(lossType: PolicyGradientLossType, logp: number[]): number {
  const matrix = rows(logp, T);
  const perToken =
    lossType === 'no_baseline'
      ? refNaiveLoss(RAW_REWARDS, matrix)
      : lossType === 'reinforce_with_baseline'
        ? refNaiveLoss(ADVANTAGES, matrix)
        : refClipLoss(ADVANTAGES, matrix, OLD, CLIPRANGE, CLIPRANGE).loss;
  return refMicrobatchLoss(perToken, MASK, STEPS);
}

function microbatch(lossType: PolicyGradientLossType, logp: tf.Tensor) {
  return grpoMicrobatchLoss(
    logp as tf.Tensor2D,
    tf.tensor2d(MASK),
    STEPS,
    lossType,
    tf.tensor2d(RAW_REWARDS),
    tf.tensor2d(ADVANTAGES),
    tf.tensor2d(OLD),
    CLIPRANGE,
  );
}

describeOnBackends('grpoMicrobatchLoss', () => {
  it('is the batch mean of per-rollout masked means, over the accumulation steps (hand-computed)', () => {
    // Per-token −r·logp = [[1,2],[6,8]]; rollout means 1.5 and 6 (second token masked) → 3.75 → / 2.
    const { loss } = grpoMicrobatchLoss(
      tf.tensor2d([[-1, -2], [-3, -4]]),
      tf.tensor2d([[1, 1], [1, 0]]),
      2,
      'no_baseline',
      tf.tensor2d([[1], [2]]),
    );
    assert.equal(loss.rank, 0);
    assertClose(loss, [1.875], 1e-7);
  });

  for (const lossType of ['no_baseline', 'reinforce_with_baseline', 'grpo_clip'] as PolicyGradientLossType[]) {
    it(`${lossType}: matches the float64 reference in value and in its gradient (central differences)`, () => {
      const { loss } = microbatch(lossType, tf.tensor2d(LOGP, [B, T]));
      assertClose(loss, [referenceLoss(lossType, LOGP)], 1e-6, 'loss');
      const gradient = tf.grad((logp: tf.Tensor) => microbatch(lossType, logp).loss)(tf.tensor2d(LOGP, [B, T]));
      const expected = centralDifferences((x) => referenceLoss(lossType, x), LOGP, 1e-5);
      assertClose(gradient, expected, 1e-6, 'gradient');
      // Padding never receives gradient.
      const values = gradient.dataSync();
      MASK.flat().forEach((m, i) => assert.ok(m === 1 || values[i] === 0, `padding token ${i} got gradient ${values[i]}`));
    });
  }

  it('agrees with central differences of its own float32 forward pass (h = 1e-2)', () => {
    // The float32 forward is rounded to ~1e-7, so the step must be large; the loss is smooth away from the clip
    // kinks (≥ 0.02 in log-ratio), so the O(h²) error stays far below the tolerance.
    const forward = (x: number[]) =>
      tf.tidy(() => microbatch('grpo_clip', tf.tensor2d(x, [B, T])).loss.dataSync()[0]);
    const h = 1e-2;
    const gradient = tf.grad((logp: tf.Tensor) => microbatch('grpo_clip', logp).loss)(tf.tensor2d(LOGP, [B, T]));
    const safe = LOGP.map((v, i) => {
      const logRatio = v - OLD.flat()[i];
      return Math.abs(logRatio - Math.log(0.8)) > 2 * h && Math.abs(logRatio - Math.log(1.2)) > 2 * h;
    });
    const differences = centralDifferences(forward, LOGP, h);
    const got = Array.from(gradient.dataSync()).filter((_, i) => safe[i]);
    assertClose(got, differences.filter((_, i) => safe[i]), 2e-4, 'gradient');
  });

  it('returns the clip metadata for grpo_clip', () => {
    const { metadata } = microbatch('grpo_clip', tf.tensor2d(LOGP, [B, T]));
    const reference = refClipLoss(ADVANTAGES, rows(LOGP, T), OLD, CLIPRANGE, CLIPRANGE);
    assertClose(metadata.clipped, reference.low.map((row, i) => row.map((v, t) => v + reference.high[i][t])), 0);
    assert.ok(metadata.clipped.dataSync().some((v) => v === 1), 'the test data has clipped tokens');
  });

  it('is NaN when a rollout has no active token, as masked_mean in the reference', () => {
    const { loss } = grpoMicrobatchLoss(tf.ones([2, 2]), tf.tensor2d([[1, 1], [0, 0]]), 1, 'no_baseline', tf.ones([2, 1]));
    assertClose(loss, [NaN], 0);
  });

  it('rejects a bad accumulation count or mask, and names missing arguments', () => {
    const logp = tf.zeros([2, 2]) as tf.Tensor2D;
    assert.throws(
      () => grpoMicrobatchLoss(logp, tf.ones([2, 2]), 0.5, 'no_baseline', tf.ones([2, 1])),
      /gradientAccumulationSteps must be a positive integer, got 0.5/,
    );
    assert.throws(
      () => grpoMicrobatchLoss(logp, tf.ones([2, 3]), 1, 'no_baseline', tf.ones([2, 1])),
      /policyLogProbs \[2,2\] and responseMask \[2,3\] must have the same shape/,
    );
    assert.throws(() => grpoMicrobatchLoss(logp, tf.ones([2, 2]), 1, 'grpo_clip', undefined, tf.ones([2, 1])), /oldLogProbs is required/);
  });

  it('leaks no tensors, and none inside tf.grad', async () => {
    const inputs = [tf.tensor2d(LOGP, [B, T]), tf.tensor2d(MASK), tf.tensor2d(ADVANTAGES), tf.tensor2d(OLD)] as const;
    const [logp, mask, advantages, old] = inputs;
    await assertNoLeak(() => grpoMicrobatchLoss(logp, mask, 1, 'grpo_clip', undefined, advantages, old, 0.2));
    await assertNoLeak(() =>
      tf.grad((x: tf.Tensor) => grpoMicrobatchLoss(x as tf.Tensor2D, mask, 1, 'grpo_clip', undefined, advantages, old, 0.2).loss)(logp),
    );
  });
});
