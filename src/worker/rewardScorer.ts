/**
 * Scores completions with the run's reward functions (built-in or user modules), weighted and summed. A function
 * that throws or returns a non-finite value scores that sample NaN, reported through `onError`; the run goes on.
 * The extras a function returns (e.g. `format_reward`) are averaged into `rewards/<name>/<extra>` metrics.
 * Functions get `(prompt, completion, example)`, `example` being the row's columns plus `id`, `prompt`, `answer`,
 * `messages` and `completion` (rewardExample in tasks/task.ts).
 */
import { RewardSpec } from '../protocol';
import { combineWeightedRewards } from '../grpo';
import { BUILT_IN_REWARDS, loadRewardModule, PARAMETERISED_REWARDS, RewardFunction, StepReward, unpackReward } from './tasks/rewards';
import { Example, rewardExample } from './tasks/task';

export interface RewardFailure {
  reward: string;
  message: string;
  prompt: string;
  completion: string;
}

export interface ScoredBatch {
  /** Weighted total per sample; NaN where any function failed on it. */
  totals: number[];
  /** Each function's value per sample (NaN where it failed), by name. */
  byFunction: Record<string, number[]>;
  metrics: Record<string, number>;
  /**
   * Process supervision: each sample's weighted step rewards, every function's together. A function that returned
   * a plain number counts as one step over the whole completion (end = Infinity); empty where a function failed.
   */
  steps: StepReward[][];
}

interface LoadedReward {
  name: string;
  weight: number;
  fn: RewardFunction;
}

export class RewardScorer {
  private constructor(private readonly rewards: LoadedReward[]) {}

  /** Resolves the config's rewards (or the task's defaults); module paths are relative to `baseDir`. */
  static async load(specs: RewardSpec[], defaults: readonly string[], baseDir: string, context: { maxCompletionLength?: number } = {}): Promise<RewardScorer> {
    const chosen: RewardSpec[] = specs.length > 0 ? specs : defaults.map((name) => ({ name, weight: 1 }));
    const loaded = await Promise.all(
      chosen.map(async (spec, i): Promise<LoadedReward> => {
        if (spec.module) return { name: spec.name, weight: spec.weight, fn: await loadRewardModule(spec.module, baseDir) };
        const factory = PARAMETERISED_REWARDS[spec.name];
        if (factory) return { name: spec.name, weight: spec.weight, fn: withParams(i, () => factory(spec.params ?? {}, context)) };
        // The schema fills an absent object with {}: only params that say something are refused.
        if (spec.params !== undefined && Object.keys(spec.params).length > 0) throw new Error(`rewards[${i}].params: "${spec.name}" takes no params`);
        const fn = BUILT_IN_REWARDS[spec.name];
        if (!fn) {
          throw new Error(`rewards[${i}].name: unknown built-in reward "${spec.name}" (built-in: ${[...Object.keys(BUILT_IN_REWARDS), ...Object.keys(PARAMETERISED_REWARDS)].join(', ')}; or give a "module")`);
        }
        return { name: spec.name, weight: spec.weight, fn };
      }),
    );
    return new RewardScorer(loaded);
  }

  get names(): string[] {
    return this.rewards.map((r) => r.name);
  }

  /** `completionIds`: each completion's token ids, given to the functions as `example.completion_ids` (TRL's kwarg). */
  /** The weighted-sum metrics (`rewards/<name>/mean`, …) of already scored values, e.g. of a subset of samples. */
  metricsOf(byFunction: Record<string, number[]>): Record<string, number> {
    return combineWeightedRewards(this.rewards.map(({ name, weight }) => ({ name, weight, rewards: byFunction[name] }))).metrics;
  }

  async score(completions: string[], examples: Example[], onError: (failure: RewardFailure) => void, completionIds?: number[][]): Promise<ScoredBatch> {
    const byFunction: Record<string, number[]> = {};
    const extras: Record<string, number[]> = {};
    // One object per sample for every function: a user function that writes to it cannot change the example.
    const steps: StepReward[][] = completions.map(() => []);
    const forRewards = examples.map((example, i) => (completionIds ? { ...rewardExample(example), completion_ids: [...completionIds[i]] } : rewardExample(example)));
    for (const { name, fn, weight } of this.rewards) {
      byFunction[name] = await Promise.all(
        completions.map(async (completion, i) => {
          const example = examples[i];
          try {
            const { reward, extras: named, steps: own } = unpackReward(await fn(example.prompt, completion, forRewards[i]));
            for (const [key, value] of Object.entries(named)) (extras[`rewards/${name}/${key}`] ??= []).push(value);
            steps[i].push(...(own ?? [{ end: Number.POSITIVE_INFINITY, reward }]).map((step) => ({ end: step.end, reward: weight * step.reward })));
            return reward;
          } catch (err) {
            onError({ reward: name, message: err instanceof Error ? err.message : String(err), prompt: example.prompt, completion });
            return Number.NaN;
          }
        }),
      );
    }
    const combined = combineWeightedRewards(this.rewards.map(({ name, weight }) => ({ name, weight, rewards: byFunction[name] })));
    // combineWeightedRewards skips a NaN term (TRL's nansum for "does not apply"); a failure must poison the sample.
    const totals = combined.rewards.map((total, i) => (this.rewards.some(({ name }) => Number.isNaN(byFunction[name][i])) ? Number.NaN : total));
    const metrics = { ...combined.metrics };
    for (const [key, values] of Object.entries(extras)) metrics[key] = values.reduce((a, b) => a + b, 0) / values.length;
    totals.forEach((total, i) => {
      if (Number.isNaN(total)) steps[i] = [];
    });
    return { totals, byFunction, metrics, steps };
  }
}

/**
 * A failed sample (NaN reward) must neither move its group's baseline nor get a gradient: it takes its group's mean
 * of the finite rewards, so its advantage is exactly 0 (TRL scores such samples NaN and their advantage is 0).
 */
export function fillFailedRewards(totals: number[], groupSize: number): number[] {
  const filled = [...totals];
  for (let start = 0; start < totals.length; start += groupSize) {
    const group = totals.slice(start, start + groupSize);
    const finite = group.filter(Number.isFinite);
    const mean = finite.length ? finite.reduce((a, b) => a + b, 0) / finite.length : 0;
    for (let i = start; i < start + groupSize; i++) if (!Number.isFinite(filled[i])) filled[i] = mean;
  }
  return filled;
}

/** A parameterised reward's bad params fail the run at load, naming the reward. */
function withParams(index: number, make: () => RewardFunction): RewardFunction {
  try {
    return make();
  } catch (err) {
    throw new Error(`rewards[${index}].params: ${err instanceof Error ? err.message : String(err)}`);
  }
}
