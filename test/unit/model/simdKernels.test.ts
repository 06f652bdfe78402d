import * as assert from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { adamUpdate, adamUpdateOnWasm, globalNorm, globalNormOnWasm } from '../../../src/model/adam';
import { Random } from '../../../src/model/random';
import { useWasm } from './helpers';
import {
  BatchedProductShape, batchedProductOnHeap, geluValues, layerNormRows, layerNormRowsBackward, ProductShape, productOnHeap, rmsNormRows, rmsNormRowsBackward, setSimdVariant,
  simdModulePath, SimdVariant, simdVariant, swapMiddleAxesOnHeap, WasmHeap,
} from '../../../src/model/simdKernels';

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

/**
 * A WasmHeap for tests: a fresh memory (shared like tfjs-wasm's threaded build's, or not) whose malloc hands out
 * space one array after another and counts what is not freed.
 */
class TestHeap implements WasmHeap {
  readonly memory: WebAssembly.Memory;
  private end = 64;
  live = 0;
  constructor(shared: boolean) {
    this.memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared });
  }
  malloc(bytes: number): number {
    const at = this.end;
    this.end += Math.ceil(bytes / 16) * 16;
    const missing = this.end - this.memory.buffer.byteLength;
    if (missing > 0) this.memory.grow(Math.ceil(missing / 65536));
    this.live++;
    return at;
  }
  free(): void {
    this.live--;
  }
  /** Copies values onto the heap; their byte offset. */
  put(values: Float32Array): number {
    const at = this.malloc(values.length * 4);
    new Float32Array(this.memory.buffer, at, values.length).set(values);
    return at;
  }
  read(at: number, n: number): Float32Array {
    return new Float32Array(this.memory.buffer, at, n).slice();
  }
}

/** One product, or a batch of them, through the heap functions on a TestHeap. */
function heapProduct(heap: TestHeap, a: Float32Array, b: Float32Array, s: ProductShape | BatchedProductShape): Float32Array {
  const count = 'count' in s ? s.count : 1;
  // Garbage in c first: the product must write every value.
  const at = { a: heap.put(a), b: heap.put(b), c: heap.put(new Float32Array(count * s.m * s.n).fill(Number.NaN)) };
  if ('count' in s) batchedProductOnHeap(heap, at, s);
  else productOnHeap(heap, at, s);
  assert.strictEqual(heap.live, 3, 'the scratch space is freed');
  return heap.read(at.c, count * s.m * s.n);
}

/** The sections of a WebAssembly binary by id (11: data). */
function sectionIds(bytes: Uint8Array): number[] {
  const ids: number[] = [];
  let i = 8;
  while (i < bytes.length) {
    ids.push(bytes[i++]);
    let size = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = bytes[i++];
      size |= (byte & 0x7f) << shift;
      if (byte < 0x80) break;
    }
    i += size;
  }
  return ids;
}

