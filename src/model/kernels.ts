/**
 * Gradients that make training fast and possible on the wasm backend. Registered once, on first import.
 *
 * - BatchMatMul: the stock gradient multiplies with `transposeA/B` flags, which the wasm kernel runs 10–27× slower
 *   than an explicit transpose followed by a plain product. This replacement transposes first (same values).
 * - Row lookup (`embeddingLookup`): `tf.gather`'s gradient needs `UnsortedSegmentSum`, which wasm lacks. The
 *   custom gradient below scatter-adds the incoming rows on the host instead of multiplying by a one-hot matrix,
 *   which would cost tokens × vocabulary × width; the forward copies rows on the host too (faster than GatherV2).
 * - Matrix products (`matMul`: projections, attention, the head): see productWasm.
 * - Identity and same-type Cast on wasm share the data instead of copying it: see registerSharedIdentityWasm.
 * - Attention's [B, T, H, hd] ↔ [B, H, T, hd] transposes (`swapMiddleAxes`): whole rows moved by SIMD.
 */
import * as tf from '@tensorflow/tfjs-core';
// tfjs's own gradients first: a gradient registered later replaces one registered before (BatchMatMul's, below).
import '@tensorflow/tfjs-core/dist/register_all_gradients';
// The wasm backend's kernels, before registerSharedIdentityWasm replaces two of them.
import '@tensorflow/tfjs-backend-wasm';
import { batchedProductOnHeap, copyBlocksOnHeap, productOnHeap, swapMiddleAxesOnHeap } from './simdKernels';
import { onHostBackend, readInPlace, upstream } from './tensorIo';
import { heapOutput, offsetOf, onWasmHeap, registerOnWasm, runWasmKernel, WasmKernelArgs, wasmHeap } from './wasmHeap';

/** Swaps the last two axes (the "transpose" of a batch of matrices). */
function transposeLast2(x: tf.Tensor): tf.Tensor {
  const perm = x.shape.map((_, i) => i);
  const r = perm.length;
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  return tf.transpose(x, perm);
}

function product(a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean): tf.Tensor {
  return tf.matMul(transposeA ? transposeLast2(a) : a, transposeB ? transposeLast2(b) : b);
}

let registered = false;

function registerModelKernels(): void {
  if (registered) return;
  registered = true;
  tf.registerGradient({
    kernelName: tf.BatchMatMul,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved, attrs) => {
      const [a, b] = saved;
      const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
      const g = upstream(dy);
      // Same four cases as tfjs-core's gradient, with every flag replaced by an explicit transpose.
      if (!transposeA && !transposeB) return { a: () => product(g, b, false, true), b: () => product(a, g, true, false) };
      if (!transposeA && transposeB) return { a: () => product(g, b, false, false), b: () => product(g, a, true, false) };
      if (transposeA && !transposeB) return { a: () => product(b, g, false, true), b: () => product(a, g, false, false) };
      return { a: () => product(b, g, true, true), b: () => product(g, a, true, true) };
    },
  });
}
registerModelKernels();

/** The part of the wasm backend a data-sharing kernel needs: reference counts on tensor data. */
interface RefCountingBackend {
  incRef(dataId: object): void;
}

/**
 * Recording a kernel for the backward pass clones each tensor it saves (tfjs's engine runs `Identity`), and every
 * gradient of `mul` casts its operand to float32. wasm's Identity and Cast copy the data each time: ~30 copies of
 * every activation per training step. Tensors are immutable, so sharing the data (reference-counted, as wasm's
 * Reshape and the cpu backend's Identity already do) gives the same results without the copies.
 */
