import * as assert from 'assert';
import { formatCompact, formatTick, logTicks, niceTicks, quantile, robustRange, symlog, symlogConstant, symlogInverse, symlogTicks } from '../../../webview/ranges';
import { BUILT_IN_REWARD_RANGES, rewardRange } from '../../../src/protocol';
import { BUILT_IN_REWARDS, PARAMETERISED_REWARDS } from '../../../src/worker/tasks/rewards';

describe('chart ranges, symlog and number format', () => {
  it('a warm-start outlier among flat step times does not set the axis; it is reported as clipped', () => {
    const times = [25, ...Array.from({ length: 40 }, (_, i) => 1 + (i % 5) * 0.1)];
    const range = robustRange(times);
    assert.ok(range);
    assert.ok(range.clipped);
    assert.ok(range.max < 2, `max ${range.max}`);
    assert.ok(range.min >= 0 && range.min <= 1);
  });

  it('a steady trend or a bimodal metric is drawn whole (no clipping)', () => {
    const trend = Array.from({ length: 50 }, (_, i) => i / 50);
    assert.deepStrictEqual(robustRange(trend), { min: 0, max: 49 / 50 + (49 / 50) * 0.05, clipped: false });
    // Half the points at 0 and half at 10: nothing is an outlier.
    const bimodal = Array.from({ length: 20 }, (_, i) => (i % 2) * 10);
    assert.strictEqual(robustRange(bimodal)?.clipped, false);
    // Short series are never clipped.
    assert.strictEqual(robustRange([1, 1, 1, 100])?.clipped, false);
  });

  it('constant series get a small range around the value; all zeros [0, 1]', () => {
    assert.deepStrictEqual(robustRange([0, 0, 0]), { min: 0, max: 1, clipped: false });
    const five = robustRange([5, 5]);
    assert.ok(five && Math.abs(five.min - 4.5) < 1e-12 && Math.abs(five.max - 5.5) < 1e-12);
    assert.strictEqual(robustRange([NaN]), undefined);
  });

  it('bounds cap the range (a reward band cannot leave what the reward can be)', () => {
    assert.deepStrictEqual(robustRange([-0.3, 0.5, 1.4], [0, 1]), { min: 0, max: 1, clipped: false });
  });

  it('symlog is odd, invertible, linear near 0 and logarithmic far out; its ticks are 0 and ±c·10^k', () => {
    assert.strictEqual(symlog(0, 1), 0);
    assert.strictEqual(symlog(-9, 1), -1);
    assert.strictEqual(symlog(99, 1), 2);
    for (const y of [-123.4, -0.01, 0, 1e-5, 42]) assert.ok(Math.abs(symlogInverse(symlog(y, 0.01), 0.01) - y) < 1e-9 * Math.max(1, Math.abs(y)));
    assert.strictEqual(symlogConstant([0, 0.002, -0.5, 3, 40, 0.0031]), 0.001);
    assert.strictEqual(symlogConstant([0, 0]), 1);
    assert.deepStrictEqual(symlogTicks(symlog(-5, 1), symlog(500, 1), 1), [-1, 0, 1, 10, 100]);
  });

  it('round ticks: nice linear steps; a log axis gets 1-2-5 × 10^k over decades, linear ticks within one', () => {
    assert.deepStrictEqual(niceTicks(0.12, 0.97), [0.2, 0.4, 0.6, 0.8]);
    assert.deepStrictEqual(niceTicks(897, 984, 4), [900, 920, 940, 960, 980]);
    assert.deepStrictEqual(logTicks(0.03, 2.1), [0.05, 0.1, 0.2, 0.5, 1, 2]);
    assert.deepStrictEqual(logTicks(1e-8, 1e-3), [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3]);
    assert.deepStrictEqual(logTicks(0.195, 0.542), [0.2, 0.3, 0.4, 0.5]);
  });

  it('compact numbers: no "8.000e-8", thousands as K, ticks as precise as their spacing', () => {
    assert.strictEqual(formatCompact(8e-8), '8e-8');
    assert.strictEqual(formatCompact(1.23456e-7), '1.23e-7');
    assert.strictEqual(formatCompact(0.25), '0.25');
    assert.strictEqual(formatCompact(12345), '12.3K');
    assert.strictEqual(formatCompact(-4.5e6), '-4.5M');
    assert.strictEqual(formatCompact(0), '0');
    assert.strictEqual(formatCompact(NaN), '—');
    assert.strictEqual(formatTick(0.2001, 0.0001), '0.2001');
    assert.strictEqual(formatTick(0.5, 0.1), '0.5');
    assert.strictEqual(formatTick(2e-7, 1e-7), '2e-7');
    // The policy loss axis's 0 tick, as chart.js computes it from a min that is not a multiple of the step.
    assert.notStrictEqual(-0.3 + 3 * 0.1, 0);
    assert.strictEqual(formatTick(-0.3 + 3 * 0.1, 0.1), '0');
    assert.strictEqual(formatTick(1.3e-23, 0.01), '0');
    assert.strictEqual(formatTick(-4e-19, 5e-4), '0');
    // A small value that is a tick of its own scale stays.
    assert.strictEqual(formatTick(1e-12, 1e-12), '1e-12');
    assert.strictEqual(quantile([1, 2, 3, 4], 0.5), 2.5);
  });

  it('reward ranges: every built-in reward declares one; weights scale and flip it; a module makes it unknown', () => {
    for (const name of [...Object.keys(BUILT_IN_REWARDS), ...Object.keys(PARAMETERISED_REWARDS)]) assert.ok(BUILT_IN_REWARD_RANGES[name], `${name} has no range`);
    assert.deepStrictEqual(rewardRange({ rewards: [{ name: 'r1_zero', weight: 1 }] }), [0, 1]);
    assert.deepStrictEqual(rewardRange({ rewards: [{ name: 'arithmetic_answer', weight: 1 }, { name: 'integer_format', weight: 0.5 }, { name: 'soft_overlong_punishment', weight: 1 }] }), [-1, 1.5]);
    assert.deepStrictEqual(rewardRange({ rewards: [{ name: 'integer_format', weight: -2 }] }), [-2, 0]);
    assert.strictEqual(rewardRange({ rewards: [{ name: 'mine', module: 'reward.js', weight: 1 }] }), undefined);
    assert.strictEqual(rewardRange({ rewards: [] }), undefined);
  });
});
