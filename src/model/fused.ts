/**
 * Fused row-wise and element-wise kernels for the backends whose tensors live in host memory (wasm, cpu).
 *
 * Built from tfjs ops, a LayerNorm is ~8 kernels forward and ~20 backward, several of them broadcasts that wasm
 * runs without SIMD. Here each is one SIMD pass over the rows (simdKernels.ts), forward and backward (the backward
 * recomputes the row statistics instead of saving them). On wasm each is a kernel of the backend that reads and
 * writes tensors in place on its heap (wasmHeap.ts); on cpu the values are copied through simdKernels' own memory.
 * Other backends keep the tfjs-op versions in layers.ts, which these match to float rounding (tested against finite
 * differences and the op versions).
 */
import * as tf from '@tensorflow/tfjs-core';
import { tapeIsRecording } from './model';
import {
  geluBackwardOnHeap, geluGradient, geluOnHeap, geluValues, layerNormBackwardOnHeap, layerNormOnHeap, layerNormRows, layerNormRowsBackward,
  rmsNormBackwardOnHeap, rmsNormOnHeap, rmsNormRows, rmsNormRowsBackward,
} from './simdKernels';
import { onHostBackend, readInPlace, upstream } from './tensorIo';
import { heapOutput, offsetOf, onWasmHeap, registerOnWasm, runWasmKernel, WasmKernelArgs, wasmHeap } from './wasmHeap';

/** Inputs' byte offsets on the heap and the row shape [rows, d] of a row kernel's first input. */
function rowKernelArgs(args: WasmKernelArgs): { at: Record<string, number>; rows: number; d: number } {
  const at: Record<string, number> = {};
  for (const [name, t] of Object.entries(args.inputs)) at[name] = offsetOf(args.backend, t as tf.TensorInfo);
  const shape = (Object.values(args.inputs)[0] as tf.TensorInfo).shape;
  const d = shape[shape.length - 1] ?? 1;
  return { at, rows: d === 0 ? 0 : tf.util.sizeFromShape(shape) / d, d };
}

interface EpsAttrs {
  eps: number;
}

let rowKernelsRegistered = false;

/** The row kernels on wasm: forward [rows, d] → [rows, d]; backward → dx and the weights' gradients [d]. */
function registerRowKernels(): void {
  if (rowKernelsRegistered) return;
  rowKernelsRegistered = true;
  registerOnWasm('GrpoLayerNorm', (args) => {
    const { at, rows, d } = rowKernelArgs(args);
    const out = heapOutput(args.backend, [rows, d]);
    layerNormOnHeap(wasmHeap(args.backend), { x: at.x, w: at.weight, b: at.bias, out: out.at }, rows, d, (args.attrs as EpsAttrs).eps);
    return out.info;
  });
  registerOnWasm('GrpoLayerNormGrad', (args) => {
    const { at, rows, d } = rowKernelArgs(args);
    const [dx, dw, db] = [[rows, d], [d], [d]].map((shape) => heapOutput(args.backend, shape));
    layerNormBackwardOnHeap(wasmHeap(args.backend), { dy: at.dy, x: at.x, w: at.weight, dx: dx.at, dw: dw.at, db: db.at }, rows, d, (args.attrs as EpsAttrs).eps);
    return [dx.info, dw.info, db.info];
  });
  registerOnWasm('GrpoRmsNorm', (args) => {
    const { at, rows, d } = rowKernelArgs(args);
    const out = heapOutput(args.backend, [rows, d]);
    rmsNormOnHeap(wasmHeap(args.backend), { x: at.x, w: at.weight, out: out.at }, rows, d, (args.attrs as EpsAttrs).eps);
    return out.info;
  });
  registerOnWasm('GrpoRmsNormGrad', (args) => {
    const { at, rows, d } = rowKernelArgs(args);
    const [dx, dw] = [[rows, d], [d]].map((shape) => heapOutput(args.backend, shape));
    rmsNormBackwardOnHeap(wasmHeap(args.backend), { dy: at.dy, x: at.x, w: at.weight, dx: dx.at, dw: dw.at }, rows, d, (args.attrs as EpsAttrs).eps);
    return [dx.info, dw.info];
  });
  registerOnWasm('GrpoGelu', (args) => {
    const { at, rows, d } = rowKernelArgs(args);
    const out = heapOutput(args.backend, [rows, d]);
    geluOnHeap(wasmHeap(args.backend), { x: at.x, out: out.at }, rows * d);
    return out.info;
  });
  registerOnWasm('GrpoGeluGrad', (args) => {
    const { at, rows, d } = rowKernelArgs(args);
    const dx = heapOutput(args.backend, [rows, d]);
    geluBackwardOnHeap(wasmHeap(args.backend), { dy: at.dy, x: at.x, dx: dx.at }, rows * d);
    return dx.info;
  });
}

/** Whether the row kernels run in place on the wasm heap (registering them on first use). */
function rowKernelsOnWasm(...tensors: tf.Tensor[]): boolean {
  if (!onWasmHeap(...tensors)) return false;
  registerRowKernels();
  return true;
}

/** LayerNorm over the last axis of x [N, d]: (x − mean) / sqrt(var + eps) · weight + bias (biased variance). */
export function fusedLayerNorm(x: tf.Tensor2D, weight: tf.Tensor, bias: tf.Tensor, eps: number): tf.Tensor2D {
  const [N, d] = x.shape;
  const forward = (xt: tf.Tensor, wt: tf.Tensor, bt: tf.Tensor) => {
    if (rowKernelsOnWasm(xt, wt, bt)) return runWasmKernel('GrpoLayerNorm', { x: xt, weight: wt, bias: bt }, { eps }) as tf.Tensor2D;
    return tf.tensor2d(layerNormRows(readInPlace(xt), readInPlace(wt), readInPlace(bt), N, d, eps), [N, d]);
  };
  // Outside a tape the custom gradient's bookkeeping is all overhead (sampling calls this per token and layer).
  if (!tapeIsRecording()) return forward(x, weight, bias);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xt, wt, bt, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([xt, wt]);
    return {
      value: forward(xt, wt, bt),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => layerNormGrad(upstream(dy), saved[0], saved[1], N, d, eps),
    };
  });
  return op(x, weight, bias) as tf.Tensor2D;
}

