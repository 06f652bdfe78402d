import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { loadPolicy, parameterCount, savePolicy } from '../../../src/model';
import { halfToFloat, readCheckpointTensors, readSafetensors, writeSafetensors } from '../../../src/model/safetensors';
import { configJson, Family, maxAbsDiff, randomTensors, sequenceLogits, tempDir, useWasm, writeCheckpoint } from './helpers';
import { gpt2Logits, llamaLogits } from './reference';

describe('model checkpoints', () => {
  before(useWasm);

  for (const family of ['gpt2', 'qwen2', 'llama'] as Family[]) {
    it(`${family}: logits equal an independent float64 forward of a one-layer model`, () => {
      const dir = writeCheckpoint(family, 3, 1);
      const policy = loadPolicy(dir);
      const ids = [5, 104, 101, 108, 108, 111, 32, 256, 259, 260];
      const got = sequenceLogits(policy, [ids])[0];
      const tensors = readCheckpointTensors(dir);
      const cfg = configJson(family, 1);
      const want = family === 'gpt2'
        ? gpt2Logits(tensors, ids, 4, 1e-5)
        : llamaLogits(tensors, ids, { nHeads: 4, nKvHeads: 2, eps: 1e-6, theta: cfg.rope_theta as number });
      assert.ok(maxAbsDiff(got.flat(), want.flat()) < 1e-4, `max diff ${maxAbsDiff(got.flat(), want.flat())}`);
      policy.dispose();
    });

    it(`${family}: save → load is bit-exact, and saving again gives identical bytes`, async () => {
      const dir = writeCheckpoint(family, 4);
      const policy = loadPolicy(dir);
      const out = tempDir('saved');
      await savePolicy(policy, out);
      const original = readSafetensors(path.join(dir, 'model.safetensors'));
      const saved = readSafetensors(path.join(out, 'model.safetensors'));
      assert.deepStrictEqual([...saved.keys()].sort(), [...original.keys()].sort());
      for (const [name, t] of original) {
        assert.deepStrictEqual(saved.get(name)!.shape, t.shape, name);
        assert.ok(Buffer.from(saved.get(name)!.data.buffer).equals(Buffer.from(t.data.buffer)), `${name} differs`);
      }
      const again = loadPolicy(out);
      const out2 = tempDir('saved2');
      await savePolicy(again, out2);
      assert.ok(fs.readFileSync(path.join(out, 'model.safetensors')).equals(fs.readFileSync(path.join(out2, 'model.safetensors'))));
      assert.deepStrictEqual(sequenceLogits(again, [[1, 2, 3]]), sequenceLogits(policy, [[1, 2, 3]]));
      policy.dispose();
      again.dispose();
    });
  }

  it('the tiny preset saves as a checkpoint folder (config.json, safetensors, char tokenizer) and loads back', async () => {
    const policy = loadPolicy('tiny', { seed: 3 });
    const dir = tempDir('tiny');
    await savePolicy(policy, dir);
    const again = loadPolicy(dir);
    assert.deepStrictEqual(again.config, policy.config);
    assert.deepStrictEqual(again.tokenizer.encode('12+7=19'), policy.tokenizer.encode('12+7=19'));
    assert.deepStrictEqual(sequenceLogits(again, [again.tokenizer.encode('3+4=')]), sequenceLogits(policy, [policy.tokenizer.encode('3+4=')]));
    assert.ok(policy.parameterCount() > 200_000 && policy.parameterCount() < 1_000_000, `${policy.parameterCount()} parameters`);
    for (const name of ['tiny', 'small'] as const) {
      const p = name === 'tiny' ? policy : loadPolicy(name);
      assert.strictEqual(parameterCount(p.config), p.parameterCount(), name);
      if (p !== policy) p.dispose();
    }
    const qwen = loadPolicy(writeCheckpoint('qwen2', 7));
    assert.strictEqual(parameterCount(qwen.config), qwen.parameterCount());
    qwen.dispose();
    policy.dispose();
    again.dispose();
  });

  it('loads a sharded checkpoint through model.safetensors.index.json', () => {
    const dir = writeCheckpoint('qwen2', 5);
    const tensors = readSafetensors(path.join(dir, 'model.safetensors'));
    const names = [...tensors.keys()];
    const shards = [names.slice(0, 10), names.slice(10)];
    const weightMap: Record<string, string> = {};
    shards.forEach((part, i) => {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      writeSafetensors(path.join(dir, file), new Map(part.map((n) => [n, tensors.get(n)!])));
      part.forEach((n) => (weightMap[n] = file));
    });
    const single = loadPolicy(dir);
    fs.unlinkSync(path.join(dir, 'model.safetensors'));
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const sharded = loadPolicy(dir);
    assert.deepStrictEqual(sequenceLogits(sharded, [[7, 8, 9]]), sequenceLogits(single, [[7, 8, 9]]));
    single.dispose();
    sharded.dispose();
  });

  it('reads f16 and bf16 tensors exactly', () => {
    const dir = tempDir('dtypes');
    const file = path.join(dir, 'x.safetensors');
    // 1.0, -2.5, 65504 (max half), 2^-24 (smallest subnormal half)
    const f16 = new Uint16Array([0x3c00, 0xc100, 0x7bff, 0x0001]);
    // bf16 of 1.0, -2.5, 3.140625
    const bf16 = new Uint16Array([0x3f80, 0xc020, 0x4049]);
    const header = JSON.stringify({ a: { dtype: 'F16', shape: [4], data_offsets: [0, 8] }, b: { dtype: 'BF16', shape: [3], data_offsets: [8, 14] } });
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    fs.writeFileSync(file, Buffer.concat([len, Buffer.from(header), Buffer.from(f16.buffer), Buffer.from(bf16.buffer)]));
    const t = readSafetensors(file);
    assert.deepStrictEqual(Array.from(t.get('a')!.data), [1, -2.5, 65504, 2 ** -24]);
    assert.deepStrictEqual(Array.from(t.get('b')!.data), [1, -2.5, 3.140625]);
    assert.strictEqual(halfToFloat(0x7c00), Infinity);
  });

  describe('errors name the tensor, field or file', () => {
    it('missing tensor', () => {
      const dir = writeCheckpoint('qwen2', 6);
      const tensors = randomTensors('qwen2', 6);
      tensors.delete('model.layers.1.mlp.up_proj.weight');
      writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
      assert.throws(() => loadPolicy(dir), /model\.safetensors: missing tensor 'model\.layers\.1\.mlp\.up_proj\.weight'/);
    });

    it('wrong shape', () => {
      const dir = writeCheckpoint('gpt2', 6);
      const tensors = randomTensors('gpt2', 6);
      tensors.set('transformer.h.0.attn.c_attn.bias', { shape: [95], data: new Float32Array(95) });
      writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
      assert.throws(() => loadPolicy(dir), /tensor 'transformer\.h\.0\.attn\.c_attn\.bias' has shape \[95\], config\.json implies \[96\]/);
    });

    it('unknown architecture', () => {
      const dir = writeCheckpoint('gpt2', 6);
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ model_type: 'bert', architectures: ['BertModel'] }));
      assert.throws(() => loadPolicy(dir), /config\.json: unknown architecture: field 'model_type' is "bert" \(architectures: BertModel\)/);
    });

    it('missing or invalid config field', () => {
      const dir = writeCheckpoint('qwen2', 6);
      const cfg = configJson('qwen2');
      delete cfg.hidden_size;
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
      assert.throws(() => loadPolicy(dir), /config\.json: missing field 'hidden_size'/);
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...configJson('qwen2'), num_key_value_heads: 3 }));
      assert.throws(() => loadPolicy(dir), /field 'num_key_value_heads' \(3\) must divide 'num_attention_heads' \(4\)/);
    });

    it('truncated file', () => {
      const dir = writeCheckpoint('qwen2', 6);
      const file = path.join(dir, 'model.safetensors');
      const bytes = fs.readFileSync(file);
      fs.writeFileSync(file, bytes.subarray(0, bytes.length - 100));
      assert.throws(() => loadPolicy(dir), /model\.safetensors: truncated file: tensor '[^']+' needs bytes/);
      fs.writeFileSync(file, bytes.subarray(0, 20));
      assert.throws(() => loadPolicy(dir), /model\.safetensors: truncated file: header needs/);
    });

    it('neither preset nor folder', () => {
      assert.throws(() => loadPolicy('/no/such/dir'), /'\/no\/such\/dir' is neither a preset \(tiny, small, base\) nor a checkpoint folder/);
    });
  });
});
