/**
 * The 128-bit SIMD kernels of simd/kernels.ts (LayerNorm, RMSNorm and GPT-2's GELU forward and backward, the Adam
 * step, Σ x², matrix products, attention's axis swap), two ways:
 * - on a WasmHeap (tfjs-wasm's memory): the module is instantiated on that memory and reads and writes tensors in
 *   place, so a kernel of ours on the wasm backend costs no copies (kernels.ts and fused.ts register them);
 * - on Float32Arrays, for the cpu backend and the optimizer: the module's own memory, inputs copied in and outputs
 *   copied out, in blocks.
 * Each thread instantiates its own copies on first use.
 *
 * The module imports its memory; tfjs-wasm's threaded build shares its memory between threads, which a module must
 * declare, so each variant is compiled twice: kernels.wasm / kernels-shared.wasm, and with relaxed SIMD (fused
 * multiply-add in the products) kernels-relaxed.wasm / kernels-relaxed-shared.wasm. `npm run build:simd` compiles
 * them from simd/kernels.ts; they are committed, and a unit test recompiles them and compares the bytes, so the
 * binaries cannot drift from their source. The bundle carries them as dist/simd-kernels*.wasm.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as v8 from 'v8';

interface SimdKernelExports {
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
  product(a: number, lda: number, b: number, ldb: number, c: number, m: number, k: number, n: number, transposeA: boolean, transposeB: boolean, accumulate: boolean, scratch: number, scratchFloats: number): void;
  batchedProduct(a: number, b: number, c: number, count: number, m: number, k: number, n: number, transposeA: boolean, transposeB: boolean, bStride: number, ldb: number, scratch: number, scratchFloats: number): void;
  swapMiddleAxes(x: number, out: number, a: number, b: number, c: number, d: number): void;
  copyBlocks(from: number, fromStride: number, to: number, toStride: number, count: number, floats: number): void;
}

/** The two builds of simd/kernels.ts: with relaxed SIMD (fused multiply-add), or 128-bit SIMD alone. */
export type SimdVariant = 'relaxed-simd' | 'simd';

const FILE_STEMS: Record<SimdVariant, string> = { 'relaxed-simd': 'kernels-relaxed', simd: 'kernels' };

/**
 * Where a compiled module is: next to the bundle (simd-<stem>.wasm), else beside its source (running from src/ under
 * tsx). `shared`: the build that imports a shared memory (tfjs-wasm's threaded build).
 */
