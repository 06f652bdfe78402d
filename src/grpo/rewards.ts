/**
 * Outcome rewards → advantages: the CS336 group normalisation, and TRL's `scale_rewards` choices on top of it.
 */
import * as tf from '@tensorflow/tfjs-core';
import { assertNonNegativeFinite } from './checks';
import { assertGroups, mean, meanAlong, std, stdAlong, StdKind } from './statistics';

/** What a reward function says about one response; the optional parts are reported as metrics. */
export interface RewardOutput {
  reward: number;
  formatReward?: number;
  answerReward?: number;
}

/** CS336's `reward_fn(response, ground_truth)`; may be async (e.g. a sandboxed checker). */
export type RewardFunction = (response: string, groundTruth: string) => RewardOutput | Promise<RewardOutput>;

/**
 * TRL `scale_rewards`: divide the group-centred reward by the std of its group, by the std of the whole batch, or
 * not at all (Dr. GRPO, seed 004).
 */
export type RewardScaling = 'group' | 'batch' | 'none';

export interface GroupAdvantageOptions {
  /** Default `'group'`. */
  scaleRewards?: RewardScaling;
  /** Default `'unbiased'` (torch); `'population'` reproduces numpy's ddof = 0 (seed 000). */
  stdKind?: StdKind;
  /** Added to the std before dividing; default 1e-4 as in TRL. */
  advantageEps?: number;
}

export interface GroupAdvantages {
  /** [B], one advantage per rollout. */
  advantages: tf.Tensor1D;
  /** `reward`, `reward_std`, `frac_reward_zero_std` with TRL's meanings. */
  metrics: Record<string, number>;
}

/**
 * Group-relative advantages with a choice of scaling (TRL `scale_rewards`). With `μ_g` the mean of the group of
 * rollout i and `σ` the std chosen by `scaleRewards` (`stdKind` picks n − 1 or n as divisor):
 *
 *     group:  A_i = (r_i − μ_g) / (σ_g + eps)
 *     batch:  A_i = (r_i − μ_g) / (σ_batch + eps)     σ_batch over all B rewards
 *     none:   A_i =  r_i − μ_g
 *
 * Metrics: `reward` = mean reward; `reward_std` = mean of the group stds (the batch std under `batch`), as TRL logs
 * it; `frac_reward_zero_std` = fraction of groups whose rewards all tie (no learning signal). A NaN reward makes
 * its whole group's advantages NaN, as in torch.
 */
export function computeGroupAdvantages(
  rewards: ArrayLike<number>,
  groupSize: number,
  options: GroupAdvantageOptions = {},
): GroupAdvantages {
  const fn = 'computeGroupAdvantages';
  const { scaleRewards = 'group', stdKind = 'unbiased', advantageEps = 1e-4 } = options;
  assertGroups(fn, rewards.length, groupSize);
  assertNonNegativeFinite(fn, 'advantageEps', advantageEps);
  const values = Array.from(rewards);
  const advantages = tf.tidy(() => {
    const grouped = tf.reshape(tf.tensor1d(values, 'float32'), [-1, groupSize]);
    const centred = tf.sub(grouped, meanAlong(grouped, 1));
    const scale = rewardScale(grouped, scaleRewards, stdKind);
    const scaled = scale === undefined ? centred : tf.div(centred, tf.add(scale, advantageEps));
    return tf.reshape(scaled, [-1]) as tf.Tensor1D;
  });
  return { advantages, metrics: rewardMetrics(values, groupSize, scaleRewards, stdKind) };
}

/** The std each centred reward is divided by, or undefined when rewards are only centred. */
function rewardScale(grouped: tf.Tensor, scaleRewards: RewardScaling, stdKind: StdKind): tf.Tensor | undefined {
  switch (scaleRewards) {
    case 'group':
      return stdAlong(grouped, 1, stdKind);
    case 'batch':
      return stdAlong(tf.reshape(grouped, [-1]), 0, stdKind);
    case 'none':
      return undefined;
    default:
      throw new Error(`computeGroupAdvantages: scaleRewards must be 'group', 'batch' or 'none', got '${scaleRewards}'`);
  }
}

