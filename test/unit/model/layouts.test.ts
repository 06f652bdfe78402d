/**
 * The checkpoint layouts people bring from the Hugging Face Hub (GPT-2, SmolLM, Qwen2.5, TinyLlama, Llama 3.x; saved
 * by transformers 4.x or 5.x, in float32, bf16 or f16): each is written here as a tiny random folder and its logits
 * checked against the float64 reference of reference.ts; what is not implemented is refused naming the field or
 * tensor.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { configToJson, loadPolicy, parameterCount, parseConfig, savePolicy } from '../../../src/model';
import { inverseFrequencies } from '../../../src/model/rope';
import { readSafetensors, TensorMap, writeSafetensors } from '../../../src/model/safetensors';
import {
  configJson, halfTensorsOf, hfShapes, LlamaShape, llamaShapes, maxAbsDiff, sequenceLogits, tempDir, tensorsOf, useWasm,
  writeFolder, writeHalfSafetensors,
} from './helpers';
import { gpt2Logits, LlamaReferenceOptions, llamaLogits, ReferenceRopeScaling } from './reference';

const IDS = [5, 104, 101, 108, 108, 111, 32, 256, 259, 260, 7, 99];
type Json = Record<string, unknown>;

/** A tiny Llama / Qwen2 config.json (4.x dialect) with the given overrides; head_dim 8 unless overridden. */
function llamaConfig(overrides: Json = {}, modelType: 'llama' | 'qwen2' = 'llama'): Json {
  return {
    model_type: modelType, architectures: [modelType === 'qwen2' ? 'Qwen2ForCausalLM' : 'LlamaForCausalLM'], vocab_size: 261,
    hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 48,
    max_position_embeddings: 128, rms_norm_eps: 1e-6, rope_theta: 10000, hidden_act: 'silu', tie_word_embeddings: false,
    eos_token_id: 260, ...overrides,
  };
}

const BASE_SHAPE: LlamaShape = {
  vocab: 261, hidden: 32, layers: 2, heads: 4, kvHeads: 2, headDim: 8, ff: 48, qkvBias: false, oBias: false, mlpBias: false, lmHead: true,
};

function llamaTensors(overrides: Partial<LlamaShape>, seed: number): TensorMap {
  return tensorsOf(llamaShapes({ ...BASE_SHAPE, ...overrides }), seed);
}

/** Loads the folder and compares its logits for IDS with the reference forward of `tensors`; returns the max difference. */
function checkLlamaLogits(dir: string, tensors: TensorMap, options: Partial<LlamaReferenceOptions> = {}): number {
  const policy = loadPolicy(dir);
  try {
    const got = sequenceLogits(policy, [IDS])[0].flat();
    const want = llamaLogits(tensors, IDS, { nHeads: 4, nKvHeads: 2, eps: 1e-6, theta: 10000, ...options }).flat();
    const diff = maxAbsDiff(got, want);
    assert.ok(diff < 1e-4, `max diff ${diff}`);
    return diff;
  } finally {
    policy.dispose();
  }
}

function checkGpt2Logits(dir: string, reference: TensorMap): void {
  const policy = loadPolicy(dir);
  const got = sequenceLogits(policy, [IDS])[0].flat();
  const want = gpt2Logits(reference, IDS, 4, 1e-5).flat();
  assert.ok(maxAbsDiff(got, want) < 1e-4, `max diff ${maxAbsDiff(got, want)}`);
  policy.dispose();
}

/** GPT-2's causal-mask buffer [1, 1, n_positions, n_positions] and the masked_bias constant, as older files carry them. */
function gpt2Buffers(prefix: string, layers: number): TensorMap {
  const mask = new Float32Array(64 * 64).map((_, i) => (i % 64 <= Math.floor(i / 64) ? 1 : 0));
  const out: TensorMap = new Map();
  for (let i = 0; i < layers; i++) {
    out.set(`${prefix}h.${i}.attn.bias`, { shape: [1, 1, 64, 64], data: mask });
    out.set(`${prefix}h.${i}.attn.masked_bias`, { shape: [], data: new Float32Array([-1e4]) });
  }
  return out;
}

