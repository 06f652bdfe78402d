/**
 * Frozen weights under a gradient tape (a LoRA run's base): the gradient still reaches the activations, and the
 * weight is not saved for the backward pass (the stock MatMul gradient saves both inputs as clones, which share the
 * buffer on wasm but count as bytes again in tf.memory(), which the memory budget reads).
 */
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { linear } from '../../../src/model/layers';
import { Random } from '../../../src/model';
import { useWasm } from './helpers';

const N = 3;
const IN = 64;
const OUT = 96;

function randomMatrix(rng: Random, rows: number, cols: number): number[][] {
  return Array.from({ length: rows }, () => Array.from({ length: cols }, () => rng.normal()));
}

/** Kernels of one gradient of sum(linear(x, W, columns) ⊙ C) with respect to x, and the gradient. */
async function profiledGradient(x: tf.Variable, w: tf.Variable, c: tf.Tensor2D, columns?: [number, number]) {
  let grad: number[][] = [];
  const profile = await tf.profile(async () => {
    const { grads } = tf.variableGrads(() => tf.sum(tf.mul(linear(x, w, undefined, columns), c)), [x]);
    grad = (await grads[x.name].array()) as number[][];
    tf.dispose(grads);
  });
  return { grad, kernels: profile.kernels };
}

/** Copies of a [rows, cols] tensor the engine made (Identity kernels: what saving for the backward pass does). */
function copiesOf(kernels: { name: string; outputShapes: number[][] }[], shape: number[]): number {
  return kernels
    .filter((k) => k.name === 'Identity' && k.outputShapes.some((s) => s.join() === shape.join())).length;
}

describe('frozen weights under a gradient tape', () => {
  before(useWasm);

  const rng = new Random(11);
  const xValues = randomMatrix(rng, N, IN);
  const wValues = randomMatrix(rng, IN, OUT);
  const cValues = randomMatrix(rng, N, OUT);

  /** d/dx sum((x·W[:, cols]) ⊙ C[:, cols]) = C[:, cols] · W[:, cols]ᵀ, in float64. */
  function reference([from, to]: [number, number]): number[][] {
    return Array.from({ length: N }, (_, i) => Array.from({ length: IN }, (_, k) => {
      let s = 0;
      for (let j = from; j < to; j++) s += cValues[i][j] * wValues[k][j];
      return s;
    }));
  }

  for (const columns of [undefined, [32, 80] as [number, number]]) {
    const label = columns ? `columns ${columns[0]}:${columns[1]} (a cached slice of the frozen weight)` : 'the whole weight';
    it(`${label}: dx = dy · Wᵀ as float64 gives it, and the weight is not copied; a trainable weight is`, async () => {
      const x = tf.variable(tf.tensor2d(xValues), true);
      const frozen = tf.variable(tf.tensor2d(wValues), false);
      const trainable = tf.variable(tf.tensor2d(wValues), true);
      const [from, to] = columns ?? [0, OUT];
      const c = tf.tensor2d(cValues.map((row) => row.slice(from, to)));
      try {
        const expected = reference([from, to]);
        const shape = [IN, to - from];
        const viaFrozen = await profiledGradient(x, frozen, c, columns);
        const viaTrainable = await profiledGradient(x, trainable, c, columns);
        for (const got of [viaFrozen.grad, viaTrainable.grad]) {
          const diff = Math.max(...got.flatMap((row, i) => row.map((v, k) => Math.abs(v - expected[i][k]))));
          assert.ok(diff < 1e-4, `max |dx − reference| = ${diff}`);
        }
        assert.strictEqual(copiesOf(viaFrozen.kernels, shape), 0, 'the frozen weight was copied for the backward pass');
        assert.ok(copiesOf(viaTrainable.kernels, shape) >= 1, 'the stock gradient saves (copies) a trainable weight');
      } finally {
        tf.dispose([x, frozen, trainable, c]);
      }
    });
  }
});
