import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { computeEntropyFromLogits, computeFullKlPerToken, computeK3KlPerToken } from '../../../src/grpo';
import { assertClose, assertNoLeak, centralDifferences, describeOnBackends, normals, rows } from './helpers';
import { refEntropy, refFullKl, refK3, weightedSum } from './reference';

const [B, T, V] = [2, 3, 5];

function logits3d(values: number[]): number[][][] {
  return rows(values, V).reduce<number[][][]>((acc, row, i) => {
    if (i % T === 0) acc.push([]);
    acc[acc.length - 1].push(row);
    return acc;
  }, []);
}

describeOnBackends('computeK3KlPerToken', () => {
  it('is exp(d) − d − 1 with d = ref − logp (hand-computed), and 0 where the policies agree', () => {
    const kl = computeK3KlPerToken(tf.tensor2d([[Math.log(0.5), -1]]), tf.tensor2d([[Math.log(0.25), -1]]));
    // d = log 0.25 − log 0.5 = log 0.5.
    assertClose(kl, [0.5 - Math.log(0.5) - 1, 0], 1e-6);
  });

  it('matches the float64 reference in value and gradient', () => {
    const logp = normals(51, B * T, 0.5, -1.5);
    const ref = rows(normals(52, B * T, 0.5, -1.5), T);
    const weights = normals(53, B * T);
    assertClose(computeK3KlPerToken(tf.tensor2d(logp, [B, T]), tf.tensor2d(ref)), refK3(rows(logp, T), ref), 1e-6);
    const gradient = tf.grad((x: tf.Tensor) =>
      tf.sum(tf.mul(computeK3KlPerToken(x as tf.Tensor2D, tf.tensor2d(ref)), tf.tensor2d(weights, [B, T]))),
    )(tf.tensor2d(logp, [B, T]));
    const expected = centralDifferences((x) => weightedSum(refK3(rows(x, T), ref), weights), logp, 1e-5);
    assertClose(gradient, expected, 1e-5);
  });
});

describeOnBackends('computeFullKlPerToken', () => {
  it('is Σ p (log p − log q) (hand-computed: uniform vs [0.75, 0.25])', () => {
    const kl = computeFullKlPerToken(tf.tensor3d([[[0, 0]]]), tf.tensor3d([[[Math.log(3), 0]]]));
    assertClose(kl, [0.5 * Math.log(0.5 / 0.75) + 0.5 * Math.log(0.5 / 0.25)], 1e-6);
    assert.deepEqual(kl.shape, [1, 1]);
  });

  it('matches the float64 reference in value and in its gradient with respect to the policy logits', () => {
    const policy = normals(54, B * T * V, 2);
    const reference = logits3d(normals(55, B * T * V, 2));
    const weights = normals(56, B * T);
    const kl = computeFullKlPerToken(tf.tensor3d(policy, [B, T, V]), tf.tensor3d(reference));
    assertClose(kl, refFullKl(logits3d(policy), reference), 1e-5);
    const gradient = tf.grad((x: tf.Tensor) =>
      tf.sum(tf.mul(computeFullKlPerToken(x as tf.Tensor3D, tf.tensor3d(reference)), tf.tensor2d(weights, [B, T]))),
    )(tf.tensor3d(policy, [B, T, V]));
    const expected = centralDifferences((x) => weightedSum(refFullKl(logits3d(x), reference), weights), policy, 1e-5);
    assertClose(gradient, expected, 1e-5);
  });

  it('is stable for huge logits and treats −inf (masked-out) tokens as probability 0', () => {
    assertClose(computeFullKlPerToken(tf.tensor3d([[[1000, 0]]]), tf.tensor3d([[[1000, 0]]])), [0], 1e-6);
    assertClose(computeFullKlPerToken(tf.tensor3d([[[0, 0, -Infinity]]]), tf.tensor3d([[[0, 0, -Infinity]]])), [0], 1e-6);
    // Truly infinite (the reference cannot emit a token the policy can): reported as ≈ 0.5·1e30, still finite.
    const unbounded = computeFullKlPerToken(tf.tensor3d([[[0, 0]]]), tf.tensor3d([[[0, -Infinity]]])).dataSync()[0];
    assert.ok(unbounded > 1e29 && Number.isFinite(unbounded), `got ${unbounded}`);
    const gradient = tf.grad((x: tf.Tensor) =>
      tf.sum(computeFullKlPerToken(x as tf.Tensor3D, tf.tensor3d([[[0, 1, -Infinity]]]))),
    )(tf.tensor3d([[[0.5, 0, -Infinity]]]));
    assert.ok(gradient.dataSync().every(Number.isFinite), `finite gradient, got ${gradient.dataSync()}`);
  });

  it('rejects logits that are not [B,T,V] or differ in shape', () => {
    assert.throws(() => computeFullKlPerToken(tf.zeros([2, 3]) as unknown as tf.Tensor3D, tf.zeros([2, 3]) as unknown as tf.Tensor3D), /policyLogits must have rank 3/);
    assert.throws(() => computeFullKlPerToken(tf.zeros([1, 2, 3]), tf.zeros([1, 2, 4])), /must have the same shape/);
  });
});

describeOnBackends('computeEntropyFromLogits', () => {
  it('is log V for uniform logits, ~0 for a confident token, log 2 with a masked-out third token', () => {
    assertClose(computeEntropyFromLogits(tf.tensor2d([[0, 0, 0, 0], [3, 3, 3, 3]])), [Math.log(4), Math.log(4)], 1e-6);
    assertClose(computeEntropyFromLogits(tf.tensor1d([1000, 0])), [0], 1e-6);
    assertClose(computeEntropyFromLogits(tf.tensor1d([0, 0, -Infinity])), [Math.log(2)], 1e-6);
  });

  it('matches the float64 reference in value and gradient on [B,T,V] logits', () => {
    const logits = normals(57, B * T * V, 3);
    const weights = normals(58, B * T);
    const entropy = computeEntropyFromLogits(tf.tensor3d(logits, [B, T, V]));
    assert.deepEqual(entropy.shape, [B, T]);
    assertClose(entropy, rows(logits, V).map(refEntropy), 1e-5);
    const gradient = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(computeEntropyFromLogits(x), tf.tensor2d(weights, [B, T]))))(
      tf.tensor3d(logits, [B, T, V]),
    );
    const expected = centralDifferences((x) => rows(x, V).reduce((a, row, i) => a + refEntropy(row) * weights[i], 0), logits, 1e-5);
    assertClose(gradient, expected, 1e-5);
  });

  it('rejects a scalar and leaks no tensors', async () => {
    assert.throws(() => computeEntropyFromLogits(tf.scalar(1)), /must have a vocabulary axis/);
    const [policy, reference] = [tf.randomNormal([2, 3, 4]) as tf.Tensor3D, tf.randomNormal([2, 3, 4]) as tf.Tensor3D];
    const [logp, refLogp] = [tf.randomNormal([2, 3]) as tf.Tensor2D, tf.randomNormal([2, 3]) as tf.Tensor2D];
    await assertNoLeak(() => computeEntropyFromLogits(policy));
    await assertNoLeak(() => computeFullKlPerToken(policy, reference));
    await assertNoLeak(() => computeK3KlPerToken(logp, refLogp));
  });
});
