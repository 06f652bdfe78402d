/**
 * The output head fused with the log-softmax and the target pick: log π(target) and the entropy of π at each
 * position, straight from the last hidden states, without the [N, V] logits — or the [d, V] head — ever existing
 * whole. The logits are computed a tile at a time (a block of rows × a block of the vocabulary), the log-sum-exp is
 * carried across the vocabulary blocks online (Milakov & Gimelshein 2018), and the backward pass recomputes each
 * tile (the idea of Liger-Kernel's fused linear cross-entropy, Hsu et al. 2024).
 *
 * For 256 response tokens of GPT-2 (V = 50,257) the unfused path holds five [256, V] float32 copies (logits,
 * shifted, log-softmax, their gradients: about 245 MiB); this holds a tile's few. A head tied to the token
 * embedding is read from the table [V, d] itself, a block of rows at a time, so that training needs no [d, V]
 * transpose of it (147 MiB for GPT-2, 519 MiB for Qwen2.5).
 *
 * With one vocabulary block the values are those of the unfused path (responseLogProbs with logits): the same
 * log-softmax formula, (z − max) − log Σ exp(z − max), row by row.
 */
import * as tf from '@tensorflow/tfjs-core';
import { matMul } from './kernels';
import { HeadWeight, isFrozenWeight, tapeIsRecording } from './model';
import { upstream } from './tensorIo';

/** About 16 MiB of float32 per tile of logits, and per block of the head. */
const TILE_ELEMENTS = 2 ** 22;
/** The narrowest vocabulary block worth a product (below it, a row block shrinks instead). */
const MIN_VOCAB_BLOCK = 1024;

/** Rows of logits computed at once for a vocabulary of `vocabSize` (the memory budget counts one tile). */
export function headChunkRows(vocabSize: number): number {
  return Math.max(1, Math.floor(TILE_ELEMENTS / Math.min(vocabSize, MIN_VOCAB_BLOCK)));
}

/** Vocabulary entries per block for `rows` rows of hidden size `d`: a tile and a head block stay within ~16 MiB. */
export function headVocabBlock(vocabSize: number, rows: number, d: number): number {
  return Math.max(1, Math.min(vocabSize, Math.floor(TILE_ELEMENTS / Math.max(rows, d, 1))));
}

/**
 * The float32 elements of one tile of logits and of one block of the head when `rows` rows (all a pass has, or
 * fewer) go through a head of `vocabSize` × `d`: what the fused head holds at once, whatever the micro-batch.
 */
export function headTile(vocabSize: number, rows: number, d: number): { tileElements: number; blockElements: number } {
  const tileRows = Math.max(1, Math.min(rows, headChunkRows(vocabSize)));
  const block = headVocabBlock(vocabSize, tileRows, d);
  return { tileElements: tileRows * block, blockElements: block * d };
}

export interface HeadLogProbOptions {
  /** Targets, one per row of `hidden` (any valid id at padded rows: the caller masks them). */
  targets: Int32Array;
  /** Logits are divided by this before the softmax. */
  temperature: number;
  withEntropy: boolean;
  /** Rows of logits computed at once; default headChunkRows. */
  chunkRows?: number;
  /** Vocabulary entries per block; default headVocabBlock. */
  vocabBlock?: number;
}

export interface HeadLogProbs {
  /** log softmax(hidden · W / temperature)[n, targets[n]], [N]. */
  logProbs: tf.Tensor1D;
  /** −Σ p log p of the same distribution, [N]; null unless asked for. */
  entropy: tf.Tensor1D | null;
}

/**
 * hidden [N, d] and the head W (as W [d, V], or as the tied table Wᵀ [V, d]) → per-row target log-prob (and
 * entropy). Differentiable with respect to `hidden`, and to the head unless it is frozen (a LoRA run's base, a
 * reference model).
 */
