import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { Random } from '../../../src/model';
import { fusedLayerNorm, fusedRmsNorm, pickTargets } from '../../../src/model/fused';
import { geluNew, geluNewOps, layerNormOps, linear, rmsNormOps } from '../../../src/model/layers';
import { releaseDerived, tiedHead } from '../../../src/model/model';
import { useWasm } from './helpers';

const N = 5;
const D = 7;
const EPS = 1e-5;

function randomArray(rng: Random, n: number, scale = 1): number[] {
  return Array.from({ length: n }, () => rng.normal() * scale);
}

/** Float64 references, written out plainly: the value of Σ R ∘ norm(x) for the finite differences. */
function layerNorm64(x: number[], w: number[], b: number[]): number[] {
  const out: number[] = [];
  for (let n = 0; n < N; n++) {
    const row = x.slice(n * D, (n + 1) * D);
    const mean = row.reduce((s, v) => s + v, 0) / D;
    const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / D;
    row.forEach((v, k) => out.push(((v - mean) / Math.sqrt(variance + EPS)) * w[k] + b[k]));
  }
  return out;
}

function rmsNorm64(x: number[], w: number[]): number[] {
  const out: number[] = [];
  for (let n = 0; n < N; n++) {
    const row = x.slice(n * D, (n + 1) * D);
    const ms = row.reduce((s, v) => s + v * v, 0) / D;
    row.forEach((v, k) => out.push((v / Math.sqrt(ms + EPS)) * w[k]));
  }
  return out;
}

