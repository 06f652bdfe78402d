import * as assert from 'assert';
import { DEFAULT_HEALTH_THRESHOLDS, formatSteps, HealthAlert, healthAlerts, HealthRule, healthThresholds, MetricsRecord, StoredNumber } from '../../../src/protocol';

/** Rows of steps 1..n from per-step metric values (a function of the step). */
function series(n: number, metrics: (step: number) => Record<string, StoredNumber>): MetricsRecord[] {
  return Array.from({ length: n }, (_, i) => ({ step: i + 1, time: 1000 * (i + 1), metrics: metrics(i + 1) }));
}

function alertOf(rows: MetricsRecord[], rule: HealthRule, thresholds = DEFAULT_HEALTH_THRESHOLDS): HealthAlert | undefined {
  return healthAlerts(rows, thresholds).find((a) => a.rule === rule);
}

/** A healthy run: entropy, KL, lengths, ties, repetition and validation all where they should be. */
const healthy = (step: number): Record<string, StoredNumber> => ({
  reward: 0.2 + step / 100,
  loss: 0.01,
  kl: 0.01 * Math.sqrt(step),
  grad_norm: 1,
  entropy: 2 - step / 50,
  'completions/clipped_ratio': 0.1,
  frac_reward_zero_std: 0.3,
  'completions/repetition': 0.05,
  'train/skipped_steps': 0,
  'rewards/failed': 0,
  ...(step % 10 === 0 ? { 'eval/accuracy': 0.2 + step / 200 } : {}),
});

