/**
 * The 128-bit SIMD kernels of simd/kernels.ts (LayerNorm, RMSNorm and GPT-2's GELU forward and backward, the Adam
 * step, Σ x², batched small products), behind functions on Float32Arrays. The module has its own memory: inputs are copied in,
 * outputs copied out (memcpy speed, a small part of the kernels' time), so it works beside any backend and in every
 * thread (each thread instantiates its own copy on first use).
 *
 * simd/kernels.wasm is compiled from simd/kernels.ts by `npm run build:simd` and committed; a unit test recompiles it
 * and compares the bytes, so the binary cannot drift from its source. The bundle carries it as dist/simd-kernels.wasm.
 */
import * as fs from 'fs';
import * as path from 'path';

interface SimdKernelExports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  layerNormForward(x: number, w: number, b: number, out: number, rows: number, d: number, eps: number): void;
  layerNormBackward(dy: number, x: number, w: number, dx: number, dw: number, db: number, xhat: number, rows: number, d: number, eps: number): void;
  rmsNormForward(x: number, w: number, out: number, rows: number, d: number, eps: number): void;
  rmsNormBackward(dy: number, x: number, w: number, dx: number, dw: number, rows: number, d: number, eps: number): void;
  adamStep(w: number, grad: number, m: number, v: number, n: number, gradScale: number, beta1: number, oneMinusBeta1: number, beta2: number, oneMinusBeta2: number, stepSize: number, inverse2: number, epsilon: number, decay: number): void;
  sumOfSquares(x: number, n: number): number;
  geluForward(x: number, out: number, n: number): void;
  geluBackward(dy: number, x: number, dx: number, n: number): void;
  batchedProduct(a: number, b: number, c: number, count: number, m: number, k: number, n: number, transposeA: boolean, transposeB: boolean, scratchA: number, scratchB: number): void;
}

/** Where the compiled module is: next to the bundle, else beside its source (running from src/ under tsx). */
export function simdModulePath(): string {
  const candidates = [path.join(__dirname, 'simd-kernels.wasm'), path.join(__dirname, 'simd', 'kernels.wasm')];
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new Error(`the SIMD kernels are missing: none of ${candidates.join(', ')} exists (run npm run build)`);
  return found;
}

let kernels: SimdKernelExports | null = null;

function instance(): SimdKernelExports {
  kernels ??= new WebAssembly.Instance(new WebAssembly.Module(fs.readFileSync(simdModulePath()))).exports as unknown as SimdKernelExports;
  return kernels;
}

const PAGE_BYTES = 65536;
/** Arrays start on 16-byte boundaries (aligned v128 loads). */
const ALIGN = 16;

/**
 * Places arrays of the given lengths (floats) one after another in the module's memory, growing it when needed, and
 * returns their byte offsets. Every call reuses the same space: a kernel's arrays live only for that call.
 */
function place(k: SimdKernelExports, lengths: number[]): number[] {
  const offsets: number[] = [];
  // Above the module's static data, which the kernels read (scalar e^x's tables).
  let end = Math.ceil(k.heapBase() / ALIGN) * ALIGN;
  for (const n of lengths) {
    offsets.push(end);
    end += Math.ceil((n * 4) / ALIGN) * ALIGN;
  }
  const missing = end - k.memory.buffer.byteLength;
  if (missing > 0) k.memory.grow(Math.ceil(missing / PAGE_BYTES));
  return offsets;
}

/** Copies arrays in at their offsets (the view is made after any growth, which detaches older views). */
function copyIn(k: SimdKernelExports, pairs: [Float32Array, number][]): void {
  const heap = new Float32Array(k.memory.buffer);
  for (const [values, offset] of pairs) heap.set(values, offset / 4);
}

/** n floats at a byte offset of the module's memory: copy them out before the next kernel call reuses it. */
function view(k: SimdKernelExports, offset: number, n: number): Float32Array {
  return new Float32Array(k.memory.buffer, offset, n);
}

function checkRows(what: string, x: Float32Array, rows: number, d: number, perRow: Float32Array[]): void {
  if (x.length !== rows * d) throw new Error(`${what}: x has ${x.length} values, not rows × d = ${rows} × ${d}`);
  for (const p of perRow) if (p.length !== d) throw new Error(`${what}: a weight has ${p.length} values, not d = ${d}`);
}

/**
 * Items per call: the module's memory grows to its largest call and never shrinks, so long inputs go through in
 * blocks of about CHUNK_FLOATS values (4 MiB an array), whatever the model's size.
 */
const CHUNK_FLOATS = 1 << 20;

/** [from, to) ranges of `items` items (rows, products, elements) of `floatsPerItem` floats each, ≥ 1 item a block. */
function blocks(items: number, floatsPerItem: number): [number, number][] {
  const perBlock = Math.max(1, Math.floor(CHUNK_FLOATS / Math.max(1, floatsPerItem)));
  const ranges: [number, number][] = [];
  for (let from = 0; from < items; from += perBlock) ranges.push([from, Math.min(items, from + perBlock)]);
  return ranges;
}

