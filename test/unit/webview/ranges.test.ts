import * as assert from 'assert';
import { formatCompact, formatTick, logTicks, niceTicks, quantile, robustRange, symlog, symlogConstant, symlogInverse, symlogTicks, tickNotation } from '../../../webview/ranges';
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

  it('a decaying loss keeps its start in range; a lone 100× spike in a flat series is still clipped', () => {
    // An SFT warm start: 3.7 falling to about 1.8 within 20 steps, then 580 noisy steps near 1.8.
    const loss = Array.from({ length: 600 }, (_, t) => 1.8 + 1.9 * Math.exp(-t / 5) + 0.03 * Math.sin(t * 1.7));
    const range = robustRange(loss);
    assert.ok(range);
    assert.strictEqual(range.clipped, false);
    assert.ok(range.max >= loss[0], `max ${range.max} < first ${loss[0]}`);
    // The same drop in four steps is still a trend, not a spike.
    const steep = [3.7, 3.0, 2.5, 2.1, ...loss.slice(20)];
    assert.ok((robustRange(steep)?.max ?? 0) >= 3.7);
    const flat = Array.from({ length: 200 }, (_, i) => 0.01 + 0.001 * (i % 7));
    flat[120] = 1.2;
    const spiked = robustRange(flat);
    assert.ok(spiked);
    assert.strictEqual(spiked.clipped, true);
    assert.ok(spiked.max < 0.1, `max ${spiked.max}`);
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
    // ±1 would sit 0.3 units from 0 on a 3.5-unit axis: 5 × 10^k fills in where it has room instead.
    assert.deepStrictEqual(symlogTicks(symlog(-5, 1), symlog(500, 1), 1), [-5, 0, 10, 100, 500]);
  });

  it('symlog ticks do not crowd around 0, and an axis within one decade gets more than 0 and 1', () => {
    // ppo_kl on log y: ±1e-7 with c = 1e-9 drew "1e-9 / 0 / -1e-9" on top of each other.
    const c = 1e-9;
    const kl = symlogTicks(symlog(-1.2e-7, c), symlog(1.2e-7, c), c);
    assert.deepStrictEqual(kl, [-1e-7, -1e-8, 0, 1e-8, 1e-7]);
    // No two ticks closer than a seventh of the axis (one label line on a 110 px plot).
    const gaps = kl.slice(1).map((v, i) => symlog(v, c) - symlog(kl[i], c));
    assert.ok(Math.min(...gaps) >= (2 * symlog(1.2e-7, c)) / 7, `gaps ${gaps.join(', ')}`);
    // A grad norm of 0 to 3 (one zero: symlog with c = 1) was labelled 0 and 1 only.
    assert.deepStrictEqual(symlogTicks(0, symlog(3.2, 1), 1), [0, 1, 2]);
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

  it('one notation per axis: an axis with a tick below 1e-3 writes every tick as an exponent', () => {
    const ticks = [0, 5e-4, 0.001, 0.0015, 0.002];
    const notation = tickNotation(ticks, 5e-4);
    assert.strictEqual(notation, 'exponent');
    assert.deepStrictEqual(
      ticks.map((v) => formatTick(v, 5e-4, notation)),
      ['0', '5e-4', '1e-3', '1.5e-3', '2e-3'],
    );
    // Ticks all ≥ 1e-3 (or a float-noise 0) keep decimals.
    assert.strictEqual(tickNotation([1e-19, 0.25, 0.5], 0.25), 'auto');
    assert.deepStrictEqual([0.002, 0.004].map((v) => formatTick(v, 0.002, tickNotation([0.002, 0.004], 0.002))), ['0.002', '0.004']);
  });

  it('a series constant up to float noise (ESS 0.99999999999992 beside 1) gets a round range, not 13-digit ticks', () => {
    const ess = Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? 1 : 0.99999999999992));
    const range = robustRange(ess);
    assert.ok(range);
    assert.ok(range.max - range.min > 0.1, `range ${range.min} to ${range.max}`);
    const ticks = niceTicks(range.min, range.max);
    const step = ticks[1] - ticks[0];
    for (const tick of ticks) assert.ok(formatTick(tick, step).length <= 4, formatTick(tick, step));
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
