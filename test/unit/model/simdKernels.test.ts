import * as assert from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { adamUpdate, globalNorm } from '../../../src/model/adam';
import { Random } from '../../../src/model/random';
import { batchedProduct, geluValues, layerNormRows, layerNormRowsBackward, rmsNormRows, rmsNormRowsBackward, simdModulePath, sumOfSquares } from '../../../src/model/simdKernels';

const EPS = 1e-5;

function randomArray(rng: Random, n: number, scale = 1, offset = 0): Float32Array {
  return Float32Array.from({ length: n }, () => offset + rng.normal() * scale);
}

/** LayerNorm and its gradients in float64, written out plainly. */
function layerNorm64(x: Float32Array, w: Float32Array, b: Float32Array, dy: Float32Array, rows: number, d: number) {
  const out = new Float64Array(rows * d);
  const dx = new Float64Array(rows * d);
  const dw = new Float64Array(d);
  const db = new Float64Array(d);
  for (let n = 0; n < rows; n++) {
    const row = Array.from(x.subarray(n * d, (n + 1) * d));
    const mean = row.reduce((s, v) => s + v, 0) / d;
    const rstd = 1 / Math.sqrt(row.reduce((s, v) => s + (v - mean) ** 2, 0) / d + EPS);
    const xhat = row.map((v) => (v - mean) * rstd);
    const g = xhat.map((_, k) => dy[n * d + k] * w[k]);
    const meanG = g.reduce((s, v) => s + v, 0) / d;
    const meanGX = g.reduce((s, v, k) => s + v * xhat[k], 0) / d;
    for (let k = 0; k < d; k++) {
      out[n * d + k] = xhat[k] * w[k] + b[k];
      dx[n * d + k] = rstd * (g[k] - meanG - xhat[k] * meanGX);
      dw[k] += dy[n * d + k] * xhat[k];
      db[k] += dy[n * d + k];
    }
  }
  return { out, dx, dw, db };
}

function rmsNorm64(x: Float32Array, w: Float32Array, dy: Float32Array, rows: number, d: number) {
  const out = new Float64Array(rows * d);
  const dx = new Float64Array(rows * d);
  const dw = new Float64Array(d);
  for (let n = 0; n < rows; n++) {
    const row = Array.from(x.subarray(n * d, (n + 1) * d));
    const r = 1 / Math.sqrt(row.reduce((s, v) => s + v * v, 0) / d + EPS);
    const sumGX = row.reduce((s, v, k) => s + dy[n * d + k] * w[k] * v, 0);
    for (let k = 0; k < d; k++) {
      out[n * d + k] = row[k] * r * w[k];
      dx[n * d + k] = r * dy[n * d + k] * w[k] - (r ** 3 * row[k] * sumGX) / d;
      dw[k] += dy[n * d + k] * row[k] * r;
    }
  }
  return { out, dx, dw };
}

/** max |a − e| / (scale + |e|) ≤ tolerance, naming the first index that is not. */
function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string, scale = 1): void {
  assert.strictEqual(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const error = Math.abs(actual[i] - expected[i]) / (scale + Math.abs(expected[i]));
    if (!(error <= tolerance)) assert.fail(`${what}[${i}]: ${actual[i]} vs ${expected[i]} (relative error ${error})`);
  }
}

