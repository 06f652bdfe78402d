/**
 * Several reward functions, weighted and summed into one reward per rollout (TRL `reward_funcs` with
 * `reward_weights`). A function may return null for a rollout it does not apply to (e.g. a code checker on a math
 * prompt): that entry is NaN, left out of the sum and of that function's metrics, as TRL's nansum / nanmean do.
 */
import { mean, std } from './statistics';

/** One named, weighted reward source; `score` returns null where it does not apply. */
export interface NamedRewardFunction {
  name: string;
  /** Default 1. */
  weight?: number;
  score: (response: string, groundTruth: string) => number | null | Promise<number | null>;
}

/** The rewards one named function gave the B rollouts (NaN where it did not apply). */
export interface NamedRewards {
  name: string;
  /** Default 1. */
  weight?: number;
  rewards: ArrayLike<number>;
}

export interface CombinedRewards {
  /** [B] weighted sums, ready for `computeGroupAdvantages`. */
  rewards: number[];
  /** `rewards/<name>/mean` and `rewards/<name>/std` per function, over the rollouts it applied to. */
  metrics: Record<string, number>;
}

/**
 * Weighted multi-reward combination:
 *
 *     r_i = Σ_k w_k · r_{k,i}     over the k with r_{k,i} not NaN (0 when none applies)
 *
 * and per function k, `rewards/<name>/mean` = nanmean_i r_{k,i}, `rewards/<name>/std` = unbiased nanstd.
 */
export function combineWeightedRewards(sources: NamedRewards[]): CombinedRewards {
  const fn = 'combineWeightedRewards';
  if (sources.length === 0) throw new Error(`${fn}: at least one reward source is required`);
  const batchSize = sources[0].rewards.length;
  const names = new Set<string>();
  for (const source of sources) {
    if (names.has(source.name)) throw new Error(`${fn}: reward name '${source.name}' is used twice`);
    names.add(source.name);
    if (source.rewards.length !== batchSize) {
      throw new Error(`${fn}: '${source.name}' scored ${source.rewards.length} rollouts, '${sources[0].name}' ${batchSize}`);
    }
    if (!Number.isFinite(source.weight ?? 1)) throw new Error(`${fn}: weight of '${source.name}' must be finite`);
  }
  const rewards = new Array<number>(batchSize).fill(0);
  const metrics: Record<string, number> = {};
  for (const { name, weight = 1, rewards: values } of sources) {
    const applied: number[] = [];
    for (let i = 0; i < batchSize; i++) {
      if (Number.isNaN(values[i])) continue;
      rewards[i] += weight * values[i];
      applied.push(values[i]);
    }
    metrics[`rewards/${name}/mean`] = mean(applied);
    metrics[`rewards/${name}/std`] = std(applied, 'unbiased');
  }
  return { rewards, metrics };
}

/** Scores every rollout with every function (null → NaN) and combines them with `combineWeightedRewards`. */
export async function scoreWithRewardFunctions(
  rewardFunctions: NamedRewardFunction[],
  rolloutResponses: string[],
  repeatedGroundTruths: string[],
): Promise<CombinedRewards> {
  if (rolloutResponses.length !== repeatedGroundTruths.length) {
    throw new Error(
      `scoreWithRewardFunctions: ${rolloutResponses.length} responses but ${repeatedGroundTruths.length} ground truths`,
    );
  }
  const sources = await Promise.all(
    rewardFunctions.map(async ({ name, weight, score }) => {
      const scores = await Promise.all(rolloutResponses.map((response, i) => score(response, repeatedGroundTruths[i])));
      return { name, weight, rewards: scores.map((value) => value ?? Number.NaN) };
    }),
  );
  return combineWeightedRewards(sources);
}
