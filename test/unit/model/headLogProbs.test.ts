/**
 * The output head fused with the log-softmax (src/model/headLogProbs.ts): values and gradients equal the unfused
 * path's (logits, tf.logSoftmax, the target pick) and a float64 reference, in one tile and in several (blocks of
 * rows and of the vocabulary), for a head given as W [d, V] and as a tied table Wᵀ [V, d].
 */
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { Random } from '../../../src/model';
import { headLogProbs } from '../../../src/model/headLogProbs';
import { matMul } from '../../../src/model/kernels';
import { HeadWeight } from '../../../src/model/model';
import { useWasm } from './helpers';

const N = 7;
const D = 5;
const V = 11;

type Form = 'matrix' | 'table';

/** The head W [d, V] given as itself or as the table Wᵀ; a variable (trainable or not) when asked. */
function headOf(form: Form, w: number[][], variable?: { trainable: boolean }): { head: HeadWeight; tensor: tf.Tensor2D } {
  const values = form === 'matrix' ? w : w[0].map((_, j) => w.map((row) => row[j]));
  const tensor = variable ? tf.variable(tf.tensor2d(values), variable.trainable) : tf.tensor2d(values);
  return { head: form === 'matrix' ? { matrix: tensor } : { table: tensor }, tensor };
}

function randomMatrix(rng: Random, rows: number, cols: number, scale = 1): number[][] {
  return Array.from({ length: rows }, () => Array.from({ length: cols }, () => scale * rng.normal()));
}

/** log p(target) and H per row in float64, from hidden · head / T. */
function reference(x: number[][], w: number[][], targets: Int32Array, temperature: number): { logProbs: number[]; entropy: number[] } {
  const logProbs: number[] = [];
  const entropy: number[] = [];
  x.forEach((row, n) => {
    const z = Array.from({ length: V }, (_, v) => row.reduce((s, xi, i) => s + xi * w[i][v], 0) / temperature);
    const max = Math.max(...z);
    const lse = max + Math.log(z.reduce((s, zi) => s + Math.exp(zi - max), 0));
    logProbs.push(z[targets[n]] - lse);
    entropy.push(-z.reduce((s, zi) => s + Math.exp(zi - lse) * (zi - lse), 0));
  });
  return { logProbs, entropy };
}

/** Σ a·logp + b·H, the scalar whose gradients are checked. */
function objective(x: number[][], w: number[][], targets: Int32Array, temperature: number, a: number[], b: number[]): number {
  const r = reference(x, w, targets, temperature);
  return r.logProbs.reduce((s, lp, n) => s + a[n] * lp + b[n] * r.entropy[n], 0);
}