export function headLogProbs(hidden: tf.Tensor2D, head: HeadWeight, options: HeadLogProbOptions): HeadLogProbs {
  const [N] = hidden.shape;
  if (options.targets.length !== N) throw new Error(`headLogProbs: ${options.targets.length} targets for ${N} rows`);
  const weight = head.table ?? head.matrix;
  const tiles = (w: tf.Tensor2D) => layoutOf(w, head.table !== undefined, N, hidden.shape[1], options);
  const columns = options.withEntropy ? 3 : 2;
  if (!tapeIsRecording()) return split(forwardInTiles(hidden, tiles(weight), options), N, options.withEntropy);
  const headTrains = !isFrozenWeight(weight);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor2D;
    const w = headTrains ? (args[1] as tf.Tensor2D) : weight;
    const value = forwardInTiles(x, tiles(w), options);
    (args[args.length - 1] as tf.GradSaveFunc)([x, value]);
    return {
      value,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) =>
        backwardInTiles(saved[0] as tf.Tensor2D, tiles(w), saved[1] as tf.Tensor2D, upstream(dy) as tf.Tensor2D, options, headTrains, columns),
    };
  });
  return split((headTrains ? op(hidden, weight) : op(hidden)) as tf.Tensor2D, N, options.withEntropy);
}

/** The op's [N, 2 or 3] output (log-prob, entropy, log-sum-exp) as the caller's columns. */
function split(out: tf.Tensor2D, N: number, withEntropy: boolean): HeadLogProbs {
  const column = (j: number) => tf.reshape(tf.slice(out, [0, j], [N, 1]), [N]) as tf.Tensor1D;
  return { logProbs: column(0), entropy: withEntropy ? column(1) : null };
}

/** A block of rows [from, from + rows) with their targets. */
interface RowBlock {
  from: number;
  rows: number;
  targets: Int32Array;
}

/** A block of the vocabulary [from, from + size). */
interface VocabBlock {
  from: number;
  size: number;
}

/** How the head is read: its blocks, and how its gradient is assembled from theirs. */
interface TileLayout {
  rowBlocks: RowBlock[];
  vocabBlocks: VocabBlock[];
  /** A tile's logits rows · W[:, block] [R, size] from its rows [R, d]. */
  logits(rows: tf.Tensor2D, block: VocabBlock): tf.Tensor2D;
  /** dz · W[:, block]ᵀ [R, d], a tile's share of dx. */
  inputGradient(dz: tf.Tensor2D, block: VocabBlock): tf.Tensor2D;
  /** The head's gradient block from a tile's rows [R, d] and dz [R, size], shaped as the head is stored. */
  gradientBlock(rows: tf.Tensor2D, dz: tf.Tensor2D): tf.Tensor2D;
  /** The axis along which the head's blocks are laid side by side. */
  blockAxis: 0 | 1;
}

/**
 * The products read W (or the tied table Wᵀ) in its stored layout with matMul's transpose flags: no transposed copy
 * of a vocabulary block is made.
 */
function layoutOf(w: tf.Tensor2D, isTable: boolean, n: number, d: number, options: HeadLogProbOptions): TileLayout {
  const V = isTable ? w.shape[0] : w.shape[1];
  const chunkRows = options.chunkRows ?? headChunkRows(V);
  const rowBlocks = blocks(n, chunkRows).map(({ from, size }) => ({ from, rows: size, targets: options.targets.subarray(from, from + size) }));
  const vocabBlocks = blocks(V, options.vocabBlock ?? headVocabBlock(V, Math.min(n, chunkRows), d));
  const whole = (block: VocabBlock) => block.size === V;
  if (isTable) {
    const tableRows = (block: VocabBlock) => (whole(block) ? w : tf.slice(w, [block.from, 0], [block.size, d]));
    return {
      rowBlocks, vocabBlocks, blockAxis: 0,
      logits: (rows, block) => matMul(rows, tableRows(block), false, true),
      inputGradient: (dz, block) => matMul(dz, tableRows(block)),
      gradientBlock: (rows, dz) => matMul(dz, rows, true, false),
    };
  }
  const columns = (block: VocabBlock) => (whole(block) ? w : tf.slice(w, [0, block.from], [d, block.size]));
  return {
    rowBlocks, vocabBlocks, blockAxis: 1,
    logits: (rows, block) => matMul(rows, columns(block)),
    inputGradient: (dz, block) => matMul(dz, columns(block), false, true),
    gradientBlock: (rows, dz) => matMul(rows, dz, true, false),
  };
}

function blocks(n: number, size: number): VocabBlock[] {
  const out: VocabBlock[] = [];
  for (let from = 0; from < n; from += size) out.push({ from, size: Math.min(size, n - from) });
  return out;
}