describe('health alerts', () => {
  it('a healthy run raises none', () => {
    assert.deepStrictEqual(healthAlerts(series(60, healthy)), []);
  });

  it('entropy collapse: fires when entropy stays under 10% of its start for 3 steps, not for one dip', () => {
    const collapsed = series(30, (s) => ({ ...healthy(s), entropy: s <= 20 ? 2 : 0.05 }));
    const alert = alertOf(collapsed, 'entropy-collapse');
    assert.ok(alert);
    assert.deepStrictEqual(alert.steps, [21, 22, 23, 24, 25, 26, 27, 28, 29, 30]);
    assert.match(alert.message, /below 0\.2 \(10% of its starting 2\) at steps 21–30/);
    const dip = series(30, (s) => ({ ...healthy(s), entropy: s === 12 || s === 13 ? 0.05 : 2 }));
    assert.strictEqual(alertOf(dip, 'entropy-collapse'), undefined);
    // A looser ratio fires on a smaller drop.
    const halved = series(30, (s) => ({ ...healthy(s), entropy: s <= 20 ? 2 : 0.9 }));
    assert.strictEqual(alertOf(halved, 'entropy-collapse'), undefined);
    assert.ok(alertOf(halved, 'entropy-collapse', { ...DEFAULT_HEALTH_THRESHOLDS, entropyCollapseRatio: 0.5 }));
  });

  it('KL blow-up: any step above kl max, with the peak', () => {
    const rows = series(20, (s) => ({ ...healthy(s), kl: s === 15 ? 9.46 : 0.02 }));
    const alert = alertOf(rows, 'kl-blowup');
    assert.deepStrictEqual(alert?.steps, [15]);
    assert.match(alert?.message ?? '', /above 1 \(up to 9\.46\) at step 15$/);
    assert.strictEqual(alertOf(rows, 'kl-blowup', { ...DEFAULT_HEALTH_THRESHOLDS, klMax: 10 }), undefined);
  });

  it('length at the cap: half the completions truncated for 3 steps in a row', () => {
    const rows = series(10, (s) => ({ ...healthy(s), 'completions/clipped_ratio': s >= 6 ? 0.75 : 0.1 }));
    assert.deepStrictEqual(alertOf(rows, 'length-at-cap')?.steps, [6, 7, 8, 9, 10]);
    const twoSteps = series(10, (s) => ({ ...healthy(s), 'completions/clipped_ratio': s === 4 || s === 5 ? 1 : 0.1 }));
    assert.strictEqual(alertOf(twoSteps, 'length-at-cap'), undefined);
  });

  it('tied groups: prefers the exact per-group share to TRL\'s batch-scaled 0/1', () => {
    const rows = series(10, (s) => ({ ...healthy(s), frac_reward_zero_std: 1, 'frac_reward_zero_std/groups': s > 5 ? 0.95 : 0.5 }));
    assert.deepStrictEqual(alertOf(rows, 'tied-groups')?.steps, [6, 7, 8, 9, 10]);
    const trlOnly = series(10, (s) => ({ ...healthy(s), frac_reward_zero_std: s > 7 ? 1 : 0.2 }));
    assert.deepStrictEqual(alertOf(trlOnly, 'tied-groups')?.steps, [8, 9, 10]);
  });

  it('reward up while validation goes down: names the validations, opens validation samples', () => {
    // Validation peaks at step 20, then falls; training reward keeps climbing.
    const rows = series(50, (s) => ({ ...healthy(s), ...(s % 10 === 0 ? { 'eval/accuracy': s <= 20 ? s / 40 : 0.5 - (s - 20) / 100 } : {}) }));
    const alert = alertOf(rows, 'reward-vs-validation');
    assert.ok(alert);
    assert.strictEqual(alert.source, 'eval');
    // 30: 0.4 (0.1 under the best 0.5) → fires; 40: 0.3, 50: 0.2.
    assert.deepStrictEqual(alert.steps, [30, 40, 50]);
    // The same fall with a training reward that fell too is no divergence.
    const bothDown = rows.map((r) => ({ ...r, metrics: { ...r.metrics, reward: 1 - r.step / 100 } }));
    assert.strictEqual(alertOf(bothDown, 'reward-vs-validation'), undefined);
    // A fall within validationDrop is noise.
    assert.strictEqual(alertOf(rows, 'reward-vs-validation', { ...DEFAULT_HEALTH_THRESHOLDS, validationDrop: 0.5 }), undefined);
  });

  it('reward up while validation goes down: one pass agrees with rescanning the rows at every validation', () => {
    // The rule as first written: the mean reward up to the best and since it, each summed again from the rows.
    const mean = (rows: MetricsRecord[], from: number, to: number) => {
      const values = rows.filter((r) => r.step > from && r.step <= to).map((r) => r.metrics.reward).filter((v): v is number => typeof v === 'number');
      return values.length ? values.reduce((a, b) => a + b, 0) / values.length : undefined;
    };
    const rescanned = (rows: MetricsRecord[], drop: number): number[] => {
      const evals = rows.filter((r) => typeof r.metrics['eval/accuracy'] === 'number');
      const steps: number[] = [];
      let best = evals[0];
      for (const row of evals.slice(1)) {
        const value = row.metrics['eval/accuracy'] as number;
        const bestValue = best.metrics['eval/accuracy'] as number;
        if (value > bestValue) {
          best = row;
          continue;
        }
        const before = mean(rows, -Infinity, best.step);
        const since = mean(rows, best.step, row.step);
        if (bestValue - value > drop && before !== undefined && since !== undefined && since > before) steps.push(row.step);
      }
      return steps;
    };
    let state = 7;
    const random = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    for (let trial = 0; trial < 40; trial++) {
      // Rewards with gaps (null: a failed reward; missing: not logged), validations at random steps, some tied.
      const rows = series(200, (s) => ({
        ...(random() < 0.9 ? { reward: random() < 0.05 ? null : Math.round(random() * 8) / 8 } : {}),
        ...(s === 0 || random() < 0.15 ? { 'eval/accuracy': Math.round(random() * 10) / 10 } : {}),
      }));
      const drop = [0, 0.05, 0.2][trial % 3];
      const expected = rescanned(rows, drop);
      assert.deepStrictEqual(alertOf(rows, 'reward-vs-validation', { ...DEFAULT_HEALTH_THRESHOLDS, validationDrop: drop })?.steps ?? [], expected, `trial ${trial}`);
      if (trial === 0) assert.ok(expected.length > 0, 'the random rows raise the alert at some validations');
    }
  });

  it('repetition: seq-rep-4 at or above the threshold for 3 steps', () => {
    const rows = series(12, (s) => ({ ...healthy(s), 'completions/repetition': s > 8 ? 0.7 : 0.1 }));
    const alert = alertOf(rows, 'repetition');
    assert.deepStrictEqual(alert?.steps, [9, 10, 11, 12]);
    assert.match(alert?.message ?? '', /up to 0\.7/);
    assert.strictEqual(alertOf(series(12, healthy), 'repetition'), undefined);
  });

  it('NaN and skipped steps: a null loss/kl/grad_norm/reward, or a skipped-update count that grew', () => {
    const rows = series(10, (s) => ({ ...healthy(s), loss: s === 4 ? null : 0.01, 'train/skipped_steps': s >= 7 ? 1 : 0 }));
    const alert = alertOf(rows, 'non-finite');
    assert.deepStrictEqual(alert?.steps, [4, 7]);
    assert.match(alert?.message ?? '', /\(loss, skipped update\) at steps 4, 7/);
    // A metric a run does not log at all is not NaN.
    const noGradNorm = series(5, (s) => {
      const metrics = healthy(s);
      delete metrics.grad_norm;
      return metrics;
    });
    assert.strictEqual(alertOf(noGradNorm, 'non-finite'), undefined);
  });

  it('reward failures: every step with a failed sample, with the total', () => {
    const rows = series(10, (s) => ({ ...healthy(s), 'rewards/failed': s === 3 ? 2 : s === 8 ? 1 : 0 }));
    const alert = alertOf(rows, 'reward-failures');
    assert.deepStrictEqual(alert?.steps, [3, 8]);
    assert.match(alert?.message ?? '', /^3 samples whose reward failed, at steps 3, 8$/);
  });

  it('a resumed run\'s repeated step counts once (the later row wins)', () => {
    const rows = series(10, healthy);
    rows.push({ step: 5, time: 99_000, metrics: { ...healthy(5), kl: 5 } });
    assert.deepStrictEqual(alertOf(rows, 'kl-blowup')?.steps, [5]);
  });

  it('formats step lists as ranges and reads settings with defaults for bad values', () => {
    assert.strictEqual(formatSteps([1, 2, 3, 7, 9, 10]), '1–3, 7, 9–10');
    assert.strictEqual(formatSteps([1, 3, 5, 7, 9]), '1, 3, 5 and 2 more ranges');
    const settings: Record<string, unknown> = { klMax: 0.5, minSteps: 'three' };
    assert.deepStrictEqual(healthThresholds((key) => settings[key]), { ...DEFAULT_HEALTH_THRESHOLDS, klMax: 0.5 });
  });
});