function registerSharedIdentityWasm(): void {
  const originalCast = tf.getKernel(tf.Cast, 'wasm');
  if (!originalCast) return;
  const share = (x: tf.TensorInfo, backend: unknown): tf.TensorInfo => {
    (backend as RefCountingBackend).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
  const identity: tf.KernelFunc = ({ inputs, backend }) => share(inputs.x as tf.TensorInfo, backend);
  const cast: tf.KernelFunc = (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    return x.dtype === (args.attrs as unknown as tf.CastAttrs).dtype ? share(x, args.backend) : originalCast.kernelFunc(args);
  };
  for (const [kernelName, kernelFunc] of [[tf.Identity, identity], [tf.Cast, cast]] as const) {
    tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
  }
}
registerSharedIdentityWasm();

/** wasm's GatherV2 costs ~13 ms for 2 k rows of 128; copying the rows on the host costs well under 1 ms. */
function gatherRowsOnHost(table: tf.Tensor, ids: tf.Tensor): tf.Tensor {
  const width = table.shape[1]!;
  // The ids first: a view into the heap is only valid until something else allocates there.
  const indices = ids.dataSync();
  const values = readInPlace(table);
  const rows = new Float32Array(indices.length * width);
  for (let n = 0; n < indices.length; n++) rows.set(values.subarray(indices[n] * width, (indices[n] + 1) * width), n * width);
  return tf.tensor(rows, [...ids.shape, width]);
}

/**
 * Rows of `table` [V, d] at `ids` (int32, any shape) → [...ids.shape, d], differentiable w.r.t. the table without
 * UnsortedSegmentSum.
 */
export function embeddingLookup(table: tf.Tensor2D, ids: tf.Tensor): tf.Tensor {
  // A frozen table (a LoRA run's base) needs no gradient: without the custom gradient the backward pass does not
  // build the dense [vocab, width] table gradient (150 MB for GPT-2's) only to drop it.
  if (table instanceof tf.Variable && !table.trainable) return onHostBackend() ? gatherRowsOnHost(table, ids) : tf.gather(table, ids);
  const [vocab, width] = table.shape;
  const lookup = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [t, i, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([i]);
    return {
      value: onHostBackend() ? gatherRowsOnHost(t, i) : tf.gather(t, i),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const g = upstream(dy);
        // GPU backends have UnsortedSegmentSum, and webgpu cannot read tensors synchronously under Node.
        if (!onHostBackend()) {
          return [tf.unsortedSegmentSum(tf.reshape(g, [-1, width]), tf.reshape(saved[0], [-1]), vocab), tf.zerosLike(saved[0])];
        }
        const indices = saved[0].dataSync();
        const rows = readInPlace(g);
        const grad = new Float32Array(vocab * width);
        for (let n = 0; n < indices.length; n++) {
          const dst = indices[n] * width;
          const src = n * width;
          for (let k = 0; k < width; k++) grad[dst + k] += rows[src + k];
        }
        return [tf.tensor2d(grad, [vocab, width]), tf.zerosLike(saved[0])];
      },
    };
  });
  return lookup(table, ids);
}

const PRODUCT = 'GrpoProduct';

interface ProductAttrs {
  transposeA: boolean;
  transposeB: boolean;
}

/**
 * op(a) · op(b) on wasm, for matrices [m, k] · [k, n] or batches [N, m, k] · [N, k, n], each operand optionally stored
 * transposed (read in place: no transpose kernel), the result written in place on the heap. simdKernels' product runs
 * at ~25–40 GFLOP/s on one thread (relaxed SIMD's fused multiply-add where the runtime has it), where XNNPACK's
 * single-threaded product runs at ~20 and tfjs-wasm runs a batch of products through a plain loop (~2 GFLOP/s).
 */
function productWasm(args: WasmKernelArgs): tf.TensorInfo {
  const { backend } = args;
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = args.attrs as ProductAttrs;
  const batched = a.shape.length === 3;
  const [count, aRows, aCols] = batched ? a.shape : [1, ...a.shape];
  const [bRows, bCols] = b.shape.slice(-2);
  const m = transposeA ? aCols : aRows;
  const n = transposeB ? bRows : bCols;
  const out = heapOutput(backend, batched ? [count, m, n] : [m, n]);
  const shape = { count, m, k: transposeA ? aRows : aCols, n, transposeA, transposeB };
  const at = { a: offsetOf(backend, a), b: offsetOf(backend, b), c: out.at };
  if (batched) batchedProductOnHeap(wasmHeap(backend), at, shape);
  else productOnHeap(wasmHeap(backend), at, shape);
  return out.info;
}

/** tfjs-core's four cases of BatchMatMul's gradient, the transposes as flags of the product. */
const productGradient: Omit<tf.GradConfig, 'kernelName'> = {
  inputsToSave: ['a', 'b'],
  gradFunc: (dy, saved, attrs) => {
    const [a, b] = saved;
    const { transposeA, transposeB } = attrs as unknown as ProductAttrs;
    const g = upstream(dy);
    if (!transposeA && !transposeB) return { a: () => matMul(g, b, false, true), b: () => matMul(a, g, true, false) };
    if (!transposeA && transposeB) return { a: () => matMul(g, b, false, false), b: () => matMul(g, a, true, false) };
    if (transposeA && !transposeB) return { a: () => matMul(b, g, false, true), b: () => matMul(a, g, false, false) };
    return { a: () => matMul(b, g, true, true), b: () => matMul(g, a, true, true) };
  },
};

