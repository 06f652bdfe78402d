/**
 * Gradient checkpointing (src/model/checkpointing.ts, ForwardInput.checkpointBlocks): the same gradients as the
 * plain backward — for every family, full fine-tuning and LoRA with dropout — and a smaller tensor peak.
 */
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { loadPolicy, Policy, responseLogProbs } from '../../../src/model';
import { checkpointed } from '../../../src/model/checkpointing';
import { addLora } from '../../../src/model/lora';
import { Family, maxAbsDiff, useWasm, writeCheckpoint } from './helpers';

const BATCH = { promptIds: [[5, 104, 101], [7]], responseIds: [[108, 108, 111, 32], [119, 111]] };
const LAYERS = 3;

/** d/dθ of Σ logπ(response)·c over what trains, with or without checkpointing, and the tape's tensor peak. */
async function gradients(policy: Policy, checkpoint: boolean, dropoutSeed?: string): Promise<{ grads: Map<string, Float32Array>; peakBytes: number }> {
  const variables = policy.variables();
  let result: { value: tf.Scalar; grads: tf.NamedTensorMap } | undefined;
  const profile = await tf.profile(() => {
    result = tf.variableGrads(() => {
      const out = responseLogProbs(policy, BATCH, { gradientCheckpointing: checkpoint, dropoutSeed, withEntropy: true });
      const weights = tf.reshape(tf.linspace(-1, 1, out.logProbs.size), out.logProbs.shape);
      return tf.add(tf.sum(tf.mul(out.logProbs, weights)), tf.mul(0.3, tf.sum(out.entropy!))) as tf.Scalar;
    }, variables);
  });
  const grads = new Map(variables.map((v) => [v.name, result!.grads[v.name].dataSync() as Float32Array]));
  tf.dispose([result!.value, ...Object.values(result!.grads)]);
  return { grads, peakBytes: profile.peakBytes };
}

function assertSameGradients(a: Map<string, Float32Array>, b: Map<string, Float32Array>): void {
  assert.deepStrictEqual([...a.keys()], [...b.keys()]);
  for (const [name, g] of a) {
    const scale = Math.max(1e-3, ...Array.from(g, Math.abs));
    assert.ok(maxAbsDiff(g, b.get(name)!) <= 1e-5 * scale, `${name}: max |Δ| ${maxAbsDiff(g, b.get(name)!)} (scale ${scale})`);
  }
}

describe('gradient checkpointing', () => {
  before(useWasm);

  for (const family of ['gpt2', 'qwen2', 'llama'] as Family[]) {
    it(`${family}, full fine-tuning: the same gradients of every weight, and a smaller tensor peak`, async () => {
      const policy = loadPolicy(writeCheckpoint(family, 4, LAYERS));
      const plain = await gradients(policy, false);
      const recomputed = await gradients(policy, true);
      assertSameGradients(plain.grads, recomputed.grads);
      assert.ok(recomputed.peakBytes < plain.peakBytes, `peak ${recomputed.peakBytes} B checkpointed vs ${plain.peakBytes} B plain`);
      policy.dispose();
    });

    it(`${family}, LoRA with dropout: the same adapter gradients (the recomputed pass draws the same masks)`, async () => {
      const policy = loadPolicy(writeCheckpoint(family, 4, LAYERS));
      addLora(policy, { r: 2, lora_alpha: 4, lora_dropout: 0.3, target_modules: 'all-linear', init_lora_weights: false }, 3);
      const plain = await gradients(policy, false, 'seed/0/0');
      const recomputed = await gradients(policy, true, 'seed/0/0');
      assertSameGradients(plain.grads, recomputed.grads);
      // Dropout is on in both: another seed gives other gradients.
      const other = await gradients(policy, true, 'seed/0/1');
      assert.ok([...other.grads].some(([name, g]) => maxAbsDiff(g, plain.grads.get(name)!) > 1e-4), 'dropout masks did not depend on the seed');
      policy.dispose();
    });
  }

  it('without a tape a checkpointed block is the block itself; under one, x and the trainables get their gradients', async () => {
    const x = tf.variable(tf.tensor2d([[1, 2], [3, -1]]));
    const w = tf.variable(tf.tensor2d([[0.5, -1], [2, 0.25]]));
    const shift = tf.tensor1d([0.1, -0.2]);
    const block = (input: tf.Tensor2D, [b]: tf.Tensor[]) => tf.tanh(tf.add(tf.matMul(input, w), b)) as tf.Tensor2D;
    assert.deepStrictEqual(await checkpointed(x, [w], [shift], block).array(), await block(x, [shift]).array());
    // The captured tensor is made inside the tape's forward and freed with it: the recomputation reads the saved copy.
    const viaCheckpoint = tf.variableGrads(() => tf.sum(tf.square(checkpointed(x, [w], [tf.mul(shift, 1)], block))) as tf.Scalar, [x, w]);
    const direct = tf.variableGrads(() => tf.sum(tf.square(block(x, [shift]))) as tf.Scalar, [x, w]);
    for (const v of [x, w]) assert.deepStrictEqual(await viaCheckpoint.grads[v.name].array(), await direct.grads[v.name].array(), v.name);
    tf.dispose([x, w, shift, viaCheckpoint.value, direct.value, ...Object.values(viaCheckpoint.grads), ...Object.values(direct.grads)]);
  });
});
