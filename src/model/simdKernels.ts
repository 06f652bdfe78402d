/**
 * The 128-bit SIMD kernels of simd/kernels.ts (LayerNorm, RMSNorm and GPT-2's GELU forward and backward, the Adam
 * step, Σ x², matrix products), behind functions on Float32Arrays. The module has its own memory: inputs are copied
 * in, outputs copied out (memcpy speed, a small part of the kernels' time), so it works beside any backend and in
 * every thread (each thread instantiates its own copy on first use).
 *
 * simd/kernels.wasm and simd/kernels-relaxed.wasm (the same source with relaxed SIMD: fused multiply-add in the
 * products) are compiled from simd/kernels.ts by `npm run build:simd` and committed; a unit test recompiles them and
 * compares the bytes, so the binaries cannot drift from their source. The bundle carries them as
 * dist/simd-kernels.wasm and dist/simd-kernels-relaxed.wasm.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as v8 from 'v8';

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
  productScratch(m: number, k: number, columns: number, transposeA: boolean): number;
  product(a: number, b: number, c: number, m: number, k: number, n: number, transposeA: boolean, transposeB: boolean, accumulate: boolean, scratch: number, scratchFloats: number): void;
  batchedProduct(a: number, b: number, c: number, count: number, m: number, k: number, n: number, transposeA: boolean, transposeB: boolean, scratch: number, scratchFloats: number): void;
  swapMiddleAxes(x: number, out: number, a: number, b: number, c: number, d: number): void;
}

/** The two builds of simd/kernels.ts: with relaxed SIMD (fused multiply-add), or 128-bit SIMD alone. */
export type SimdVariant = 'relaxed-simd' | 'simd';

const FILES: Record<SimdVariant, [bundled: string, source: string]> = {
  'relaxed-simd': ['simd-kernels-relaxed.wasm', 'kernels-relaxed.wasm'],
  simd: ['simd-kernels.wasm', 'kernels.wasm'],
};

/** Where a compiled module is: next to the bundle, else beside its source (running from src/ under tsx). */
export function simdModulePath(variant: SimdVariant = 'simd'): string {
  const [bundled, source] = FILES[variant];
  const candidates = [path.join(__dirname, bundled), path.join(__dirname, 'simd', source)];
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new Error(`the SIMD kernels are missing: none of ${candidates.join(', ')} exists (run npm run build)`);
  return found;
}

/**
 * Whether this runtime runs relaxed SIMD. V8 ships it from 11.4 (Electron's Node in VS Code, Node ≥ 22); Node 20's
 * V8 (11.3) has the final instructions behind --experimental-wasm-relaxed-simd, which is turned on here when a
 * module using them does not validate (V8 reads its wasm feature flags at each compile). GRPO_SIMD=simd keeps to the
 * plain build.
 */
function relaxedSimdRuns(bytes: Uint8Array<ArrayBuffer>): boolean {
  if (process.env.GRPO_SIMD === 'simd') return false;
  if (WebAssembly.validate(bytes)) return true;
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  return WebAssembly.validate(bytes);
}

let kernels: SimdKernelExports | null = null;
let loadedVariant: SimdVariant | null = null;
let requestedVariant: SimdVariant | 'auto' = 'auto';

function instance(): SimdKernelExports {
  if (kernels) return kernels;
  const read = (variant: SimdVariant) => new Uint8Array(fs.readFileSync(simdModulePath(variant)));
  const relaxed = read('relaxed-simd');
  const runs = relaxedSimdRuns(relaxed);
  if (requestedVariant === 'relaxed-simd' && !runs) throw new Error('this runtime does not run relaxed SIMD (WebAssembly); use the "simd" build');
  loadedVariant = requestedVariant === 'auto' ? (runs ? 'relaxed-simd' : 'simd') : requestedVariant;
  const bytes = loadedVariant === 'relaxed-simd' ? relaxed : read('simd');
  kernels = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as unknown as SimdKernelExports;
  return kernels;
}

/** The build this thread runs (loading it on first call), for benchmarks and tests. */
export function simdVariant(): SimdVariant {
  instance();
  return loadedVariant!;
}

/**
 * Runs this thread's kernels from one build from now on ("auto": relaxed SIMD where the runtime has it), so tests
 * and benchmarks can compare the two. The next call loads it afresh.
 */
