/**
 * Adam (AdamW) updates from tfjs ops, one parameter at a time or many at once.
 *
 * One parameter's update is ~15 kernels, whatever its size: a GPT-2 "small" step updates 52 parameters, 36 of them
 * vectors of 128–512 floats, in ~800 kernels (half the step's kernel calls), where the call costs more than the
 * arithmetic. On the host backends the parameters are therefore updated in groups: the group's gradients, moments
 * and weights laid end to end (copies on the host), one update of ~15 kernels over the whole vector, and the
 * results copied back out per parameter (wasm's Slice/SplitV would run element-wise loops). Every kernel is
 * element-wise, so each value is the one the per-parameter update computes, bit for bit. The gradient norm sums
 * the squares of each group's vector (2 kernels per group instead of per parameter). A group holds at most
 * GROUP_ELEMENTS floats, so that the copies never hold a second copy of a large model.
 */
import * as tf from '@tensorflow/tfjs-core';
import { readInPlace } from './tensorIo';

/** The constants of one step. */
export interface AdamScalars {
  /** Gradient clipping factor (1 without clipping). */
  scale: number;
  beta1: number;
  beta2: number;
  /** 1 − β₁^t and 1 − β₂^t. */
  correction1: number;
  correction2: number;
  epsilon: number;
  learningRate: number;
  /** Decoupled weight decay (AdamW), 0 for none. */
  weightDecay: number;
}

export interface AdamResult {
  m: tf.Tensor;
  v: tf.Tensor;
  w: tf.Tensor;
}

/** m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², w ← w·(1 − lr·wd) − lr·m̂ / (√v̂ + ε), with g the clipped gradient. */
export function adamUpdate(grad: tf.Tensor, m: tf.Tensor, v: tf.Tensor, w: tf.Tensor, s: AdamScalars): AdamResult {
  const g = tf.mul(grad, s.scale);
  const m1 = tf.add(tf.mul(m, s.beta1), tf.mul(g, 1 - s.beta1));
  const v1 = tf.add(tf.mul(v, s.beta2), tf.mul(tf.mul(g, g), 1 - s.beta2));
  const update = tf.div(tf.div(m1, s.correction1), tf.add(tf.sqrt(tf.div(v1, s.correction2)), s.epsilon));
  const decayed = s.weightDecay > 0 ? tf.mul(w, 1 - s.learningRate * s.weightDecay) : w;
  return { m: m1, v: v1, w: tf.sub(decayed, tf.mul(update, s.learningRate)) };
}

/** One parameter's state for a step. */
export interface AdamParameter {
  grad: tf.Tensor;
  m: tf.Variable;
  v: tf.Variable;
  w: tf.Variable;
}

/** Floats per group: 16 MiB per vector laid end to end. A larger parameter is updated on its own. */
export const GROUP_ELEMENTS = 2 ** 22;

/** Consecutive parameters, in order, in groups of at most `limit` elements (a larger one alone). */
export function adamGroups<T extends { size: number }>(parameters: T[], limit = GROUP_ELEMENTS): T[][] {
  const groups: T[][] = [];
  let current: T[] = [];
  let size = 0;
  for (const p of parameters) {
    if (current.length > 0 && size + p.size > limit) {
      groups.push(current);
      current = [];
      size = 0;
    }
    current.push(p);
    size += p.size;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

/**
 * Parameters updated together, and their gradients laid end to end (the one gradient of a group of one). Holds a
 * tensor of its own when the group has several parameters: dispose() it.
 */
export interface AdamGroup {
  parameters: AdamParameter[];
  grad: tf.Tensor;
  dispose(): void;
}

/**
 * The parameters in groups of at most `limit` floats (0: one by one), each with its gradient as one vector. On the
 * host backends only, for limits above 0 (the vectors are assembled by copies on the host).
 */
export function adamGrouping(parameters: AdamParameter[], limit = GROUP_ELEMENTS): AdamGroup[] {
  return adamGroups(parameters.map((p) => ({ p, size: p.w.size })), limit).map((members) => {
    const group = members.map(({ p }) => p);
    if (group.length === 1) return { parameters: group, grad: group[0].grad, dispose: () => undefined };
    const grad = endToEnd(group.map((p) => p.grad));
    return { parameters: group, grad, dispose: () => grad.dispose() };
  });
}

/** Σ g² of a group's gradient, as a float32 scalar tensor (the norm of all gradients sums these). */
export function squaredNorm(group: AdamGroup): tf.Scalar {
  return tf.tidy(() => tf.sum(tf.mul(group.grad, group.grad)));
}

/** Updates every group's parameters in place (assigns m, v and w); see the file comment. */
export function adamStep(groups: AdamGroup[], s: AdamScalars): void {
  for (const { parameters: group, grad } of groups) {
    tf.tidy(() => {
      if (group.length === 1) {
        const { m, v, w } = group[0];
        assign(group[0], adamUpdate(grad, m, v, w, s));
        return;
      }
      const next = adamUpdate(grad, endToEnd(group.map((p) => p.m)), endToEnd(group.map((p) => p.v)), endToEnd(group.map((p) => p.w)), s);
      const [m, v, w] = [next.m, next.v, next.w].map((t) => unflatten(t, group));
      group.forEach((p, i) => assign(p, { m: m[i], v: v[i], w: w[i] }));
    });
  }
}

/** Tensors laid end to end as one vector: copies on the host (no kernel per tensor, as reshapes and a concat are). */
function endToEnd(tensors: tf.Tensor[]): tf.Tensor1D {
  const out = new Float32Array(tensors.reduce((n, t) => n + t.size, 0));
  let offset = 0;
  for (const t of tensors) {
    // Each view is read before anything is allocated on the wasm heap (which would invalidate it).
    out.set(readInPlace(t), offset);
    offset += t.size;
  }
  return tf.tensor1d(out);
}

function assign(p: AdamParameter, next: AdamResult): void {
  p.m.assign(next.m);
  p.v.assign(next.v);
  p.w.assign(next.w);
}

/** A vector laid out as the group's parameters end to end → one tensor per parameter, in its shape. */
function unflatten(vector: tf.Tensor, group: AdamParameter[]): tf.Tensor[] {
  // Copied out of the wasm heap first: a view of it is only valid until the next tensor is made there.
  const values = readInPlace(vector).slice();
  let offset = 0;
  return group.map(({ w }) => {
    const part = tf.tensor(values.subarray(offset, offset + w.size), w.shape);
    offset += w.size;
    return part;
  });
}