const LLAMA3_SMALL: ReferenceRopeScaling = { type: 'llama3', factor: 4, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 32 };
/** rope_scaling of LLAMA3_SMALL: with head_dim 16 and θ = 10⁴, frequency 0 is kept, 1 is smoothed, 2–7 are divided. */
const LLAMA3_JSON = { rope_type: 'llama3', factor: 4.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 32 };

describe('real-world checkpoint layouts', () => {
  before(useWasm);

  describe('GPT-2', () => {
    for (const prefix of ['transformer.', '']) {
      it(`${prefix ? 'with' : 'without'} the transformer. prefix, with attn.bias / attn.masked_bias buffers and a redundant lm_head.weight`, () => {
        const reference = tensorsOf(hfShapes('gpt2'), 11);
        const stored: TensorMap = new Map([...reference].map(([name, t]) => [name.replace(/^transformer\./, prefix), t]));
        for (const [name, t] of gpt2Buffers(prefix, 2)) stored.set(name, t);
        stored.set('lm_head.weight', { ...reference.get('transformer.wte.weight')! });
        checkGpt2Logits(writeFolder(configJson('gpt2'), stored), reference);
      });
    }

    it('untied (tie_word_embeddings: false) uses lm_head.weight', () => {
      const reference = tensorsOf([...hfShapes('gpt2'), ['lm_head.weight', [261, 32]]], 12);
      const dir = writeFolder({ ...configJson('gpt2'), tie_word_embeddings: false }, reference);
      checkGpt2Logits(dir, reference);
      const policy = loadPolicy(dir);
      assert.strictEqual(parameterCount(policy.config), policy.parameterCount());
      policy.dispose();
    });

    it('tied with an lm_head.weight that differs from wte is refused, naming both tensors', () => {
      const stored: TensorMap = new Map([...tensorsOf(hfShapes('gpt2'), 13)].map(([name, t]) => [name.replace(/^transformer\./, ''), t]));
      stored.set('lm_head.weight', tensorsOf([['lm_head.weight', [261, 32]]], 14).get('lm_head.weight')!);
      const dir = writeFolder(configJson('gpt2'), stored);
      assert.throws(() => loadPolicy(dir), (err: Error) => {
        assert.match(err.message, /model\.safetensors: tensor 'lm_head\.weight' differs from 'wte\.weight', which config\.json ties the output head to \('tie_word_embeddings'\)/);
        assert.match(err.message, /set 'tie_word_embeddings' to false to use 'lm_head\.weight', or delete the tensor/);
        return true;
      });
    });

    it('attention scaled otherwise than by 1/√head_dim is refused naming the field', () => {
      assert.throws(() => parseConfig({ ...configJson('gpt2'), scale_attn_by_inverse_layer_idx: true }, 'm/config.json'),
        /^Error: m\/config\.json: field 'scale_attn_by_inverse_layer_idx' is true; attention scaled by the layer index is not supported$/);
      assert.throws(() => parseConfig({ ...configJson('gpt2'), scale_attn_weights: false }, 'm/config.json'),
        /m\/config\.json: field 'scale_attn_weights' is false; unscaled attention is not supported/);
      parseConfig({ ...configJson('gpt2'), scale_attn_weights: true, scale_attn_by_inverse_layer_idx: false, reorder_and_upcast_attn: true });
    });
  });

  describe('Llama', () => {
    it('head_dim ≠ hidden/heads with attention_bias (q, k, v and o_proj) and mlp_bias (gate, up, down)', () => {
      const tensors = llamaTensors({ headDim: 12, qkvBias: true, oBias: true, mlpBias: true }, 21);
      const dir = writeFolder(llamaConfig({ head_dim: 12, attention_bias: true, mlp_bias: true }), tensors);
      checkLlamaLogits(dir, tensors);
      const policy = loadPolicy(dir);
      let stored = 0;
      for (const t of tensors.values()) stored += t.data.length;
      assert.strictEqual(policy.parameterCount(), stored);
      assert.strictEqual(parameterCount(policy.config), stored);
      policy.dispose();
    });

    it("rope_scaling of type 'llama3' (Llama 3.1 / 3.2): low frequencies divided, the middle band smoothed", () => {
      const tensors = llamaTensors({ headDim: 16 }, 22);
      const dir = writeFolder(llamaConfig({ head_dim: 16, rope_scaling: LLAMA3_JSON }), tensors);
      checkLlamaLogits(dir, tensors, { scaling: LLAMA3_SMALL });
      // The scaling matters at these positions: unscaled RoPE gives other logits.
      const policy = loadPolicy(dir);
      const unscaled = llamaLogits(tensors, IDS, { nHeads: 4, nKvHeads: 2, eps: 1e-6, theta: 10000 }).flat();
      assert.ok(maxAbsDiff(sequenceLogits(policy, [IDS])[0].flat(), unscaled) > 1e-2);
      policy.dispose();
    });

    it("rope_scaling of type 'linear', also under 4.x's older key 'type'", () => {
      const tensors = llamaTensors({}, 23);
      for (const key of ['rope_type', 'type']) {
        const dir = writeFolder(llamaConfig({ rope_scaling: { [key]: 'linear', factor: 4.0 } }), tensors);
        checkLlamaLogits(dir, tensors, { scaling: { type: 'linear', factor: 4 } });
      }
    });

    it("skips the rotary_emb.inv_freq buffers of older files and accepts pretraining_tp > 1 (TinyLlama's layout)", () => {
      const tensors = llamaTensors({}, 24);
      const stored = new Map(tensors);
      for (let i = 0; i < 2; i++) stored.set(`model.layers.${i}.self_attn.rotary_emb.inv_freq`, { shape: [4], data: new Float32Array(4) });
      checkLlamaLogits(writeFolder(llamaConfig({ pretraining_tp: 2 }), stored), tensors);
    });

    it("inverse frequencies are transformers' (PyTorch float32 values) within a few ulps", () => {
      // modeling_rope_utils.py run with torch 1.13 on the CPU: llama3 (θ 5·10⁵, head_dim 128, factor 32, 8192) at
      // frequencies 0, 10 (kept), 28–34 (smoothed band edges) and 35, 50, 63 (divided); llama3 and linear of the
      // tiny configs above.
      const llama3 = inverseFrequencies(128, 500000, { type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 });
      const want128: [number, number][] = [[0, 1], [10, 0.12868738174438477], [28, 0.0032114461064338684], [29, 0.002118406817317009],
        [31, 0.000762541254516691], [34, 9.708286233944818e-05], [35, 2.389053042861633e-05], [50, 1.1028836297555245e-06], [63, 7.672314694673332e-08]];
      const close = (got: number, want: number, what: string) => assert.ok(Math.abs(got - want) <= 1e-6 * want, `${what}: ${got} vs ${want}`);
      for (const [i, want] of want128) close(llama3[i], want, `llama3 ${i}`);
      const small = inverseFrequencies(16, 10000, LLAMA3_SMALL);
      [1, 0.1273239552974701, 0.02500000037252903, 0.007905694656074047, 0.0024999999441206455, 0.0007905694656074047,
        0.0002500000118743628, 7.905694656074047e-05].forEach((want, i) => close(small[i], want, `llama3 small ${i}`));
      const linear = inverseFrequencies(16, 10000, { type: 'linear', factor: 4 });
      [0.25, 0.07905694097280502, 0.02500000037252903].forEach((want, i) => close(linear[i], want, `linear ${i}`));
    });

    describe('refused, naming the field', () => {
      const refuses = (overrides: Json, message: RegExp, modelType: 'llama' | 'qwen2' = 'llama') =>
        assert.throws(() => parseConfig(llamaConfig(overrides, modelType), 'ckpt/config.json'), message);

      for (const type of ['dynamic', 'yarn', 'longrope', 'ntk']) {
        it(`rope_scaling of type '${type}'`, () => {
          refuses({ rope_scaling: { rope_type: type, factor: 2.0, original_max_position_embeddings: 64 } },
            new RegExp(`^Error: ckpt/config\\.json: field 'rope_scaling\\.rope_type' is "${type}"; only 'default', 'linear' and 'llama3' RoPE are supported$`));
        });
      }

      it("a 4.x 'type' key and a 5.x rope_parameters are named as written", () => {
        refuses({ rope_scaling: { type: 'dynamic', factor: 2.0 } }, /field 'rope_scaling\.type' is "dynamic"/);
        refuses({ rope_parameters: { rope_type: 'yarn', rope_theta: 10000, factor: 4.0 } }, /field 'rope_parameters\.rope_type' is "yarn"/);
      });

      it('incomplete or inconsistent RoPE fields', () => {
        refuses({ rope_scaling: { rope_type: 'llama3', factor: 8.0, high_freq_factor: 4.0 } }, /ckpt\/config\.json: missing field 'rope_scaling\.low_freq_factor'/);
        refuses({ rope_scaling: { rope_type: 'linear' } }, /missing field 'rope_scaling\.factor'/);
        refuses({ rope_scaling: { ...LLAMA3_JSON, high_freq_factor: 1.0 } }, /field 'rope_scaling\.high_freq_factor' \(1\) must be greater than 'rope_scaling\.low_freq_factor' \(1\)/);
        refuses({ rope_scaling: 'linear' }, /field 'rope_scaling' must be an object, got "linear"/);
        refuses({ rope_theta: 10000, rope_parameters: { rope_type: 'default', rope_theta: 500000 } },
          /fields 'rope_parameters\.rope_theta' \(500000\) and 'rope_theta' \(10000\) disagree/);
        refuses({ partial_rotary_factor: 0.5 }, /field 'partial_rotary_factor' is 0\.5; only RoPE over the whole head \(1\) is supported/);
      });

      it('an activation other than silu, logit soft-capping', () => {
        refuses({ hidden_act: 'gelu_pytorch_tanh' }, /ckpt\/config\.json: field 'hidden_act' is 'gelu_pytorch_tanh'; only 'silu' is supported/);
        refuses({ attn_logit_softcapping: 50.0 }, /field 'attn_logit_softcapping' is 50; logit soft-capping is not supported/);
        refuses({ final_logit_softcapping: 30.0 }, /field 'final_logit_softcapping' is 30/);
        parseConfig(llamaConfig({ attn_logit_softcapping: null, final_logit_softcapping: null }));
      });
    });
  });

  describe('Qwen2', () => {
    const qwenTensors = (lmHead: boolean, seed: number) => llamaTensors({ qkvBias: true, lmHead }, seed);
    // Qwen2.5-0.5B's fields around sliding windows: present, but switched off.
    const QWEN_WINDOW = { use_sliding_window: false, sliding_window: 32768, max_window_layers: 21 };

    it('tied (Qwen2.5-0.5B, 1.5B, 3B) and untied (7B and up) heads, with use_sliding_window: false', () => {
      for (const tied of [true, false]) {
        const tensors = qwenTensors(!tied, 31);
        checkLlamaLogits(writeFolder(llamaConfig({ ...QWEN_WINDOW, rope_theta: 1e6, tie_word_embeddings: tied }, 'qwen2'), tensors), tensors, { theta: 1e6 });
      }
    });

    it('without tie_word_embeddings the head is untied, as Qwen2Config defaults', () => {
      const config = llamaConfig({}, 'qwen2');
      delete config.tie_word_embeddings;
      assert.strictEqual(parseConfig(config).tieEmbeddings, false);
      const dir = writeFolder(config, qwenTensors(false, 32));
      assert.throws(() => loadPolicy(dir), /model\.safetensors: missing tensor 'lm_head\.weight' \(shape \[261,32\]\)/);
    });

    it('use_sliding_window: true is refused naming the field, unless no layer slides', () => {
      assert.throws(() => parseConfig(llamaConfig({ ...QWEN_WINDOW, use_sliding_window: true, max_window_layers: 1 }, 'qwen2'), 'q/config.json'),
        /^Error: q\/config\.json: field 'use_sliding_window' is true \(layer 1 would attend within 'sliding_window'\); sliding-window attention is not supported: set it to false to use full attention$/);
      // Qwen2Config slides only layers ≥ max_window_layers, and none without a window.
      assert.throws(() => parseConfig(llamaConfig({ ...QWEN_WINDOW, use_sliding_window: true, max_window_layers: 0 }, 'qwen2')), /\(layers 0–1 would attend/);
      parseConfig(llamaConfig({ ...QWEN_WINDOW, use_sliding_window: true, max_window_layers: 2 }, 'qwen2'));
      parseConfig(llamaConfig({ ...QWEN_WINDOW, use_sliding_window: true, sliding_window: null }, 'qwen2'));
      assert.throws(() => parseConfig(llamaConfig({ layer_types: ['full_attention', 'sliding_attention'] }, 'qwen2')),
        /field 'layer_types\[1\]' is "sliding_attention"; only 'full_attention' is supported/);
    });

    it("ignores Llama's attention_bias / mlp_bias fields, as Qwen2's modelling code does", () => {
      const c = parseConfig(llamaConfig({ attention_bias: true, mlp_bias: true }, 'qwen2'));
      assert.deepStrictEqual([c.qkvBias, c.attnOutBias, c.mlpBias], [true, false, false]);
    });
  });

  describe('configs saved by transformers 5 (rope_parameters, dtype)', () => {
    it("Llama 3.2 style: rope_parameters of type 'llama3' holding rope_theta, dtype in place of torch_dtype", () => {
      const v4 = llamaConfig({ head_dim: 16, rope_scaling: LLAMA3_JSON, torch_dtype: 'bfloat16', tie_word_embeddings: true });
      const v5 = llamaConfig({ head_dim: 16, rope_parameters: { rope_theta: 10000.0, ...LLAMA3_JSON }, dtype: 'bfloat16', tie_word_embeddings: true });
      delete v5.rope_theta;
      assert.deepStrictEqual(parseConfig(v5), parseConfig(v4));
      const tensors = llamaTensors({ headDim: 16, lmHead: false }, 41);
      checkLlamaLogits(writeFolder(v5, tensors), tensors, { scaling: LLAMA3_SMALL });
    });

    it('Qwen2.5 style: rope_parameters of type default, layer_types, sliding_window null', () => {
      const config = llamaConfig({
        rope_parameters: { rope_theta: 1000000.0, rope_type: 'default' }, layer_types: ['full_attention', 'full_attention'],
        use_sliding_window: false, sliding_window: null, max_window_layers: 28, dtype: 'bfloat16', tie_word_embeddings: true,
      }, 'qwen2');
      delete config.rope_theta;
      assert.strictEqual(parseConfig(config).ropeTheta, 1e6);
      const tensors = llamaTensors({ qkvBias: true, lmHead: false }, 42);
      checkLlamaLogits(writeFolder(config, tensors), tensors, { theta: 1e6 });
    });

    it("the rest of 5.x's RoPE rules: default θ 10⁴, linear, one dict per layer type, llama3 without its original length", () => {
      const parse = (overrides: Json) => {
        const config = llamaConfig(overrides);
        delete config.rope_theta;
        return parseConfig(config);
      };
      assert.deepStrictEqual([parse({ rope_parameters: { rope_type: 'default' } }).ropeTheta, parse({}).ropeTheta], [10000, 10000]);
      const linear = parse({ rope_parameters: { rope_type: 'linear', rope_theta: 5e5, factor: 2.0 } });
      assert.deepStrictEqual([linear.ropeTheta, linear.ropeScaling], [5e5, { type: 'linear', factor: 2 }]);
      const nested = parse({ rope_parameters: { full_attention: { rope_type: 'default', rope_theta: 1e6 } } });
      assert.deepStrictEqual([nested.ropeTheta, nested.ropeScaling], [1e6, null]);
      // standardize_rope_params: max_position_embeddings stands in for a missing original length; a top-level one wins.
      const withoutOriginal: Json = { ...LLAMA3_JSON };
      delete withoutOriginal.original_max_position_embeddings;
      assert.strictEqual((parse({ rope_parameters: withoutOriginal }).ropeScaling as { originalMaxPositions: number }).originalMaxPositions, 128);
      assert.strictEqual((parse({ rope_parameters: LLAMA3_JSON, original_max_position_embeddings: 64 }).ropeScaling as { originalMaxPositions: number }).originalMaxPositions, 64);
      // transformers 5 prefers a non-empty rope_scaling to rope_parameters.
      assert.deepStrictEqual(parse({ rope_scaling: { rope_type: 'linear', factor: 3.0 }, rope_parameters: { rope_type: 'default' } }).ropeScaling, { type: 'linear', factor: 3 });
    });
  });

  describe('tensors the model does not use are listed by name, never ignored', () => {
    it('one unknown tensor (an o_proj bias in a Qwen2 checkpoint)', () => {
      const tensors = llamaTensors({ qkvBias: true }, 51);
      tensors.set('model.layers.0.self_attn.o_proj.bias', { shape: [32], data: new Float32Array(32) });
      const dir = writeFolder(llamaConfig({}, 'qwen2'), tensors);
      assert.throws(() => loadPolicy(dir), (err: Error) => {
        assert.strictEqual(err.message, `${path.join(dir, 'model.safetensors')}: unknown tensor 'model.layers.0.self_attn.o_proj.bias': ` +
          'not a parameter of the qwen2 model config.json describes, and loading would ignore it');
        return true;
      });
    });

    it('many (a Llama checkpoint with biases whose config.json lacks attention_bias / mlp_bias)', () => {
      const dir = writeFolder(llamaConfig(), llamaTensors({ qkvBias: true, oBias: true, mlpBias: true }, 52));
      assert.throws(() => loadPolicy(dir), /model\.safetensors: 14 unknown tensors 'model\.layers\.0\.mlp\.down_proj\.bias', .* and 6 more: not a parameter of the llama model/);
    });
  });

  describe('bf16 and f16 checkpoints', () => {
    it('widen exactly: normal, subnormal, signed zero, infinite and NaN values', () => {
      const dir = tempDir('halves');
      const file = path.join(dir, 'x.safetensors');
      // f16: 1/3 rounded, 65504 (largest), 2^-14 (smallest normal), 2^-24 and 1023·2^-24 (smallest and largest subnormal)
      const f16 = [0x3555, 0x7bff, 0x0400, 0x0001, 0x83ff, 0x8000, 0x7c00, 0xfc00, 0x7e00];
      const f16Values = [0.333251953125, 65504, 2 ** -14, 2 ** -24, -1023 * 2 ** -24, -0, Infinity, -Infinity, NaN];
      // bf16: 1/3 rounded, the largest, 2^-126 (smallest normal float32), 2^-133 and 127·2^-133 (float32 subnormals)
      const bf16 = [0x3eab, 0x7f7f, 0x0080, 0x0001, 0x807f, 0x8000, 0x7f80, 0xff80, 0x7fc0];
      const bf16Values = [0.333984375, (2 - 2 ** -7) * 2 ** 127, 2 ** -126, 2 ** -133, -127 * 2 ** -133, -0, Infinity, -Infinity, NaN];
      for (const [dtype, patterns, values] of [['F16', f16, f16Values], ['BF16', bf16, bf16Values]] as const) {
        writeHalfSafetensors(file, dtype, new Map([['t', { shape: [3, 3], bits: Uint16Array.from(patterns) }]]));
        const got = Array.from(readSafetensors(file).get('t')!.data);
        values.forEach((want, i) => assert.ok(Object.is(got[i], want), `${dtype} 0x${patterns[i].toString(16)}: ${got[i]} ≠ ${want}`));
      }
    });

    for (const dtype of ['BF16', 'F16'] as const) {
      it(`a ${dtype} checkpoint (Llama 3.2 with llama3 RoPE) gives the logits of its exact values`, () => {
        const shapes = llamaShapes({ ...BASE_SHAPE, headDim: 16 });
        const { bits, values } = halfTensorsOf(shapes, dtype, 61);
        const dir = writeFolder(llamaConfig({ head_dim: 16, rope_scaling: LLAMA3_JSON, torch_dtype: dtype === 'BF16' ? 'bfloat16' : 'float16' }), new Map());
        writeHalfSafetensors(path.join(dir, 'model.safetensors'), dtype, bits);
        checkLlamaLogits(dir, values, { scaling: LLAMA3_SMALL });
      });
    }

    it('a sharded bf16 checkpoint loads through model.safetensors.index.json', () => {
      const { bits, values } = halfTensorsOf(llamaShapes({ ...BASE_SHAPE, qkvBias: true }), 'BF16', 62);
      const dir = writeFolder(llamaConfig({ rope_theta: 1e6 }, 'qwen2'), new Map());
      fs.unlinkSync(path.join(dir, 'model.safetensors'));
      const names = [...bits.keys()];
      const weightMap: Record<string, string> = {};
      [names.slice(0, 9), names.slice(9)].forEach((part, i) => {
        const file = `model-0000${i + 1}-of-00002.safetensors`;
        writeHalfSafetensors(path.join(dir, file), 'BF16', new Map(part.map((n) => [n, bits.get(n)!])));
        part.forEach((n) => (weightMap[n] = file));
      });
      fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
      checkLlamaLogits(dir, values, { theta: 1e6 });
    });
  });

  describe('write back', () => {
    const layouts: [string, Json][] = [
      ['gpt2', configJson('gpt2')],
      ['gpt2 untied', { ...configJson('gpt2'), tie_word_embeddings: false, n_inner: 64 }],
      ['llama head_dim + biases', llamaConfig({ head_dim: 12, attention_bias: true, mlp_bias: true })],
      ['llama3', llamaConfig({ head_dim: 16, rope_scaling: LLAMA3_JSON, tie_word_embeddings: true, eos_token_id: [258, 260], bos_token_id: 1 })],
      ['linear', llamaConfig({ rope_scaling: { type: 'linear', factor: 2.0 } })],
      ['qwen2 tied', llamaConfig({ rope_theta: 1e6, tie_word_embeddings: true, use_sliding_window: false, sliding_window: 4096 }, 'qwen2')],
      ['transformers 5', llamaConfig({
        rope_theta: undefined, rope_parameters: { rope_type: 'llama3', rope_theta: 5e5, factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0 },
        dtype: 'bfloat16',
      })],
    ];
    for (const [name, raw] of layouts) {
      it(`configToJson keeps what was read: ${name}`, () => {
        const config = parseConfig(raw);
        assert.deepStrictEqual(parseConfig(configToJson(config)), config);
      });
    }

    it('save → load round-trips a Llama 3 checkpoint with head_dim, biases and llama3 RoPE (config.json in the 4.x dialect)', async () => {
      const tensors = llamaTensors({ headDim: 16, qkvBias: true, oBias: true, mlpBias: true }, 71);
      const policy = loadPolicy(writeFolder(llamaConfig({ head_dim: 16, attention_bias: true, mlp_bias: true, rope_scaling: LLAMA3_JSON }), tensors));
      const out = tempDir('saved-layout');
      await savePolicy(policy, out);
      const written = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')) as Json;
      assert.deepStrictEqual(
        [written.head_dim, written.attention_bias, written.mlp_bias, written.rope_theta, written.rope_scaling, written.torch_dtype],
        [16, true, true, 10000, LLAMA3_JSON, 'float32'],
      );
      const again = loadPolicy(out);
      assert.deepStrictEqual(again.config, policy.config);
      assert.deepStrictEqual(sequenceLogits(again, [IDS]), sequenceLogits(policy, [IDS]));
      checkLlamaLogits(out, readSafetensors(path.join(out, 'model.safetensors')), { scaling: LLAMA3_SMALL });
      policy.dispose();
      again.dispose();
    });

    it('the sharded float32 layout still loads after the unknown-tensor check (index maps every tensor)', () => {
      const tensors = llamaTensors({}, 72);
      const dir = writeFolder(llamaConfig(), new Map());
      fs.unlinkSync(path.join(dir, 'model.safetensors'));
      const names = [...tensors.keys()];
      writeSafetensors(path.join(dir, 'a.safetensors'), new Map(names.slice(0, 5).map((n) => [n, tensors.get(n)!])));
      writeSafetensors(path.join(dir, 'b.safetensors'), new Map(names.slice(5).map((n) => [n, tensors.get(n)!])));
      const weightMap = Object.fromEntries(names.map((n, i) => [n, i < 5 ? 'a.safetensors' : 'b.safetensors']));
      fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: weightMap }));
      checkLlamaLogits(dir, tensors);
    });
  });
});