/** Central differences of f(inputs) = Σ R ∘ norm(inputs) with respect to input `which`. */
function finiteDifferences(f: (inputs: number[][]) => number[], inputs: number[][], R: number[], which: number): number[] {
  const h = 1e-6;
  const score = (ins: number[][]) => f(ins).reduce((s, v, i) => s + v * R[i], 0);
  return inputs[which].map((_, i) => {
    const plus = inputs.map((a) => [...a]);
    const minus = inputs.map((a) => [...a]);
    plus[which][i] += h;
    minus[which][i] -= h;
    return (score(plus) - score(minus)) / (2 * h);
  });
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string): void {
  assert.strictEqual(actual.length, expected.length, what);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tolerance * (1 + Math.abs(expected[i])), `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

describe('fused row kernels (wasm/cpu)', () => {
  before(useWasm);

  const rng = new Random(11);
  const x = randomArray(rng, N * D, 2).map((v, i) => v + (i % D)); // a non-zero mean per row
  const w = randomArray(rng, D);
  const b = randomArray(rng, D);
  const R = randomArray(rng, N * D);

  function valueAndGrads(norm: (...t: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[]): Float32Array[] {
    return tf.tidy(() => {
      const grads = tf.grads((...t: tf.Tensor[]) => tf.sum(tf.mul(norm(...t), tf.tensor2d(R, [N, D]))))(inputs);
      return [norm(...inputs), ...grads].map((t) => t.dataSync() as Float32Array);
    });
  }

  it('LayerNorm: value and gradients equal a float64 forward and its finite differences', () => {
    const [value, dx, dw, db] = valueAndGrads((xt, wt, bt) => fusedLayerNorm(xt as tf.Tensor2D, wt, bt, EPS), [tf.tensor2d(x, [N, D]), tf.tensor1d(w), tf.tensor1d(b)]);
    const f = (ins: number[][]) => layerNorm64(ins[0], ins[1], ins[2]);
    assertClose(value, layerNorm64(x, w, b), 1e-5, 'value');
    assertClose(dx, finiteDifferences(f, [x, w, b], R, 0), 1e-4, 'dx');
    assertClose(dw, finiteDifferences(f, [x, w, b], R, 1), 1e-4, 'dweight');
    assertClose(db, finiteDifferences(f, [x, w, b], R, 2), 1e-4, 'dbias');
  });

  it('LayerNorm: the same value and gradients as the tfjs-op version', () => {
    const inputs = () => [tf.tensor2d(x, [N, D]), tf.tensor1d(w), tf.tensor1d(b)];
    const fused = valueAndGrads((xt, wt, bt) => fusedLayerNorm(xt as tf.Tensor2D, wt, bt, EPS), inputs());
    const ops = valueAndGrads((xt, wt, bt) => layerNormOps(xt, wt, bt, EPS), inputs());
    fused.forEach((values, i) => assertClose(values, ops[i], 1e-5, `output ${i}`));
  });

  it('RMSNorm: value and gradients equal a float64 forward and its finite differences, and the op version', () => {
    const inputs = () => [tf.tensor2d(x, [N, D]), tf.tensor1d(w)];
    const [value, dx, dw] = valueAndGrads((xt, wt) => fusedRmsNorm(xt as tf.Tensor2D, wt, EPS), inputs());
    const f = (ins: number[][]) => rmsNorm64(ins[0], ins[1]);
    assertClose(value, rmsNorm64(x, w), 1e-5, 'value');
    assertClose(dx, finiteDifferences(f, [x, w], R, 0), 1e-4, 'dx');
    assertClose(dw, finiteDifferences(f, [x, w], R, 1), 1e-4, 'dweight');
    const ops = valueAndGrads((xt, wt) => rmsNormOps(xt, wt, EPS), inputs());
    [value, dx, dw].forEach((values, i) => assertClose(values, ops[i], 1e-5, `op version ${i}`));
  });

  it('a projection (bias included) restricted to some output columns equals those columns of x·W + b, gradients included', () => {
    const W = randomArray(rng, D * 6);
    const bias = randomArray(rng, 6);
    const Rcols = randomArray(rng, N * 2);
    const grads = (f: (xt: tf.Tensor, wt: tf.Tensor, bt: tf.Tensor) => tf.Tensor) => tf.tidy(() => {
      const g = tf.grads((xt: tf.Tensor, wt: tf.Tensor, bt: tf.Tensor) => tf.sum(tf.mul(f(xt, wt, bt), tf.tensor2d(Rcols, [N, 2]))));
      return g([tf.tensor2d(x, [N, D]), tf.tensor2d(W, [D, 6]), tf.tensor1d(bias)]).map((t) => t.dataSync() as Float32Array);
    });
    const sliced = grads((xt, wt, bt) => linear(xt, wt, bt, [2, 4]));
    // Written with plain ops (not linear), so the bias gradient of linear is checked too.
    const full = grads((xt, wt, bt) => tf.slice(tf.add(tf.matMul(xt as tf.Tensor2D, wt as tf.Tensor2D), bt), [0, 2], [N, 2]));
    sliced.forEach((values, i) => assertClose(values, full[i], 1e-5, `gradient ${i}`));
  });
});

describe('GELU (gelu_new) with its written-out gradient', () => {
  before(useWasm);

  const gelu64 = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
  const valueAndGradient = (gelu: (x: tf.Tensor) => tf.Tensor, xs: number[], shape: [number, number]) => tf.tidy(() => {
    const x = tf.tensor2d(xs, shape);
    return [gelu(x), tf.grad((t: tf.Tensor) => tf.sum(gelu(t)))(x)].map((t) => t.dataSync() as Float32Array);
  });

  // 3 × 5: four-lane blocks and a one-value tail per row; ±12 and beyond: the gate at 0 and 1, e^x clamped.
  for (const gelu of [geluNew, geluNewOps]) {
    it(`${gelu.name}: value and gradient equal 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))) in float64 and its finite differences`, () => {
      const xs = [-4, -1.5, -0.3, 0, 0.2, 0.9, 2.5, 6, -12, 12, -60, 60, -1e4, 1e4, 1e-3];
      const [value, grad] = valueAndGradient(gelu, xs, [3, 5]);
      const h = 1e-6;
      assertClose(value, xs.map(gelu64), 1e-6, 'value');
      assertClose(grad, xs.map((v) => (gelu64(v + h) - gelu64(v - h)) / (2 * h)), 1e-5, 'gradient');
    });
  }

  it('the SIMD version equals the tfjs-op version on 10,000 normals (value and gradient, to float32 rounding)', () => {
    const rng = new Random(21);
    const xs = randomArray(rng, 10000, 2);
    const ours = valueAndGradient(geluNew, xs, [100, 100]);
    const ops = valueAndGradient(geluNewOps, xs, [100, 100]);
    ours.forEach((values, k) => assertClose(values, ops[k], 2e-6, k === 0 ? 'value' : 'gradient'));
  });
});

describe('picking target log-probs and the tied head', () => {
  before(useWasm);

  it('pickTargets equals the one-hot product, value and gradient', () => {
    const rng = new Random(12);
    const logits = randomArray(rng, 6 * 9);
    const targets = Int32Array.from([3, 0, 8, 8, 5, 1]);
    const R = randomArray(rng, 6);
    const run = (pick: (x: tf.Tensor2D) => tf.Tensor) => tf.tidy(() => {
      const x = tf.tensor2d(logits, [6, 9]);
      const f = (t: tf.Tensor) => tf.sum(tf.mul(pick(tf.logSoftmax(t) as tf.Tensor2D), tf.tensor1d(R)));
      return [pick(tf.logSoftmax(x) as tf.Tensor2D), tf.grad(f)(x)].map((t) => t.dataSync() as Float32Array);
    });
    const ours = run((x) => pickTargets(x, targets));
    const oneHot = run((x) => tf.sum(tf.mul(x, tf.oneHot(tf.tensor1d(targets, 'int32'), 9)), -1));
    ours.forEach((values, i) => assertClose(values, oneHot[i], 1e-6, i === 0 ? 'value' : 'gradient'));
  });

  it('tiedHead reuses one transpose until the table changes, and passes the gradient under a tape', () => {
    const table = tf.variable(tf.tensor2d([[1, 2, 3], [4, 5, 6]]), true, 'tied-head-test');
    const first = tiedHead(table);
    assert.strictEqual(tiedHead(table), first, 'no tape, same values: the cached transpose');
    assert.deepStrictEqual(first.arraySync(), [[1, 4], [2, 5], [3, 6]]);
    table.assign(tf.tensor2d([[0, 1, 0], [2, 0, 0]]));
    assert.deepStrictEqual(tiedHead(table).arraySync(), [[0, 2], [1, 0], [0, 0]], 'new values after assign');
    assert.ok(first.isDisposed, 'the stale transpose is freed');
    const x = tf.tensor2d([[1, -1, 2]]);
    const R = tf.tensor2d([[3, 5]]);
    const grad = tf.grad((w: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, tiedHead(w as tf.Variable)), R)))(table);
    // d/dW Σ R ∘ (x·Wᵀ) = Rᵀ·x
    assert.deepStrictEqual(grad.arraySync(), [[3, -3, 6], [5, -5, 10]]);
    releaseDerived(table);
    table.dispose();
  });
});
