/**
 * An independent float64 forward pass in plain JavaScript for one sequence, written from the Hugging Face
 * modelling code (GPT2LMHeadModel, Qwen2ForCausalLM / LlamaForCausalLM), reading the checkpoint tensors by name:
 * a bias is used where the checkpoint has one, head_dim is read off q_proj's shape, and RoPE's inverse frequencies
 * follow modeling_rope_utils.py's 'linear' and 'llama3' scalings (Meta's `apply_scaling` for Llama 3.1).
 */
import { TensorMap } from '../../../src/model/safetensors';

type Matrix = number[][];

function get(t: TensorMap, name: string): { shape: number[]; data: Float32Array } {
  const x = t.get(name);
  if (!x) throw new Error(`reference: no tensor ${name}`);
  return x;
}

function matrix(t: TensorMap, name: string): Matrix {
  const { shape, data } = get(t, name);
  return Array.from({ length: shape[0] }, (_, i) => Array.from(data.subarray(i * shape[1], (i + 1) * shape[1])));
}

function vector(t: TensorMap, name: string): number[] {
  return Array.from(get(t, name).data);
}

/** x [in] · W where W is [in, out] (Conv1D) */
function conv1d(x: number[], w: Matrix, b?: number[]): number[] {
  const out = new Array<number>(w[0].length).fill(0);
  for (let i = 0; i < x.length; i++) for (let j = 0; j < out.length; j++) out[j] += x[i] * w[i][j];
  return b ? out.map((v, j) => v + b[j]) : out;
}

/** nn.Linear: W is [out, in] */
function linearHF(x: number[], w: Matrix, b?: number[]): number[] {
  return w.map((row, j) => row.reduce((s, wij, i) => s + wij * x[i], 0) + (b ? b[j] : 0));
}

function layerNorm(x: number[], w: number[], b: number[], eps: number): number[] {
  const mean = x.reduce((a, c) => a + c, 0) / x.length;
  const variance = x.reduce((a, c) => a + (c - mean) ** 2, 0) / x.length;
  return x.map((v, i) => ((v - mean) / Math.sqrt(variance + eps)) * w[i] + b[i]);
}

function rmsNorm(x: number[], w: number[], eps: number): number[] {
  const ms = x.reduce((a, c) => a + c * c, 0) / x.length;
  return x.map((v, i) => (v / Math.sqrt(ms + eps)) * w[i]);
}

/** Causal attention for one head: q, k, v are [T][hd]. */
function causalAttention(q: Matrix, k: Matrix, v: Matrix): Matrix {
  const hd = q[0].length;
  return q.map((qt, t) => {
    const scores = k.slice(0, t + 1).map((ks) => ks.reduce((s, x, i) => s + x * qt[i], 0) / Math.sqrt(hd));
    const max = Math.max(...scores);
    const e = scores.map((s) => Math.exp(s - max));
    const z = e.reduce((a, c) => a + c, 0);
    const out = new Array<number>(hd).fill(0);
    e.forEach((p, s) => v[s].forEach((x, i) => (out[i] += (p / z) * x)));
    return out;
  });
}

function headSlice(rows: Matrix, head: number, hd: number): Matrix {
  return rows.map((r) => r.slice(head * hd, (head + 1) * hd));
}

export function gpt2Logits(t: TensorMap, ids: number[], nHeads: number, eps: number): Matrix {
  const wte = matrix(t, 'transformer.wte.weight');
  const wpe = matrix(t, 'transformer.wpe.weight');
  let x = ids.map((id, pos) => wte[id].map((v, i) => v + wpe[pos][i]));
  const d = x[0].length;
  const hd = d / nHeads;
  for (let l = 0; t.has(`transformer.h.${l}.ln_1.weight`); l++) {
    const p = `transformer.h.${l}.`;
    const h = x.map((r) => layerNorm(r, vector(t, p + 'ln_1.weight'), vector(t, p + 'ln_1.bias'), eps));
    const qkv = h.map((r) => conv1d(r, matrix(t, p + 'attn.c_attn.weight'), vector(t, p + 'attn.c_attn.bias')));
    const q = qkv.map((r) => r.slice(0, d));
    const k = qkv.map((r) => r.slice(d, 2 * d));
    const v = qkv.map((r) => r.slice(2 * d));
    const heads = Array.from({ length: nHeads }, (_, hh) => causalAttention(headSlice(q, hh, hd), headSlice(k, hh, hd), headSlice(v, hh, hd)));
    const merged = x.map((_, pos) => heads.flatMap((hOut) => hOut[pos]));
    const attnOut = merged.map((r) => conv1d(r, matrix(t, p + 'attn.c_proj.weight'), vector(t, p + 'attn.c_proj.bias')));
    x = x.map((r, pos) => r.map((val, i) => val + attnOut[pos][i]));
    const m = x.map((r) => layerNorm(r, vector(t, p + 'ln_2.weight'), vector(t, p + 'ln_2.bias'), eps));
    const gelu = (z: number) => 0.5 * z * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (z + 0.044715 * z ** 3)));
    const mlp = m.map((r) => conv1d(conv1d(r, matrix(t, p + 'mlp.c_fc.weight'), vector(t, p + 'mlp.c_fc.bias')).map(gelu), matrix(t, p + 'mlp.c_proj.weight'), vector(t, p + 'mlp.c_proj.bias')));
    x = x.map((r, pos) => r.map((val, i) => val + mlp[pos][i]));
  }
  const final = x.map((r) => layerNorm(r, vector(t, 'transformer.ln_f.weight'), vector(t, 'transformer.ln_f.bias'), eps));
  // An untied GPT2LMHeadModel's head is an nn.Linear [V, d], like the embedding table.
  return final.map((r) => linearHF(r, t.has('lm_head.weight') ? matrix(t, 'lm_head.weight') : wte));
}