export function setSimdVariant(variant: SimdVariant | 'auto'): void {
  requestedVariant = variant;
  kernels = null;
  loadedVariant = null;
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

/** The shape of one product [m, k] · [k, n], each operand optionally stored transposed. */
export interface ProductShape {
  m: number;
  k: number;
  n: number;
  /** a is stored [k, m]. */
  transposeA: boolean;
  /** b is stored [n, k]. */
  transposeB: boolean;
}

/** count × ([m, k] · [k, n]), a[i] and b[i] stored as in ProductShape. */
export interface BatchedProductShape extends ProductShape {
  count: number;
}

/**
 * Floats of operands and result one product call holds in the module (16 MiB; a transposed a's packed copy adds as
 * much as a again): larger products go through in tiles. A tile is at most PRODUCT_TILE deep and wide (so k·n ≤ 1 Mi
 * floats) and as many rows as the rest allows.
 */
const PRODUCT_FLOATS = 4 << 20;
const PRODUCT_TILE = 1024;
/** op(b) is packed ~256 KiB at a time (an L2 cache's share). */
const PACKED_FLOATS = 1 << 16;

function productScratchFloats(kernel: SimdKernelExports, m: number, k: number, transposeA: boolean): number {
  return kernel.productScratch(m, k, Math.max(8, Math.floor(PACKED_FLOATS / k)), transposeA);
}

/**
 * Copies a rows × cols block of a row-major matrix (rows `stride` apart, starting at `from`) to the heap at float
 * offset `to`, contiguous.
 */
function copyBlockIn(heap: Float32Array, src: Float32Array, from: number, stride: number, rows: number, cols: number, to: number): void {
  if (cols === stride) {
    heap.set(src.subarray(from, from + rows * cols), to);
    return;
  }
  for (let r = 0; r < rows; r++) heap.set(src.subarray(from + r * stride, from + r * stride + cols), to + r * cols);
}

/**
 * c = op(a) · op(b) into `out` [m, n] (a wasm heap view is fine: the result goes there without an intermediate copy).
 * Beyond PRODUCT_FLOATS it runs in tiles of rows × columns; k always in tiles of PRODUCT_TILE steps, summed in the
 * module. A value's arithmetic (the same multiply-adds in the same order) depends on k alone, not on the other rows
 * or columns: a batch split into fewer rows to fit in memory gives the same numbers.
 */
export function productInto(a: Float32Array, b: Float32Array, s: ProductShape, out: Float32Array): void {
  const { m, k, n, transposeA, transposeB } = s;
  if (a.length !== m * k || b.length !== k * n || out.length !== m * n) {
    throw new Error(`product: operands of ${a.length} and ${b.length} values and an output of ${out.length} do not hold [${m}, ${k}] · [${k}, ${n}]`);
  }
  const kernel = instance();
  const fits = m * k + k * n + m * n <= PRODUCT_FLOATS;
  // Depth tiles whether the product fits or not: each value is then the same sum for any number of rows.
  const depth = Math.min(k, PRODUCT_TILE);
  const width = fits ? n : Math.min(n, PRODUCT_TILE);
  const height = fits ? m : Math.min(m, Math.max(4, Math.floor((PRODUCT_FLOATS - depth * width) / (depth + width) / 4) * 4));
  const scratchFloats = productScratchFloats(kernel, height, depth, transposeA);
  for (let m0 = 0; m0 < m; m0 += height) {
    const rows = Math.min(height, m - m0);
    for (let n0 = 0; n0 < n; n0 += width) {
      const cols = Math.min(width, n - n0);
      const [aAt, bAt, cAt, scratch] = place(kernel, [rows * depth, depth * cols, rows * cols, scratchFloats]);
      for (let p0 = 0; p0 < k; p0 += depth) {
        const steps = Math.min(depth, k - p0);
        const heap = new Float32Array(kernel.memory.buffer);
        // The tiles keep their operands' layouts: op(a)'s rows × steps, op(b)'s steps × columns.
        if (transposeA) copyBlockIn(heap, a, p0 * m + m0, m, steps, rows, aAt / 4);
        else copyBlockIn(heap, a, m0 * k + p0, k, rows, steps, aAt / 4);
        if (transposeB) copyBlockIn(heap, b, n0 * k + p0, k, cols, steps, bAt / 4);
        else copyBlockIn(heap, b, p0 * n + n0, n, steps, cols, bAt / 4);
        kernel.product(aAt, bAt, cAt, rows, steps, cols, transposeA, transposeB, p0 > 0, scratch, scratchFloats);
      }
      const c = view(kernel, cAt, rows * cols);
      if (cols === n) out.set(c, m0 * n);
      else for (let r = 0; r < rows; r++) out.set(c.subarray(r * cols, (r + 1) * cols), (m0 + r) * n + n0);
    }
  }
}

/** productInto a fresh array. */
export function product(a: Float32Array, b: Float32Array, s: ProductShape): Float32Array {
  const out = new Float32Array(s.m * s.n);
  productInto(a, b, s, out);
  return out;
}

/**
 * c[i] = op(a[i]) · op(b[i]) for i < count, written into `out` [count, m, n] (a heap view is fine). Products go
 * through in groups whose operands fit about CHUNK_FLOATS values; one larger than PRODUCT_FLOATS, or deeper than
 * PRODUCT_TILE, goes alone through productInto.
 */
export function batchedProductInto(a: Float32Array, b: Float32Array, s: BatchedProductShape, out: Float32Array): void {
  const { count, m, k, n } = s;
  if (a.length !== count * m * k || b.length !== count * k * n || out.length !== count * m * n) {
    throw new Error(`batchedProduct: operands of ${a.length} and ${b.length} values and an output of ${out.length} do not hold ${count} products [${m}, ${k}] · [${k}, ${n}]`);
  }
  // Long sums go through productInto's depth tiles, so that they add up as there.
  if (m * k + k * n + m * n > PRODUCT_FLOATS || k > PRODUCT_TILE) {
    for (let i = 0; i < count; i++) {
      productInto(a.subarray(i * m * k, (i + 1) * m * k), b.subarray(i * k * n, (i + 1) * k * n), s, out.subarray(i * m * n, (i + 1) * m * n));
    }
    return;
  }
  const kernel = instance();
  const scratchFloats = productScratchFloats(kernel, m, k, s.transposeA);
  for (const [from, to] of blocks(count, m * k + k * n + m * n)) {
    const [aAt, bAt, cAt, scratch] = place(kernel, [(to - from) * m * k, (to - from) * k * n, (to - from) * m * n, scratchFloats]);
    copyIn(kernel, [[a.subarray(from * m * k, to * m * k), aAt], [b.subarray(from * k * n, to * k * n), bAt]]);
    kernel.batchedProduct(aAt, bAt, cAt, to - from, m, k, n, s.transposeA, s.transposeB, scratch, scratchFloats);
    out.set(view(kernel, cAt, (to - from) * m * n), from * m * n);
  }
}

/** batchedProductInto a fresh array. */
export function batchedProduct(a: Float32Array, b: Float32Array, s: BatchedProductShape): Float32Array {
  const out = new Float32Array(s.count * s.m * s.n);
  batchedProductInto(a, b, s, out);
  return out;
}

/**
 * out [a, c, b, d] = x [a, b, c, d] with its middle axes swapped, written into `out` (a heap view is fine). Goes
 * through in blocks of whole [c, d] slabs of x; each block's output is c runs of rows, copied to their places.
 */
export function swapMiddleAxesInto(x: Float32Array, [a, b, c, d]: [number, number, number, number], out: Float32Array): void {
  if (x.length !== a * b * c * d || out.length !== x.length) {
    throw new Error(`swapMiddleAxes: ${x.length} values in and ${out.length} out do not hold [${a}, ${b}, ${c}, ${d}]`);
  }
  const kernel = instance();
  if (x.length <= CHUNK_FLOATS) {
    const [xAt, outAt] = place(kernel, [x.length, x.length]);
    copyIn(kernel, [[x, xAt]]);
    kernel.swapMiddleAxes(xAt, outAt, a, b, c, d);
    out.set(view(kernel, outAt, x.length));
    return;
  }
  for (let i = 0; i < a; i++) {
    for (const [from, to] of blocks(b, c * d)) {
      const rows = to - from;
      const [xAt, outAt] = place(kernel, [rows * c * d, rows * c * d]);
      copyIn(kernel, [[x.subarray((i * b + from) * c * d, (i * b + to) * c * d), xAt]]);
      kernel.swapMiddleAxes(xAt, outAt, 1, rows, c, d);
      const block = view(kernel, outAt, rows * c * d);
      for (let l = 0; l < c; l++) out.set(block.subarray(l * rows * d, (l + 1) * rows * d), ((i * c + l) * b + from) * d);
    }
  }
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
