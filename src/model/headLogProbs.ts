/**
 * The output head fused with the log-softmax and the target pick: log π(target) and the entropy of π at each
 * position, straight from the last hidden states, without the [N, V] logits ever existing whole. The head product
 * runs a chunk of rows at a time, and the backward pass recomputes each chunk's logits (the idea of Liger-Kernel's
 * fused linear cross-entropy, Hsu et al. 2024). For 256 response tokens of GPT-2 (V = 50,257) the unfused path
 * holds five [256, V] float32 copies (logits, shifted, log-softmax, their gradients: about 245 MiB); this holds a
 * chunk's few.
 *
 * Values are those of the unfused path (responseLogProbs with logits): the same log-softmax formula, row by row.
 */
import * as tf from '@tensorflow/tfjs-core';
import { isFrozenWeight, tapeIsRecording, transposeSource } from './model';
import { upstream } from './tensorIo';

/** About 16 MiB of float32 logits per chunk: 83 rows of GPT-2's vocabulary, 27 of Qwen2.5's. */
const CHUNK_ELEMENTS = 2 ** 22;

/** Rows of logits computed at once for a vocabulary of `vocabSize` (the memory budget counts one chunk). */
export function headChunkRows(vocabSize: number): number {
  return Math.max(1, Math.floor(CHUNK_ELEMENTS / vocabSize));
}

export interface HeadLogProbOptions {
  /** Targets, one per row of `hidden` (any valid id at padded rows: the caller masks them). */
  targets: Int32Array;
  /** Logits are divided by this before the softmax. */
  temperature: number;
  withEntropy: boolean;
  /** Rows of logits computed at once; default about 16 MiB of them. */
  chunkRows?: number;
}

export interface HeadLogProbs {
  /** log softmax(hidden · head / temperature)[n, targets[n]], [N]. */
  logProbs: tf.Tensor1D;
  /** −Σ p log p of the same distribution, [N]; null unless asked for. */
  entropy: tf.Tensor1D | null;
}

/**
 * hidden [N, d] · head [d, V] → per-row target log-prob (and entropy). Differentiable with respect to `hidden`, and
 * to `head` unless it is frozen (a LoRA run's base, a reference model).
 */
export function headLogProbs(hidden: tf.Tensor2D, head: tf.Tensor2D, options: HeadLogProbOptions): HeadLogProbs {
  const [N] = hidden.shape;
  const V = head.shape[1];
  if (options.targets.length !== N) throw new Error(`headLogProbs: ${options.targets.length} targets for ${N} rows`);
  const chunkRows = options.chunkRows ?? headChunkRows(V);
  if (!tapeIsRecording()) return split(forwardInChunks(hidden, head, options, chunkRows), N, options.withEntropy);
  const headTrains = !isFrozenWeight(head);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor2D;
    const w = headTrains ? (args[1] as tf.Tensor2D) : head;
    const value = forwardInChunks(x, w, options, chunkRows);
    // A trainable head is an intermediate of the forward (the tied table's transpose), freed with it unless saved.
    (args[args.length - 1] as tf.GradSaveFunc)(headTrains ? [x, value, w] : [x, value]);
    return {
      value,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) =>
        backwardInChunks(saved[0] as tf.Tensor2D, (saved[2] ?? w) as tf.Tensor2D, transposeSource(head), saved[1] as tf.Tensor2D, upstream(dy) as tf.Tensor2D, options, chunkRows, headTrains),
    };
  });
  return split((headTrains ? op(hidden, head) : op(hidden)) as tf.Tensor2D, N, options.withEntropy);
}

/** The op's [N, 1 or 2] output as its columns. */
function split(out: tf.Tensor2D, N: number, withEntropy: boolean): HeadLogProbs {
  const column = (j: number) => tf.reshape(tf.slice(out, [0, j], [N, 1]), [N]) as tf.Tensor1D;
  return { logProbs: column(0), entropy: withEntropy ? column(1) : null };
}

/** Rows [from, to) of a chunk. */
interface Chunk {
  from: number;
  rows: number;
  targets: Int32Array;
}

function chunksOf(n: number, chunkRows: number, targets: Int32Array): Chunk[] {
  const chunks: Chunk[] = [];
  for (let from = 0; from < n; from += chunkRows) {
    const rows = Math.min(chunkRows, n - from);
    chunks.push({ from, rows, targets: targets.subarray(from, from + rows) });
  }
  return chunks;
}