describe('SIMD kernels (simd/kernels.ts)', () => {
  it('the committed kernels[-relaxed][-shared].wasm are what `npm run build:simd` compiles from kernels.ts', function () {
    this.timeout(120000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-simd-'));
    const root = path.resolve(__dirname, '../../..');
    // The script's own commands, with each output redirected: `asc <source> … -o <committed file> && asc …`.
    const script = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts['build:simd'];
    const committedFiles = script.split('&&').map((part) => {
      const [command, ...args] = part.trim().split(/\s+/);
      assert.strictEqual(command, 'asc');
      const committed = args[args.indexOf('-o') + 1];
      const out = path.join(dir, path.basename(committed));
      args[args.indexOf('-o') + 1] = out;
      const asc = spawnSync(process.execPath, [require.resolve('assemblyscript/bin/asc.js', { paths: [root] }), ...args], { cwd: root, encoding: 'utf8' });
      assert.strictEqual(asc.status, 0, asc.stderr);
      assert.ok(fs.readFileSync(out).equals(fs.readFileSync(path.join(root, committed))), `${committed} is stale: run npm run build:simd and commit it`);
      return path.resolve(root, committed);
    });
    const loaded = [simdModulePath('simd'), simdModulePath('relaxed-simd'), simdModulePath('simd', true), simdModulePath('relaxed-simd', true)];
    assert.deepStrictEqual(committedFiles, loaded, 'the modules loaded from src/ are the ones build:simd writes');
  });

  it('the modules have no data segments: instantiated on tfjs-wasm\'s heap, they would write over its memory', () => {
    simdVariant(); // Compiling the relaxed builds needs Node 20's V8 flag, which loading the kernels turns on.
    for (const variant of ['simd', 'relaxed-simd'] as SimdVariant[]) {
      for (const shared of [false, true]) {
        const file = simdModulePath(variant, shared);
        const bytes = new Uint8Array(fs.readFileSync(file));
        assert.ok(sectionIds(bytes).includes(10), `${file}: a code section`);
        assert.ok(!sectionIds(bytes).includes(11), `${file} has a data section`);
        const memory = WebAssembly.Module.imports(new WebAssembly.Module(bytes)).filter((i) => i.kind === 'memory');
        assert.deepStrictEqual(memory.map((i) => `${i.module}.${i.name}`), ['env.memory'], `${file} imports its memory`);
      }
    }
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

  /** op(a)·op(b) of product i at (r, c), in float64. */
  function entry64(a: Float32Array, b: Float32Array, s: { m: number; k: number; n: number; transposeA: boolean; transposeB: boolean }, i: number, r: number, c: number): number {
    const { m, k, n, transposeA, transposeB } = s;
    let sum = 0;
    for (let p = 0; p < k; p++) {
      const left = transposeA ? a[i * m * k + p * m + r] : a[i * m * k + r * k + p];
      const right = transposeB ? b[i * k * n + c * k + p] : b[i * k * n + p * n + c];
      sum += left * right;
    }
    return sum;
  }

  it('loads the relaxed-SIMD build where the runtime runs it (Node 20 behind its V8 flag, Node ≥ 22 and Electron by default)', () => {
    assert.strictEqual(simdVariant(), 'relaxed-simd');
  });

  // Both builds: the fused multiply-add of relaxed SIMD and the plain one.
  for (const variant of ['relaxed-simd', 'simd'] as SimdVariant[]) {
    // Each build on both kinds of memory: tfjs-wasm's single-threaded build has its own, its threaded one a shared one.
    for (const shared of [false, true]) {
      describe(`products (${variant} build, ${shared ? 'shared' : 'own'} memory)`, () => {
        before(() => setSimdVariant(variant));
        after(() => setSimdVariant('auto'));
        const product = (a: Float32Array, b: Float32Array, s: ProductShape) => heapProduct(new TestHeap(shared), a, b, s);
        const batchedProduct = (a: Float32Array, b: Float32Array, s: BatchedProductShape) => heapProduct(new TestHeap(shared), a, b, s);

        it('runs the build asked for', () => assert.strictEqual(simdVariant(), variant));

        it('k = 0: zeros; m or n = 0: nothing written', () => {
          assert.deepStrictEqual(Array.from(product(new Float32Array(0), new Float32Array(0), { m: 2, k: 0, n: 3, transposeA: false, transposeB: false })), [0, 0, 0, 0, 0, 0]);
          assert.deepStrictEqual(Array.from(batchedProduct(new Float32Array(0), new Float32Array(0), { count: 2, m: 1, k: 0, n: 2, transposeA: true, transposeB: false })), [0, 0, 0, 0]);
          assert.strictEqual(product(new Float32Array(0), new Float32Array(6), { m: 0, k: 2, n: 3, transposeA: false, transposeB: false }).length, 0);
        });

        // [6, 5, 4] · [6, 4, 3]: tails of rows (5 = 4 + 1) and columns (3 < 8); [3, 7, 33] · [3, 33, 37]: 4 + 3 rows,
        // 4 panels + 5 columns; 300 × [64, 32] · [32, 64]: attention's shape, in more than one group.
        for (const [count, m, k, n] of [[6, 5, 4, 3], [3, 7, 33, 37], [300, 64, 32, 64]]) {
          for (const [transposeA, transposeB] of [[false, false], [true, false], [false, true], [true, true]]) {
            it(`batched product ${count} × [${m}, ${k}] · [${k}, ${n}] (transposeA ${transposeA}, transposeB ${transposeB}) equals a float64 one`, () => {
              const rng = new Random(count + m + k + n);
              const a = randomArray(rng, count * m * k);
              const b = randomArray(rng, count * k * n);
              const shape = { count, m, k, n, transposeA, transposeB };
              const expected = new Float64Array(count * m * n);
              for (let i = 0; i < count; i++) for (let r = 0; r < m; r++) for (let c = 0; c < n; c++) expected[i * m * n + r * n + c] = entry64(a, b, shape, i, r, c);
              // Sums of k products of normals: compared on their scale, √k.
              assertClose(batchedProduct(a, b, shape), expected, 1e-6, 'c', Math.sqrt(k));
            });
          }
        }

        // A KV cache with room: each head's rows are the first `length` of `capacity`, its matrices capacity·w apart.
        // One query (decoding), a few (grouped heads), many (a prefill); deeper than a depth tile (k = length 1,100).
        for (const [m, length, w] of [[1, 37, 64], [2, 9, 8], [5, 70, 16], [3, 1100, 8]]) {
          for (const transposeB of [true, false]) {
            it(`a batch of ${m} × ${length} rows of a cache with room (transposeB ${transposeB}) gives the contiguous product's bits`, () => {
              const [count, capacity] = [6, length + 13];
              const rng = new Random(m + length + w);
              const cache = randomArray(rng, count * capacity * w);
              const [k, n] = transposeB ? [w, length] : [length, w];
              const a = randomArray(rng, count * m * k);
              const shape = { count, m, k, n, transposeA: false, transposeB };
              const rows = new Float32Array(count * length * w);
              for (let i = 0; i < count; i++) rows.set(cache.subarray(i * capacity * w, (i * capacity + length) * w), i * length * w);
              const inPlace = batchedProduct(a, cache, { ...shape, bStride: capacity * w });
              assert.deepStrictEqual(inPlace, batchedProduct(a, rows, shape));
            });
          }
        }

        // Rows read b in place (≤ 4 rows), from packed panels (more), in one depth tile or two (k 1,100): each row's
        // values must be the same bits whichever way it went, so a batch split into fewer rows computes the same numbers.
        for (const [transposeA, transposeB] of [[false, false], [true, false], [false, true], [true, true]]) {
          it(`a row's values do not depend on the other rows (transposeA ${transposeA}, transposeB ${transposeB})`, () => {
            const [m, k, n] = [9, 1100, 13];
            const rng = new Random(17);
            const a = randomArray(rng, m * k);
            const b = randomArray(rng, k * n);
            const whole = product(a, b, { m, k, n, transposeA, transposeB });
            // Rows [from, to) of op(a), stored as op(a) is.
            const rowsOf = (from: number, to: number) => {
              if (!transposeA) return a.slice(from * k, to * k);
              const part = new Float32Array((to - from) * k);
              for (let p = 0; p < k; p++) for (let r = from; r < to; r++) part[p * (to - from) + r - from] = a[p * m + r];
              return part;
            };
            for (const [from, to] of [[0, 1], [1, 3], [3, 6], [6, 9], [2, 7]]) {
              const part = product(rowsOf(from, to), b, { m: to - from, k, n, transposeA, transposeB });
              assert.deepStrictEqual(Array.from(part), Array.from(whole.subarray(from * n, to * n)), `rows ${from}–${to}`);
            }
          });
        }

        // 1,100 × 1,500 · 1,500 × 1,030: 1,024 + 476 steps of k (the second tile added to the first in place), a
        // transposed a packed in blocks of 1,024 + 76 rows, b packed in many groups of columns. 500 entries against
        // float64, to 1e-5 of √k: float32 sums of 1,500 terms drift by ~1e-6 of it; a lost or doubled tile would be off by
        // ~0.5.
        for (const [transposeA, transposeB] of [[false, false], [true, false], [false, true], [true, true]]) {
          it(`a product in tiles of depth and rows (transposeA ${transposeA}, transposeB ${transposeB}) equals a float64 one`, function () {
            this.timeout(60000);
            const [m, k, n] = [1100, 1500, 1030];
            const rng = new Random(m + k + n + Number(transposeA) + 2 * Number(transposeB));
            const a = randomArray(rng, m * k);
            const b = randomArray(rng, k * n);
            const shape = { m, k, n, transposeA, transposeB };
            const c = product(a, b, shape);
            const picks = Array.from({ length: 500 }, (_, i) => (i < 4 ? [[0, 0], [m - 1, n - 1], [0, n - 1], [m - 1, 1024]][i] : [rng.int(m), rng.int(n)]));
            assertClose(picks.map(([r, col]) => c[r * n + col]), picks.map(([r, col]) => entry64(a, b, shape, 0, r, col)), 1e-5, 'c', Math.sqrt(k));
          });
        }
      });
    }
  }

  // d 7: the scalar tail; [3, 700, 5, 130]: 1.4 M values.
  for (const shape of [[2, 3, 4, 7], [1, 5, 2, 8], [3, 700, 5, 130]] as [number, number, number, number][]) {
    it(`swapping the middle axes of [${shape}] moves every value where a transpose [0, 2, 1, 3] does`, () => {
      const [a, b, c, d] = shape;
      const x = Float32Array.from({ length: a * b * c * d }, (_, i) => i);
      const heap = new TestHeap(false);
      const xAt = heap.put(x);
      const outAt = heap.put(new Float32Array(x.length));
      swapMiddleAxesOnHeap(heap, xAt, outAt, shape);
      const out = heap.read(outAt, x.length);
      for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) for (let l = 0; l < c; l++) for (let e = 0; e < d; e++) {
        const want = ((i * b + j) * c + l) * d + e;
        const got = out[((i * c + l) * b + j) * d + e];
        if (got !== want) assert.fail(`[${i}, ${l}, ${j}, ${e}]: ${got}, not x[${i}, ${j}, ${l}, ${e}] = ${want}`);
      }
    });
  }

  it('GELU of a single value (the scalar tail after the four-lane loop)', () => {
    assert.ok(Math.abs(geluValues(Float32Array.of(1e-3))[0] - 0.000500398942213582) < 1e-9);
  });

  it('GELU at the ends of e^x\'s clamp and of NaN, in the four-lane loop and the tail', () => {
    // gelu(x) → x for large x and → 0 from below for very negative x (e^x clamped at 87.3: ~1e-36, not 0); NaN stays
    // NaN (the clamp must not swallow it).
    const got = Array.from(geluValues(Float32Array.of(100, -100, NaN, 88, NaN, -30)));
    const shown = got.map((v) => (Number.isNaN(v) ? 'NaN' : v < 0 && v > -1e-30 ? '-tiny' : v));
    assert.deepStrictEqual(shown, [100, '-tiny', 'NaN', 88, 'NaN', '-tiny']);
  });

  it('a kernel names the mismatched size', () => {
    assert.throws(() => layerNormRows(new Float32Array(10), new Float32Array(4), new Float32Array(4), 3, 4, EPS), /x has 10 values, not rows × d = 3 × 4/);
    assert.throws(() => rmsNormRowsBackward(new Float32Array(12), new Float32Array(12), new Float32Array(3), 3, 4, EPS), /a weight has 3 values, not d = 4/);
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

  it('on wasm, in place on the heap: the same bits as through Float32Arrays (Adam step and global norm)', async () => {
    await useWasm();
    const n = 1000;
    const rng = new Random(5);
    const [w, g, m] = [randomArray(rng, n), randomArray(rng, n, 0.1), randomArray(rng, n, 0.01)];
    const v = randomArray(rng, n, 1e-3).map(Math.abs);
    const step = { gradScale: 0.7, correction1: 1 - 0.9 ** 2, correction2: 1 - 0.999 ** 2 };
    const options = { ...hyper, weightDecay: 0.01 };
    const expected = adamUpdate(w, g, m, v, options, step);
    const inputs = [w, g, m, v].map((x) => tf.tensor2d(x, [40, 25]));
    const got = adamUpdateOnWasm(inputs[0], inputs[1], inputs[2], inputs[3], options, step);
    assert.deepStrictEqual(got.map((t) => t.shape), [[40, 25], [40, 25], [40, 25]]);
    assert.deepStrictEqual(got.map((t) => Array.from(t.dataSync())), [expected.weight, expected.firstMoment, expected.secondMoment].map((x) => Array.from(x)));
    assert.deepStrictEqual(Array.from(inputs[0].dataSync()), Array.from(w), 'the weight tensor is left as it was');
    assert.strictEqual(globalNormOnWasm(inputs), globalNorm([w, g, m, v]));
    tf.dispose([...inputs, ...got]);
  });
});
