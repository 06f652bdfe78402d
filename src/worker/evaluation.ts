/**
 * Validation metrics from n samples per held-out prompt, named as verl's val-core / val-aux reports them (without
 * the data-source level, prefixed `eval/` like the rest of this project's validation metrics):
 *
 *   eval/reward                 mean total reward over all samples
 *   eval/rewards/<name>/mean    mean of each reward function
 *   eval/accuracy               the pass rate: the fraction of samples that pass (= eval/pass@1)
 *   eval/pass@k                 k = 1, 2, 4, …, n: the chance that at least one of k samples of a prompt passes
 *   eval/reward/mean@n          (n > 1) mean over prompts of the mean reward of their n samples
 *   eval/reward/std@n           (n > 1) mean over prompts of the std (np.std, population) of their n rewards
 *   eval/reward/best@k          (n > 1) k = 2, 4, …, n: the expected best reward of k samples of a prompt
 *   eval/rewards/failed         samples whose reward function failed (only when some did)
 *
 * The k are verl's (`process_validation_metrics`: powers of two below n, then n). verl estimates best@k (and so
 * pass@k, the best@k of a 0/1 score) by bootstrap: 1000 draws of k of the n samples *with* replacement, which is
 * random and biased low (a draw can repeat a failing sample). Here they are the exact unbiased estimators of
 * drawing k of the n without replacement: pass@k = 1 − C(n−c, k)/C(n, k) (Chen et al. 2021, "Evaluating Large
 * Language Models Trained on Code"), and best@k = Σᵢ C(i−1, k−1)/C(n, k) · r₍ᵢ₎ over the rewards sorted ascending
 * (the chance that the i-th smallest is the largest of a random k-subset). With k = n both are the plain maximum.
 *
 * A sample whose reward failed (NaN) is left out of eval/reward and eval/rewards/<name>/mean (as is a function's
 * abstention) and out of mean@n and std@n (each prompt's scored samples); in best@k it counts 0 (a draw with no
 * usable answer), and it never passes.
 */
import type { EvaluationConfig, SuccessCriterion } from '../protocol';
import type { Example, PromptTask } from './tasks/task';

export interface EvalSample {
  /** Weighted total reward; NaN where a reward function failed. */
  reward: number;
  /** Each reward function's value, by name (NaN where it failed). */
  rewards: Record<string, number>;
  /** Whether the sample passes; undefined when the run has no notion of success. */
  passed?: boolean;
}

/** The k of pass@k and best@k for n samples, as verl's `gen_ns`: 2, 4, 8, … below n, then n. */
export function sampleCounts(n: number): number[] {
  const ks: number[] = [];
  for (let k = 2; k < n; k *= 2) ks.push(k);
  if (n > 1) ks.push(n);
  return ks;
}

/** C(n, k) / C(m, k) for m ≥ n ≥ 0 as a product of ratios, exact enough for any n a validation samples. */
function binomialRatio(n: number, m: number, k: number): number {
  if (k > n) return 0;
  let ratio = 1;
  for (let j = 0; j < k; j++) ratio *= (n - j) / (m - j);
  return ratio;
}

/** Unbiased pass@k from n samples of which c passed: 1 − C(n−c, k)/C(n, k). */
export function passAtK(n: number, c: number, k: number): number {
  if (k < 1 || k > n || c < 0 || c > n) throw new RangeError(`pass@k needs 1 ≤ k ≤ n and 0 ≤ c ≤ n (n ${n}, c ${c}, k ${k})`);
  return 1 - binomialRatio(n - c, n, k);
}

