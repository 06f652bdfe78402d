import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { Random } from '../../../src/model';
import { adamGrouping, adamGroups, AdamParameter, AdamScalars, adamStep, adamUpdate, squaredNorm } from '../../../src/model/adam';
import { useWasm } from './helpers';

/** Values over many magnitudes (Adam's moments and updates span several), with both signs. */
function spread(rng: Random, n: number, scale: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal() * scale * Math.pow(10, rng.int(7) - 3));
}

/**
 * Adam in float64, written out plainly: the formula the update must compute. With each value, the size of the terms
 * it is the sum of (float32 rounding is relative to those, not to a difference that cancels).
 */
function adam64(g: number, m: number, v: number, w: number, s: AdamScalars): [number, number][] {
  const gs = g * s.scale;
  const m1 = s.beta1 * m + (1 - s.beta1) * gs;
  const v1 = s.beta2 * v + (1 - s.beta2) * gs * gs;
  const update = m1 / s.correction1 / (Math.sqrt(v1 / s.correction2) + s.epsilon);
  const decayed = w * (1 - s.learningRate * s.weightDecay);
  return [
    [m1, Math.abs(s.beta1 * m) + Math.abs((1 - s.beta1) * gs)],
    [v1, v1],
    [decayed - s.learningRate * update, Math.abs(decayed) + Math.abs(s.learningRate * update)],
  ];
}

const SCALARS: AdamScalars = { scale: 0.37, beta1: 0.8, beta2: 0.95, correction1: 1 - 0.8 ** 7, correction2: 1 - 0.95 ** 7, epsilon: 1e-6, learningRate: 3e-2, weightDecay: 0.01 };
const SHAPES = [[3], [4, 5], [2], [6, 7], [50], [1], [3, 3]];

interface State {
  g: Float32Array;
  m: Float32Array;
  v: Float32Array;
  w: Float32Array;
}

function states(seed: number): State[] {
  const rng = new Random(seed);
  return SHAPES.map((shape) => {
    const n = shape.reduce((a, b) => a * b, 1);
    return { g: spread(rng, n, 1), m: spread(rng, n, 0.1), v: Float32Array.from(spread(rng, n, 0.01), (x) => x * x), w: spread(rng, n, 1) };
  });
}

/** Runs adamStep on fresh variables with the given group limit; the new m, v, w of every parameter. */
function step(initial: State[], limit: number): Float32Array[][] {
  const parameters: AdamParameter[] = initial.map((st, i) => ({
    grad: tf.tensor(st.g, SHAPES[i]),
    m: tf.variable(tf.tensor(st.m, SHAPES[i]), false),
    v: tf.variable(tf.tensor(st.v, SHAPES[i]), false),
    w: tf.variable(tf.tensor(st.w, SHAPES[i]), false),
  }));
  const before = tf.memory().numTensors;
  const groups = adamGrouping(parameters, limit);
  const norm = tf.tidy(() => tf.sqrt(tf.addN(groups.map(squaredNorm))).dataSync()[0]);
  const expected = Math.sqrt(initial.reduce((sum, st) => sum + st.g.reduce((a, g) => a + g * g, 0), 0));
  assert.ok(Math.abs(norm - expected) <= 1e-6 * expected, `gradient norm ${norm} vs ${expected}`);
  adamStep(groups, SCALARS);
  groups.forEach((g) => g.dispose());
  assert.strictEqual(tf.memory().numTensors, before, 'no tensor leaked');
  const out = parameters.map((p) => {
    assert.deepStrictEqual(p.w.shape, p.grad.shape);
    return [p.m, p.v, p.w].map((t) => t.dataSync() as Float32Array);
  });
  tf.dispose(parameters.flatMap((p) => [p.grad, p.m, p.v, p.w]));
  return out;
}

describe('Adam updates (adam.ts)', () => {
  before(useWasm);

  it('groups consecutive parameters up to the limit, a larger one alone', () => {
    const sizes = (xs: number[], limit: number) => adamGroups(xs.map((size) => ({ size })), limit).map((g) => g.map((p) => p.size));
    assert.deepStrictEqual(sizes([3, 20, 2, 42, 50, 1, 9], 50), [[3, 20, 2], [42], [50], [1, 9]]);
    assert.deepStrictEqual(sizes([3, 4], 0), [[3], [4]]);
    assert.deepStrictEqual(sizes([60], 50), [[60]]);
  });

  it('the update equals a float64 Adam (AdamW, clipped) to float32 rounding', () => {
    const [st] = states(5);
    const [m, v, w] = tf.tidy(() => {
      const r = adamUpdate(tf.tensor(st.g), tf.tensor(st.m), tf.tensor(st.v), tf.tensor(st.w), SCALARS);
      return [r.m, r.v, r.w];
    }).map((t) => {
      const values = t.dataSync() as Float32Array;
      t.dispose();
      return values;
    });
    st.g.forEach((g, i) => {
      adam64(g, st.m[i], st.v[i], st.w[i], SCALARS).forEach(([value, size], j) => {
        const actual = [m, v, w][j][i];
        assert.ok(Math.abs(actual - value) <= 1e-5 * size + 1e-30, `${'mvw'[j]}[${i}]: ${actual} vs ${value}`);
      });
    });
  });

  it('in groups (several, and a parameter alone), every value equals the one-by-one update bit for bit; the norm sums the groups', () => {
    const initial = states(9);
    const oneByOne = step(initial, 0);
    for (const limit of [60, 1000]) {
      const grouped = step(initial, limit);
      grouped.forEach((values, i) => values.forEach((t, j) => assert.deepStrictEqual(Array.from(t), Array.from(oneByOne[i][j]), `limit ${limit}, parameter ${i}, ${'mvw'[j]}`)));
    }
  });
});
