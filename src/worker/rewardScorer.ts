/**
 * Scores completions with the run's reward functions (built-in or user modules), weighted and summed over the
 * functions that scored each sample. A function returning `null` / `undefined` abstains (TRL): it is left out of
 * that sample's sum and of its own metrics. A sample fails (total NaN, with the reason in `errors`) when one of its
 * functions throws, times out or returns an unusable value, when every function abstains, or when the weighted
 * total is outside float32's range; each failure is reported through `onError` and the run goes on.
 * User modules run in a pool of threads (rewardPool.ts); the built-in rewards are ours and run inline.
 * The extras a function returns (e.g. `format_reward`) are averaged into `rewards/<name>/<extra>` metrics.
 * Functions get `(prompt, completion, example)`, `example` being the row's columns plus `id`, `prompt`, `answer`,
 * `messages` and `completion` (rewardExample in tasks/task.ts).
 */
import * as path from 'path';
import { RewardSpec } from '../protocol';
import { combineWeightedRewards } from '../grpo';
import { RewardPool, RewardsCancelled } from './rewardPool';
import { BUILT_IN_REWARDS, checkRewardOutput, FLOAT32_MAX, PARAMETERISED_REWARDS, RewardFunction, RewardScore, StepReward } from './tasks/rewards';
import { Example, RewardExample, rewardExample } from './tasks/task';

export { RewardsCancelled } from './rewardPool';

/** Default per-call limit of a user reward function (`rewards[].timeout_s`). */
export const DEFAULT_REWARD_TIMEOUT_S = 10;
/** How often a pending batch looks for a stop request. */
const STOP_POLL_MS = 25;

export interface RewardFailure {
  reward: string;
  message: string;
  prompt: string;
  completion: string;
}

export interface ScoredBatch {
  /** Weighted total per sample over the functions that scored it; NaN where the sample failed. */
  totals: number[];
  /** Each function's value per sample (NaN where it abstained or failed), by name. */
  byFunction: Record<string, number[]>;
  /** Why a sample failed (undefined where it did not). */
  errors: (string | undefined)[];
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
  /** A built-in reward, run inline. */
  fn?: RewardFunction;
  /** Index of a user module in the pool. */
  module?: number;
}

type Outcome = RewardScore | { kind: 'failed'; message: string };

export class RewardScorer {
  private constructor(
    private readonly rewards: LoadedReward[],
    private readonly pool: RewardPool | undefined,
  ) {}

  /**
   * Resolves the config's rewards (or the task's defaults); module paths are relative to `baseDir`. User modules
   * are loaded by the pool's first thread now, so a broken module is reported before anything trains.
   * `maxCompletionLength` is the default of parameterised built-ins (soft_overlong_punishment's L_max); `poolSize`
   * the number of reward threads (default: one per core, at most 4).
   */
  static async load(specs: RewardSpec[], defaults: readonly string[], baseDir: string, options: { maxCompletionLength?: number; poolSize?: number } = {}): Promise<RewardScorer> {
    const chosen: RewardSpec[] = specs.length > 0 ? specs : defaults.map((name) => ({ name, weight: 1 }));
    const modules: { name: string; file: string; timeoutMs: number }[] = [];
    const loaded = chosen.map((spec, i): LoadedReward => {
      if (spec.module) {
        modules.push({ name: spec.name, file: path.resolve(baseDir, spec.module), timeoutMs: (spec.timeout_s ?? DEFAULT_REWARD_TIMEOUT_S) * 1000 });
        return { name: spec.name, weight: spec.weight, module: modules.length - 1 };
      }
      const factory = PARAMETERISED_REWARDS[spec.name];
      if (factory) return { name: spec.name, weight: spec.weight, fn: withParams(i, () => factory(spec.params ?? {}, { maxCompletionLength: options.maxCompletionLength })) };
      // The schema fills an absent object with {}: only params that say something are refused.
      if (spec.params !== undefined && Object.keys(spec.params).length > 0) throw new Error(`rewards[${i}].params: "${spec.name}" takes no params`);
      const fn = BUILT_IN_REWARDS[spec.name];
      if (!fn) {
        throw new Error(`rewards[${i}].name: unknown built-in reward "${spec.name}" (built-in: ${[...Object.keys(BUILT_IN_REWARDS), ...Object.keys(PARAMETERISED_REWARDS)].join(', ')}; or give a "module")`);
      }
      return { name: spec.name, weight: spec.weight, fn };
    });
    const pool = modules.length > 0 ? await RewardPool.start(modules, options.poolSize) : undefined;
    return new RewardScorer(loaded, pool);
  }

  get names(): string[] {
    return this.rewards.map((r) => r.name);
  }

  /** The weighted-sum metrics (`rewards/<name>/mean`, …) of already scored values, e.g. of a subset of samples. */
  metricsOf(byFunction: Record<string, number[]>): Record<string, number> {
    return combineWeightedRewards(this.rewards.map(({ name, weight }) => ({ name, weight, rewards: byFunction[name] }))).metrics;
  }