export function simdModulePath(variant: SimdVariant = 'simd', shared = false): string {
  const file = `${FILE_STEMS[variant]}${shared ? '-shared' : ''}.wasm`;
  const candidates = [path.join(__dirname, `simd-${file}`), path.join(__dirname, 'simd', file)];
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

let loadedVariant: SimdVariant | null = null;
let requestedVariant: SimdVariant | 'auto' = 'auto';
/** Compiled modules by sharedness, of loadedVariant. */
const modules = new Map<boolean, WebAssembly.Module>();

/** The build this thread runs (chosen on first call): relaxed SIMD where the runtime has it, unless set otherwise. */
export function simdVariant(): SimdVariant {
  if (loadedVariant) return loadedVariant;
  const runs = relaxedSimdRuns(new Uint8Array(fs.readFileSync(simdModulePath('relaxed-simd'))));
  if (requestedVariant === 'relaxed-simd' && !runs) throw new Error('this runtime does not run relaxed SIMD (WebAssembly); use the "simd" build');
  loadedVariant = requestedVariant === 'auto' ? (runs ? 'relaxed-simd' : 'simd') : requestedVariant;
  return loadedVariant;
}

/** The kernels instantiated on `memory` (shared or not, as it is). */
function instantiate(memory: WebAssembly.Memory): SimdKernelExports {
  const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
  let module = modules.get(shared);
  if (!module) {
    module = new WebAssembly.Module(new Uint8Array(fs.readFileSync(simdModulePath(simdVariant(), shared))));
    modules.set(shared, module);
  }
  return new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as SimdKernelExports;
}

/** The module on its own memory (the Float32Array functions). */
let own: { kernels: SimdKernelExports; memory: WebAssembly.Memory } | null = null;

function instance(): SimdKernelExports {
  if (own) return own.kernels;
  const memory = new WebAssembly.Memory({ initial: 1 });
  own = { kernels: instantiate(memory), memory };
  return own.kernels;
}

function ownMemory(): WebAssembly.Memory {
  instance();
  return own!.memory;
}

/** The module on a WasmHeap's memory, one instance per memory (a heap's memory object stays while it grows). */
let onHeaps = new WeakMap<WebAssembly.Memory, SimdKernelExports>();

function heapInstance(heap: WasmHeap): SimdKernelExports {
  let kernels = onHeaps.get(heap.memory);
  if (!kernels) {
    kernels = instantiate(heap.memory);
    onHeaps.set(heap.memory, kernels);
  }
  return kernels;
}

/**
 * Runs this thread's kernels from one build from now on ("auto": relaxed SIMD where the runtime has it), so tests
 * and benchmarks can compare the two. The next call loads it afresh.
 */
export function setSimdVariant(choice: SimdVariant | 'auto'): void {
  requestedVariant = choice;
  loadedVariant = null;
  modules.clear();
  own = null;
  onHeaps = new WeakMap();
}

/**
 * A wasm memory whose arrays the kernels read and write in place (tfjs-wasm's heap): its memory, and its allocator
 * for the kernels' scratch space. Offsets are in bytes.
 */
export interface WasmHeap {
  memory: WebAssembly.Memory;
  malloc(bytes: number): number;
  free(offset: number): void;
}

/** Runs `body` with `floats` floats of scratch from the heap, freed after. */
function withScratch<T>(heap: WasmHeap, floats: number, body: (at: number) => T): T {
  const at = heap.malloc(floats * 4);
  if (!at) throw new Error(`the wasm heap could not allocate ${floats * 4} bytes of scratch for a kernel`);
  try {
    return body(at);
  } finally {
    heap.free(at);
  }
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
  // Above the bytes AssemblyScript keeps for itself.
  let end = Math.ceil(k.heapBase() / ALIGN) * ALIGN;
  for (const n of lengths) {
    offsets.push(end);
    end += Math.ceil((n * 4) / ALIGN) * ALIGN;
  }
  const memory = ownMemory();
  const missing = end - memory.buffer.byteLength;
  if (missing > 0) memory.grow(Math.ceil(missing / PAGE_BYTES));
  return offsets;
}

/** Copies arrays in at their offsets (the view is made after any growth, which detaches older views). */
function copyIn(pairs: [Float32Array, number][]): void {
  const heap = new Float32Array(ownMemory().buffer);
  for (const [values, offset] of pairs) heap.set(values, offset / 4);
}

/** n floats at a byte offset of the module's memory: copy them out before the next kernel call reuses it. */
function view(offset: number, n: number): Float32Array {
  return new Float32Array(ownMemory().buffer, offset, n);
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
    copyIn([[x.subarray(from * d, to * d), xAt], [w, wAt], [b, bAt]]);
    k.layerNormForward(xAt, wAt, bAt, outAt, to - from, d, eps);
    out.set(view(outAt, n), from * d);
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
    copyIn([[dy.subarray(from * d, to * d), dyAt], [x.subarray(from * d, to * d), xAt], [w, wAt]]);
    k.layerNormBackward(dyAt, xAt, wAt, dxAt, dwAt, dbAt, scratchAt, to - from, d, eps);
    dx.set(view(dxAt, n), from * d);
    addInto(dw, view(dwAt, d));
    addInto(db, view(dbAt, d));
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
    copyIn([[x.subarray(from * d, to * d), xAt], [w, wAt]]);
    k.rmsNormForward(xAt, wAt, outAt, to - from, d, eps);
    out.set(view(outAt, n), from * d);
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
    copyIn([[dy.subarray(from * d, to * d), dyAt], [x.subarray(from * d, to * d), xAt], [w, wAt]]);
    k.rmsNormBackward(dyAt, xAt, wAt, dxAt, dwAt, to - from, d, eps);
    dx.set(view(dxAt, n), from * d);
    addInto(dw, view(dwAt, d));
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
    copyIn([[weight.subarray(from, to), wAt], [grad.subarray(from, to), gAt], [m.subarray(from, to), mAt], [v.subarray(from, to), vAt]]);
    k.adamStep(wAt, gAt, mAt, vAt, to - from, s.gradScale, s.beta1, 1 - s.beta1, s.beta2, 1 - s.beta2, s.stepSize, s.inverse2, s.epsilon, s.decay);
    out.weight.set(view(wAt, to - from), from);
    out.m.set(view(mAt, to - from), from);
    out.v.set(view(vAt, to - from), from);
  }
  return out;
}

/**
 * One Adam step in place on the heap: the new weight and moments into wOut, mOut, vOut (byte offsets of n floats
 * each; w, grad, m and v only read). The kernel updates its arrays in place, so the old values are copied to the
 * outputs first (a memmove inside the heap).
 */