function addInto(total: Float32Array, part: Float32Array): void {
  for (let i = 0; i < total.length; i++) total[i] += part[i];
}

/** LayerNorm of each row of x [rows, d]: (x − mean) / √(var + eps) · w + b (biased variance). */
export function layerNormRows(x: Float32Array, w: Float32Array, b: Float32Array, rows: number, d: number, eps: number): Float32Array {
  checkRows('layerNormRows', x, rows, d, [w, b]);
  const k = instance();
  const out = new Float32Array(x.length);
  for (const [from, to] of blocks(rows, d)) {
    const n = (to - from) * d;
    const [xAt, wAt, bAt, outAt] = place(k, [n, d, d, n]);
    copyIn(k, [[x.subarray(from * d, to * d), xAt], [w, wAt], [b, bAt]]);
    k.layerNormForward(xAt, wAt, bAt, outAt, to - from, d, eps);
    out.set(view(k, outAt, n), from * d);
  }
  return out;
}

/** LayerNorm's gradients from the upstream dy [rows, d], recomputing the row statistics from x. */
export function layerNormRowsBackward(dy: Float32Array, x: Float32Array, w: Float32Array, rows: number, d: number, eps: number): { dx: Float32Array; dw: Float32Array; db: Float32Array } {
  checkRows('layerNormRowsBackward', x, rows, d, [w]);
  checkRows('layerNormRowsBackward (dy)', dy, rows, d, []);
  const k = instance();
  const dx = new Float32Array(x.length);
  const dw = new Float32Array(d);
  const db = new Float32Array(d);
  for (const [from, to] of blocks(rows, d)) {
    const n = (to - from) * d;
    const [dyAt, xAt, wAt, dxAt, dwAt, dbAt, scratchAt] = place(k, [n, n, d, n, d, d, d]);
    copyIn(k, [[dy.subarray(from * d, to * d), dyAt], [x.subarray(from * d, to * d), xAt], [w, wAt]]);
    k.layerNormBackward(dyAt, xAt, wAt, dxAt, dwAt, dbAt, scratchAt, to - from, d, eps);
    dx.set(view(k, dxAt, n), from * d);
    addInto(dw, view(k, dwAt, d));
    addInto(db, view(k, dbAt, d));
  }
  return { dx, dw, db };
}

/** RMSNorm of each row of x [rows, d]: x / √(mean(x²) + eps) · w. */
export function rmsNormRows(x: Float32Array, w: Float32Array, rows: number, d: number, eps: number): Float32Array {
  checkRows('rmsNormRows', x, rows, d, [w]);
  const k = instance();
  const out = new Float32Array(x.length);
  for (const [from, to] of blocks(rows, d)) {
    const n = (to - from) * d;
    const [xAt, wAt, outAt] = place(k, [n, d, n]);
    copyIn(k, [[x.subarray(from * d, to * d), xAt], [w, wAt]]);
    k.rmsNormForward(xAt, wAt, outAt, to - from, d, eps);
    out.set(view(k, outAt, n), from * d);
  }
  return out;
}

/** RMSNorm's gradients from the upstream dy [rows, d]. */
export function rmsNormRowsBackward(dy: Float32Array, x: Float32Array, w: Float32Array, rows: number, d: number, eps: number): { dx: Float32Array; dw: Float32Array } {
  checkRows('rmsNormRowsBackward', x, rows, d, [w]);
  checkRows('rmsNormRowsBackward (dy)', dy, rows, d, []);
  const k = instance();
  const dx = new Float32Array(x.length);
  const dw = new Float32Array(d);
  for (const [from, to] of blocks(rows, d)) {
    const n = (to - from) * d;
    const [dyAt, xAt, wAt, dxAt, dwAt] = place(k, [n, n, d, n, d]);
    copyIn(k, [[dy.subarray(from * d, to * d), dyAt], [x.subarray(from * d, to * d), xAt], [w, wAt]]);
    k.rmsNormBackward(dyAt, xAt, wAt, dxAt, dwAt, to - from, d, eps);
    dx.set(view(k, dxAt, n), from * d);
    addInto(dw, view(k, dwAt, d));
  }
  return { dx, dw };
}

/** The float32 scalars of one Adam step (see simd/kernels.ts adamStep). */
export interface AdamKernelScalars {
  gradScale: number;
  beta1: number;
  beta2: number;
  /** lr / (1 − β1^t). */
  stepSize: number;
  /** 1 / (1 − β2^t). */
  inverse2: number;
  epsilon: number;
  /** 1 − lr·λ. */
  decay: number;
}

