/**
 * Building blocks shared by the model families. Activations are kept as 2-D matrices [tokens, width] so every
 * projection is one plain matMul; attention reshapes to per-head batches and uses only ≤ 4-D transposes (5-D
 * transposes are slow on wasm).
 */
import * as tf from '@tensorflow/tfjs-core';
import { fusedGeluNew, fusedLayerNorm, fusedRmsNorm } from './fused';
import { cachedMatMul, matMul, swapMiddleAxes, writeRowsInPlace } from './kernels';
import { derivedWeight, isFrozenWeight, tapeIsRecording, transposeSource, Weights } from './model';
import type { LoraAdapters } from './lora';
import { onHostBackend, upstream } from './tensorIo';
import { onWasmHeap } from './wasmHeap';

/**
 * x [N, in] · W [in, out] (+ b). Weights are stored in this [in, out] layout whatever the checkpoint layout.
 * `columns` [from, to) uses only those output columns of W and b: a fused projection (GPT-2's c_attn) split by
 * slicing the small weight rather than the large activation (wasm's SplitV is slower than the product itself).
 */
export function linear(x: tf.Tensor, weight: tf.Tensor, bias?: tf.Tensor, columns?: [number, number]): tf.Tensor2D {
  const w = columns ? columnsOf(weight, columns) : weight;
  const b = bias && columns ? columnsOf(bias, columns) : bias;
  const y = tapeIsRecording() && isFrozenWeight(w) ? frozenMatMul(x as tf.Tensor2D, w as tf.Tensor2D) : matMul(x as tf.Tensor2D, w as tf.Tensor2D);
  return b ? addBias(y, b) : y;
}

/**
 * x · W for a frozen W under a gradient tape. The stock MatMul gradient saves both inputs, and the engine saves a
 * clone of each: on wasm the clone shares W's buffer (kernels.ts), but tf.memory() and tf.profile count it as W's
 * bytes again, for every base weight of a LoRA model and its tied head, and the memory budget reads those counts.
 * W is alive anyway and needs no gradient, so it stays out of the saved tensors; only dx = dy · Wᵀ is returned.
 */
function frozenMatMul(x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xt] = args as [tf.Tensor2D];
    // dx = dy · Wᵀ; the tied head's Wᵀ is the embedding table itself, a plain product.
    const source = transposeSource(w) as tf.Tensor2D | undefined;
    const dx = (dy: tf.Tensor2D) => (source ? matMul(dy, source) : matMul(dy, w, false, true));
    return { value: matMul(xt, w), gradFunc: (dy: tf.Tensor | tf.Tensor[]) => [dx(upstream(dy) as tf.Tensor2D)] };
  });
  return op(x) as tf.Tensor2D;
}

/**
 * The projections of one forward pass: x·W + b of module `name` (weights `<name>.weight`, `<name>.bias` if the model
 * has it), plus the module's adapter when `adapters` has one. `columns` selects output columns (GPT-2's fused
 * c_attn split into q, k, v).
 */
export type Projector = (name: string, x: tf.Tensor, columns?: [number, number]) => tf.Tensor2D;

export function projector(weights: Weights, adapters: LoraAdapters | null | undefined, dropoutSeed?: string): Projector {
  return (name, x, columns) => {
    const weight = weights.get(`${name}.weight`);
    if (!weight) throw new Error(`model has no weight '${name}.weight'`);
    const y = linear(x, weight, weights.get(`${name}.bias`), columns);
    const delta = adapters?.delta(name, x, columns, dropoutSeed);
    return delta ? (tf.add(y, delta) as tf.Tensor2D) : y;
  };
}

/** Columns [from, to) of the last axis of a matrix or vector; a weight's slice is cached outside gradient tapes. */
function columnsOf(t: tf.Tensor, [from, to]: [number, number]): tf.Tensor {
  const slice = (x: tf.Tensor) => (x.rank === 1 ? tf.slice(x, [from], [to - from]) : tf.slice(x, [0, from], [x.shape[0], to - from]));
  return t instanceof tf.Variable ? derivedWeight(t, `columns ${from}:${to}`, slice) : slice(t);
}

/**
 * y [N, out] + b [out]. The stock gradient of b sums dy over the rows, which wasm does by transposing dy and
 * reducing its last axis (~4 ms for 2 k × 1 k); the same sum as a product with a row of ones is one read of dy
 * through the model's product (tf.matMul there cost ~7 ms a projection on one thread: XNNPACK packs all of dy).
 */