function splitGroups(values: number[], groupSize: number): number[][] {
  const groups: number[][] = [];
  for (let start = 0; start < values.length; start += groupSize) groups.push(values.slice(start, start + groupSize));
  return groups;
}

/** Metrics in float64 on the raw numbers; ties are tested exactly (max = min), not by a float32 std near 0. */
function rewardMetrics(values: number[], groupSize: number, scaleRewards: RewardScaling, stdKind: StdKind) {
  const groups = splitGroups(values, groupSize);
  const tiedGroups = groups.filter((group) => Math.max(...group) === Math.min(...group)).length;
  const rewardStd = scaleRewards === 'batch' ? std(values, stdKind) : mean(groups.map((group) => std(group, stdKind)));
  return { reward: mean(values), reward_std: rewardStd, frac_reward_zero_std: tiedGroups / groups.length };
}

/**
 * CS336 `compute_group_normalized_rewards`. Scores every response with `rewardFn(response, groundTruth)`, splits the
 * B rollouts into consecutive groups of `groupSize`, and returns
 *
 *     A_i = (r_i − mean_g) / (std_g + advantageEps)    std_g unbiased (n − 1), as torch.std
 *     A_i =  r_i − mean_g                              when normalizeByStd is false
 *
 * metadata: `reward`, `reward_std` (mean within-group std), `reward_min`, `reward_max`, `frac_reward_zero_std`
 * (fraction of groups whose rewards all tie), and `rewards/format_reward/mean`, `rewards/answer_reward/mean` when
 * the reward function reports them. G = 1 throws: the std of one sample is undefined.
 */
export async function computeGroupNormalizedRewards(
  rewardFn: RewardFunction,
  rolloutResponses: string[],
  repeatedGroundTruths: string[],
  groupSize: number,
  advantageEps: number,
  normalizeByStd: boolean,
): Promise<{ advantages: tf.Tensor1D; rawRewards: tf.Tensor1D; metadata: Record<string, number> }> {
  const fn = 'computeGroupNormalizedRewards';
  if (rolloutResponses.length !== repeatedGroundTruths.length) {
    throw new Error(
      `${fn}: ${rolloutResponses.length} responses but ${repeatedGroundTruths.length} ground truths; ` +
        'repeat each ground truth once per rollout of its group',
    );
  }
  assertGroups(fn, rolloutResponses.length, groupSize);
  const scores = await Promise.all(rolloutResponses.map((response, i) => rewardFn(response, repeatedGroundTruths[i])));
  scores.forEach((score, i) => {
    if (typeof score?.reward !== 'number') throw new Error(`${fn}: rewardFn returned no numeric 'reward' for rollout ${i}`);
  });
  const raw = scores.map((score) => score.reward);
  const { advantages, metrics } = computeGroupAdvantages(raw, groupSize, {
    scaleRewards: normalizeByStd ? 'group' : 'none',
    stdKind: 'unbiased',
    advantageEps,
  });
  const metadata: Record<string, number> = {
    ...metrics,
    // reduce, not Math.min(...raw): spreading a large batch into arguments can overflow the stack.
    reward_min: raw.reduce((a, b) => Math.min(a, b)),
    reward_max: raw.reduce((a, b) => Math.max(a, b)),
    ...optionalRewardMean('format_reward', scores.map((score) => score.formatReward)),
    ...optionalRewardMean('answer_reward', scores.map((score) => score.answerReward)),
  };
  return { advantages, rawRewards: tf.tensor1d(raw, 'float32'), metadata };
}

/** `rewards/<name>/mean` over the rollouts whose reward function reported that part; nothing if none did. */
function optionalRewardMean(name: string, values: (number | undefined)[]): Record<string, number> {
  const reported = values.filter((value): value is number => value !== undefined);
  return reported.length === 0 ? {} : { [`rewards/${name}/mean`]: mean(reported) };
}