/** One Adam step: the new weight and moments as fresh arrays; the inputs are only read. */
export function adamStepRows(weight: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, s: AdamKernelScalars): { weight: Float32Array; m: Float32Array; v: Float32Array } {
  const n = weight.length;
  if (grad.length !== n || m.length !== n || v.length !== n) {
    throw new Error(`adamStepRows: weight, gradient and moments must have one length (got ${n}, ${grad.length}, ${m.length}, ${v.length})`);
  }
  const k = instance();
  const out = { weight: new Float32Array(n), m: new Float32Array(n), v: new Float32Array(n) };
  for (const [from, to] of blocks(n, 1)) {
    const [wAt, gAt, mAt, vAt] = place(k, [to - from, to - from, to - from, to - from]);
    copyIn(k, [[weight.subarray(from, to), wAt], [grad.subarray(from, to), gAt], [m.subarray(from, to), mAt], [v.subarray(from, to), vAt]]);
    k.adamStep(wAt, gAt, mAt, vAt, to - from, s.gradScale, s.beta1, 1 - s.beta1, s.beta2, 1 - s.beta2, s.stepSize, s.inverse2, s.epsilon, s.decay);
    out.weight.set(view(k, wAt, to - from), from);
    out.m.set(view(k, mAt, to - from), from);
    out.v.set(view(k, vAt, to - from), from);
  }
  return out;
}

/** Σ x², accumulated in float64. */
export function sumOfSquares(x: Float32Array): number {
  const k = instance();
  let total = 0;
  for (const [from, to] of blocks(x.length, 1)) {
    const [at] = place(k, [to - from]);
    copyIn(k, [[x.subarray(from, to), at]]);
    total += k.sumOfSquares(at, to - from);
  }
  return total;
}

/** The shape of a batch of products: count × ([m, k] · [k, n]), each operand optionally stored transposed. */
export interface BatchedProductShape {
  count: number;
  m: number;
  k: number;
  n: number;
  /** a[i] is stored [k, m]. */
  transposeA: boolean;
  /** b[i] is stored [n, k]. */
  transposeB: boolean;
}

/**
 * c[i] = op(a[i]) · op(b[i]) for i < count, written into `out` [count, m, n] (a wasm heap view is fine: the result
 * goes there without an intermediate copy). Products go through in groups whose operands fit about CHUNK_FLOATS
 * values (at least one product a group).
 */
export function batchedProductInto(a: Float32Array, b: Float32Array, s: BatchedProductShape, out: Float32Array): void {
  const { count, m, k, n } = s;
  if (a.length !== count * m * k || b.length !== count * k * n || out.length !== count * m * n) {
    throw new Error(`batchedProduct: operands of ${a.length} and ${b.length} values and an output of ${out.length} do not hold ${count} products [${m}, ${k}] · [${k}, ${n}]`);
  }
  const kernel = instance();
  for (const [from, to] of blocks(count, m * k + k * n + m * n)) {
    const [aAt, bAt, cAt, scratchA, scratchB] = place(kernel, [(to - from) * m * k, (to - from) * k * n, (to - from) * m * n, m * k, k * n]);
    copyIn(kernel, [[a.subarray(from * m * k, to * m * k), aAt], [b.subarray(from * k * n, to * k * n), bAt]]);
    kernel.batchedProduct(aAt, bAt, cAt, to - from, m, k, n, s.transposeA, s.transposeB, scratchA, scratchB);
    out.set(view(kernel, cAt, (to - from) * m * n), from * m * n);
  }
}

/** batchedProductInto a fresh array. */
export function batchedProduct(a: Float32Array, b: Float32Array, s: BatchedProductShape): Float32Array {
  const out = new Float32Array(s.count * s.m * s.n);
  batchedProductInto(a, b, s, out);
  return out;
}

/** GPT-2's "gelu_new", x·σ(2z) with z = √(2/π)·(x + 0.044715·x³) (= 0.5·x·(1 + tanh z)), element-wise. */
export function geluValues(x: Float32Array): Float32Array {
  const kernel = instance();
  const out = new Float32Array(x.length);
  for (const [from, to] of blocks(x.length, 1)) {
    const [xAt, outAt] = place(kernel, [to - from, to - from]);
    copyIn(kernel, [[x.subarray(from, to), xAt]]);
    kernel.geluForward(xAt, outAt, to - from);
    out.set(view(kernel, outAt, to - from), from);
  }
  return out;
}

/** dy · gelu_new′(x), element-wise (the gate recomputed from x). */
export function geluGradient(dy: Float32Array, x: Float32Array): Float32Array {
  if (dy.length !== x.length) throw new Error(`geluGradient: dy has ${dy.length} values, x ${x.length}`);
  const kernel = instance();
  const dx = new Float32Array(x.length);
  for (const [from, to] of blocks(x.length, 1)) {
    const [dyAt, xAt, dxAt] = place(kernel, [to - from, to - from, to - from]);
    copyIn(kernel, [[dy.subarray(from, to), dyAt], [x.subarray(from, to), xAt]]);
    kernel.geluBackward(dyAt, xAt, dxAt, to - from);
    dx.set(view(kernel, dxAt, to - from), from);
  }
  return dx;
}
