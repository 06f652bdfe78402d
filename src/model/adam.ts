/**
 * One Adam(W) update of one parameter, as a single pass over its elements, and the global gradient norm as one
 * pass over all gradients: for the backends whose tensors live in host memory (on wasm in place on its heap; on cpu
 * through Float32Arrays).
 *
 * Written with tfjs ops the update is ~15 kernels per parameter (plus two for its share of the norm), each with a
 * fresh allocation: ~900 kernel calls a small (d 128 × 4 layers) train step. Here it is one SIMD pass per parameter
 * (simdKernels.ts), which matches the op version to float32 rounding (tested against it and a float64 reference).
 */
import * as tf from '@tensorflow/tfjs-core';
import { adamStepOnHeap, AdamKernelScalars, adamStepRows, sumOfSquares, sumOfSquaresOnHeap } from './simdKernels';
import { heapOutput, offsetOf, registerOnWasm, runWasmKernel, WasmKernelArgs, wasmHeap } from './wasmHeap';

export interface AdamHyperparameters {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** Decoupled weight decay (AdamW); 0 for Adam. */
  weightDecay: number;
}

/** What one step multiplies the gradients by (clipping) and divides the moments by (bias correction). */
export interface AdamStepScalars {
  /** Global-norm clipping factor applied to the gradient (1 when not clipped). */
  gradScale: number;
  /** 1 − beta1^t, t the step being taken (1-based). */
  correction1: number;
  /** 1 − beta2^t. */
  correction2: number;
}

/** The new weight and moments of one parameter: fresh arrays of the parameter's size. */
export interface AdamResult {
  weight: Float32Array;
  firstMoment: Float32Array;
  secondMoment: Float32Array;
}

/**
 * torch.optim.Adam(W)'s update with the gradient `grad` (before clipping) of `weight`, given the moments `m`, `v`
 * of the previous step: g = grad·gradScale; m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²;
 * w ← w·(1 − lr·λ) − lr · (m / c1) / (√(v / c2) + ε), in float32 as torch computes it (the divisions by the
 * corrections folded into the step size and a product). The inputs are only read (they may be views of a wasm
 * heap). Throws when the four arrays differ in length.
 */
export function adamUpdate(weight: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, hyper: AdamHyperparameters, step: AdamStepScalars): AdamResult {
  const next = adamStepRows(weight, grad, m, v, kernelScalars(hyper, step));
  return { weight: next.weight, firstMoment: next.m, secondMoment: next.v };
}

function kernelScalars(hyper: AdamHyperparameters, step: AdamStepScalars): AdamKernelScalars {
  return {
    gradScale: step.gradScale,
    beta1: hyper.beta1,
    beta2: hyper.beta2,
    stepSize: hyper.learningRate / step.correction1,
    inverse2: 1 / step.correction2,
    epsilon: hyper.epsilon,
    decay: 1 - hyper.learningRate * hyper.weightDecay,
  };
}

const ADAM_STEP = 'GrpoAdamStep';

/** The new weight and moments of inputs w, g, m1, m2 (weight, gradient, moments) as three new tensors. */
function adamStepWasm({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo[] {
  const { w, g, m1, m2 } = inputs as Record<string, tf.TensorInfo>;
  const outputs = [w, m1, m2].map(() => heapOutput(backend, w.shape));
  const at = { w: offsetOf(backend, w), grad: offsetOf(backend, g), m: offsetOf(backend, m1), v: offsetOf(backend, m2), wOut: outputs[0].at, mOut: outputs[1].at, vOut: outputs[2].at };
  adamStepOnHeap(wasmHeap(backend), at, tf.util.sizeFromShape(w.shape), attrs as AdamKernelScalars);
  return outputs.map((o) => o.info);
}

/**
 * adamUpdate on the wasm backend, as a kernel that reads the float32 tensors and writes the new weight and moments
 * in place on its heap: [weight, firstMoment, secondMoment], new tensors of the weight's shape.
 */
export function adamUpdateOnWasm(weight: tf.Tensor, grad: tf.Tensor, m: tf.Tensor, v: tf.Tensor, hyper: AdamHyperparameters, step: AdamStepScalars): tf.Tensor[] {
  if (weight.size !== grad.size || weight.size !== m.size || weight.size !== v.size) {
    throw new Error(`adamUpdateOnWasm: weight, gradient and moments must have one size (got ${weight.size}, ${grad.size}, ${m.size}, ${v.size})`);
  }
  registerOnWasm(ADAM_STEP, adamStepWasm);
  return runWasmKernel(ADAM_STEP, { w: weight, g: grad, m1: m, m2: v }, kernelScalars(hyper, step)) as tf.Tensor[];
}

/** The largest finite float32. */
const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * √(Σ g²) over every element of every gradient, summed in float64; Infinity when Σ g² exceeds the float32 range, as
 * the float32 sum of the other backends overflows there (the trainer then skips the step on every backend alike).
 */
export function globalNorm(grads: readonly Float32Array[]): number {
  return normOfSquares(grads.reduce((total, g) => total + sumOfSquares(g), 0));
}

/** globalNorm of float32 tensors on the wasm backend, read in place on its heap. */
export function globalNormOnWasm(grads: readonly tf.Tensor[]): number {
  const backend = tf.backend();
  return normOfSquares(grads.reduce((total, g) => total + sumOfSquaresOnHeap(wasmHeap(backend), offsetOf(backend, g), g.size), 0));
}

function normOfSquares(squares: number): number {
  return squares > FLOAT32_MAX ? Infinity : Math.sqrt(squares);
}
