import * as assert from 'assert';
import { Random } from '../../../src/model/random';

describe('NumPy-compatible random stream', () => {
  it('matches np.random.seed(42); randn(5); random_sample(); randint(0, 2**32)', () => {
    const r = new Random(42);
    // Values printed by NumPy 2.4 (legacy RandomState).
    const expected = [0.4967141530112327, -0.13826430117118466, 0.6476885381006925, 1.5230298564080254, -0.23415337472333597];
    assert.deepStrictEqual(expected.map(() => r.normal()), expected);
    assert.strictEqual(r.random(), 0.05808361216819946);
    assert.strictEqual(r.nextUint32(), 3720198231);
  });

  it('choice follows the cdf with side="right"', () => {
    const r = new Random(0);
    const counts = [0, 0, 0];
    for (let i = 0; i < 3000; i++) counts[r.choice([0.2, 0, 0.8])]++;
    assert.strictEqual(counts[1], 0);
    assert.ok(Math.abs(counts[0] / 3000 - 0.2) < 0.03, String(counts));
  });

  it('restores a saved state exactly', () => {
    const r = new Random(7);
    r.normal();
    const state = r.getState();
    const a = [r.normal(), r.random(), r.nextUint32()];
    const s = new Random(1);
    s.setState(state);
    assert.deepStrictEqual([s.normal(), s.random(), s.nextUint32()], a);
  });

  it('rejects seeds outside [0, 2^32)', () => {
    assert.throws(() => new Random(-1), /seed must be an integer/);
    assert.throws(() => new Random(1.5), /seed must be an integer/);
  });
});
