/**
 * The same computations on `cpu` and `wasm` must agree within 1e-5: a run must not change its numbers with the
 * backend it happened to get.
 */
import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import * as grpo from '../../../src/grpo';
import { selectBackend } from '../../../src/worker/backend';
import { assertClose, logRatiosAwayFromKinks, normals, rows } from './helpers';

const [B, T, V, G] = [8, 12, 16, 4];

/** Every public computation on fixed inputs, values and gradients, read back as plain numbers. */
async function scenario(): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  const record = (name: string, tensor: tf.Tensor) => {
    out[name] = Array.from(tensor.dataSync());
  };
  const rewards = normals(81, B, 1, 0.5);
  const responses = rewards.map(String);
  const normalized = await grpo.computeGroupNormalizedRewards(
    (response) => ({ reward: Number(response) }),
    responses,
    responses,
    G,
    1e-6,
    true,
  );
  record('computeGroupNormalizedRewards', normalized.advantages);
  tf.dispose([normalized.advantages, normalized.rawRewards]);

  tf.tidy(() => {
    record('computeGroupAdvantages/batch', grpo.computeGroupAdvantages(rewards, G, { scaleRewards: 'batch', stdKind: 'population' }).advantages);
    const mask = tf.tensor2d(normals(82, B * T).map((v, i) => (i % T === 0 || v > -0.5 ? 1 : 0)), [B, T]);
    const old = tf.tensor2d(normals(83, B * T, 1, -2), [B, T]);
    const logp = tf.add(old, tf.tensor2d(logRatiosAwayFromKinks(84, B * T, 0.2, 0.28), [B, T])) as tf.Tensor2D;
    const ref = tf.tensor2d(normals(85, B * T, 0.5, -2), [B, T]);
    const advantages = tf.tensor2d(rows(normals(86, B), 1));
    const logits = tf.tensor3d(normals(87, B * T * V, 2), [B, T, V]);
    const refLogits = tf.tensor3d(normals(88, B * T * V, 2), [B, T, V]);

    record('computeNaivePolicyGradientLoss', grpo.computeNaivePolicyGradientLoss(advantages, logp));
    const clip = grpo.computeGrpoClipLoss(advantages, logp, old, 0.2);
    record('computeGrpoClipLoss', clip.loss);
    record('computeGrpoClipLoss/clipped', clip.metadata.clipped);
    for (const dim of [undefined, 0, -1]) record(`maskedMean/${dim}`, grpo.maskedMean(logp, mask, dim));
    for (const lossType of grpo.POLICY_GRADIENT_LOSS_TYPES) {
      const f = (x: tf.Tensor) => grpo.grpoMicrobatchLoss(x as tf.Tensor2D, mask, 2, lossType, advantages, advantages, old, 0.2).loss;
      record(`grpoMicrobatchLoss/${lossType}`, f(logp));
      record(`grpoMicrobatchLoss/${lossType}/grad`, tf.grad(f)(logp));
    }
    for (const lossType of grpo.LOSS_AGGREGATIONS) {
      const config: grpo.GrpoLossConfig = { lossType, epsilonLow: 0.2, epsilonHigh: 0.28, beta: 0.04, maxCompletionLength: T };
      const f = (x: tf.Tensor) =>
        grpo.computeGrpoLoss({ policyLogProbs: x as tf.Tensor2D, responseMask: mask, advantages, oldLogProbs: old, refLogProbs: ref, numItemsInBatch: 100 }, config);
      const result = f(logp);
      record(`computeGrpoLoss/${lossType}`, result.loss);
      out[`computeGrpoLoss/${lossType}/metrics`] = Object.values(result.metrics);
      record(`computeGrpoLoss/${lossType}/grad`, tf.grad((x: tf.Tensor) => f(x).loss)(logp));
    }
    const fullKl = (x: tf.Tensor) =>
      grpo.computeGrpoLoss(
        { policyLogProbs: logp, responseMask: mask, advantages, oldLogProbs: old, policyLogits: x as tf.Tensor3D, refLogits },
        { lossType: 'grpo', epsilonLow: 0.2, beta: 0.1, klEstimator: 'full' },
      ).loss;
    record('computeGrpoLoss/full/grad', tf.grad(fullKl)(logits));
    record('computeFullKlPerToken', grpo.computeFullKlPerToken(logits, refLogits));
    record('computeEntropyFromLogits', grpo.computeEntropyFromLogits(logits));
    record('computeK3KlPerToken', grpo.computeK3KlPerToken(logp, ref));
    record(
      'computeProcessSupervisionAdvantages',
      grpo.computeProcessSupervisionAdvantages(tf.tensor2d(normals(89, B * T), [B, T]), mask, G, { gamma: 0.95 }),
    );
  });
  return out;
}

describe('cpu and wasm backends', () => {
  it('give the same results within 1e-5 for every function, value and gradient', async () => {
    await selectBackend('cpu');
    const cpu = await scenario();
    await selectBackend('wasm');
    const wasm = await scenario();
    assert.deepEqual(Object.keys(wasm), Object.keys(cpu));
    assert.ok(Object.keys(cpu).length >= 25, 'the scenario covers the module');
    for (const [name, values] of Object.entries(cpu)) assertClose(wasm[name], values, 1e-5, name);
  });
});