/** The part of the wasm backend that says how many threads XNNPACK's products run on. */
interface WasmThreadsBackend {
  wasm: { tfjs: { getThreadsCount(): number } };
}

/** The kernel of wasm's matrix products: simdKernels' product, or XNNPACK's. */
export type MatrixProducts = 'simd' | 'xnnpack';

let matrixProductsChoice: MatrixProducts | null = null;

/**
 * XNNPACK thread counts at which our one-thread product still wins: measured 2026-12-01 on 2 cores, the small train
 * step took 639 ms on one thread with ours against 849 ms with XNNPACK on two (base: 3,002 against 3,395 ms).
 */
const SIMD_PRODUCTS_UP_TO_THREADS = 2;

/**
 * The instance's kernel for matrix products: ours up to SIMD_PRODUCTS_UP_TO_THREADS XNNPACK threads, XNNPACK on a
 * larger pool, unless set by useMatrixProducts.
 */
export function matrixProducts(): MatrixProducts {
  if (matrixProductsChoice) return matrixProductsChoice;
  const threads = (tf.backend() as unknown as WasmThreadsBackend).wasm.tfjs.getThreadsCount();
  return threads <= SIMD_PRODUCTS_UP_TO_THREADS ? 'simd' : 'xnnpack';
}

/**
 * Fixes the kernel (null: by the thread count again). A data-parallel replica takes its main instance's, so both
 * halves of a batch, and the policy's and the reference's log-probs, come from the same arithmetic (the two kernels
 * round differently).
 */
export function useMatrixProducts(choice: MatrixProducts | null): void {
  matrixProductsChoice = choice;
}

/**
 * Whether a product takes simdKernels' product on wasm: a batch always (tfjs loops over a batch without XNNPACK's
 * pool), a matrix where matrixProducts() says so, for any number of rows: a row's values do not depend on the
 * others (simdKernels.productInto), so sampling in fewer rows or splitting a batch to fit gives the same numbers.
 */
function takesSimdProduct(rank: number): boolean {
  return rank === 3 || matrixProducts() === 'simd';
}

/**
 * op(a) · op(b), a [m, k] (stored [k, m] with `transposeA`) and b [k, n] (stored [n, k] with `transposeB`), or
 * batches of them [N, m, k] · [N, k, n]: simdKernels' product on wasm (see takesSimdProduct), tf.matMul elsewhere.
 */
export function matMul(a: tf.Tensor2D, b: tf.Tensor2D, transposeA?: boolean, transposeB?: boolean): tf.Tensor2D;
export function matMul(a: tf.Tensor3D, b: tf.Tensor3D, transposeA?: boolean, transposeB?: boolean): tf.Tensor3D;
export function matMul(a: tf.Tensor, b: tf.Tensor, transposeA?: boolean, transposeB?: boolean): tf.Tensor;
export function matMul(a: tf.Tensor, b: tf.Tensor, transposeA = false, transposeB = false): tf.Tensor {
  const rank = a.rank;
  if (rank !== b.rank || (rank !== 2 && rank !== 3)) throw new Error(`matMul: operands of rank ${a.rank} and ${b.rank}; both must be matrices or batches of them`);
  // Our kernel reads float32 values (the model's products all are).
  if (!onWasmHeap(a, b)) return tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D, transposeA, transposeB);
  if (!takesSimdProduct(rank)) return product(a, b, transposeA, transposeB);
  return simdMatMul(a, b, transposeA, transposeB);
}

/** matMul through simdKernels' product, whatever the shape or thread count (wasm only). */
export function simdMatMul(a: tf.Tensor, b: tf.Tensor, transposeA = false, transposeB = false): tf.Tensor {
  registerOnWasm(PRODUCT, productWasm, productGradient);
  return runWasmKernel(PRODUCT, { a, b }, { transposeA, transposeB }) as tf.Tensor;
}

const CACHED_PRODUCT = 'GrpoCachedProduct';

interface CachedProductAttrs {
  transposeB: boolean;
  length: number;
}

