/**
 * Gradients that make training fast and possible on the wasm backend. Registered once, on first import.
 *
 * - BatchMatMul: the stock gradient multiplies with `transposeA/B` flags, which the wasm kernel runs 10–27× slower
 *   than an explicit transpose followed by a plain product. This replacement transposes first (same values).
 * - Row lookup (`embeddingLookup`): `tf.gather`'s gradient needs `UnsortedSegmentSum`, which wasm lacks. The
 *   custom gradient below scatter-adds the incoming rows on the host instead of multiplying by a one-hot matrix,
 *   which would cost tokens × vocabulary × width; the forward copies rows on the host too (faster than GatherV2).
 * - Batched products (`batchMatMul`, for attention): see batchedProductWasm.
 * - Identity and same-type Cast on wasm share the data instead of copying it: see registerSharedIdentityWasm.
 */
import * as tf from '@tensorflow/tfjs-core';
import '../worker/backend';
import { batchedProductInto } from './simdKernels';
import { onHostBackend, readInPlace, upstream } from './tensorIo';

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

/** The part of tfjs-backend-wasm that a kernel writing its output from the host uses (stable across 4.x). */
interface HostOutputBackend {
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
}

const BATCHED_PRODUCT = 'GrpoBatchedProduct';

interface BatchedProductAttrs {
  transposeA: boolean;
  transposeB: boolean;
}

/**
 * [N, m, k] · [N, k, n] → [N, m, n] on wasm, each operand optionally stored transposed. tfjs-wasm runs a product
 * with a batch dimension through a plain loop (~2 GFLOP/s), and one XNNPACK call per product costs more in operator
 * setup than attention's 64 × 32 × 64 products take; simdKernels' batched product runs them at ~25 GFLOP/s on one
 * thread, and reads transposed operands without a transpose kernel.
 */
function batchedProductWasm(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs: unknown }): tf.TensorInfo {
  const backend = args.backend as HostOutputBackend;
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = args.attrs as BatchedProductAttrs;
  const [count, aRows, aCols] = a.shape;
  const [, bRows, bCols] = b.shape;
  const m = transposeA ? aCols : aRows;
  const n = transposeB ? bRows : bCols;
  // The output first: allocating on the heap may move it, so the views of a, b and out are taken after.
  const out = backend.makeOutput([count, m, n], 'float32');
  const shape = { count, m, k: transposeA ? aRows : aCols, n, transposeA, transposeB };
  batchedProductInto(backend.typedArrayFromHeap(a), backend.typedArrayFromHeap(b), shape, backend.typedArrayFromHeap(out));
  return out;
}

let batchedRegistered = false;

function registerBatchedProduct(): void {
  if (batchedRegistered) return;
  batchedRegistered = true;
  tf.registerKernel({ kernelName: BATCHED_PRODUCT, backendName: 'wasm', kernelFunc: batchedProductWasm as unknown as tf.KernelFunc });
  tf.registerGradient({
    kernelName: BATCHED_PRODUCT,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved, attrs) => {
      const [a, b] = saved;
      const { transposeA, transposeB } = attrs as unknown as BatchedProductAttrs;
      const g = upstream(dy);
      // tfjs-core's four cases of BatchMatMul's gradient, the transposes as flags of the product.
      if (!transposeA && !transposeB) return { a: () => batchMatMul(g, b, false, true), b: () => batchMatMul(a, g, true, false) };
      if (!transposeA && transposeB) return { a: () => batchMatMul(g, b, false, false), b: () => batchMatMul(g, a, true, false) };
      if (transposeA && !transposeB) return { a: () => batchMatMul(b, g, false, true), b: () => batchMatMul(a, g, false, false) };
      return { a: () => batchMatMul(b, g, true, true), b: () => batchMatMul(g, a, true, true) };
    },
  });
}

/**
 * Batched product op(a) · op(b), a [N, m, k] (stored [N, k, m] with `transposeA`), b [N, k, n] (stored [N, n, k]
 * with `transposeB`): fast on wasm; tf.matMul elsewhere.
 */
export function batchMatMul(a: tf.Tensor, b: tf.Tensor, transposeA = false, transposeB = false): tf.Tensor3D {
  if (tf.getBackend() !== 'wasm') return tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D, transposeA, transposeB);
  // One-row products (decoding) are as fast through the stock kernel, given plain layouts (see product()).
  if ((transposeA ? a.shape[2] : a.shape[1]) === 1) return product(a, b, transposeA, transposeB) as tf.Tensor3D;
  registerBatchedProduct();
  return tf.engine().runKernel(BATCHED_PRODUCT, { a, b }, { transposeA, transposeB } as unknown as tf.NamedAttrMap) as tf.Tensor3D;
}