describe('headLogProbs: the output head fused with the log-softmax', () => {
  before(useWasm);
  const rng = new Random(5);
  const xValues = randomMatrix(rng, N, D);
  const wValues = randomMatrix(rng, D, V, 0.7);
  const targets = Int32Array.from({ length: N }, () => rng.int(V));
  const a = Array.from({ length: N }, () => rng.normal());
  const b = Array.from({ length: N }, () => rng.normal());

  for (const form of ['matrix', 'table'] as Form[]) {
    for (const [chunkRows, vocabBlock] of [[N, V], [3, V], [1, V], [N, 4], [3, 5], [2, 1]]) {
      for (const temperature of [1, 0.7]) {
        it(`${form}: values equal float64${vocabBlock === V ? ' and the unfused path' : ''} (tiles of ${chunkRows} rows × ${vocabBlock} of ${V} ids, temperature ${temperature})`, async () => {
          const x = tf.tensor2d(xValues);
          const { head, tensor } = headOf(form, wValues);
          const fused = headLogProbs(x, head, { targets, temperature, withEntropy: true, chunkRows, vocabBlock });
          const expected = reference(xValues, wValues, targets, temperature);
          const lp = Array.from(await fused.logProbs.data());
          const h = Array.from(await fused.entropy!.data());
          lp.forEach((v, n) => assert.ok(Math.abs(v - expected.logProbs[n]) < 2e-6, `row ${n}: ${v} vs ${expected.logProbs[n]}`));
          h.forEach((v, n) => assert.ok(Math.abs(v - expected.entropy[n]) < 3e-6, `row ${n}: ${v} vs ${expected.entropy[n]}`));
          if (vocabBlock === V) {
            // The unfused path of responseLogProbs: the same formula on the whole [N, V] logits (the model's products,
            // kernels.ts), so the same float32 values.
            const w = tf.tensor2d(wValues);
            const logp = tf.logSoftmax(tf.div(matMul(x, w), temperature)) as tf.Tensor2D;
            const unfused = await logp.array();
            lp.forEach((v, n) => assert.strictEqual(v, unfused[n][targets[n]], `row ${n}`));
            tf.dispose([w, logp]);
          }
          tf.dispose([x, tensor, fused.logProbs, fused.entropy!]);
        });
      }
    }
  }

  for (const form of ['matrix', 'table'] as Form[]) {
    for (const [chunkRows, vocabBlock] of [[N, V], [2, 4]]) {
      it(`${form}: gradients of hidden and head equal central finite differences of the float64 objective (tiles of ${chunkRows} × ${vocabBlock})`, async () => {
        const temperature = 0.8;
        const x = tf.variable(tf.tensor2d(xValues));
        const { head, tensor: w } = headOf(form, wValues, { trainable: true });
        const { grads } = tf.variableGrads(() => {
          const out = headLogProbs(x, head, { targets, temperature, withEntropy: true, chunkRows, vocabBlock });
          return tf.add(tf.sum(tf.mul(out.logProbs, a)), tf.sum(tf.mul(out.entropy!, b))) as tf.Scalar;
        }, [x, w as tf.Variable]);
        const gx = (await grads[x.name].array()) as number[][];
        const gStored = (await grads[(w as tf.Variable).name].array()) as number[][];
        const gw = (i: number, j: number) => (form === 'matrix' ? gStored[i][j] : gStored[j][i]);
        const h = 1e-5;
        const numeric = (bump: (delta: number) => [number[][], number[][]]) =>
          (objective(...bump(h), targets, temperature, a, b) - objective(...bump(-h), targets, temperature, a, b)) / (2 * h);
        const shifted = (m: number[][], i: number, j: number, delta: number) => m.map((row, r) => row.map((v, c) => (r === i && c === j ? v + delta : v)));
        for (let i = 0; i < N; i++) {
          for (let j = 0; j < D; j++) {
            const fd = numeric((delta) => [shifted(xValues, i, j, delta), wValues]);
            assert.ok(Math.abs(gx[i][j] - fd) < 1e-4 * Math.max(1, Math.abs(fd)), `d/dx[${i}][${j}]: ${gx[i][j]} vs ${fd}`);
          }
        }
        for (let i = 0; i < D; i++) {
          for (let j = 0; j < V; j++) {
            const fd = numeric((delta) => [xValues, shifted(wValues, i, j, delta)]);
            assert.ok(Math.abs(gw(i, j) - fd) < 1e-4 * Math.max(1, Math.abs(fd)), `d/dW[${i}][${j}]: ${gw(i, j)} vs ${fd}`);
          }
        }
        tf.dispose([x, w, grads[x.name], grads[(w as tf.Variable).name]]);
      });
    }
  }

  it('a frozen head gets no gradient, and the gradient of x is right; without entropy there is no entropy output', async () => {
    const x = tf.variable(tf.tensor2d(xValues));
    const { head, tensor: w } = headOf('table', wValues, { trainable: false });
    const { grads } = tf.variableGrads(() => {
      const out = headLogProbs(x, head, { targets, temperature: 1, withEntropy: false, chunkRows: 3, vocabBlock: 4 });
      assert.strictEqual(out.entropy, null);
      return tf.sum(tf.mul(out.logProbs, a)) as tf.Scalar;
    }, [x]);
    const gx = (await grads[x.name].array()) as number[][];
    const numeric = (i: number, j: number) => {
      const at = (delta: number) => objective(xValues.map((row, r) => row.map((v, c) => (r === i && c === j ? v + delta : v))), wValues, targets, 1, a, a.map(() => 0));
      return (at(1e-5) - at(-1e-5)) / 2e-5;
    };
    for (let i = 0; i < N; i++) for (let j = 0; j < D; j++) assert.ok(Math.abs(gx[i][j] - numeric(i, j)) < 1e-4, `d/dx[${i}][${j}]`);
    tf.dispose([x, w, grads[x.name]]);
  });

  it('refuses a target count that does not match the rows', () => {
    const x = tf.zeros([3, D]) as tf.Tensor2D;
    const w = tf.zeros([D, V]) as tf.Tensor2D;
    assert.throws(() => headLogProbs(x, { matrix: w }, { targets: new Int32Array(2), temperature: 1, withEntropy: false }), /2 targets for 3 rows/);
    tf.dispose([x, w]);
  });
});