/** A chunk's log-softmax [rows, V], computed as tf.logSoftmax does (shift by the row max, subtract log Σ exp). */
function chunkLogSoftmax(x: tf.Tensor2D, head: tf.Tensor2D, chunk: Chunk, temperature: number): tf.Tensor2D {
  const rows = tf.slice(x, [chunk.from, 0], [chunk.rows, x.shape[1]]);
  let logits: tf.Tensor = tf.matMul(rows, head);
  if (temperature !== 1) logits = tf.div(logits, temperature);
  return tf.logSoftmax(logits) as tf.Tensor2D;
}

/** logp[r, targets[r]] for each row r: a gather of the flat values (forward only). */
function pick(logp: tf.Tensor2D, targets: Int32Array): tf.Tensor1D {
  const [rows, V] = logp.shape;
  const flat = Int32Array.from(targets, (t, r) => r * V + t);
  return tf.gather(tf.reshape(logp, [rows * V]), tf.tensor1d(flat, 'int32')) as tf.Tensor1D;
}

/** [N, 1 or 2]: each row's target log-prob (and entropy), a chunk of rows at a time. */
function forwardInChunks(x: tf.Tensor2D, head: tf.Tensor2D, options: HeadLogProbOptions, chunkRows: number): tf.Tensor2D {
  const parts = chunksOf(x.shape[0], chunkRows, options.targets).map((chunk) => tf.tidy(() => {
    const logp = chunkLogSoftmax(x, head, chunk, options.temperature);
    const picked = pick(logp, chunk.targets);
    if (!options.withEntropy) return tf.reshape(picked, [chunk.rows, 1]);
    const entropy = tf.neg(tf.sum(tf.mul(tf.exp(logp), logp), -1));
    return tf.stack([picked, entropy], 1);
  }));
  return parts.length === 1 ? (parts[0] as tf.Tensor2D) : tf.tidy(() => tf.concat(parts, 0) as tf.Tensor2D);
}

/**
 * Gradients for x (and the head) from dy [N, 1 or 2]. With p = softmax(z), log p = z − lse and H the entropy, per
 * row: ∂ log p_t / ∂z_k = δ_kt − p_k and ∂H/∂z_k = −p_k (log p_k + H), so
 * ∂L/∂z_k = dlp·δ_kt − p_k·(dlp + dH·(log p_k + H)), divided by the temperature for the unscaled logits.
 */
function backwardInChunks(
  x: tf.Tensor2D, head: tf.Tensor2D, source: tf.Tensor | undefined, value: tf.Tensor2D, dy: tf.Tensor2D, options: HeadLogProbOptions,
  chunkRows: number, headTrains: boolean,
): tf.Tensor[] {
  // dx = dz · headᵀ: an explicit transpose and a plain product (wasm's product with transposeB is 5–13× slower);
  // a tied head's transpose is the embedding table itself (`source`).
  const headT = (source ?? tf.transpose(head)) as tf.Tensor2D;
  const V = head.shape[1];
  let dHead: tf.Tensor2D | null = null;
  const dxParts: tf.Tensor2D[] = [];
  for (const chunk of chunksOf(x.shape[0], chunkRows, options.targets)) {
    const [dx, dW] = tf.tidy((): tf.Tensor2D[] => {
      const logp = chunkLogSoftmax(x, head, chunk, options.temperature);
      const rowsOf = (t: tf.Tensor2D, j: number) => tf.slice(t, [chunk.from, j], [chunk.rows, 1]);
      const dlp = rowsOf(dy, 0);
      let inner: tf.Tensor = dlp;
      if (options.withEntropy) inner = tf.add(dlp, tf.mul(rowsOf(dy, 1), tf.add(logp, rowsOf(value, 1))));
      let dz: tf.Tensor = tf.sub(tf.mul(tf.oneHot(tf.tensor1d(chunk.targets, 'int32'), V), dlp), tf.mul(tf.exp(logp), inner));
      if (options.temperature !== 1) dz = tf.div(dz, options.temperature);
      const rows = tf.slice(x, [chunk.from, 0], [chunk.rows, x.shape[1]]);
      const dxChunk = tf.matMul(dz as tf.Tensor2D, headT) as tf.Tensor2D;
      return headTrains ? [dxChunk, tf.matMul(tf.transpose(rows), dz as tf.Tensor2D) as tf.Tensor2D] : [dxChunk];
    });
    dxParts.push(dx);
    if (dW) {
      const previous: tf.Tensor2D | null = dHead;
      dHead = previous ? tf.tidy(() => tf.add(previous, dW) as tf.Tensor2D) : dW;
      if (previous) tf.dispose([previous, dW]);
    }
  }
  if (!source) headT.dispose();
  const dx = dxParts.length === 1 ? dxParts[0] : tf.concat(dxParts, 0);
  if (dxParts.length > 1) tf.dispose(dxParts);
  return headTrains ? [dx, dHead!] : [dx];
}
