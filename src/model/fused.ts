/**
 * Fused row-wise and element-wise kernels for the backends whose tensors live in host memory (wasm, cpu).
 *
 * Built from tfjs ops, a LayerNorm is ~8 kernels forward and ~20 backward, several of them broadcasts that wasm
 * runs without SIMD. Here each is one SIMD pass over the rows (simdKernels.ts), forward and backward (the backward
 * recomputes the row statistics instead of saving them), reading the inputs in place. Other backends keep the
 * tfjs-op versions in layers.ts, which these match to float rounding (tested against finite differences and the op
 * versions).
 */
import * as tf from '@tensorflow/tfjs-core';
import { tapeIsRecording } from './model';
import { geluGradient, geluValues, layerNormRows, layerNormRowsBackward, rmsNormRows, rmsNormRowsBackward } from './simdKernels';
import { onHostBackend, readInPlace, upstream } from './tensorIo';

/** LayerNorm over the last axis of x [N, d]: (x − mean) / sqrt(var + eps) · weight + bias (biased variance). */
export function fusedLayerNorm(x: tf.Tensor2D, weight: tf.Tensor, bias: tf.Tensor, eps: number): tf.Tensor2D {
  const [N, d] = x.shape;
  const forward = (xt: tf.Tensor, wt: tf.Tensor, bt: tf.Tensor) => {
    const out = layerNormRows(readInPlace(xt), readInPlace(wt), readInPlace(bt), N, d, eps);
    return tf.tensor2d(out, [N, d]);
  };
  // Outside a tape the custom gradient's bookkeeping is all overhead (sampling calls this per token and layer).
  if (!tapeIsRecording()) return forward(x, weight, bias);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xt, wt, bt, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([xt, wt]);
    return {
      value: forward(xt, wt, bt),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => layerNormGrad(readInPlace(upstream(dy)), readInPlace(saved[0]), readInPlace(saved[1]), N, d, eps),
    };
  });
  return op(x, weight, bias) as tf.Tensor2D;
}

/** With x̂ = (x − mean)·rstd and g = dy·weight: dx = rstd·(g − mean(g) − x̂·mean(g·x̂)), dweight = Σ_rows dy·x̂, dbias = Σ_rows dy. */
function layerNormGrad(dy: Float32Array, xs: Float32Array, w: Float32Array, N: number, d: number, eps: number): tf.Tensor[] {
  const { dx, dw, db } = layerNormRowsBackward(dy, xs, w, N, d, eps);
  return [tf.tensor2d(dx, [N, d]), tf.tensor1d(dw), tf.tensor1d(db)];
}

/** RMSNorm over the last axis of x [N, d]: x / sqrt(mean(x²) + eps) · weight. */
export function fusedRmsNorm(x: tf.Tensor2D, weight: tf.Tensor, eps: number): tf.Tensor2D {
  const [N, d] = x.shape;
  const forward = (xt: tf.Tensor, wt: tf.Tensor) => {
    const out = rmsNormRows(readInPlace(xt), readInPlace(wt), N, d, eps);
    return tf.tensor2d(out, [N, d]);
  };
  if (!tapeIsRecording()) return forward(x, weight);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xt, wt, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([xt, wt]);
    return {
      value: forward(xt, wt),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => rmsNormGrad(readInPlace(upstream(dy)), readInPlace(saved[0]), readInPlace(saved[1]), N, d, eps),
    };
  });
  return op(x, weight) as tf.Tensor2D;
}

/** With r = 1/sqrt(mean(x²) + eps) and g = dy·weight: dx = r·g − r³·x·mean(g·x), dweight = Σ_rows dy·x·r. */
function rmsNormGrad(dy: Float32Array, xs: Float32Array, w: Float32Array, N: number, d: number, eps: number): tf.Tensor[] {
  const { dx, dw } = rmsNormRowsBackward(dy, xs, w, N, d, eps);
  return [tf.tensor2d(dx, [N, d]), tf.tensor1d(dw)];
}

/**
 * GPT-2's "gelu_new" element-wise: ~7 kernels forward and ~9 backward as tfjs ops (layers.ts geluNewOps), one SIMD
 * pass each here. Only x is saved; the backward recomputes the gate.
 */
export function fusedGeluNew(x: tf.Tensor2D): tf.Tensor2D {
  const [rows, cols] = x.shape;
  const forward = (xt: tf.Tensor) => tf.tensor2d(geluValues(readInPlace(xt)), [rows, cols]);
  if (!tapeIsRecording()) return forward(x);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xt, save] = args as [tf.Tensor, tf.GradSaveFunc];
    save([xt]);
    return {
      value: forward(xt),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => [tf.tensor2d(geluGradient(readInPlace(upstream(dy)), readInPlace(saved[0])), [rows, cols])],
    };
  });
  return op(x) as tf.Tensor2D;
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