export type ReferenceRopeScaling =
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number };

/** θ^(−2i/d) for i < d/2, scaled: 'linear' divides every frequency by the factor; 'llama3' as Meta's apply_scaling. */
export function referenceInverseFrequencies(headDim: number, theta: number, scaling?: ReferenceRopeScaling): number[] {
  const base = Array.from({ length: headDim / 2 }, (_, i) => 1 / Math.pow(theta, (2 * i) / headDim));
  if (!scaling) return base;
  if (scaling.type === 'linear') return base.map((f) => f / scaling.factor);
  const { factor, lowFreqFactor: low, highFreqFactor: high, originalMaxPositions: old } = scaling;
  return base.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < old / high) return f;
    if (wavelen > old / low) return f / factor;
    const smooth = (old / wavelen - low) / (high - low);
    return (1 - smooth) * (f / factor) + smooth * f;
  });
}

/** RoPE as HF's apply_rotary_pos_emb with rotate_half, on one head vector at position pos. */
function rope(x: number[], pos: number, invFreq: number[]): number[] {
  const half = x.length / 2;
  return x.map((v, i) => {
    const angle = pos * invFreq[i % half];
    const rotated = i < half ? -x[i + half] : x[i - half];
    return v * Math.cos(angle) + rotated * Math.sin(angle);
  });
}

export interface LlamaReferenceOptions {
  nHeads: number;
  nKvHeads: number;
  eps: number;
  theta: number;
  scaling?: ReferenceRopeScaling;
}

export function llamaLogits(t: TensorMap, ids: number[], o: LlamaReferenceOptions): Matrix {
  const embed = matrix(t, 'model.embed_tokens.weight');
  let x = ids.map((id) => [...embed[id]]);
  const hd = get(t, 'model.layers.0.self_attn.q_proj.weight').shape[0] / o.nHeads;
  const invFreq = referenceInverseFrequencies(hd, o.theta, o.scaling);
  const optional = (name: string) => (t.has(name) ? vector(t, name) : undefined);
  const proj = (r: number[], name: string) => linearHF(r, matrix(t, name + '.weight'), optional(name + '.bias'));
  for (let l = 0; t.has(`model.layers.${l}.input_layernorm.weight`); l++) {
    const p = `model.layers.${l}.`;
    const h = x.map((r) => rmsNorm(r, vector(t, p + 'input_layernorm.weight'), o.eps));
    const q = h.map((r) => proj(r, p + 'self_attn.q_proj'));
    const k = h.map((r) => proj(r, p + 'self_attn.k_proj'));
    const v = h.map((r) => proj(r, p + 'self_attn.v_proj'));
    const heads = Array.from({ length: o.nHeads }, (_, hh) => {
      const kvHead = Math.floor(hh / (o.nHeads / o.nKvHeads));
      const qh = headSlice(q, hh, hd).map((r, pos) => rope(r, pos, invFreq));
      const kh = headSlice(k, kvHead, hd).map((r, pos) => rope(r, pos, invFreq));
      return causalAttention(qh, kh, headSlice(v, kvHead, hd));
    });
    const merged = x.map((_, pos) => heads.flatMap((hOut) => hOut[pos]));
    const attnOut = merged.map((r) => proj(r, p + 'self_attn.o_proj'));
    x = x.map((r, pos) => r.map((val, i) => val + attnOut[pos][i]));
    const m = x.map((r) => rmsNorm(r, vector(t, p + 'post_attention_layernorm.weight'), o.eps));
    const silu = (z: number) => z / (1 + Math.exp(-z));
    const mlp = m.map((r) => {
      const gate = proj(r, p + 'mlp.gate_proj').map(silu);
      const up = proj(r, p + 'mlp.up_proj');
      return proj(gate.map((g, i) => g * up[i]), p + 'mlp.down_proj');
    });
    x = x.map((r, pos) => r.map((val, i) => val + mlp[pos][i]));
  }
  const final = x.map((r) => rmsNorm(r, vector(t, 'model.norm.weight'), o.eps));
  const head = t.has('lm_head.weight') ? matrix(t, 'lm_head.weight') : embed;
  return final.map((r) => linearHF(r, head));
}