describe('SIMD kernels (simd/kernels.ts)', () => {
  it('the committed kernels.wasm is what `npm run build:simd` compiles from kernels.ts', function () {
    this.timeout(120000);
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-simd-')), 'kernels.wasm');
    const root = path.resolve(__dirname, '../../..');
    // The script's own arguments, with the output redirected: `asc <source> … -o <committed file>`.
    const script = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts['build:simd'];
    const [command, ...args] = script.split(/\s+/);
    assert.strictEqual(command, 'asc');
    const committed = args[args.indexOf('-o') + 1];
    args[args.indexOf('-o') + 1] = out;
    const asc = spawnSync(process.execPath, [require.resolve('assemblyscript/bin/asc.js', { paths: [root] }), ...args], { cwd: root, encoding: 'utf8' });
    assert.strictEqual(asc.status, 0, asc.stderr);
    assert.strictEqual(path.resolve(root, committed), simdModulePath(), 'the module loaded from src/ is the one build:simd writes');
    assert.ok(fs.readFileSync(out).equals(fs.readFileSync(committed)), `${committed} is stale: run npm run build:simd and commit it`);
  });

  // d = 7 and 130: the scalar tails after the four-lane loops; 2,100 × 512 values: more than one block of rows.
  for (const [rows, d] of [[5, 7], [9, 130], [2100, 512]]) {
    it(`LayerNorm [${rows}, ${d}]: value and gradients equal a float64 reference`, () => {
      const rng = new Random(rows + d);
      // Rows far from 0 (offset 3): the centred variance must not cancel.
      const x = randomArray(rng, rows * d, 1, 3);
      const w = randomArray(rng, d);
      const b = randomArray(rng, d);
      const dy = randomArray(rng, rows * d);
      const ref = layerNorm64(x, w, b, dy, rows, d);
      assertClose(layerNormRows(x, w, b, rows, d, EPS), ref.out, 2e-5, 'out');
      const got = layerNormRowsBackward(dy, x, w, rows, d, EPS);
      assertClose(got.dx, ref.dx, 2e-5, 'dx');
      // Column sums over many rows: compared on the scale of the sum's terms (√rows).
      assertClose(got.dw, ref.dw, 2e-5, 'dw', Math.sqrt(rows));
      assertClose(got.db, ref.db, 2e-5, 'db', Math.sqrt(rows));
    });

    it(`RMSNorm [${rows}, ${d}]: value and gradients equal a float64 reference`, () => {
      const rng = new Random(rows * d);
      const x = randomArray(rng, rows * d);
      const w = randomArray(rng, d);
      const dy = randomArray(rng, rows * d);
      const ref = rmsNorm64(x, w, dy, rows, d);
      assertClose(rmsNormRows(x, w, rows, d, EPS), ref.out, 2e-5, 'out');
      const got = rmsNormRowsBackward(dy, x, w, rows, d, EPS);
      assertClose(got.dx, ref.dx, 2e-5, 'dx');
      assertClose(got.dw, ref.dw, 2e-5, 'dw', Math.sqrt(rows));
    });
  }

  // [6, 5, 4] · [6, 4, 3]: the one-column tail; [3, 7, 33] · [3, 33, 37]: 16-, 4- and 1-column blocks; 300 × [64, 32]
  // · [32, 64]: attention's shape, in more than one group.
  for (const [count, m, k, n] of [[6, 5, 4, 3], [3, 7, 33, 37], [300, 64, 32, 64]]) {
    for (const [transposeA, transposeB] of [[false, false], [true, false], [false, true], [true, true]]) {
      it(`batched product ${count} × [${m}, ${k}] · [${k}, ${n}] (transposeA ${transposeA}, transposeB ${transposeB}) equals a float64 one`, () => {
        const rng = new Random(count + m + k + n);
        const a = randomArray(rng, count * m * k);
        const b = randomArray(rng, count * k * n);
        const expected = new Float64Array(count * m * n);
        for (let i = 0; i < count; i++) {
          for (let r = 0; r < m; r++) {
            for (let c = 0; c < n; c++) {
              let sum = 0;
              for (let p = 0; p < k; p++) {
                const left = transposeA ? a[i * m * k + p * m + r] : a[i * m * k + r * k + p];
                const right = transposeB ? b[i * k * n + c * k + p] : b[i * k * n + p * n + c];
                sum += left * right;
              }
              expected[i * m * n + r * n + c] = sum;
            }
          }
        }
        // Sums of k products of normals: compared on their scale, √k.
        assertClose(batchedProduct(a, b, { count, m, k, n, transposeA, transposeB }), expected, 1e-6, 'c', Math.sqrt(k));
      });
    }
  }

  it('arrays are placed above the static data: a large call first leaves scalar e^x (the GELU tail) intact', () => {
    const garbage = new Float32Array(1 << 16).fill(-3e38);
    sumOfSquares(garbage);
    // One value: the scalar path, whose Mathf.exp reads tables in the module's static data.
    assert.ok(Math.abs(geluValues(Float32Array.of(1e-3))[0] - 0.000500398942213582) < 1e-9);
  });

  it('a kernel names the mismatched size', () => {
    assert.throws(() => layerNormRows(new Float32Array(10), new Float32Array(4), new Float32Array(4), 3, 4, EPS), /x has 10 values, not rows × d = 3 × 4/);
    assert.throws(() => rmsNormRowsBackward(new Float32Array(12), new Float32Array(12), new Float32Array(3), 3, 4, EPS), /a weight has 3 values, not d = 4/);
    assert.throws(() => batchedProduct(new Float32Array(8), new Float32Array(8), { count: 2, m: 2, k: 2, n: 3, transposeA: false, transposeB: false }), /operands of 8 and 8 values and an output of 12 do not hold 2 products \[2, 2\] · \[2, 3\]/);
  });
});