function addBias(y: tf.Tensor2D, bias: tf.Tensor): tf.Tensor2D {
  // Without a tape the custom gradient is bookkeeping only (sampling calls this per projection and token). The
  // value is the same tf.add either way, so scoring with and without a tape gives the same numbers.
  if (!tapeIsRecording()) return tf.add(y, bias);
  const rows = y.shape[0];
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [yt, bt] = args as [tf.Tensor, tf.Tensor];
    return {
      value: tf.add(yt, bt),
      gradFunc: (dy: tf.Tensor | tf.Tensor[]) => {
        const g = upstream(dy) as tf.Tensor2D;
        return [g, tf.reshape(matMul(tf.ones([1, rows]), g), bt.shape)];
      },
    };
  });
  return op(y, bias) as tf.Tensor2D;
}

export function layerNorm(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor, eps: number): tf.Tensor2D {
  return onHostBackend() ? fusedLayerNorm(x as tf.Tensor2D, weight, bias, eps) : layerNormOps(x, weight, bias, eps);
}

/** LayerNorm from tfjs ops (GPU backends; the reference fused.ts is tested against). */
export function layerNormOps(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor, eps: number): tf.Tensor2D {
  const mean = tf.mean(x, -1, true);
  const centred = tf.sub(x, mean);
  const variance = tf.mean(tf.mul(centred, centred), -1, true);
  return tf.add(tf.mul(tf.mul(centred, tf.rsqrt(tf.add(variance, eps))), weight), bias) as tf.Tensor2D;
}

export function rmsNorm(x: tf.Tensor, weight: tf.Tensor, eps: number): tf.Tensor2D {
  return onHostBackend() ? fusedRmsNorm(x as tf.Tensor2D, weight, eps) : rmsNormOps(x, weight, eps);
}

/** RMSNorm from tfjs ops (GPU backends; the reference fused.ts is tested against). */
export function rmsNormOps(x: tf.Tensor, weight: tf.Tensor, eps: number): tf.Tensor2D {
  const meanSquare = tf.mean(tf.mul(x, x), -1, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(meanSquare, eps))), weight) as tf.Tensor2D;
}

/**
 * GPT-2's tanh approximation of GELU ("gelu_new"): 0.5·x·(1 + tanh(z)), z = √(2/π)·(x + 0.044715·x³), computed as
 * x·σ(2z), the same function. On the host backends one SIMD pass forward and one backward (fused.ts); elsewhere
 * tfjs ops, with the gradient written out, σ + x·σ·(1 − σ)·2√(2/π)·(1 + 3·0.044715·x²), from the saved x and σ: a
 * third of the kernels autodiff would run.
 */
export function geluNew(x: tf.Tensor): tf.Tensor2D {
  if (onHostBackend()) return fusedGeluNew(x as tf.Tensor2D);
  return geluNewOps(x);
}

/** geluNew from tfjs ops (GPU backends; the reference the fused version is tested against). */
export function geluNewOps(x: tf.Tensor): tf.Tensor2D {
  const c = 2 * Math.sqrt(2 / Math.PI);
  const a = 0.044715;
  const sigmoidOf2z = (input: tf.Tensor) => tf.sigmoid(tf.mul(tf.mul(input, tf.add(tf.mul(tf.mul(input, input), a), 1)), c));
  if (!tapeIsRecording()) return tf.mul(x, sigmoidOf2z(x)) as tf.Tensor2D;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const s = sigmoidOf2z(input);
    save([input, s]);
    return {
      value: tf.mul(input, s),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], [xs, sig]: tf.Tensor[]) => {
        const slope = tf.add(tf.mul(tf.mul(xs, xs), 3 * a * c), c);
        const local = tf.add(sig, tf.mul(tf.mul(tf.mul(xs, sig), tf.sub(1, sig)), slope));
        return [tf.mul(upstream(dy), local)];
      },
    };
  });
  return op(x) as tf.Tensor2D;
}

export function silu(x: tf.Tensor): tf.Tensor2D {
  return tf.mul(x, tf.sigmoid(x)) as tf.Tensor2D;
}

/**
 * Keys and values of one layer for the tokens seen so far: rows [0, length) of each matrix of k and v
 * [B·kvHeads, capacity, headDim]. On wasm the rows past `length` are room for the next tokens, written in place
 * (writeRowsInPlace): appending by concatenation copied the whole cache for every token (O(S²) copies over a
 * completion: ~15 % of sampling stories260K). Elsewhere capacity = length and each token's cache is a new tensor.
 */
export interface LayerCache {
  k: tf.Tensor3D;
  v: tf.Tensor3D;
  length: number;
}

/** A layer's part in a KV cache: its entry so far (none before the prefill) and the tokens the cache is sized for. */
export interface CacheSlot {
  past: LayerCache | null;
  capacity: number;
}

