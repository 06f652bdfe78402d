/**
 * Shared by the GRPO tests: the backend loop, closeness checks that treat NaN as a value, a leak check, and central
 * differences for gradient checks.
 */
import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { Random } from '../../../src/model/random';
import { selectBackend } from '../../../src/worker/backend';

export const BACKENDS = ['cpu', 'wasm'] as const;
export type TestBackend = (typeof BACKENDS)[number];

/**
 * Declares the same suite once per CPU backend the project uses; each copy activates its backend first. Every test
 * runs in an engine scope, so the tensors a test creates are freed after it.
 */
export function describeOnBackends(title: string, body: (backend: TestBackend) => void): void {
  for (const backend of BACKENDS) {
    describe(`${title} [${backend}]`, () => {
      before(async () => {
        await selectBackend(backend);
      });
      beforeEach(() => tf.engine().startScope());
      afterEach(() => tf.engine().endScope());
      body(backend);
    });
  }
}

type Nested = number | Nested[] | ArrayLike<number>;

export function flatten(value: Nested): number[] {
  if (typeof value === 'number') return [value];
  return Array.from(value as ArrayLike<Nested>).flatMap((item) => flatten(item));
}

/**
 * |actual − expected| ≤ tolerance · max(1, |expected|) elementwise; NaN must meet NaN and ±∞ the same ∞, so a
 * function that should give NaN cannot pass by giving a number and vice versa.
 */
export function assertClose(actual: Nested | tf.Tensor, expected: Nested, tolerance: number, what = 'value'): void {
  const got = actual instanceof tf.Tensor ? Array.from(actual.dataSync()) : flatten(actual);
  const want = flatten(expected);
  assert.equal(got.length, want.length, `${what}: ${got.length} values, expected ${want.length}`);
  want.forEach((w, i) => {
    const g = got[i];
    if (Number.isNaN(w) || !Number.isFinite(w)) {
      assert.ok(Object.is(g, w) || (Number.isNaN(w) && Number.isNaN(g)), `${what}[${i}]: got ${g}, expected ${w}`);
      return;
    }
    assert.ok(
      Math.abs(g - w) <= tolerance * Math.max(1, Math.abs(w)),
      `${what}[${i}]: got ${g}, expected ${w} (tolerance ${tolerance})`,
    );
  });
}

/** Runs `body` and fails if it left more tensors alive than before (after disposing what it returns). */
export async function assertNoLeak(body: () => unknown): Promise<void> {
  const before = tf.memory().numTensors;
  const result = await body();
  tf.dispose(result as tf.TensorContainer);
  assert.equal(tf.memory().numTensors, before, 'tensors leaked');
}

/** Central differences (f(x + h·e_i) − f(x − h·e_i)) / 2h of a float64 function, for every coordinate. */
export function centralDifferences(f: (x: number[]) => number, x: number[], h: number): number[] {
  return x.map((_, i) => {
    const plus = x.slice();
    const minus = x.slice();
    plus[i] += h;
    minus[i] -= h;
    return (f(plus) - f(minus)) / (2 * h);
  });
}

/** Deterministic standard normal values, rounded to float32 so tfjs and the reference see the same inputs. */
export function normals(seed: number, count: number, scale = 1, offset = 0): number[] {
  const random = new Random(seed);
  return Array.from({ length: count }, () => Math.fround(offset + scale * random.normal()));
}

export function rows(values: number[], columns: number): number[][] {
  return Array.from({ length: values.length / columns }, (_, r) => values.slice(r * columns, (r + 1) * columns));
}

/** Log-ratios kept ≥ 0.02 away from log(1 ± ε), where the clipped loss has kinks and differences mean nothing. */
export function logRatiosAwayFromKinks(seed: number, count: number, epsLow: number, epsHigh: number): number[] {
  const kinks = [Math.log(1 - epsLow), Math.log(1 + epsHigh)];
  return normals(seed, count, 0.3).map((value) =>
    kinks.some((kink) => Math.abs(value - kink) < 0.02) ? Math.fround(value + 0.05) : value,
  );
}

