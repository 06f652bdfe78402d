/**
 * Argument checks shared by the GRPO functions. tfjs broadcasts silently, so a [B,T] advantage passed where [B,1]
 * was meant, or a mask of the wrong length, would train on garbage without an error; these checks make such
 * mistakes fail at the call with the function and argument named.
 */
import * as tf from '@tensorflow/tfjs-core';

export function shapeText(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

export function assertRank(fn: string, name: string, tensor: tf.Tensor, rank: number): void {
  if (tensor.rank !== rank) {
    throw new Error(`${fn}: ${name} must have rank ${rank}, got shape ${shapeText(tensor.shape)}`);
  }
}

export function assertSameShape(fn: string, nameA: string, a: tf.Tensor, nameB: string, b: tf.Tensor): void {
  if (a.rank !== b.rank || a.shape.some((size, i) => size !== b.shape[i])) {
    throw new Error(`${fn}: ${nameA} ${shapeText(a.shape)} and ${nameB} ${shapeText(b.shape)} must have the same shape`);
  }
}

/** Advantages are per rollout [B,1] (outcome supervision) or per token [B,T] (process supervision). */
export function assertAdvantageShape(fn: string, name: string, advantages: tf.Tensor, logProbs: tf.Tensor): void {
  assertRank(fn, name, advantages, 2);
  const [rows, columns] = advantages.shape;
  const [batch, tokens] = logProbs.shape;
  if (rows !== batch || (columns !== 1 && columns !== tokens)) {
    throw new Error(
      `${fn}: ${name} must have shape [${batch},1] or [${batch},${tokens}] to match the log-probs ` +
        `${shapeText(logProbs.shape)}, got ${shapeText(advantages.shape)}`,
    );
  }
}

export function assertPositiveInteger(fn: string, name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new Error(`${fn}: ${name} must be a positive integer, got ${value}`);
}

export function assertNonNegativeFinite(fn: string, name: string, value: number): void {
  if (!Number.isFinite(value) || value < 0) throw new Error(`${fn}: ${name} must be a finite number ≥ 0, got ${value}`);
}

/** Returns `value`, or throws naming the argument that the chosen variant needs. */
export function required<T>(fn: string, name: string, reason: string, value: T | undefined): T {
  if (value === undefined) throw new Error(`${fn}: ${name} is required ${reason}`);
  return value;
}