/** Unbiased expected maximum of k of the values drawn without replacement. */
export function bestAtK(values: readonly number[], k: number): number {
  const n = values.length;
  if (k < 1 || k > n) throw new RangeError(`best@k needs 1 ≤ k ≤ n (n ${n}, k ${k})`);
  const sorted = [...values].sort((a, b) => a - b);
  let expected = 0;
  // P(the i-th smallest, 1-based, is the largest of k) = C(i−1, k−1)/C(n, k) = (k/n) · C(i−1, k−1)/C(n−1, k−1).
  for (let i = k; i <= n; i++) expected += sorted[i - 1] * (k / n) * binomialRatio(i - 1, n - 1, k - 1);
  return expected;
}

function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN;
}

function populationStd(xs: readonly number[]): number {
  const m = mean(xs);
  return Math.sqrt(mean(xs.map((x) => (x - m) ** 2)));
}

const scoreOf = (x: number): number => (Number.isFinite(x) ? x : 0);

/** Metrics of one validation; `groups[p]` holds prompt p's samples (the same count for every prompt). */
export function validationMetrics(groups: readonly (readonly EvalSample[])[]): Record<string, number> {
  const samples = groups.flat();
  if (samples.length === 0) return {};
  const n = groups[0].length;
  if (groups.some((g) => g.length !== n)) throw new Error('validation: every prompt needs the same number of samples');
  // Means over what was scored: a failed sample (or a function that abstained) is no 0 (eval/rewards/failed counts them).
  const metrics: Record<string, number> = { 'eval/reward': mean(samples.map((s) => s.reward).filter(Number.isFinite)) };
  for (const name of Object.keys(samples[0].rewards)) metrics[`eval/rewards/${name}/mean`] = mean(samples.map((s) => s.rewards[name]).filter(Number.isFinite));
  const failed = samples.filter((s) => !Number.isFinite(s.reward)).length;
  if (failed > 0) metrics['eval/rewards/failed'] = failed;
  const ks = sampleCounts(n);
  if (n > 1) {
    // mean@n and std@n describe the rewards a prompt got: its scored samples only (a prompt with none is left out).
    const scored = groups.map((g) => g.map((s) => s.reward).filter(Number.isFinite)).filter((r) => r.length > 0);
    if (scored.length > 0) {
      metrics[`eval/reward/mean@${n}`] = mean(scored.map(mean));
      metrics[`eval/reward/std@${n}`] = mean(scored.map(populationStd));
    }
    // best@k draws k of the n samples: a failed one is a draw with no usable answer, 0 (as it never passes for pass@k).
    const rewards = groups.map((g) => g.map((s) => scoreOf(s.reward)));
    for (const k of ks) metrics[`eval/reward/best@${k}`] = mean(rewards.map((r) => bestAtK(r, k)));
  }
  if (samples.some((s) => s.passed !== undefined)) {
    const passes = groups.map((g) => g.filter((s) => s.passed === true).length);
    metrics['eval/accuracy'] = passes.reduce((a, b) => a + b, 0) / samples.length;
    for (const k of [1, ...ks]) metrics[`eval/pass@${k}`] = mean(passes.map((c) => passAtK(n, c, k)));
  }
  return metrics;
}

export type SuccessCheck = (completion: string, example: Example, rewards: Record<string, number>) => boolean;

/**
 * What makes a validation sample pass: the config's `evaluation.success` (reward ≥ threshold) when given, else the
 * task's own check (arithmetic, gsm8k), else nothing (the prompts task without `success`: no pass rate).
 */
export function successCheck(success: SuccessCriterion | undefined, task: Pick<PromptTask, 'isCorrect'>): SuccessCheck | undefined {
  if (success) return (_completion, _example, rewards) => rewards[success.reward] >= success.threshold;
  if (task.isCorrect) return (completion, example) => task.isCorrect?.(completion, example) === true;
  return undefined;
}

/** Validation's temperature: greedy (0) by default for one sample per prompt, the training temperature for n > 1. */
export function validationTemperature(evaluation: Pick<EvaluationConfig, 'greedy' | 'n'>, trainingTemperature: number): number {
  const greedy = evaluation.greedy ?? evaluation.n === 1;
  return greedy ? 0 : trainingTemperature;
}