export function adamStepOnHeap(heap: WasmHeap, at: { w: number; grad: number; m: number; v: number; wOut: number; mOut: number; vOut: number }, n: number, s: AdamKernelScalars): void {
  const bytes = new Uint8Array(heap.memory.buffer);
  for (const [from, to] of [[at.w, at.wOut], [at.m, at.mOut], [at.v, at.vOut]]) bytes.copyWithin(to, from, from + 4 * n);
  heapInstance(heap).adamStep(at.wOut, at.grad, at.mOut, at.vOut, n, s.gradScale, s.beta1, 1 - s.beta1, s.beta2, 1 - s.beta2, s.stepSize, s.inverse2, s.epsilon, s.decay);
}

/** Σ x² of n floats at a byte offset of the heap, accumulated in float64. */
export function sumOfSquaresOnHeap(heap: WasmHeap, at: number, n: number): number {
  return heapInstance(heap).sumOfSquares(at, n);
}

/** Σ x², accumulated in float64. */
export function sumOfSquares(x: Float32Array): number {
  const k = instance();
  let total = 0;
  for (const [from, to] of blocks(x.length, 1)) {
    const [at] = place(k, [to - from]);
    copyIn([[x.subarray(from, to), at]]);
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
  /** Floats from one stored row of b to the next (default: contiguous, k with transposeB, else n). */
  ldb?: number;
}

/** count × ([m, k] · [k, n]), a[i] and b[i] stored as in ProductShape. */
export interface BatchedProductShape extends ProductShape {
  count: number;
  /** Floats from b[i] to b[i + 1] (default: k·n, one contiguous matrix after the other). */
  bStride?: number;
}

/** Floats between stored rows of b: as given, else those of a contiguous matrix. */
function rowsOfB(s: ProductShape): number {
  return s.ldb ?? (s.transposeB ? s.k : s.n);
}

/**
 * Depth of the tiles a product's sums go through: each value is the same multiply-adds in the same order for a given
 * k, whatever m and n, so sampling in fewer rows, or a batch split to fit in memory, gives the same numbers.
 */
const PRODUCT_TILE = 1024;
/** op(b) is packed ~256 KiB at a time (an L2 cache's share). */
const PACKED_FLOATS = 1 << 16;
/** A transposed a is packed (see simd/kernels.ts) in blocks of rows of at most 4 MiB. */
const PACKED_A_FLOATS = 1 << 20;

function productScratchFloats(kernel: SimdKernelExports, m: number, k: number, transposeA: boolean): number {
  return kernel.productScratch(m, k, Math.max(8, Math.floor(PACKED_FLOATS / k)), transposeA);
}

/** Byte offsets on a WasmHeap of a product's operands a and b and its result c. */
export interface ProductOperands {
  a: number;
  b: number;
  c: number;
}

/** c [m, n] = 0 for a product with k = 0 (an empty sum); true when there is nothing else to compute. */
function emptyProduct(heap: WasmHeap, c: number, s: ProductShape, count = 1): boolean {
  if (s.k === 0) new Float32Array(heap.memory.buffer, c, count * s.m * s.n).fill(0);
  return s.k === 0 || s.m === 0 || s.n === 0;
}

/**
 * c = op(a) · op(b) in place on the heap (c [m, n] written whole; a and b, stored as ProductShape says, only read).
 * k is summed in depth tiles of PRODUCT_TILE steps (accumulated in c); a transposed a goes through in blocks of rows.
 */
export function productOnHeap(heap: WasmHeap, at: ProductOperands, s: ProductShape): void {
  if (emptyProduct(heap, at.c, s)) return;
  const { m, k, n, transposeA, transposeB } = s;
  const kernel = heapInstance(heap);
  const depth = Math.min(k, PRODUCT_TILE);
  const height = transposeA ? Math.min(m, Math.max(4, Math.floor(PACKED_A_FLOATS / depth / 4) * 4)) : m;
  const scratchFloats = productScratchFloats(kernel, height, depth, transposeA);
  // Stored rows of a are k apart (a transposed a's m).
  const lda = transposeA ? m : k;
  const ldb = rowsOfB(s);
  withScratch(heap, scratchFloats, (scratch) => {
    for (let m0 = 0; m0 < m; m0 += height) {
      const rows = Math.min(height, m - m0);
      for (let p0 = 0; p0 < k; p0 += depth) {
        const a = at.a + 4 * (transposeA ? p0 * m + m0 : m0 * k + p0);
        const b = at.b + 4 * (transposeB ? p0 : p0 * ldb);
        kernel.product(a, lda, b, ldb, at.c + 4 * m0 * n, rows, Math.min(depth, k - p0), n, transposeA, transposeB, p0 > 0, scratch, scratchFloats);
      }
    }
  });
}

/**
 * c[i] = op(a[i]) · op(b[i]) for i < count in place on the heap: a [count, …] and b [count, …] stored as in
 * BatchedProductShape, c [count, m, n]. Products deeper than PRODUCT_TILE (or with a large transposed a) go one by one
 * through productOnHeap, so that they add up as there.
 */
export function batchedProductOnHeap(heap: WasmHeap, at: ProductOperands, s: BatchedProductShape): void {
  const { count, m, k, n, transposeA, transposeB } = s;
  if (emptyProduct(heap, at.c, s, count)) return;
  const bStride = s.bStride ?? k * n;
  if (k > PRODUCT_TILE || (transposeA && m * k > PACKED_A_FLOATS)) {
    for (let i = 0; i < count; i++) productOnHeap(heap, { a: at.a + 4 * i * m * k, b: at.b + 4 * i * bStride, c: at.c + 4 * i * m * n }, s);
    return;
  }
  const kernel = heapInstance(heap);
  const scratchFloats = productScratchFloats(kernel, m, k, transposeA);
  withScratch(heap, scratchFloats, (scratch) => kernel.batchedProduct(at.a, at.b, at.c, count, m, k, n, transposeA, transposeB, bStride, rowsOfB(s), scratch, scratchFloats));
}

/** out [a, c, b, d] = x [a, b, c, d] with its middle axes swapped, in place on the heap (byte offsets). */
export function swapMiddleAxesOnHeap(heap: WasmHeap, x: number, out: number, [a, b, c, d]: [number, number, number, number]): void {
  heapInstance(heap).swapMiddleAxes(x, out, a, b, c, d);
}

/** `count` blocks of `floats` values from byte offset `from` to `to` on the heap, `fromStride` / `toStride` floats apart. */
export function copyBlocksOnHeap(heap: WasmHeap, from: { at: number; stride: number }, to: { at: number; stride: number }, count: number, floats: number): void {
  heapInstance(heap).copyBlocks(from.at, from.stride, to.at, to.stride, count, floats);
}

/** LayerNorm of x [rows, d] into out on the heap (byte offsets; see layerNormRows). */
export function layerNormOnHeap(heap: WasmHeap, at: { x: number; w: number; b: number; out: number }, rows: number, d: number, eps: number): void {
  heapInstance(heap).layerNormForward(at.x, at.w, at.b, at.out, rows, d, eps);
}

/** LayerNorm's gradients dx [rows, d], dw [d], db [d] from dy on the heap (see layerNormRowsBackward). */
export function layerNormBackwardOnHeap(heap: WasmHeap, at: { dy: number; x: number; w: number; dx: number; dw: number; db: number }, rows: number, d: number, eps: number): void {
  const kernel = heapInstance(heap);
  withScratch(heap, d, (xhat) => kernel.layerNormBackward(at.dy, at.x, at.w, at.dx, at.dw, at.db, xhat, rows, d, eps));
}

/** RMSNorm of x [rows, d] into out on the heap (see rmsNormRows). */
export function rmsNormOnHeap(heap: WasmHeap, at: { x: number; w: number; out: number }, rows: number, d: number, eps: number): void {
  heapInstance(heap).rmsNormForward(at.x, at.w, at.out, rows, d, eps);
}

/** RMSNorm's gradients dx [rows, d], dw [d] from dy on the heap (see rmsNormRowsBackward). */
export function rmsNormBackwardOnHeap(heap: WasmHeap, at: { dy: number; x: number; w: number; dx: number; dw: number }, rows: number, d: number, eps: number): void {
  heapInstance(heap).rmsNormBackward(at.dy, at.x, at.w, at.dx, at.dw, rows, d, eps);
}

/** gelu_new of n values into out on the heap (see geluValues). */
export function geluOnHeap(heap: WasmHeap, at: { x: number; out: number }, n: number): void {
  heapInstance(heap).geluForward(at.x, at.out, n);
}

/** dy · gelu_new′(x) of n values into dx on the heap (see geluGradient). */
export function geluBackwardOnHeap(heap: WasmHeap, at: { dy: number; x: number; dx: number }, n: number): void {
  heapInstance(heap).geluBackward(at.dy, at.x, at.dx, n);
}

/** GPT-2's "gelu_new", x·σ(2z) with z = √(2/π)·(x + 0.044715·x³) (= 0.5·x·(1 + tanh z)), element-wise. */
export function geluValues(x: Float32Array): Float32Array {
  const kernel = instance();
  const out = new Float32Array(x.length);
  for (const [from, to] of blocks(x.length, 1)) {
    const [xAt, outAt] = place(kernel, [to - from, to - from]);
    copyIn([[x.subarray(from, to), xAt]]);
    kernel.geluForward(xAt, outAt, to - from);
    out.set(view(outAt, to - from), from);
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
    copyIn([[dy.subarray(from, to), dyAt], [x.subarray(from, to), xAt]]);
    kernel.geluBackward(dyAt, xAt, dxAt, to - from);
    dx.set(view(dxAt, to - from), from);
  }
  return dx;
}
