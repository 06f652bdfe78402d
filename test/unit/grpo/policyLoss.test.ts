import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import {
  computeAsymmetricClipLoss,
  computeGrpoClipLoss,
  computeNaivePolicyGradientLoss,
  computePolicyGradientLoss,
  PolicyGradientLossType,
} from '../../../src/grpo';
import {
  assertClose,
  assertNoLeak,
  centralDifferences,
  describeOnBackends,
  logRatiosAwayFromKinks,
  normals,
  rows,
} from './helpers';
import { refClipLoss, refNaiveLoss, weightedSum } from './reference';

const B = 4;
const T = 5;

/** Σ_it w_it ℓ_it as a function of flat log-probs, so every token's gradient is checked with its own weight. */
describeOnBackends('computeNaivePolicyGradientLoss', () => {
  it('is −A·log π per token, [B,1] advantages broadcasting over tokens', () => {
    const loss = computeNaivePolicyGradientLoss(tf.tensor2d([[2], [-1]]), tf.tensor2d([[-1, -2], [-0.5, -3]]));
    assertClose(loss, [2, 4, -0.5, -3], 0);
    assert.deepEqual(loss.shape, [2, 2]);
  });

  it('matches the float64 reference with [B,1] and [B,T] advantages', () => {
    const logp = rows(normals(1, B * T, 1, -2), T);
    for (const advantages of [rows(normals(2, B), 1), rows(normals(3, B * T), T)]) {
      const loss = computeNaivePolicyGradientLoss(tf.tensor2d(advantages), tf.tensor2d(logp));
      assertClose(loss, refNaiveLoss(advantages, logp), 1e-6);
    }
  });

  it('rejects advantages of the wrong shape, naming the argument', () => {
    const logp = tf.zeros([2, 3]) as tf.Tensor2D;
    assert.throws(
      () => computeNaivePolicyGradientLoss(tf.zeros([2, 2]) as tf.Tensor2D, logp),
      /rawRewardsOrAdvantages must have shape \[2,1\] or \[2,3\].*got \[2,2\]/,
    );
    assert.throws(
      () => computeNaivePolicyGradientLoss(tf.zeros([2]) as unknown as tf.Tensor2D, logp),
      /rawRewardsOrAdvantages must have rank 2/,
    );
  });
});

describeOnBackends('computeGrpoClipLoss', () => {
  // A = +1: ρ = 1.5 is cut to 1.2, ρ = 0.9 is not; A = −1: ρ = 0.5 is raised to 0.8, ρ = 1.1 is not.
  const ratios = [
    [1.5, 0.9],
    [0.5, 1.1],
  ];
  const handLogp = () => tf.tensor2d(ratios.map((row) => row.map(Math.log)));
  const handAdvantages = () => tf.tensor2d([[1], [-1]]);

  it('computes −min(ρA, clip(ρ)A) and flags the clipped tokens (hand-computed)', () => {
    const { loss, metadata } = computeGrpoClipLoss(handAdvantages(), handLogp(), tf.zeros([2, 2]), 0.2);
    assertClose(loss, [-1.2, -0.9, 0.8, 1.1], 1e-6, 'loss');
    assertClose(metadata.clipped, [1, 0, 1, 0], 0, 'clipped');
    assertClose(metadata.highClipped, [1, 0, 0, 0], 0, 'highClipped');
    assertClose(metadata.lowClipped, [0, 0, 1, 0], 0, 'lowClipped');
    assertClose(metadata.ratio, ratios, 1e-6, 'ratio');
  });

  it('gives clipped tokens no gradient and the others −A·ρ (hand-computed)', () => {
    const gradient = tf.grad((logp: tf.Tensor) =>
      tf.sum(computeGrpoClipLoss(handAdvantages(), logp as tf.Tensor2D, tf.zeros([2, 2]), 0.2).loss),
    )(handLogp());
    assertClose(gradient, [0, -0.9, 0, 1.1], 1e-6);
  });

  it('matches the float64 reference on random inputs, per-rollout and per-token advantages', () => {
    const logRatio = rows(logRatiosAwayFromKinks(4, B * T, 0.2, 0.2), T);
    const old = rows(normals(5, B * T, 1, -2), T);
    const logp = logRatio.map((row, i) => row.map((r, t) => Math.fround(r + old[i][t])));
    for (const advantages of [rows(normals(6, B), 1), rows(normals(7, B * T), T)]) {
      const { loss, metadata } = computeGrpoClipLoss(tf.tensor2d(advantages), tf.tensor2d(logp), tf.tensor2d(old), 0.2);
      const reference = refClipLoss(advantages, logp, old, 0.2, 0.2);
      assertClose(loss, reference.loss, 1e-5, 'loss');
      assertClose(metadata.clipped, reference.loss.map((row, i) => row.map((_, t) => reference.low[i][t] + reference.high[i][t])), 0);
    }
  });

  it('rejects a negative cliprange, naming it', () => {
    assert.throws(() => computeGrpoClipLoss(handAdvantages(), handLogp(), tf.zeros([2, 2]), -0.2), /computeGrpoClipLoss: cliprange must be/);
  });

  it('leaks no tensors', async () => {
    const [advantages, logp, old] = [handAdvantages(), handLogp(), tf.zeros([2, 2]) as tf.Tensor2D];
    await assertNoLeak(() => computeGrpoClipLoss(advantages, logp, old, 0.2));
    await assertNoLeak(() => computeNaivePolicyGradientLoss(advantages, logp));
  });
});