export interface AttentionShape {
  batch: number;
  length: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
}

/** Keys or values per head: the first `length` rows of each matrix of x [B·Hkv, ≥ length, hd]. */
interface HeadRows {
  x: tf.Tensor3D;
  length: number;
}

/**
 * Causal (grouped-query) scaled dot-product attention.
 *
 * q [B·T, H·hd], k and v [B·T, Hkv·hd]; `bias` [B, 1, T, 1, S] is additive (0 or a large negative number) and
 * carries both the causal and the padding mask. Query head h uses key/value head ⌊h / g⌋ (g = H / Hkv, as HF's
 * `repeat_kv`), so the g query heads of a group are laid out as extra rows against one shared key matrix: no copy of
 * K and V per query head. With a cache slot (sampling), the slot's past holds the keys/values of earlier tokens and
 * `present` returns them with the new ones appended, for the caller to cache; without, `present` is null.
 */
export function attention(
  q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, bias: tf.Tensor, s: AttentionShape, cache: CacheSlot | null,
): { out: tf.Tensor2D; present: LayerCache | null } {
  const { batch: B, length: T, nHeads: H, nKvHeads: Hkv, headDim: hd } = s;
  const g = H / Hkv;
  const qh = tf.reshape(swapAxes12(tf.reshape(tf.mul(q, 1 / Math.sqrt(hd)), [B, T, Hkv, g * hd])), [B * Hkv, T * g, hd]);
  const kh = tf.reshape(swapAxes12(tf.reshape(k, [B, T, Hkv, hd])), [B * Hkv, T, hd]) as tf.Tensor3D;
  const vh = tf.reshape(swapAxes12(tf.reshape(v, [B, T, Hkv, hd])), [B * Hkv, T, hd]) as tf.Tensor3D;
  const present = cache ? appendToCache(cache, kh, vh) : null;
  const keys = present ? { x: present.k, length: present.length } : { x: kh, length: T };
  const values = present ? { x: present.v, length: present.length } : { x: vh, length: T };
  const heads = tapeIsRecording() || T <= ATTENTION_QUERY_BLOCK
    ? attendQueries(qh, keys, values, bias, s, T)
    : attendInBlocks(qh, keys, values, bias, s);
  const out = tf.reshape(swapAxes12(tf.reshape(heads, [B, Hkv, T, g * hd])), [B * T, H * hd]) as tf.Tensor2D;
  return { out, present };
}

/**
 * The slot's cache with kh and vh [B·Hkv, T, hd] appended: in place on wasm while there is room, else in new buffers
 * of the slot's capacity or twice the old one, whichever is larger (a longer prompt than expected grows in O(1)
 * amortized copies); by concatenation on the other backends.
 */
function appendToCache({ past, capacity }: CacheSlot, kh: tf.Tensor3D, vh: tf.Tensor3D): LayerCache {
  const [rows, T, hd] = kh.shape;
  const length = (past?.length ?? 0) + T;
  if (!onWasmHeap(kh, vh)) {
    return past ? { k: tf.concat([past.k, kh], 1), v: tf.concat([past.v, vh], 1), length } : { k: kh, v: vh, length };
  }
  if (past && length <= past.k.shape[1]) {
    writeRowsInPlace(past.k, kh, past.length);
    writeRowsInPlace(past.v, vh, past.length);
    return { k: past.k, v: past.v, length };
  }
  const room = Math.max(length, capacity, 2 * (past?.k.shape[1] ?? 0));
  const grown = (old: tf.Tensor3D | undefined, x: tf.Tensor3D): tf.Tensor3D => {
    const buffer = tf.zeros([rows, room, hd]) as tf.Tensor3D;
    if (old) writeRowsInPlace(buffer, old, 0);
    writeRowsInPlace(buffer, x, past?.length ?? 0);
    return buffer;
  };
  return { k: grown(past?.k, kh), v: grown(past?.v, vh), length };
}

/**
 * Query positions per block when attention runs without a gradient tape (sampling's prefill, scoring). The scores
 * of T queries over S keys take T·S floats per head, several copies of them (with the mask, the softmax) per layer:
 * for 24 prompts of 600 tokens on stories260K that is past the 2 GiB wasm holds, and wasm traps. In blocks, and with
 * each block's scores freed before the next, a layer holds at most BLOCK·S of them per head.
 */
export const ATTENTION_QUERY_BLOCK = 128;