/** A tile's logits z = rows · W[:, block] / temperature, [R, size]. */
function tileLogits(x: tf.Tensor2D, layout: TileLayout, rows: RowBlock, block: VocabBlock, temperature: number): tf.Tensor2D {
  const xs = tf.slice(x, [rows.from, 0], [rows.rows, x.shape[1]]);
  const z = layout.logits(xs, block);
  return (temperature === 1 ? z : tf.div(z, temperature)) as tf.Tensor2D;
}

/** 1 at each row's target when it falls in `block`, else 0: [R, size] (tf.oneHot leaves out-of-range ids all zero). */
function targetMask(rows: RowBlock, block: VocabBlock): tf.Tensor2D {
  const local = rows.targets.map((t) => t - block.from);
  if (block.size >= 2) return tf.oneHot(tf.tensor1d(local, 'int32'), block.size) as tf.Tensor2D;
  return tf.tensor2d(Float32Array.from(local, (t) => (t === 0 ? 1 : 0)), [rows.rows, 1]); // oneHot needs depth ≥ 2
}

/** z at each row's target where it falls in `block`, else 0: [R] (a gather, and a 0/1 factor for the rows outside). */
function targetLogits(z: tf.Tensor2D, rows: RowBlock, block: VocabBlock): tf.Tensor1D {
  const inside = (t: number) => t >= block.from && t < block.from + block.size;
  const flat = Int32Array.from(rows.targets, (t, r) => r * block.size + (inside(t) ? t - block.from : 0));
  const picked = tf.gather(tf.reshape(z, [rows.rows * block.size]), tf.tensor1d(flat, 'int32'));
  return tf.mul(picked, tf.tensor1d(Float32Array.from(rows.targets, (t) => (inside(t) ? 1 : 0)))) as tf.Tensor1D;
}

/**
 * Per row, across the vocabulary blocks: m the running max of z, s = Σ exp(z − m), u = Σ exp(z − m)·(z − m) (for
 * the entropy: H = log s − u / s), and z at the target.
 */
type RunningSoftmax = { // a type, not an interface: tf.tidy returns it (an object of tensors)
  m: tf.Tensor1D;
  s: tf.Tensor1D;
  u: tf.Tensor1D | undefined;
  target: tf.Tensor1D;
};

function firstBlock(z: tf.Tensor2D, target: tf.Tensor1D, withEntropy: boolean): RunningSoftmax {
  const m = tf.max(z, 1) as tf.Tensor1D;
  const shifted = tf.sub(z, tf.expandDims(m, 1));
  const e = tf.exp(shifted);
  return {
    m, s: tf.sum(e, 1) as tf.Tensor1D,
    u: withEntropy ? (tf.sum(tf.mul(e, shifted), 1) as tf.Tensor1D) : undefined,
    target,
  };
}

/** Folds one more block into the running values: with m' = max(m, max z), s' = e^(m − m')·s + Σ e^(z − m'), etc. */
function nextBlock(run: RunningSoftmax, z: tf.Tensor2D, target: tf.Tensor1D): RunningSoftmax {
  const m = tf.maximum(run.m, tf.max(z, 1)) as tf.Tensor1D;
  const delta = tf.sub(run.m, m); // ≤ 0
  const rescale = tf.exp(delta);
  const shifted = tf.sub(z, tf.expandDims(m, 1));
  const e = tf.exp(shifted);
  const s = tf.add(tf.mul(run.s, rescale), tf.sum(e, 1)) as tf.Tensor1D;
  // Σ e^(z−m)(z − m) over the old blocks, re-based to m': e^(m−m')·(u + (m − m')·s).
  const u = run.u ? (tf.add(tf.mul(rescale, tf.add(run.u, tf.mul(delta, run.s))), tf.sum(tf.mul(e, shifted), 1)) as tf.Tensor1D) : undefined;
  return { m, s, u, target: tf.add(run.target, target) as tf.Tensor1D };
}

