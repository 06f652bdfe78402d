import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { loadPolicy, Policy, PolicyTrainer, responseLogProbs } from '../../../src/model';
import {
  addLora, adapterConfigJson, attachAdapterFolder, linearModules, loraScaling, matchesTarget, mergedPolicy, modelLinearModules,
  readAdapters, saveAdapterFolder, selectTargets,
} from '../../../src/model/lora';
import { readSafetensors } from '../../../src/model/safetensors';
import { Family, maxAbsDiff, sequenceLogits, tempDir, useWasm, writeCheckpoint } from './helpers';

const ROWS = [[5, 104, 101, 108, 108, 111, 32, 256], [7, 33, 98, 99, 100, 101, 102, 259]];

function policyOf(family: Family, layers = 2): Policy {
  return loadPolicy(writeCheckpoint(family, 3, layers));
}

function flat(x: number[][][]): number[] {
  return x.flat(2);
}

describe('LoRA (PEFT semantics)', () => {
  before(useWasm);

  describe('target modules', () => {
    const gpt2 = () => {
      const p = policyOf('gpt2', 1);
      const modules = modelLinearModules(p.config);
      p.dispose();
      return modules;
    };

    it('a list matches by suffix: "c_proj" hits GPT-2\'s attention and MLP projections', () => {
      const names = selectTargets(gpt2(), ['c_proj'], 'gpt2', 'model.lora.target_modules').map((m) => m.name);
      assert.deepStrictEqual(names, ['transformer.h.0.attn.c_proj', 'transformer.h.0.mlp.c_proj']);
    });

    it('"all-linear" takes every projection but the output layer; embeddings are never linear', () => {
      const p = policyOf('llama', 1);
      const modules = modelLinearModules(p.config);
      p.dispose();
      assert.ok(modules.some((m) => m.name === 'lm_head'), 'the untied llama fixture has an lm_head');
      const names = selectTargets(modules, 'all-linear', 'llama', 'f').map((m) => m.name.split('.').pop());
      assert.deepStrictEqual(names, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);
      assert.ok(!modules.some((m) => m.name.includes('embed')));
    });

    it('a string is a regular expression over the whole module name; a list entry matching nothing is an error naming it', () => {
      const names = selectTargets(gpt2(), '.*\\.attn\\.c_(attn|proj)', 'gpt2', 'f').map((m) => m.name);
      assert.deepStrictEqual(names, ['transformer.h.0.attn.c_attn', 'transformer.h.0.attn.c_proj']);
      assert.strictEqual(matchesTarget('c_proj', 'transformer.h.0.attn.c_proj'), false, 'a regex must match the whole name');
      assert.throws(() => selectTargets(gpt2(), ['c_attn', 'q_proj'], 'gpt2', 'model.lora.target_modules'), /model\.lora\.target_modules: "q_proj" matches no linear layer.*c_attn/);
    });

    it('PEFT\'s default targets per model type: gpt2 c_attn, llama/qwen2 q_proj and v_proj', () => {
      assert.deepStrictEqual(selectTargets(gpt2(), null, 'gpt2', 'f').map((m) => m.name), ['transformer.h.0.attn.c_attn']);
      const p = policyOf('qwen2', 1);
      assert.deepStrictEqual(selectTargets(modelLinearModules(p.config), null, 'qwen2', 'f').map((m) => m.name.split('.').pop()), ['q_proj', 'v_proj']);
      p.dispose();
    });

    it('GPT-2\'s Conv1D layers are fan_in_fan_out, with in/out read from the [in, out] weight', () => {
      const cfc = gpt2().find((m) => m.name.endsWith('mlp.c_fc'))!;
      assert.deepStrictEqual([cfc.inFeatures, cfc.outFeatures, cfc.conv1d], [32, 128, true]);
      const p = policyOf('gpt2', 1);
      const adapters = addLora(p, { r: 2, target_modules: ['c_fc'], fan_in_fan_out: false }, 0);
      assert.strictEqual(adapters.settings.fan_in_fan_out, true, 'set as PEFT does for Conv1D');
      p.dispose();
    });

    it('the scale is lora_alpha / r, or lora_alpha / √r with use_rslora', () => {
      assert.strictEqual(loraScaling({ r: 16, lora_alpha: 32, use_rslora: false }), 2);
      assert.strictEqual(loraScaling({ r: 16, lora_alpha: 32, use_rslora: true }), 8);
    });

    it('linearModules reads Linear layers [out, in] as in → out', () => {
      const modules = linearModules([{ name: 'x.q_proj.weight', shape: [6, 4], transposed: true, init: { kind: 'zeros' } }], []);
      assert.deepStrictEqual(modules[0], { name: 'x.q_proj', inFeatures: 4, outFeatures: 6, conv1d: false, outputLayer: false });
    });
  });

  for (const family of ['gpt2', 'qwen2', 'llama'] as Family[]) {
    describe(family, () => {
      it('at init (B = 0) the LoRA model equals the base exactly; A is Kaiming-uniform within ±1/√in', () => {
        const p = policyOf(family);
        const base = sequenceLogits(p, ROWS);
        const adapters = addLora(p, { r: 4, lora_alpha: 8, target_modules: 'all-linear' }, 7);
        assert.deepStrictEqual(sequenceLogits(p, ROWS), base);
        for (const m of adapters.modules.values()) {
          const a = m.A.dataSync();
          const bound = 1 / Math.sqrt(m.module.inFeatures);
          assert.ok(a.every((v) => Math.abs(v) <= bound) && a.some((v) => Math.abs(v) > bound / 2), m.module.name);
          assert.ok(m.B.dataSync().every((v) => v === 0));
        }
        p.dispose();
      });

      it('the adapter forward equals the merged model\'s forward (≤ 1e-5), and the reference with adapters off equals the base', () => {
        const p = policyOf(family);
        const base = sequenceLogits(p, ROWS);
        addLora(p, { r: 4, lora_alpha: 16, target_modules: 'all-linear', init_lora_weights: false }, 3);
        const adapted = sequenceLogits(p, ROWS);
        assert.ok(maxAbsDiff(flat(adapted), flat(base)) > 1e-3, 'a non-zero B changes the logits');
        const merged = mergedPolicy(p);
        // 1e-5 of the logits' scale: float32 rounds (W + s·A·B)·x and W·x + s·(x·A)·B differently.
        const scale = Math.max(1, ...flat(adapted).map(Math.abs));
        const diff = maxAbsDiff(flat(sequenceLogits(merged, ROWS)), flat(adapted));
        assert.ok(diff <= 1e-5 * scale, `merged differs by ${diff} (logits up to ${scale})`);
        const reference = p.withAdapters(null);
        assert.deepStrictEqual(sequenceLogits(reference, ROWS), base);
        reference.dispose();
        assert.ok(!p.weights.values().next().value!.isDisposed, 'disposing the view keeps the shared base');
        merged.dispose();
        p.dispose();
      });
    });
  }

  for (const family of ['llama', 'qwen2'] as Family[]) it(`${family}${family === 'qwen2' ? ' (tied head)' : ''}: gradients of A and B equal finite differences (float64 central differences of the float32 loss)`, () => {
    const p = policyOf(family, 1);
    const adapters = addLora(p, { r: 2, lora_alpha: 4, target_modules: ['q_proj', 'down_proj'], init_lora_weights: false }, 5);
    const batch = { promptIds: [[5, 104, 101]], responseIds: [[108, 111, 32]] };
    const lossOf = () => tf.tidy(() => tf.neg(tf.sum(responseLogProbs(p, batch).logProbs)) as tf.Scalar);
    const { grads } = tf.variableGrads(lossOf, p.variables());
    assert.strictEqual(Object.keys(grads).length, 4, 'gradients for the 2 adapters\' A and B only');
    for (const v of p.variables()) {
      const g = grads[v.name].dataSync();
      const values = v.dataSync().slice();
      for (const i of [0, Math.floor(values.length / 2), values.length - 1]) {
        const h = 1e-2;
        const at = (delta: number) => {
          const copy = values.slice();
          copy[i] += delta;
          v.assign(tf.tensor(copy, v.shape));
          const l = lossOf();
          const value = l.dataSync()[0];
          l.dispose();
          return value;
        };
        const numeric = (at(h) - at(-h)) / (2 * h);
        v.assign(tf.tensor(values, v.shape));
        assert.ok(Math.abs(numeric - g[i]) <= 2e-3 + 2e-2 * Math.abs(numeric), `${v.name}[${i}]: autodiff ${g[i]} vs numeric ${numeric}`);
      }
    }
    tf.dispose(Object.values(grads));
    assert.ok(adapters.modules.size === 2);
    p.dispose();
  });

  it('training updates the adapters only: base weights unchanged, Adam state only for A and B', async () => {
    const p = policyOf('gpt2', 1);
    const before = new Map([...p.weights].map(([n, w]) => [n, w.dataSync().slice()]));
    addLora(p, { r: 2, target_modules: ['c_attn', 'c_proj'] }, 1);
    const trainer = new PolicyTrainer(p, { learningRate: 1e-2 });
    const loss = (lp: tf.Tensor2D) => tf.neg(tf.mean(lp)) as tf.Scalar;
    await trainer.trainStep([{ promptIds: [[5, 104]], responseIds: [[101, 108, 108]] }], loss);
    for (const [n, w] of p.weights) assert.deepStrictEqual(w.dataSync(), before.get(n), `${n} moved`);
    assert.ok(p.lora!.modules.get('transformer.h.0.attn.c_attn')!.B.dataSync().some((v) => v !== 0), 'B moved off zero');
    const dir = tempDir('lora-opt');
    await trainer.save(dir);
    const names = [...readSafetensors(path.join(dir, 'optimizer.safetensors')).keys()];
    assert.strictEqual(names.length, 3 * 2 * 2, '3 modules × (A, B) × 2 moments');
    assert.ok(names.every((n) => /^base_model\.model\.transformer\.h\.0\.(attn|mlp)\.c_(attn|proj)\.lora_[AB]\.weight\.exp_avg(_sq)?$/.test(n)), names.join());
    assert.strictEqual(p.trainableParameterCount(), 2 * (32 + 96) + 2 * (32 + 32) + 2 * (128 + 32));
    trainer.dispose();
    p.dispose();
  });

  it('a frozen GPT-2 base keeps no sliced copy of c_attn: after a forward only the tied head\'s transpose is cached', () => {
    const p = policyOf('gpt2', 2);
    addLora(p, { r: 2, target_modules: ['c_attn'] }, 1);
    const before = tf.memory().numBytes;
    sequenceLogits(p, ROWS);
    // The tied head's [d, V] transpose (32 × 261 floats) is cached for sampling; per-layer q/k/v slices of c_attn are not.
    assert.strictEqual(tf.memory().numBytes - before, 32 * 261 * 4);
    p.dispose();
  });

  it('a saved adapter round-trips bit-exact with PEFT\'s names and layout', async () => {
    const p = policyOf('qwen2', 1);
    const adapters = addLora(p, { r: 3, lora_alpha: 6, target_modules: ['q_proj', 'v_proj'], init_lora_weights: false }, 9);
    const dir = tempDir('adapter');
    await saveAdapterFolder(adapters, dir, '/models/base');
    const tensors = readSafetensors(path.join(dir, 'adapter_model.safetensors'));
    assert.deepStrictEqual([...tensors.keys()].sort(), [
      'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', 'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight',
      'base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight', 'base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight',
    ]);
    assert.deepStrictEqual(tensors.get('base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight')!.shape, [16, 3], 'lora_B [out, r]');
    assert.deepStrictEqual(tensors.get('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight')!.shape, [3, 32], 'lora_A [r, in]');
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    assert.deepStrictEqual(config, adapterConfigJson(adapters.settings, [...adapters.modules.values()].map((m) => m.module), '/models/base'));
    assert.deepStrictEqual([config.peft_type, config.r, config.lora_alpha, config.target_modules], ['LORA', 3, 6, ['q_proj', 'v_proj']]);

    const again = loadPolicy(writeCheckpoint('qwen2', 3, 1));
    const loaded = attachAdapterFolder(again, dir);
    for (const [name, m] of adapters.modules) {
      assert.deepStrictEqual(loaded.modules.get(name)!.A.dataSync(), m.A.dataSync());
      assert.deepStrictEqual(loaded.modules.get(name)!.B.dataSync(), m.B.dataSync());
    }
    assert.deepStrictEqual(sequenceLogits(again, ROWS), sequenceLogits(p, ROWS));
    const dir2 = tempDir('adapter2');
    await saveAdapterFolder(loaded, dir2, '/models/base');
    assert.ok(fs.readFileSync(path.join(dir2, 'adapter_model.safetensors')).equals(fs.readFileSync(path.join(dir, 'adapter_model.safetensors'))));
    again.dispose();
    p.dispose();
  });

  it('adapter folders with what this implementation does not compute are refused by file and key', async () => {
    const p = policyOf('qwen2', 1);
    const adapters = addLora(p, { r: 2 }, 1);
    const dir = tempDir('adapter-bad');
    await saveAdapterFolder(adapters, dir, 'x');
    const file = path.join(dir, 'adapter_config.json');
    const config = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    const other = loadPolicy(writeCheckpoint('qwen2', 3, 1));
    for (const [key, value, message] of [['use_dora', true, /use_dora = true: DoRA/], ['r', 0, /r must be a positive integer/], ['peft_type', 'IA3', /only LoRA/]] as const) {
      fs.writeFileSync(file, JSON.stringify({ ...config, [key]: value }));
      assert.throws(() => readAdapters(other, dir, true), (err: Error) => err.message.includes(file) && message.test(err.message), key);
    }
    fs.writeFileSync(file, JSON.stringify({ ...config, r: 4 }));
    assert.throws(() => readAdapters(other, dir, true), /q_proj\.lora_A\.weight' has shape \[2,32\], expected \[4,32\]/);
    // An adapter of a deeper model on this one; a run folder where the adapter inside one of its checkpoints was meant.
    fs.writeFileSync(file, JSON.stringify({ ...config, target_modules: ['model.layers.1.self_attn.q_proj'] }));
    assert.throws(() => readAdapters(other, dir, true), /matches no linear layer.*Does the adapter belong to this base model \(qwen2, 1 layers, width 32\)\?/);
    const run = tempDir('run');
    fs.mkdirSync(path.join(run, 'checkpoints'));
    assert.throws(() => readAdapters(other, run, true), /not a PEFT adapter folder\); a LoRA run's adapters are its checkpoints\/step-N\/policy folders/);
    other.dispose();
    p.dispose();
  });

  it('LoRA dropout: a training forward draws its mask from the seed (same seed, same values); outside a tape it is off', () => {
    const p = policyOf('llama', 1);
    addLora(p, { r: 2, lora_dropout: 0.5, target_modules: 'all-linear', init_lora_weights: false }, 2);
    const batch = { promptIds: [[5, 104, 101]], responseIds: [[108, 111, 32, 40]] };
    const underTape = (seed: string) => {
      let out: number[] = [];
      const { value, grads } = tf.variableGrads(() => {
        const lp = responseLogProbs(p, batch, { dropoutSeed: seed }).logProbs;
        out = Array.from(lp.dataSync());
        return tf.sum(lp) as tf.Scalar;
      }, p.variables());
      tf.dispose([value, ...Object.values(grads)]);
      return out;
    };
    const plain = tf.tidy(() => Array.from(responseLogProbs(p, batch, { dropoutSeed: 'a' }).logProbs.dataSync()));
    const noSeed = tf.tidy(() => Array.from(responseLogProbs(p, batch).logProbs.dataSync()));
    assert.deepStrictEqual(plain, noSeed, 'no dropout outside a tape');
    assert.deepStrictEqual(underTape('a'), underTape('a'));
    assert.ok(maxAbsDiff(underTape('a'), underTape('b')) > 1e-4);
    assert.ok(maxAbsDiff(underTape('a'), plain) > 1e-4);
    p.dispose();
  });

  it('data-parallel accumulation with LoRA gives the single-threaded adapter gradients; the replica\'s base stays frozen', async function () {
    this.timeout(60000);
    const dir = writeCheckpoint('gpt2', 37, 1);
    const batch = { promptIds: [[1, 2, 3], [4, 5], [6], [7, 8, 9, 10]], responseIds: [[12, 13], [14], [15, 16, 17], [18]] };
    const loss = (lp: tf.Tensor2D, _e: tf.Tensor2D | null, mask: tf.Tensor2D) => tf.square(tf.div(tf.sum(lp), tf.sum(mask))) as tf.Scalar;
    const [single, parallel] = [loadPolicy(dir), loadPolicy(dir)];
    for (const p of [single, parallel]) addLora(p, { r: 2, target_modules: ['c_attn', 'c_fc'], init_lora_weights: false }, 4);
    // With ε ≫ √v̂, Adam's update is ≈ (lr/ε)·m̂, linear in the gradient: adapter values then compare gradients.
    const options = { learningRate: 1e3, epsilon: 1e3 };
    const t1 = new PolicyTrainer(single, options);
    const t2 = new PolicyTrainer(parallel, options);
    await t2.enableDataParallel();
    try {
      for (let step = 0; step < 2; step++) {
        const a = await t1.trainStep([batch], loss);
        const b = await t2.trainStep([batch], loss);
        assert.ok(Math.abs(a.loss - b.loss) < 1e-4 * Math.abs(a.loss), `step ${step}: ${a.loss} vs ${b.loss}`);
        const wa = single.variables().flatMap((v) => Array.from(v.dataSync()));
        const wb = parallel.variables().flatMap((v) => Array.from(v.dataSync()));
        assert.strictEqual(wa.length, single.trainableParameterCount());
        wa.forEach((x, i) => assert.ok(Math.abs(x - wb[i]) < 1e-4 * Math.max(1, Math.abs(x)), `step ${step}, value ${i}: ${x} vs ${wb[i]}`));
      }
    } finally {
      [t1, t2, single, parallel].forEach((x) => x.dispose());
    }
  });
});
