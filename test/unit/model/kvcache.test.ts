import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { loadPolicy, responseLogProbs } from '../../../src/model';
import { attentionBias, disposeCache, emptyCache, KVCache } from '../../../src/model/model';
import { writeRowsInPlace } from '../../../src/model/kernels';
import { padLayout } from '../../../src/model/logprobs';
import { Policy } from '../../../src/model/policy';
import { Family, maxAbsDiff, sequenceLogits, useWasm, writeCheckpoint } from './helpers';

/** Logits of each decode step when the prompts are prefilled into a cache and `next` is fed one column at a time. */
function cachedStepLogits(policy: Policy, prompts: number[][], next: number[][], capacity = 0, observe?: (cache: KVCache) => void): number[][][] {
  const layout = padLayout({ promptIds: prompts, responseIds: prompts.map(() => []) }, policy.tokenizer.padTokenId);
  const B = prompts.length;
  const P = layout.promptWidth;
  const V = policy.config.vocabSize;
  const cache: KVCache = emptyCache(policy.config.nLayers, capacity);
  const keyValid = layout.keyValid.map((r) => [...r]);
  const steps: number[][][] = [];
  try {
    steps.push(tf.tidy(() => tf.reshape(policy.logits({
      batch: B, length: P, ids: tf.tensor2d(layout.tokens, [B, P], 'int32'), positions: layout.positions,
      attentionBias: attentionBias(keyValid, 0, P), logitsFrom: P - 1,
    }, cache), [B, V]).arraySync() as number[][]));
    for (let s = 0; s < next[0].length; s++) {
      keyValid.forEach((r) => r.push(true));
      steps.push(tf.tidy(() => policy.logits({
        batch: B, length: 1, ids: tf.tensor2d(next.map((r) => [r[s]]), [B, 1], 'int32'),
        positions: Int32Array.from(prompts.map((p) => p.length + s)), attentionBias: attentionBias(keyValid, P + s, 1), logitsFrom: 0,
      }, cache).arraySync() as number[][]));
      observe?.(cache);
    }
  } finally {
    disposeCache(cache);
  }
  return steps;
}

describe('KV cache', () => {
  before(useWasm);

  for (const family of ['gpt2', 'qwen2', 'llama'] as Family[]) {
    it(`${family}: decoding with the cache gives the logits of a full forward (≤ 1e-4), with left padding`, () => {
      const policy = loadPolicy(writeCheckpoint(family, 11));
      const prompts = [[10, 20, 30, 40, 50], [60, 70], [80, 90, 100]];
      const next = [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]];
      const steps = cachedStepLogits(policy, prompts, next);
      let worst = 0;
      prompts.forEach((prompt, b) => {
        // Each row alone, unpadded: the reference.
        const full = sequenceLogits(policy, [[...prompt, ...next[b]]])[0];
        steps.forEach((step, s) => (worst = Math.max(worst, maxAbsDiff(step[b], full[prompt.length - 1 + s]))));
      });
      assert.ok(worst <= 1e-4, `max diff ${worst}`);
      policy.dispose();
    });
  }

  it('wasm: a cache sized for the tokens takes each one in place (no Concat, the same tensors), with the logits of a growing one', async () => {
    const policy = loadPolicy(writeCheckpoint('llama', 14));
    const prompts = [[10, 20, 30, 40], [50, 60]];
    const next = [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]];
    const tensorsBefore = tf.memory().numTensors;
    // From no room at all: every append grows the buffers (doubling), which copies what they hold.
    const grown = cachedStepLogits(policy, prompts, next, 0);
    const keys = new Set<tf.Tensor>();
    let sized: number[][][] = [];
    const profile = await tf.profile(() => {
      sized = cachedStepLogits(policy, prompts, next, 4 + next[0].length, (cache) => keys.add(cache.layers[0]!.k));
    });
    assert.deepStrictEqual(sized, grown);
    assert.strictEqual(keys.size, 1, 'the decode steps wrote into the prefill\'s buffers');
    assert.deepStrictEqual(profile.kernels.filter((k) => k.name === 'Concat').length, 0);
    assert.strictEqual(tf.memory().numTensors, tensorsBefore, 'no tensor left behind');
    policy.dispose();
  });

  it('writeRowsInPlace writes each matrix\'s rows [at, at + rows) and nothing else; a block that does not fit is an error', () => {
    const b = tf.zeros([2, 5, 3]) as tf.Tensor3D;
    const x = tf.tensor3d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [2, 2, 3]);
    writeRowsInPlace(b, x, 2);
    const z = [0, 0, 0];
    assert.deepStrictEqual(b.arraySync(), [[z, z, [1, 2, 3], [4, 5, 6], z], [z, z, [7, 8, 9], [10, 11, 12], z]]);
    assert.throws(() => writeRowsInPlace(b, x, 4), /x \[2,2,3\] at row 4 does not fit b \[2,5,3\]/);
    tf.dispose([b, x]);
  });

  it('cpu: the cache (appended by concatenation there) gives the logits of a full forward', async () => {
    await tf.setBackend('cpu');
    try {
      const policy = loadPolicy(writeCheckpoint('llama', 15));
      const prompts = [[10, 20, 30], [40]];
      const next = [[1, 2], [3, 4]];
      const steps = cachedStepLogits(policy, prompts, next, 16);
      prompts.forEach((prompt, b) => {
        const full = sequenceLogits(policy, [[...prompt, ...next[b]]])[0];
        steps.forEach((step, s) => assert.ok(maxAbsDiff(step[b], full[prompt.length - 1 + s]) <= 1e-4));
      });
      policy.dispose();
    } finally {
      await useWasm();
    }
  });

  it('batched, padded response log-probs equal those of each row alone', () => {
    const policy = loadPolicy(writeCheckpoint('qwen2', 12));
    const batch = { promptIds: [[1, 2, 3, 4], [5, 6]], responseIds: [[7, 8], [9, 10, 11, 12, 13]] };
    const together = tf.tidy(() => responseLogProbs(policy, batch, { withEntropy: true }).logProbs.arraySync());
    batch.promptIds.forEach((promptIds, b) => {
      const alone = tf.tidy(() => responseLogProbs(policy, { promptIds: [promptIds], responseIds: [batch.responseIds[b]] }).logProbs.arraySync()[0]);
      assert.ok(maxAbsDiff(together[b].slice(0, alone.length), alone) < 1e-5);
      assert.ok(together[b].slice(alone.length).every((x) => x === 0), 'padding scores 0');
    });
    policy.dispose();
  });

  it('log-probs and entropy match a softmax of the full-forward logits', () => {
    const policy = loadPolicy(writeCheckpoint('gpt2', 13));
    const prompt = [3, 4, 5];
    const response = [6, 7];
    const out = responseLogProbs(policy, { promptIds: [prompt], responseIds: [response] }, { withEntropy: true, temperature: 0.7 });
    const logits = sequenceLogits(policy, [[...prompt, ...response]])[0];
    const lp = out.logProbs.arraySync()[0];
    const ent = out.entropy!.arraySync()[0];
    response.forEach((token, j) => {
      const row = logits[prompt.length - 1 + j].map((x) => x / 0.7);
      const max = Math.max(...row);
      const logZ = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
      assert.ok(Math.abs(lp[j] - (row[token] - logZ)) < 1e-4);
      const entropy = -row.reduce((s, x) => s + Math.exp(x - logZ) * (x - logZ), 0);
      assert.ok(Math.abs(ent[j] - entropy) < 1e-4);
    });
    tf.dispose([out.logProbs, out.responseMask, out.entropy!]);
    policy.dispose();
  });
});