/** softmax(q·kᵀ + bias)·v for `length` queries; q [B·Hkv, length·g, hd], bias [B, 1, length, 1, S]. */
function attendQueries(qh: tf.Tensor, keys: HeadRows, values: HeadRows, bias: tf.Tensor, s: AttentionShape, length: number): tf.Tensor3D {
  const { batch: B, nHeads: H, nKvHeads: Hkv } = s;
  const g = H / Hkv;
  const S = keys.length;
  const scores = tf.add(tf.reshape(cachedMatMul(qh as tf.Tensor3D, keys.x, S, true), [B, Hkv, length, g, S]), bias);
  const probs = tf.reshape(tf.softmax(scores), [B * Hkv, length * g, S]) as tf.Tensor3D;
  return cachedMatMul(probs, values.x, S, false);
}

/**
 * The same values as attendQueries over all T queries (each query's row is computed by the same kernels on the same
 * numbers), block by block, every block's intermediates freed once its output exists. Outside a tape only: under
 * one the scores are kept for the gradient anyway.
 */
function attendInBlocks(qh: tf.Tensor, keys: HeadRows, values: HeadRows, bias: tf.Tensor, s: AttentionShape): tf.Tensor3D {
  const { batch: B, length: T, nHeads: H, nKvHeads: Hkv, headDim: hd } = s;
  const g = H / Hkv;
  const S = keys.length;
  const blocks: tf.Tensor3D[] = [];
  for (let from = 0; from < T; from += ATTENTION_QUERY_BLOCK) {
    const length = Math.min(ATTENTION_QUERY_BLOCK, T - from);
    blocks.push(tf.tidy(() => {
      const q = tf.slice(qh, [0, from * g, 0], [B * Hkv, length * g, hd]);
      const b = tf.slice(bias, [0, 0, from, 0, 0], [B, 1, length, 1, S]);
      return attendQueries(q, keys, values, b, s, length);
    }));
  }
  const heads = tf.concat(blocks, 1);
  tf.dispose(blocks);
  return heads;
}

/** [a, b, c, d] → [a, c, b, d]; a reshape when b or c is 1 (one decoded token), which moves no data. */
function swapAxes12(x: tf.Tensor): tf.Tensor4D {
  const [a, b, c, d] = x.shape;
  return b === 1 || c === 1 ? (tf.reshape(x, [a, c, b, d]) as tf.Tensor4D) : swapMiddleAxes(x as tf.Tensor4D);
}

/**
 * Rotary position embedding (RoFormer; HF Llama's `rotate_half` convention): x·cos + rotate_half(x)·sin, with
 * cos/sin [B·T, 1, hd] per token. `rotateHalf` is the constant matrix of rotate_half, so the rotation is one matMul.
 */
export function applyRope(x: tf.Tensor, heads: number, headDim: number, rope: RopeTables): tf.Tensor2D {
  const rows = x.shape[0];
  const perHead = tf.reshape(x, [rows * heads, headDim]);
  const rotated = tf.reshape(matMul(perHead, rope.rotateHalf), [rows, heads, headDim]);
  const plain = tf.reshape(x, [rows, heads, headDim]);
  return tf.reshape(tf.add(tf.mul(plain, rope.cos), tf.mul(rotated, rope.sin)), [rows, heads * headDim]) as tf.Tensor2D;
}

export interface RopeTables {
  cos: tf.Tensor;
  sin: tf.Tensor;
  rotateHalf: tf.Tensor2D;
}

/**
 * cos/sin tables for the given absolute positions (one per token) and the rotate_half matrix. `invFreq` holds the
 * headDim/2 inverse frequencies (rope.ts). The angle position·invFreq is rounded to float32 as transformers'
 * float32 product `inv_freq @ position_ids` is, so long positions get transformers' angles, not more precise ones.
 */
export function ropeTables(positions: Int32Array, headDim: number, invFreq: Float32Array): RopeTables {
  const half = headDim / 2;
  const cos = new Float32Array(positions.length * headDim);
  const sin = new Float32Array(positions.length * headDim);
  for (let n = 0; n < positions.length; n++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(positions[n] * invFreq[i]);
      cos[n * headDim + i] = cos[n * headDim + i + half] = Math.cos(angle);
      sin[n * headDim + i] = sin[n * headDim + i + half] = Math.sin(angle);
    }
  }
  // rotate_half(x) = [-x2, x1]: output j < half takes -x[j + half]; output j ≥ half takes x[j - half].
  const r = new Float32Array(headDim * headDim);
  for (let j = 0; j < half; j++) {
    r[(j + half) * headDim + j] = -1;
    r[j * headDim + j + half] = 1;
  }
  return {
    cos: tf.tensor3d(cos, [positions.length, 1, headDim]),
    sin: tf.tensor3d(sin, [positions.length, 1, headDim]),
    rotateHalf: tf.tensor2d(r, [headDim, headDim]),
  };
}
