/**
 * Gradients that make training fast and possible on the wasm backend. Registered once, on first import.
 *
 * - BatchMatMul: the stock gradient multiplies with `transposeA/B` flags, which the wasm kernel runs 10–27× slower
 *   than an explicit transpose followed by a plain product. This replacement transposes first (same values).
 * - Row lookup (`embeddingLookup`): `tf.gather`'s gradient needs `UnsortedSegmentSum`, which wasm lacks. The
 *   custom gradient below scatter-adds the incoming rows on the host instead of multiplying by a one-hot matrix,
 *   which would cost tokens × vocabulary × width; the forward copies rows on the host too (faster than GatherV2).
 * - Batched products (`batchMatMul`, for attention): see slicedBatchMatMulWasm.
 * - Identity and same-type Cast on wasm share the data instead of copying it: see registerSharedIdentityWasm.
 */
import * as tf from '@tensorflow/tfjs-core';
import '../worker/backend';
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

/**
 * The part of tfjs-backend-wasm's internals that `slicedBatchMatMul` uses (stable across 4.x): tensors are
 * registered with the C++ side by integer id and heap offset, and kernels are called by id.
 */
interface WasmBackendInternals {
  wasm: {
    cwrap(name: string, ret: null, args: string[]): (...args: unknown[]) => void;
    tfjs: { registerTensor(id: number, size: number, offset: number): void; disposeData(id: number): void };
  };
  dataIdMap: { get(dataId: object): { id: number; memoryOffset: number } };
  dataIdNextNumber: number;
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
}

const SLICED_BATCH_MATMUL = 'GrpoSlicedBatchMatMul';
let wasmBatchMatMul: ((...args: unknown[]) => void) | null = null;

/**
 * [N, m, k] · [N, k, n] → [N, m, n] as N single products. The wasm kernel runs a product with a batch dimension
 * through a plain loop (~2 GFLOP/s) but a single one through XNNPACK (~30 GFLOP/s); attention is N = batch × heads
 * small products, so this kernel registers each slice of the operands as its own tensor (same heap memory, no
 * copy) and calls the single-product path N times.
 */
function slicedBatchMatMulWasm(args: { inputs: tf.NamedTensorInfoMap; backend: unknown }): tf.TensorInfo {
  const backend = args.backend as WasmBackendInternals;
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const [N, m, k] = a.shape;
  const n = b.shape[2];
  wasmBatchMatMul ??= backend.wasm.cwrap(tf.BatchMatMul, null, ['number', 'array', 'number', 'number', 'array', 'number', 'number', 'number', 'number']);
  const out = backend.makeOutput([N, m, n], 'float32');
  const offsets = [a, b, out].map((t) => backend.dataIdMap.get(t.dataId).memoryOffset);
  const aShape = new Uint8Array(new Int32Array([1, m, k]).buffer);
  const bShape = new Uint8Array(new Int32Array([1, k, n]).buffer);
  const ids = [0, 0, 0];
  for (let i = 0; i < N; i++) {
    [m * k, k * n, m * n].forEach((size, j) => {
      ids[j] = backend.dataIdNextNumber++;
      backend.wasm.tfjs.registerTensor(ids[j], size, offsets[j] + i * size * 4);
    });
    wasmBatchMatMul(ids[0], aShape, 3, ids[1], bShape, 3, false, false, ids[2]);
    // Unregisters the views only; the memory belongs to a, b and out.
    for (const id of ids) backend.wasm.tfjs.disposeData(id);
  }
  return out;
}

let slicedRegistered = false;

function registerSlicedBatchMatMul(): void {
  if (slicedRegistered) return;
  slicedRegistered = true;
  tf.registerKernel({ kernelName: SLICED_BATCH_MATMUL, backendName: 'wasm', kernelFunc: slicedBatchMatMulWasm as unknown as tf.KernelFunc });
  tf.registerGradient({
    kernelName: SLICED_BATCH_MATMUL,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved) => {
      const [a, b] = saved;
      const g = upstream(dy);
      return { a: () => batchMatMul(g, transposeLast2(b)), b: () => batchMatMul(transposeLast2(a), g) };
    },
  });
}

/** Batched product [N, m, k] · [N, k, n] (same N on both sides), fast on wasm; tf.matMul elsewhere. */
export function batchMatMul(a: tf.Tensor, b: tf.Tensor): tf.Tensor3D {
  // One-row products (decoding) are as fast through the stock kernel.
  if (tf.getBackend() !== 'wasm' || a.shape[1] === 1) return tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D);
  registerSlicedBatchMatMul();
  return tf.engine().runKernel(SLICED_BATCH_MATMUL, { a, b }, {}) as tf.Tensor3D;
}
