import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { computeDiscountedReturns, computeGroupAdvantages, computeProcessSupervisionAdvantages } from '../../../src/grpo';
import { assertClose, assertNoLeak, describeOnBackends, normals, rows } from './helpers';
import { Matrix, refDiscountedReturns, refProcessAdvantages } from './reference';

describeOnBackends('computeDiscountedReturns', () => {
  it('computes R_t = r_t + γ R_{t+1} (hand-computed)', () => {
    // γ = 0.5: R_2 = 2, R_1 = 0 + 0.5·2 = 1, R_0 = 1 + 0.5·1 = 1.5.
    assertClose(computeDiscountedReturns(tf.tensor2d([[1, 0, 2]]), 0.5), [1.5, 1, 2], 1e-7);
    assertClose(computeDiscountedReturns(tf.tensor2d([[1, 0, 2]]), 0), [1, 0, 2], 0);
    assertClose(computeDiscountedReturns(tf.tensor2d([[1, 0, 2]]), 1), [3, 2, 2], 0);
  });

  it('matches the float64 reference (explicit discounted sums)', () => {
    const rewards = rows(normals(61, 3 * 7), 7);
    assertClose(computeDiscountedReturns(tf.tensor2d(rewards), 0.9), refDiscountedReturns(rewards, 0.9), 1e-6);
    // Lengths that are no power of two, and a single token (the scan's passes double the window).
    for (const T of [37, 1]) {
      const longer = rows(normals(64 + T, 2 * T), T);
      assertClose(computeDiscountedReturns(tf.tensor2d(longer), 0.97), refDiscountedReturns(longer, 0.97), 1e-5, `T = ${T}`);
    }
  });
});

describeOnBackends('computeProcessSupervisionAdvantages', () => {
  const [G, T] = [3, 6];
  // Two groups of three; rollouts end at different lengths.
  const lengths = [6, 4, 5, 6, 6, 2];
  const mask: Matrix = lengths.map((length) => Array.from({ length: T }, (_, t) => (t < length ? 1 : 0)));

  it('matches the float64 reference with padding, γ = 0.9, unbiased and population std', () => {
    const rewards = rows(normals(62, 6 * T), T);
    for (const stdKind of ['unbiased', 'population'] as const) {
      const advantages = computeProcessSupervisionAdvantages(tf.tensor2d(rewards), tf.tensor2d(mask), G, {
        gamma: 0.9,
        stdKind,
      });
      assertClose(advantages, refProcessAdvantages(rewards, mask, G, 0.9, 1e-8, stdKind === 'unbiased'), 1e-5, stdKind);
    }
  });

  it('normalises each position across the group (hand-computed step rewards)', () => {
    // One group of 2, γ = 1. Returns: [[1, 1], [0, 0]] then [[2, 1], [0, 1]] at positions 0 and 1.
    const advantages = computeProcessSupervisionAdvantages(
      tf.tensor2d([[0, 1], [0, 0]]),
      tf.ones([2, 2]) as tf.Tensor2D,
      2,
      { gamma: 1, advantageEps: 0 },
    );
    assertClose(advantages, [Math.SQRT1_2, Math.SQRT1_2, -Math.SQRT1_2, -Math.SQRT1_2], 1e-6);
  });

  it('reduces to outcome supervision with one reward on the last token, γ = 1 and equal lengths', () => {
    const outcome = [1, 0, 0.5, 0, 0, 1];
    const rewards = outcome.map((r) => [...Array<number>(T - 1).fill(0), r]);
    const advantages = computeProcessSupervisionAdvantages(tf.tensor2d(rewards), tf.ones([6, T]) as tf.Tensor2D, G, {
      gamma: 1,
    });
    const expected = computeGroupAdvantages(outcome, G, { advantageEps: 1e-8 }).advantages.dataSync();
    assertClose(advantages, rows(Array.from(expected), 1).map(([a]) => Array<number>(T).fill(a)), 1e-6);
  });

  it('gives 0 where the group ties at a position, and 0 on padding', () => {
    const advantages = computeProcessSupervisionAdvantages(
      tf.tensor2d([[1, 1, 0], [1, 1, 0], [1, 1, 0]]),
      tf.tensor2d([[1, 1, 1], [1, 1, 1], [1, 1, 0]]),
      3,
      { gamma: 1 },
    );
    assertClose(advantages, [0, 0, 0, 0, 0, 0, 0, 0, 0], 0);
  });

  it('only centres the returns when normalizeByStd is false', () => {
    const advantages = computeProcessSupervisionAdvantages(tf.tensor2d([[2, 0], [0, 0]]), tf.ones([2, 2]) as tf.Tensor2D, 2, {
      gamma: 1,
      normalizeByStd: false,
    });
    assertClose(advantages, [1, 0, -1, 0], 0);
  });

  it('refuses G = 1, a bad γ and a mismatched mask', () => {
    const rewards = tf.zeros([2, 3]) as tf.Tensor2D;
    assert.throws(() => computeProcessSupervisionAdvantages(rewards, tf.ones([2, 3]), 1, { gamma: 1 }), /groupSize must be an integer ≥ 2/);
    assert.throws(() => computeProcessSupervisionAdvantages(rewards, tf.ones([2, 3]), 2, { gamma: -1 }), /gamma must be a finite number ≥ 0/);
    assert.throws(() => computeProcessSupervisionAdvantages(rewards, tf.ones([2, 2]), 2, { gamma: 1 }), /must have the same shape/);
  });

  it('leaks no tensors', async () => {
    const [rewards, padding] = [tf.tensor2d(rows(normals(63, 6 * T), T)), tf.tensor2d(mask)];
    await assertNoLeak(() => computeProcessSupervisionAdvantages(rewards, padding, G, { gamma: 0.9 }));
    await assertNoLeak(() => computeDiscountedReturns(rewards, 0.9));
  });
});
