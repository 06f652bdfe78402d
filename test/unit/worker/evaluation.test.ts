/** Validation metrics against values computed by hand. */
import * as assert from 'assert';
import { bestAtK, EvalSample, passAtK, sampleCounts, successCheck, validationMetrics, validationTemperature } from '../../../src/worker/evaluation';

const close = (actual: number, expected: number, what = '') => assert.ok(Math.abs(actual - expected) < 1e-12, `${what} ${actual} ≠ ${expected}`);

/** Brute force: the mean over every k-subset of the n values of f(subset). */
function overSubsets(values: number[], k: number, f: (subset: number[]) => number): number {
  const out: number[] = [];
  const pick = (start: number, chosen: number[]) => {
    if (chosen.length === k) return void out.push(f(chosen));
    for (let i = start; i < values.length; i++) pick(i + 1, [...chosen, values[i]]);
  };
  pick(0, []);
  return out.reduce((a, b) => a + b, 0) / out.length;
}

const sample = (reward: number, passed?: boolean, rewards: Record<string, number> = { r: reward }): EvalSample => ({ reward, rewards, passed });

describe('validation metrics', () => {
  it('the k of pass@k are verl\'s: powers of two below n, then n', () => {
    assert.deepStrictEqual(sampleCounts(1), []);
    assert.deepStrictEqual(sampleCounts(2), [2]);
    assert.deepStrictEqual(sampleCounts(4), [2, 4]);
    assert.deepStrictEqual(sampleCounts(5), [2, 4, 5]);
    assert.deepStrictEqual(sampleCounts(16), [2, 4, 8, 16]);
  });

  it('pass@k: the unbiased estimator 1 − C(n−c, k)/C(n, k)', () => {
    close(passAtK(4, 2, 1), 0.5);
    close(passAtK(4, 2, 2), 1 - 1 / 6); // C(2,2)/C(4,2) = 1/6: 5/6
    close(passAtK(4, 2, 3), 1); // n − c < k: some pass is always drawn
    close(passAtK(4, 0, 4), 0);
    close(passAtK(4, 1, 4), 1);
    close(passAtK(10, 3, 4), 1 - 35 / 210); // C(7,4) = 35, C(10,4) = 210
    // Against every subset: pass@k is the share of k-subsets holding a pass.
    const outcomes = [1, 0, 0, 1, 0, 1, 0];
    for (let k = 1; k <= 7; k++) close(passAtK(7, 3, k), overSubsets(outcomes, k, (s) => Math.max(...s)), `k=${k}`);
    assert.throws(() => passAtK(4, 5, 1), RangeError);
    assert.throws(() => passAtK(4, 1, 5), RangeError);
  });

  it('best@k: the expected maximum of k samples drawn without replacement', () => {
    const rewards = [0.2, -1, 0.7, 0.5, 0.7];
    close(bestAtK(rewards, 1), (0.2 - 1 + 0.7 + 0.5 + 0.7) / 5);
    close(bestAtK(rewards, 5), 0.7);
    for (let k = 1; k <= 5; k++) close(bestAtK(rewards, k), overSubsets(rewards, k, (s) => Math.max(...s)), `k=${k}`);
    close(bestAtK([0, 1, 0, 1], 2), 5 / 6); // on 0/1 values, pass@k
  });

  it('n = 4 per prompt: means, std, best@k and pass@k averaged over prompts', () => {
    const groups = [
      [sample(1, true), sample(0, false), sample(1, true), sample(0, false)], // c = 2
      [sample(0.5, false), sample(0.5, false), sample(0.5, false), sample(0.5, false)], // c = 0
    ];
    const m = validationMetrics(groups);
    close(m['eval/reward'], 4 / 8);
    close(m['eval/rewards/r/mean'], 4 / 8);
    close(m['eval/reward/mean@4'], (0.5 + 0.5) / 2);
    close(m['eval/reward/std@4'], (0.5 + 0) / 2); // np.std([1, 0, 1, 0]) = 0.5
    close(m['eval/reward/best@2'], (5 / 6 + 0.5) / 2);
    close(m['eval/reward/best@4'], (1 + 0.5) / 2);
    close(m['eval/accuracy'], 2 / 8);
    close(m['eval/pass@1'], (0.5 + 0) / 2);
    close(m['eval/pass@2'], (5 / 6 + 0) / 2);
    close(m['eval/pass@4'], (1 + 0) / 2);
    assert.deepStrictEqual(Object.keys(m).sort(), [
      'eval/accuracy', 'eval/pass@1', 'eval/pass@2', 'eval/pass@4', 'eval/reward', 'eval/reward/best@2', 'eval/reward/best@4',
      'eval/reward/mean@4', 'eval/reward/std@4', 'eval/rewards/r/mean',
    ]);
  });

  it('n = 1: reward means and pass@1 only; no pass metrics without a notion of success; failures left out of the means', () => {
    const one = validationMetrics([[sample(1, true)], [sample(0, false)], [sample(Number.NaN, false, { r: Number.NaN, s: 2 })]]);
    assert.deepStrictEqual(one, { 'eval/reward': 1 / 2, 'eval/rewards/r/mean': 1 / 2, 'eval/rewards/failed': 1, 'eval/accuracy': 1 / 3, 'eval/pass@1': 1 / 3 });
    const two = validationMetrics([[sample(1, undefined, { a: 1, b: 0 }), sample(3, undefined, { a: 3, b: 1 })]]);
    assert.deepStrictEqual(two, { 'eval/reward': 2, 'eval/rewards/a/mean': 2, 'eval/rewards/b/mean': 0.5, 'eval/reward/mean@2': 2, 'eval/reward/std@2': 1, 'eval/reward/best@2': 3 });
    assert.deepStrictEqual(validationMetrics([]), {});
    assert.throws(() => validationMetrics([[sample(1)], [sample(1), sample(2)]]), /same number of samples/);
  });

  it('a failed sample is out of mean@n and std@n, 0 in best@k (issue 12 item 3)', () => {
    // Prompt 1: rewards [1, failed]; prompt 2: [0.5, 0.3]. Before: mean@2 = ((1 + 0)/2 + 0.4)/2 = 0.45.
    const m = validationMetrics([[sample(1), sample(Number.NaN)], [sample(0.5), sample(0.3)]]);
    close(m['eval/reward/mean@2'], (1 + 0.4) / 2);
    close(m['eval/reward/std@2'], (0 + 0.1) / 2);
    close(m['eval/reward/best@2'], (1 + 0.5) / 2);
    assert.strictEqual(m['eval/rewards/failed'], 1);
    const allFailed = validationMetrics([[sample(Number.NaN), sample(Number.NaN)]]);
    assert.ok(!('eval/reward/mean@2' in allFailed) && !('eval/reward/std@2' in allFailed));
  });

  it('success: the config\'s reward threshold overrides the task\'s check; none without either', () => {
    const example = { id: '1', prompt: 'p', answer: '7' };
    const task = { isCorrect: (completion: string) => completion === '7' };
    const byTask = successCheck(undefined, task);
    assert.strictEqual(byTask?.('7', example, {}), true);
    assert.strictEqual(byTask?.('8', example, {}), false);
    const byReward = successCheck({ reward: 'score', threshold: 0.5 }, task);
    assert.strictEqual(byReward?.('8', example, { score: 0.5 }), true);
    assert.strictEqual(byReward?.('7', example, { score: 0.4 }), false);
    assert.strictEqual(byReward?.('7', example, { score: Number.NaN }), false);
    assert.strictEqual(successCheck(undefined, {}), undefined);
  });

  it('greedy for one sample per prompt, the training temperature for several (or when greedy is false)', () => {
    assert.strictEqual(validationTemperature({ n: 1 }, 0.8), 0);
    assert.strictEqual(validationTemperature({ n: 4 }, 0.8), 0.8);
    assert.strictEqual(validationTemperature({ n: 1, greedy: false }, 0.8), 0.8);
    assert.strictEqual(validationTemperature({ n: 1, greedy: true }, 0.8), 0);
  });
});