describe('Adam on the host (adam.ts)', () => {
  const hyper = { learningRate: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 };

  it('first step by hand: m = 0.1·g, v = 0.001·g², w moves by lr·sign(g)', () => {
    const next = adamUpdate(Float32Array.of(1, -2), Float32Array.of(0.5, -4), new Float32Array(2), new Float32Array(2), hyper, { gradScale: 1, correction1: 0.1, correction2: 0.001 });
    assertClose(next.firstMoment, [0.05, -0.4], 1e-6, 'm', 0);
    assertClose(next.secondMoment, [0.00025, 0.016], 1e-6, 'v', 0);
    // (0.05 / 0.1) / (√(0.00025 / 0.001) + 1e-8) = 1 − 2e-8; the same for −4.
    assertClose(next.weight, [0.9, -1.9], 1e-7, 'w', 0);
  });

  it('three AdamW steps with clipping, over more than one block and a tail: equal a float64 reference', () => {
    const n = (1 << 20) + 5;
    const rng = new Random(3);
    const options = { ...hyper, learningRate: 1e-3, weightDecay: 0.01 };
    let w: Float32Array = randomArray(rng, n);
    let m: Float32Array = new Float32Array(n);
    let v: Float32Array = new Float32Array(n);
    const w64 = Float64Array.from(w);
    const m64 = new Float64Array(n);
    const v64 = new Float64Array(n);
    for (let t = 1; t <= 3; t++) {
      const grad = randomArray(rng, n, 0.1);
      const step = { gradScale: 0.7, correction1: 1 - 0.9 ** t, correction2: 1 - 0.999 ** t };
      const next = adamUpdate(w, grad, m, v, options, step);
      for (let i = 0; i < n; i++) {
        const g = grad[i] * 0.7;
        m64[i] = 0.9 * m64[i] + 0.1 * g;
        v64[i] = 0.999 * v64[i] + 0.001 * g * g;
        w64[i] = w64[i] * (1 - 1e-3 * 0.01) - (1e-3 * (m64[i] / step.correction1)) / (Math.sqrt(v64[i] / step.correction2) + 1e-8);
      }
      ({ weight: w, firstMoment: m, secondMoment: v } = next);
    }
    // Compared on the scale of their typical size (|g| ~ 0.07): a moment near 0 is a difference of float32 terms.
    assertClose(m, m64, 1e-5, 'm', 1e-2);
    assertClose(v, v64, 1e-5, 'v', 1e-5);
    // Weights ~1 move by ~1e-3 a step: float32 rounding of w (6e-8 a step) is the error; a wrong update term (a
    // missing bias correction, decay, clipping factor) would be off by 1e-4 or more.
    assertClose(w, w64, 3e-7, 'w', 1);
  });

  it('names the arrays whose lengths differ', () => {
    assert.throws(() => adamUpdate(new Float32Array(3), new Float32Array(2), new Float32Array(3), new Float32Array(3), hyper, { gradScale: 1, correction1: 0.1, correction2: 0.001 }), /got 3, 2, 3, 3/);
  });

  it('global norm: 3-4-5 by hand, float64 sums, Infinity past the float32 range', () => {
    assert.strictEqual(globalNorm([Float32Array.of(3), Float32Array.of(0, 4)]), 5);
    // 2^21 values of 2^-10: Σ = 2, which float32 accumulation drifts from.
    assert.strictEqual(globalNorm([new Float32Array(1 << 21).fill(2 ** -10)]), Math.sqrt(2));
    assert.strictEqual(globalNorm([Float32Array.of(2e19, 2e19)]), Infinity);
    assert.strictEqual(globalNorm([Float32Array.of(1e19)]), Math.fround(1e19));
    assert.ok(Number.isNaN(globalNorm([Float32Array.of(1, NaN)])));
  });
});
