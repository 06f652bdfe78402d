/**
 * Gradients that make training fast and possible on the wasm backend. Registered once, on first import.
 *
 * - BatchMatMul: the stock gradient multiplies with `transposeA/B` flags, which the wasm kernel runs 10–27× slower
 *   than an explicit transpose followed by a plain product. This replacement transposes first (same values).
 * - Row lookup (`embeddingLookup`): `tf.gather`'s gradient needs `UnsortedSegmentSum`, which wasm lacks. The
 *   custom gradient below scatter-adds the incoming rows on the host instead of multiplying by a one-hot matrix,
 *   which would cost tokens × vocabulary × width.
 */
import * as tf from '@tensorflow/tfjs-core';
import '../worker/backend';

/** Swaps the last two axes (the "transpose" of a batch of matrices). */
export function transposeLast2(x: tf.Tensor): tf.Tensor {
  const perm = x.shape.map((_, i) => i);
  const r = perm.length;
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  return tf.transpose(x, perm);
}

function product(a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean): tf.Tensor {
  return tf.matMul(transposeA ? transposeLast2(a) : a, transposeB ? transposeLast2(b) : b);
}

let registered = false;

export function registerModelKernels(): void {
  if (registered) return;
  registered = true;
  tf.registerGradient({
    kernelName: tf.BatchMatMul,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved, attrs) => {
      const [a, b] = saved;
      const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
      const g = Array.isArray(dy) ? dy[0] : dy;
      // Same four cases as tfjs-core's gradient, with every flag replaced by an explicit transpose.
      if (!transposeA && !transposeB) return { a: () => product(g, b, false, true), b: () => product(a, g, true, false) };
      if (!transposeA && transposeB) return { a: () => product(g, b, false, false), b: () => product(g, a, true, false) };
      if (transposeA && !transposeB) return { a: () => product(b, g, false, true), b: () => product(a, g, false, false) };
      return { a: () => product(b, g, true, true), b: () => product(g, a, true, true) };
    },
  });
}
registerModelKernels();

/** Backends whose memory the host reads directly, where scatter-adding on the host is cheap (wasm lacks the op). */
const HOST_SCATTER_BACKENDS = new Set(['wasm', 'cpu']);

/**
 * Rows of `table` [V, d] at `ids` (int32, any shape) → [...ids.shape, d], differentiable w.r.t. the table without
 * UnsortedSegmentSum.
 */
export function embeddingLookup(table: tf.Tensor2D, ids: tf.Tensor): tf.Tensor {
  const [vocab, width] = table.shape;
  const lookup = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [t, i, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([i]);
    return {
      value: tf.gather(t, i),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const g = Array.isArray(dy) ? dy[0] : dy;
        // GPU backends have UnsortedSegmentSum, and webgpu cannot read tensors synchronously under Node.
        if (!HOST_SCATTER_BACKENDS.has(tf.getBackend())) {
          return [tf.unsortedSegmentSum(tf.reshape(g, [-1, width]), tf.reshape(saved[0], [-1]), vocab), tf.zerosLike(saved[0])];
        }
        const rows = g.dataSync() as Float32Array;
        const indices = saved[0].dataSync();
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