/** a [count, m, k] times the first `length` rows of each matrix of b [count, capacity, w] (see cachedMatMul). */
function cachedProductWasm(args: WasmKernelArgs): tf.TensorInfo {
  const { backend } = args;
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeB, length } = args.attrs as CachedProductAttrs;
  const [count, m, k] = a.shape;
  const [, capacity, w] = b.shape;
  const n = transposeB ? length : w;
  const out = heapOutput(backend, [count, m, n]);
  const shape = { count, m, k, n, transposeA: false, transposeB, bStride: capacity * w };
  batchedProductOnHeap(wasmHeap(backend), { a: offsetOf(backend, a), b: offsetOf(backend, b), c: out.at }, shape);
  return out.info;
}

/**
 * c[i] = a[i] · op(b[i] rows [0, length)) for i < count: a [count, m, k], b [count, capacity, w] whose first `length`
 * rows per matrix hold values (a KV cache with room for more tokens, layers.ts); op(·) transposes with `transposeB`
 * (k = w, n = length), else k = length, n = w. On wasm our product reads the rows in place, the same multiply-adds as
 * on a copy without the spare rows. No gradient: for sampling.
 */
export function cachedMatMul(a: tf.Tensor3D, b: tf.Tensor3D, length: number, transposeB: boolean): tf.Tensor3D {
  const [count, , k] = a.shape;
  const [bCount, capacity, w] = b.shape;
  if (bCount !== count || length > capacity || k !== (transposeB ? w : length)) {
    throw new Error(`cachedMatMul: a [${a.shape}] and ${length} rows of b [${b.shape}]${transposeB ? ' transposed' : ''} do not multiply`);
  }
  if (length === capacity) return matMul(a, b, false, transposeB);
  if (!onWasmHeap(a, b)) return matMul(a, tf.slice(b, [0, 0, 0], [count, length, w]), false, transposeB);
  registerOnWasm(CACHED_PRODUCT, cachedProductWasm);
  return runWasmKernel(CACHED_PRODUCT, { a, b }, { transposeB, length }) as tf.Tensor3D;
}

/**
 * Writes x [count, rows, w] into rows [at, at + rows) of each matrix of b [count, capacity, w] on the wasm heap: b's
 * values change, which tfjs's tensors otherwise never do. For a buffer that no other tensor shares and whose earlier
 * readers have run (wasm runs each op when it is called): a KV cache's, so that a decoded token costs a copy of its
 * own keys and values, not of the whole cache.
 */
export function writeRowsInPlace(b: tf.Tensor3D, x: tf.Tensor3D, at: number): void {
  const [count, capacity, w] = b.shape;
  const [xCount, rows, xw] = x.shape;
  if (xCount !== count || xw !== w || at < 0 || at + rows > capacity || !onWasmHeap(b, x)) {
    throw new Error(`writeRowsInPlace: x [${x.shape}] at row ${at} does not fit b [${b.shape}] on the wasm heap`);
  }
  const backend = tf.backend();
  const from = { at: offsetOf(backend, x), stride: rows * w };
  const to = { at: offsetOf(backend, b) + 4 * at * w, stride: capacity * w };
  copyBlocksOnHeap(wasmHeap(backend), from, to, count, rows * w);
}

const SWAP_MIDDLE_AXES = 'GrpoSwapMiddleAxes';

/**
 * [a, b, c, d] → [a, c, b, d] on wasm. tfjs-wasm's Transpose moves one value at a time (~3 ns each on this project's
 * machine: 26 ms of a small train step, 111 ms of a base one); this moves rows of d values with SIMD.
 */
function swapMiddleAxesWasm(args: WasmKernelArgs): tf.TensorInfo {
  const { backend } = args;
  const { x } = args.inputs as { x: tf.TensorInfo };
  const [a, b, c, d] = x.shape;
  const out = heapOutput(backend, [a, c, b, d]);
  swapMiddleAxesOnHeap(wasmHeap(backend), offsetOf(backend, x), out.at, [a, b, c, d]);
  return out.info;
}

/** x [a, b, c, d] → [a, c, b, d] (tf.transpose with perm [0, 2, 1, 3]; on wasm a SIMD copy of whole rows). */
export function swapMiddleAxes(x: tf.Tensor4D): tf.Tensor4D {
  if (!onWasmHeap(x)) return tf.transpose(x, [0, 2, 1, 3]);
  // The swap is its own inverse.
  registerOnWasm(SWAP_MIDDLE_AXES, swapMiddleAxesWasm, { gradFunc: (dy) => ({ x: () => swapMiddleAxes(upstream(dy) as tf.Tensor4D) }) });
  return runWasmKernel(SWAP_MIDDLE_AXES, { x }) as tf.Tensor4D;
}
