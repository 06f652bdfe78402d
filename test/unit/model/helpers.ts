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
  const d = 32, q = 32, kv = 16, ff = 48;
  out.push(['model.embed_tokens.weight', [261, d]]);
  for (let i = 0; i < layers; i++) {
    const p = `model.layers.${i}.`;
    out.push([p + 'input_layernorm.weight', [d]], [p + 'self_attn.q_proj.weight', [q, d]], [p + 'self_attn.k_proj.weight', [kv, d]], [p + 'self_attn.v_proj.weight', [kv, d]]);
    if (family === 'qwen2') out.push([p + 'self_attn.q_proj.bias', [q]], [p + 'self_attn.k_proj.bias', [kv]], [p + 'self_attn.v_proj.bias', [kv]]);
    out.push([p + 'self_attn.o_proj.weight', [d, q]], [p + 'post_attention_layernorm.weight', [d]], [p + 'mlp.gate_proj.weight', [ff, d]],
      [p + 'mlp.up_proj.weight', [ff, d]], [p + 'mlp.down_proj.weight', [d, ff]]);
  }
  out.push(['model.norm.weight', [d]]);
  if (family === 'llama') out.push(['lm_head.weight', [261, d]]);
  return out;
}

/** Random tensors for a checkpoint: norms near 1, everything else normal(0, 0.3) so outputs are far from uniform. */
export function randomTensors(family: Family, seed: number, layers = 2): TensorMap {
  const rng = new Random(seed);
  const tensors: TensorMap = new Map();
  for (const [name, shape] of hfShapes(family, layers)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const isNorm = /norm|ln_/.test(name) && name.endsWith('weight');
    const data = new Float32Array(size);
    for (let i = 0; i < size; i++) data[i] = isNorm ? 1 + 0.1 * rng.normal() : 0.3 * rng.normal();
    tensors.set(name, { shape, data });
  }
  return tensors;
}

/** Writes a complete checkpoint folder and returns its path. */
export function writeCheckpoint(family: Family, seed = 1, layers = 2, dir = tempDir(family)): string {
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(configJson(family, layers)));
  writeSafetensors(path.join(dir, 'model.safetensors'), randomTensors(family, seed, layers));
  const { tokenizerJson, tokenizerConfig } = tokenizerFiles();
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig));
  return dir;
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