describeOnBackends('computeAsymmetricClipLoss (DAPO clip-higher)', () => {
  it('clips at 1 − ε_low below and 1 + ε_high above (hand-computed)', () => {
    // ε_low = 0.2, ε_high = 0.28: ρ = 1.25 passes (it would be cut with a symmetric 0.2), ρ = 1.3 is cut to 1.28;
    // for A < 0, ρ = 0.7 is raised to 0.8.
    const { loss, lowClipped, highClipped } = computeAsymmetricClipLoss(
      tf.tensor2d([[2], [-1]]),
      tf.tensor2d([[Math.log(1.25), Math.log(1.3)], [Math.log(0.7), 0]]),
      tf.zeros([2, 2]),
      0.2,
      0.28,
    );
    assertClose(loss, [-2.5, -2.56, 0.8, 1], 1e-6);
    assertClose(highClipped, [0, 1, 0, 0], 0);
    assertClose(lowClipped, [0, 0, 1, 0], 0);
  });

  it('has the gradient of the float64 reference (central differences, h = 1e-5)', () => {
    const [epsLow, epsHigh] = [0.2, 0.28];
    const old = rows(normals(8, B * T, 1, -2), T);
    const logRatio = logRatiosAwayFromKinks(9, B * T, epsLow, epsHigh);
    const logp = old.flat().map((o, i) => o + logRatio[i]);
    const weights = normals(10, B * T);
    for (const advantages of [rows(normals(11, B), 1), rows(normals(12, B * T), T)]) {
      const gradient = tf.grad((x: tf.Tensor) =>
        tf.sum(
          tf.mul(
            computeAsymmetricClipLoss(tf.tensor2d(advantages), x as tf.Tensor2D, tf.tensor2d(old), epsLow, epsHigh).loss,
            tf.tensor2d(weights, [B, T]),
          ),
        ),
      )(tf.tensor2d(logp, [B, T]));
      const reference = (x: number[]) => weightedSum(refClipLoss(advantages, rows(x, T), old, epsLow, epsHigh).loss, weights);
      assertClose(gradient, centralDifferences(reference, logp, 1e-5), 1e-5, 'gradient');
    }
  });

  it('rejects negative or non-finite ε and mismatched old log-probs', () => {
    const z = () => tf.zeros([2, 2]) as tf.Tensor2D;
    assert.throws(() => computeAsymmetricClipLoss(tf.zeros([2, 1]), z(), z(), -0.1, 0.2), /epsilonLow must be a finite number ≥ 0/);
    assert.throws(() => computeAsymmetricClipLoss(tf.zeros([2, 1]), z(), z(), 0.2, NaN), /epsilonHigh must be/);
    assert.throws(
      () => computeAsymmetricClipLoss(tf.zeros([2, 1]), z(), tf.zeros([2, 3]), 0.2, 0.2),
      /policyLogProbs \[2,2\] and oldLogProbs \[2,3\] must have the same shape/,
    );
  });
});

describeOnBackends('computePolicyGradientLoss', () => {
  const logp = () => tf.tensor2d([[-1, -2], [-0.5, -3]]);
  const rewards = () => tf.tensor2d([[1], [0]]);
  const advantages = () => tf.tensor2d([[0.5], [-0.5]]);

  it('dispatches each loss type to its function', () => {
    assertClose(computePolicyGradientLoss(logp(), 'no_baseline', rewards()).loss, [1, 2, 0, 0], 0);
    assertClose(computePolicyGradientLoss(logp(), 'reinforce_with_baseline', undefined, advantages()).loss, [0.5, 1, -0.25, -1.5], 0);
    const old = tf.tensor2d([[-1, -2.5], [-0.5, -2]]);
    const { loss, metadata } = computePolicyGradientLoss(logp(), 'grpo_clip', undefined, advantages(), old, 0.2);
    const direct = computeGrpoClipLoss(advantages(), logp(), old, 0.2);
    assertClose(loss, direct.loss.dataSync(), 0);
    assertClose(metadata.clipped, direct.metadata.clipped.dataSync(), 0);
  });

  const missing: [PolicyGradientLossType, RegExp, () => ReturnType<typeof computePolicyGradientLoss>][] = [
    ['no_baseline', /rawRewards is required for lossType 'no_baseline'/, () => computePolicyGradientLoss(logp(), 'no_baseline', undefined, advantages())],
    ['reinforce_with_baseline', /advantages is required for lossType 'reinforce_with_baseline'/, () => computePolicyGradientLoss(logp(), 'reinforce_with_baseline', rewards())],
    ['grpo_clip', /oldLogProbs is required for lossType 'grpo_clip'/, () => computePolicyGradientLoss(logp(), 'grpo_clip', undefined, advantages(), undefined, 0.2)],
    ['grpo_clip', /cliprange is required for lossType 'grpo_clip'/, () => computePolicyGradientLoss(logp(), 'grpo_clip', undefined, advantages(), logp())],
  ];
  for (const [lossType, message, call] of missing) {
    it(`names the missing argument for ${lossType} (${message.source.split(' ')[0]})`, () => {
      assert.throws(call, message);
    });
  }

  it('rejects an unknown loss type', () => {
    assert.throws(
      () => computePolicyGradientLoss(logp(), 'ppo' as PolicyGradientLossType, rewards()),
      /lossType must be one of no_baseline, reinforce_with_baseline, grpo_clip, got 'ppo'/,
    );
  });
});