/** [N, 2 or 3]: each row's target log-prob, (entropy,) and log-sum-exp, a tile at a time. */
function forwardInTiles(x: tf.Tensor2D, layout: TileLayout, options: HeadLogProbOptions): tf.Tensor2D {
  const parts = layout.rowBlocks.map((rows): tf.Tensor2D => {
    let run: RunningSoftmax | null = null;
    for (const block of layout.vocabBlocks) {
      const previous: RunningSoftmax | null = run;
      run = tf.tidy(() => {
        const z = tileLogits(x, layout, rows, block, options.temperature);
        const target = targetLogits(z, rows, block);
        return previous ? nextBlock(previous, z, target) : firstBlock(z, target, options.withEntropy);
      });
      if (previous) tf.dispose(Object.values(previous).filter((t): t is tf.Tensor1D => t !== undefined));
    }
    const done = run!;
    const out = tf.tidy(() => {
      const logS = tf.log(done.s);
      // (z_t − m) − log s: tf.logSoftmax's own order of operations, so one block gives its values exactly.
      const columns = [tf.sub(tf.sub(done.target, done.m), logS)];
      if (done.u) columns.push(tf.sub(logS, tf.div(done.u, done.s)));
      columns.push(tf.add(done.m, logS));
      return tf.stack(columns, 1) as tf.Tensor2D;
    });
    tf.dispose(Object.values(done).filter((t): t is tf.Tensor1D => t !== undefined));
    return out;
  });
  return parts.length === 1 ? parts[0] : tf.tidy(() => tf.concat(parts, 0) as tf.Tensor2D);
}

/**
 * Gradients for x (and the head) from dy [N, 2 or 3]. With p = softmax(z), log p = z − lse and H the entropy, per
 * row: ∂ log p_t / ∂z_k = δ_kt − p_k and ∂H/∂z_k = −p_k (log p_k + H), so
 * ∂L/∂z_k = dlp·δ_kt − p_k·(dlp + dH·(log p_k + H)), divided by the temperature for the unscaled logits. The
 * log-sum-exp column is internal: its upstream gradient is ignored.
 */
function backwardInTiles(
  x: tf.Tensor2D, layout: TileLayout, value: tf.Tensor2D, dy: tf.Tensor2D, options: HeadLogProbOptions, headTrains: boolean, columns: number,
): tf.Tensor[] {
  const headBlocks: (tf.Tensor2D | null)[] = layout.vocabBlocks.map(() => null);
  const dxParts = layout.rowBlocks.map((rows): tf.Tensor2D => {
    const column = (t: tf.Tensor2D, j: number) => tf.slice(t, [rows.from, j], [rows.rows, 1]);
    let dx: tf.Tensor2D | null = null;
    layout.vocabBlocks.forEach((block, b) => {
      const previous: tf.Tensor2D | null = dx;
      const [dxTile, dW] = tf.tidy((): tf.Tensor2D[] => {
        const logp = tf.sub(tileLogits(x, layout, rows, block, options.temperature), column(value, columns - 1));
        const dlp = column(dy, 0);
        const inner = options.withEntropy ? tf.add(dlp, tf.mul(column(dy, 1), tf.add(logp, column(value, 1)))) : dlp;
        let dz: tf.Tensor = tf.sub(tf.mul(targetMask(rows, block), dlp), tf.mul(tf.exp(logp), inner));
        if (options.temperature !== 1) dz = tf.div(dz, options.temperature);
        const tile = layout.inputGradient(dz as tf.Tensor2D, block);
        const sum = previous ? (tf.add(previous, tile) as tf.Tensor2D) : tile;
        if (!headTrains) return [sum];
        const xs = tf.slice(x, [rows.from, 0], [rows.rows, x.shape[1]]);
        const grad = layout.gradientBlock(xs, dz as tf.Tensor2D);
        const before = headBlocks[b];
        return [sum, before ? (tf.add(before, grad) as tf.Tensor2D) : grad];
      });
      if (previous) previous.dispose();
      dx = dxTile;
      if (dW) {
        headBlocks[b]?.dispose();
        headBlocks[b] = dW;
      }
    });
    return dx!;
  });
  const dx = dxParts.length === 1 ? dxParts[0] : tf.concat(dxParts, 0);
  if (dxParts.length > 1) tf.dispose(dxParts);
  if (!headTrains) return [dx];
  const grads = headBlocks as tf.Tensor2D[];
  const dHead = grads.length === 1 ? grads[0] : tf.concat(grads, layout.blockAxis);
  if (grads.length > 1) tf.dispose(grads);
  return [dx, dHead];
}
