/**
 * Reading tensor values on the host. Synchronously, only the host backends (wasm, cpu) can, and wasm can without a
 * copy; asynchronously every backend can (webgpu under Node has no synchronous read at all).
 */
import * as tf from '@tensorflow/tfjs-core';

/** Backends whose memory the host reads directly, where a JavaScript pass beats a chain of small kernels. */
const HOST_BACKENDS = new Set(['wasm', 'cpu']);

export function onHostBackend(): boolean {
  return HOST_BACKENDS.has(tf.getBackend());
}

/** What wasm offers to read a tensor in place: a view of its bytes in the module's heap. */
interface HeapViewBackend {
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
}

/**
 * A float32 tensor's values on a host backend, without a copy on wasm: a view of the heap, valid only until the next
 * allocation there (read everything first, then create tensors). dataSync would copy the whole tensor: 600 MB for a
 * 150 k × 1 k embedding table at every forward.
 */
export function readInPlace(t: tf.Tensor): Float32Array {
  if (tf.getBackend() === 'wasm') return (tf.backend() as unknown as HeapViewBackend).typedArrayFromHeap(t);
  return t.dataSync() as Float32Array;
}

/** A tensor's values, read asynchronously; disposes it. */
export async function readAndDispose(tensor: tf.Tensor): Promise<Float32Array> {
  try {
    return (await tensor.data()) as Float32Array;
  } finally {
    tensor.dispose();
  }
}

/** A matrix's rows, read asynchronously; disposes it. */
export async function arrayAndDispose(tensor: tf.Tensor2D): Promise<number[][]> {
  try {
    return await tensor.array();
  } finally {
    tensor.dispose();
  }
}

/** The gradient a custom gradient function receives for its single output. */
export function upstream(dy: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(dy) ? dy[0] : dy;
}