  /**
   * Scores the batch. `completionIds`: each completion's token ids, given to the functions as
   * `example.completion_ids` (TRL's kwarg). Rejects with RewardsCancelled as soon as `shouldStop` turns true: every
   * call still running is abandoned (its thread terminated), whatever the reward code is doing.
   */
  async score(
    completions: string[],
    examples: Example[],
    onError: (failure: RewardFailure) => void,
    options: { completionIds?: number[][]; shouldStop?: () => boolean } = {},
  ): Promise<ScoredBatch> {
    const { completionIds, shouldStop = () => false } = options;
    if (shouldStop()) throw new RewardsCancelled();
    // One object per sample for every function: a user function that writes to it cannot change the example.
    const forRewards = examples.map((example, i): RewardExample => (completionIds ? { ...rewardExample(example), completion_ids: [...completionIds[i]] } : rewardExample(example)));
    const outcomes = await this.untilStopped(
      Promise.all(this.rewards.map((reward) => Promise.all(completions.map((completion, i) => this.scoreOne(reward, examples[i].prompt, completion, forRewards[i]))))),
      shouldStop,
    );
    return this.combine(outcomes, completions, examples, onError);
  }

  /** Terminates the pool's threads. */
  dispose(): void {
    this.pool?.dispose();
  }

  private async scoreOne(reward: LoadedReward, prompt: string, completion: string, example: RewardExample): Promise<Outcome> {
    if (reward.module !== undefined && this.pool) {
      const result = await this.pool.run(reward.module, prompt, completion, example);
      return 'error' in result ? { kind: 'failed', message: result.error } : result.score;
    }
    try {
      return checkRewardOutput(reward.name, await (reward.fn as RewardFunction)(prompt, completion, example));
    } catch (err) {
      return { kind: 'failed', message: err instanceof Error ? err.message : String(err) };
    }
  }

  /** `work`, unless a stop comes first: then the pool's calls are abandoned and this rejects with RewardsCancelled. */
  private untilStopped<T>(work: Promise<T>, shouldStop: () => boolean): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const poll = setInterval(() => {
        if (!shouldStop()) return;
        clearInterval(poll);
        this.pool?.cancel();
        reject(new RewardsCancelled());
      }, STOP_POLL_MS);
      work.then(
        (value) => {
          clearInterval(poll);
          resolve(value);
        },
        (err: unknown) => {
          clearInterval(poll);
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }

  private combine(outcomes: Outcome[][], completions: string[], examples: Example[], onError: (failure: RewardFailure) => void): ScoredBatch {
    const byFunction: Record<string, number[]> = {};
    const extras: Record<string, number[]> = {};
    const errors: (string | undefined)[] = completions.map(() => undefined);
    const fail = (i: number, reward: string, message: string) => {
      errors[i] = errors[i] === undefined ? message : `${errors[i]}; ${message}`;
      onError({ reward, message, prompt: examples[i].prompt, completion: completions[i] });
    };
    this.rewards.forEach(({ name }, k) => {
      byFunction[name] = outcomes[k].map((outcome, i) => {
        if (outcome.kind === 'failed') fail(i, name, outcome.message);
        if (outcome.kind !== 'scored') return Number.NaN;
        for (const [key, value] of Object.entries(outcome.extras)) (extras[`rewards/${name}/${key}`] ??= []).push(value);
        return outcome.reward;
      });
    });
    const combined = combineWeightedRewards(this.rewards.map(({ name, weight }) => ({ name, weight, rewards: byFunction[name] })));
    const everyone = this.names.join(', ');
    const totals = combined.rewards.map((total, i) => {
      if (errors[i] !== undefined) return Number.NaN;
      if (outcomes.every((row) => row[i].kind === 'abstain')) {
        fail(i, everyone, 'every reward function abstained (returned null or undefined): nothing scored this sample');
        return Number.NaN;
      }
      // Each value is within float32's range, but a weighted sum of them need not be.
      if (!(Math.abs(total) <= FLOAT32_MAX)) {
        fail(i, everyone, `the weighted total reward ${total} is outside float32's range (|reward| ≤ ${FLOAT32_MAX})`);
        return Number.NaN;
      }
      return total;
    });
    const metrics = { ...combined.metrics };
    for (const [key, values] of Object.entries(extras)) metrics[key] = values.reduce((a, b) => a + b, 0) / values.length;
    // Process supervision: every function's weighted steps of a sample together; a plain number is one step over the
    // whole completion (end = Infinity); none for a failed sample.
    const steps: StepReward[][] = totals.map((total, i) =>
      Number.isNaN(total)
        ? []
        : this.rewards.flatMap(({ weight }, k) => {
            const outcome = outcomes[k][i];
            if (outcome.kind !== 'scored') return [];
            return (outcome.steps ?? [{ end: Number.POSITIVE_INFINITY, reward: outcome.reward }]).map((step) => ({ end: step.end, reward: weight * step.reward }));
          }),
    );
    return { totals, byFunction, errors, metrics, steps };
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
