/**
 * Test fixtures built on the fly: a small byte-level BPE tokenizer.json, and tiny random GPT-2 / Qwen2 / Llama
 * checkpoints (config.json + model.safetensors) whose tensor names and shapes are written out here independently
 * of the model code, as Hugging Face lays them out.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../../src/worker/backend';
import { Random } from '../../../src/model/random';
import { TensorMap, writeSafetensors } from '../../../src/model/safetensors';
import { attentionBias } from '../../../src/model/model';
import { padLayout } from '../../../src/model/logprobs';
import { Policy } from '../../../src/model/policy';

export async function useWasm(): Promise<void> {
  await selectBackend('wasm');
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `grpo-model-${prefix}-`));
}

/** GPT-2's reversible byte → printable-character map. */
function bytesToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const map = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) map[b] = String.fromCharCode(printable.includes(b) ? b : 256 + extra++);
  return map;
}

export const EOS_TEXT = '<|endoftext|>';
export const CHAT_TEMPLATE =
  "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}";

/** A byte-level BPE tokenizer (GPT-2 style) with 256 byte tokens, a few merges and <|endoftext|>: 261 tokens. */
export function tokenizerFiles(): { tokenizerJson: Record<string, unknown>; tokenizerConfig: Record<string, unknown> } {
  const vocab: Record<string, number> = {};
  bytesToUnicode().forEach((ch, i) => (vocab[ch] = i));
  const merges = ['h e', 'l l', 'Ġ w', 'o r'];
  merges.forEach((m, i) => (vocab[m.replace(' ', '')] = 256 + i));
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    tokenizerJson: {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: [{ id: 260, content: EOS_TEXT, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
      normalizer: null,
      pre_tokenizer: byteLevel,
      post_processor: byteLevel,
      decoder: byteLevel,
      model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges },
    },
    tokenizerConfig: { eos_token: EOS_TEXT, pad_token: EOS_TEXT, chat_template: CHAT_TEMPLATE },
  };
}

export type Family = 'gpt2' | 'qwen2' | 'llama';

export function configJson(family: Family, layers = 2): Record<string, unknown> {
  if (family === 'gpt2') {
    return { model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], vocab_size: 261, n_embd: 32, n_layer: layers, n_head: 4, n_positions: 64, layer_norm_epsilon: 1e-5, activation_function: 'gelu_new', eos_token_id: 260, bos_token_id: 260 };
  }
  return {
    model_type: family, architectures: [family === 'qwen2' ? 'Qwen2ForCausalLM' : 'LlamaForCausalLM'], vocab_size: 261, hidden_size: 32, num_hidden_layers: layers,
    num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 48, max_position_embeddings: 128, rms_norm_eps: 1e-6,
    rope_theta: family === 'qwen2' ? 1000000 : 10000, hidden_act: 'silu', tie_word_embeddings: family === 'qwen2', eos_token_id: 260,
  };
}

/** HF tensor names and shapes of the configs above (nn.Linear: [out, in]; GPT-2 Conv1D: [in, out]). */
export function hfShapes(family: Family, layers = 2): [string, number[]][] {
  const out: [string, number[]][] = [];
  if (family === 'gpt2') {
    const d = 32;
    out.push(['transformer.wte.weight', [261, d]], ['transformer.wpe.weight', [64, d]]);
    for (let i = 0; i < layers; i++) {
      const p = `transformer.h.${i}.`;
      out.push([p + 'ln_1.weight', [d]], [p + 'ln_1.bias', [d]], [p + 'attn.c_attn.weight', [d, 3 * d]], [p + 'attn.c_attn.bias', [3 * d]],
        [p + 'attn.c_proj.weight', [d, d]], [p + 'attn.c_proj.bias', [d]], [p + 'ln_2.weight', [d]], [p + 'ln_2.bias', [d]],
        [p + 'mlp.c_fc.weight', [d, 4 * d]], [p + 'mlp.c_fc.bias', [4 * d]], [p + 'mlp.c_proj.weight', [4 * d, d]], [p + 'mlp.c_proj.bias', [d]]);
    }
    out.push(['transformer.ln_f.weight', [d]], ['transformer.ln_f.bias', [d]]);
    return out;
  }
  return llamaShapes({
    vocab: 261, hidden: 32, layers, heads: 4, kvHeads: 2, headDim: 8, ff: 48, qkvBias: family === 'qwen2', oBias: false, mlpBias: false,
    lmHead: family === 'llama',
  });
}

/** The shape options of a Llama / Qwen2 checkpoint (the biases and the head exist or not). */
export interface LlamaShape {
  vocab: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  ff: number;
  /** q/k/v biases (Qwen2; Llama attention_bias). */
  qkvBias: boolean;
  /** o_proj bias (Llama attention_bias). */
  oBias: boolean;
  /** gate/up/down biases (Llama mlp_bias). */
  mlpBias: boolean;
  lmHead: boolean;
}