/** With x̂ = (x − mean)·rstd and g = dy·weight: dx = rstd·(g − mean(g) − x̂·mean(g·x̂)), dweight = Σ_rows dy·x̂, dbias = Σ_rows dy. */
function layerNormGrad(dy: tf.Tensor, x: tf.Tensor, w: tf.Tensor, N: number, d: number, eps: number): tf.Tensor[] {
  if (rowKernelsOnWasm(dy, x, w)) return runWasmKernel('GrpoLayerNormGrad', { dy, x, weight: w }, { eps }) as tf.Tensor[];
  const { dx, dw, db } = layerNormRowsBackward(readInPlace(dy), readInPlace(x), readInPlace(w), N, d, eps);
  return [tf.tensor2d(dx, [N, d]), tf.tensor1d(dw), tf.tensor1d(db)];
}

/** RMSNorm over the last axis of x [N, d]: x / sqrt(mean(x²) + eps) · weight. */
export function fusedRmsNorm(x: tf.Tensor2D, weight: tf.Tensor, eps: number): tf.Tensor2D {
  const [N, d] = x.shape;
  const forward = (xt: tf.Tensor, wt: tf.Tensor) => {
    if (rowKernelsOnWasm(xt, wt)) return runWasmKernel('GrpoRmsNorm', { x: xt, weight: wt }, { eps }) as tf.Tensor2D;
    return tf.tensor2d(rmsNormRows(readInPlace(xt), readInPlace(wt), N, d, eps), [N, d]);
  };
  if (!tapeIsRecording()) return forward(x, weight);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xt, wt, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([xt, wt]);
    return {
      value: forward(xt, wt),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => rmsNormGrad(upstream(dy), saved[0], saved[1], N, d, eps),
    };
  });
  return op(x, weight) as tf.Tensor2D;
}

/** With r = 1/sqrt(mean(x²) + eps) and g = dy·weight: dx = r·g − r³·x·mean(g·x), dweight = Σ_rows dy·x·r. */
function rmsNormGrad(dy: tf.Tensor, x: tf.Tensor, w: tf.Tensor, N: number, d: number, eps: number): tf.Tensor[] {
  if (rowKernelsOnWasm(dy, x, w)) return runWasmKernel('GrpoRmsNormGrad', { dy, x, weight: w }, { eps }) as tf.Tensor[];
  const { dx, dw } = rmsNormRowsBackward(readInPlace(dy), readInPlace(x), readInPlace(w), N, d, eps);
  return [tf.tensor2d(dx, [N, d]), tf.tensor1d(dw)];
}

/**
 * GPT-2's "gelu_new" element-wise: ~7 kernels forward and ~9 backward as tfjs ops (layers.ts geluNewOps), one SIMD
 * pass each here. Only x is saved; the backward recomputes the gate.
 */
export function fusedGeluNew(x: tf.Tensor2D): tf.Tensor2D {
  const [rows, cols] = x.shape;
  const forward = (xt: tf.Tensor) => {
    if (rowKernelsOnWasm(xt)) return runWasmKernel('GrpoGelu', { x: xt }) as tf.Tensor2D;
    return tf.tensor2d(geluValues(readInPlace(xt)), [rows, cols]);
  };
  if (!tapeIsRecording()) return forward(x);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xt, save] = args as [tf.Tensor, tf.GradSaveFunc];
    save([xt]);
    return {
      value: forward(xt),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => [geluGrad(upstream(dy), saved[0], rows, cols)],
    };
  });
  return op(x) as tf.Tensor2D;
}

function geluGrad(dy: tf.Tensor, x: tf.Tensor, rows: number, cols: number): tf.Tensor {
  if (rowKernelsOnWasm(dy, x)) return runWasmKernel('GrpoGeluGrad', { dy, x }) as tf.Tensor;
  return tf.tensor2d(geluGradient(readInPlace(dy), readInPlace(x)), [rows, cols]);
}

/**
 * logp[n, targets[n]] for each row n of logp [N, V] → [N]. A one-hot product would build an N × V matrix and
 * multiply through it (600 MB for 1 k tokens of a 150 k vocabulary); a gather reads N values. tf.gather's gradient
 * needs UnsortedSegmentSum, which wasm lacks, so on the host backends the gradient scatters dy into the dense
 * [N, V] gradient directly.
 */
export function pickTargets(logp: tf.Tensor2D, targets: Int32Array): tf.Tensor1D {
  const [N, V] = logp.shape;
  const flatIndex = Int32Array.from(targets, (target, n) => n * V + target);
  const gather = (x: tf.Tensor) => tf.gather(tf.reshape(x, [N * V]), tf.tensor1d(flatIndex, 'int32')) as tf.Tensor1D;
  if (!onHostBackend()) return gather(logp);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: gather(args[0] as tf.Tensor),
    gradFunc: (dy: tf.Tensor | tf.Tensor[]) => {
      const picked = readInPlace(upstream(dy));
      const grad = new Float32Array(N * V);
      for (let n = 0; n < N; n++) grad[flatIndex[n]] = picked[n];
      return tf.tensor2d(grad, [N, V]);
    },
  }));
  return op(logp) as tf.Tensor1D;
}