/** Tensor names and shapes of LlamaForCausalLM / Qwen2ForCausalLM (nn.Linear weights [out, in]). */
export function llamaShapes(s: LlamaShape): [string, number[]][] {
  const q = s.heads * s.headDim;
  const kv = s.kvHeads * s.headDim;
  const out: [string, number[]][] = [['model.embed_tokens.weight', [s.vocab, s.hidden]]];
  for (let i = 0; i < s.layers; i++) {
    const p = `model.layers.${i}.`;
    out.push([p + 'input_layernorm.weight', [s.hidden]], [p + 'self_attn.q_proj.weight', [q, s.hidden]],
      [p + 'self_attn.k_proj.weight', [kv, s.hidden]], [p + 'self_attn.v_proj.weight', [kv, s.hidden]]);
    if (s.qkvBias) out.push([p + 'self_attn.q_proj.bias', [q]], [p + 'self_attn.k_proj.bias', [kv]], [p + 'self_attn.v_proj.bias', [kv]]);
    out.push([p + 'self_attn.o_proj.weight', [s.hidden, q]]);
    if (s.oBias) out.push([p + 'self_attn.o_proj.bias', [s.hidden]]);
    out.push([p + 'post_attention_layernorm.weight', [s.hidden]], [p + 'mlp.gate_proj.weight', [s.ff, s.hidden]],
      [p + 'mlp.up_proj.weight', [s.ff, s.hidden]], [p + 'mlp.down_proj.weight', [s.hidden, s.ff]]);
    if (s.mlpBias) out.push([p + 'mlp.gate_proj.bias', [s.ff]], [p + 'mlp.up_proj.bias', [s.ff]], [p + 'mlp.down_proj.bias', [s.hidden]]);
  }
  out.push(['model.norm.weight', [s.hidden]]);
  if (s.lmHead) out.push(['lm_head.weight', [s.vocab, s.hidden]]);
  return out;
}

function isNormWeight(name: string): boolean {
  return /norm|ln_/.test(name) && name.endsWith('weight');
}

/** Random tensors of the given shapes: norms near 1, everything else normal(0, 0.3) so outputs are far from uniform. */
export function tensorsOf(shapes: [string, number[]][], seed: number): TensorMap {
  const rng = new Random(seed);
  const tensors: TensorMap = new Map();
  for (const [name, shape] of shapes) {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    for (let i = 0; i < size; i++) data[i] = isNormWeight(name) ? 1 + 0.1 * rng.normal() : 0.3 * rng.normal();
    tensors.set(name, { shape, data });
  }
  return tensors;
}

/** Random tensors for a checkpoint of one of the configs above. */
export function randomTensors(family: Family, seed: number, layers = 2): TensorMap {
  return tensorsOf(hfShapes(family, layers), seed);
}

/** Writes config.json, model.safetensors (float32) and the tokenizer files; returns the folder. */
export function writeFolder(config: Record<string, unknown>, tensors: TensorMap, dir = tempDir('layout')): string {
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
  const { tokenizerJson, tokenizerConfig } = tokenizerFiles();
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig));
  return dir;
}

/** Writes a complete checkpoint folder and returns its path. */
export function writeCheckpoint(family: Family, seed = 1, layers = 2, dir = tempDir(family)): string {
  return writeFolder(configJson(family, layers), randomTensors(family, seed, layers), dir);
}

export type HalfTensors = Map<string, { shape: number[]; bits: Uint16Array }>;

/**
 * A safetensors file whose tensors are raw 16-bit patterns of one dtype (F16 or BF16), written byte by byte here
 * rather than with the code under test.
 */
export function writeHalfSafetensors(file: string, dtype: 'F16' | 'BF16', tensors: HalfTensors): void {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + 2 * t.bits.length] };
    offset += 2 * t.bits.length;
  }
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(headerBytes.length));
  const data = [...tensors.values()].map((t) => Buffer.from(t.bits.buffer, t.bits.byteOffset, t.bits.byteLength));
  fs.writeFileSync(file, Buffer.concat([length, headerBytes, ...data]));
}

/**
 * Random 16-bit tensors whose values are known without decoding them: each is ±(1 + m/2^M)·2^e, assembled from its
 * sign, exponent and mantissa fields (M = 10 for F16, 7 for BF16). Norm weights lie in [1, 1.1), everything else has
 * a magnitude in [2^-6, 1). Returns the bit patterns, and the values as float32 (they are exact there).
 */
export function halfTensorsOf(shapes: [string, number[]][], dtype: 'F16' | 'BF16', seed: number): { bits: HalfTensors; values: TensorMap } {
  const rng = new Random(seed);
  const [mantissaBits, bias] = dtype === 'F16' ? [10, 15] : [7, 127];
  const bits: HalfTensors = new Map();
  const values: TensorMap = new Map();
  for (const [name, shape] of shapes) {
    const size = shape.reduce((a, b) => a * b, 1);
    const norm = isNormWeight(name);
    const b = new Uint16Array(size);
    const v = new Float32Array(size);
    for (let i = 0; i < size; i++) {
      const sign = norm ? 0 : rng.int(2);
      const exponent = norm ? 0 : -1 - rng.int(6);
      const mantissa = rng.int(norm ? Math.round(0.1 * 2 ** mantissaBits) : 2 ** mantissaBits);
      b[i] = (sign << 15) | ((exponent + bias) << mantissaBits) | mantissa;
      v[i] = (sign ? -1 : 1) * (1 + mantissa / 2 ** mantissaBits) * 2 ** exponent;
    }
    bits.set(name, { shape, bits: b });
    values.set(name, { shape, data: v });
  }
  return { bits, values };
}

/** Full-sequence logits [B, T, V] of left-padded rows, as nested arrays. */
export function sequenceLogits(policy: Policy, rows: number[][]): number[][][] {
  const layout = padLayout({ promptIds: rows, responseIds: rows.map(() => []) }, policy.tokenizer.padTokenId);
  const B = rows.length;
  const T = layout.promptWidth;
  return tf.tidy(() => {
    const logits = policy.logits({
      batch: B, length: T, ids: tf.tensor2d(layout.tokens, [B, T], 'int32'), positions: layout.positions,
      attentionBias: attentionBias(layout.keyValid, 0, T), logitsFrom: 0,
    }, null);
    return tf.reshape(logits, [B, T, policy.config.vocabSize]).arraySync() as number[][][];
  });
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
