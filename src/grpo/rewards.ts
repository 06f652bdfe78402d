/**
 * Outcome rewards → advantages: the CS336 group normalisation, and TRL's `scale_rewards` choices on top of it.
 */
import * as tf from '@tensorflow/tfjs-core';
import { assertNonNegativeFinite } from './checks';
import { assertGroups, mean, scoredStats, ScoredStats, StdKind } from './statistics';

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
  /** Added to the std before dividing; default DEFAULT_ADVANTAGE_EPS (TRL's). */
  advantageEps?: number;
}

/**
 * The one default of `advantage_eps`: TRL's, hard-coded as `advantages / (std_rewards + 1e-4)` in
 * `_generate_and_score_completions` (trl/trainer/grpo_trainer.py @ f2cd57710ae345ea6428ae95363267fcf38a3dc8). The
 * run-config schema takes its default from here.
 */
export const DEFAULT_ADVANTAGE_EPS = 1e-4;

export interface GroupAdvantages {
  /** [B], one advantage per rollout. */
  advantages: tf.Tensor1D;
  /** See groupAdvantageValues. */
  metrics: Record<string, number>;
}

export interface GroupAdvantageValues {
  /** [B] float64 advantages; exactly 0 for a failed sample and for every member of a tied group. */
  advantages: number[];
  metrics: Record<string, number>;
}

/**
 * Group-relative advantages with a choice of scaling (TRL `scale_rewards`), as a tensor: groupAdvantageValues
 * computed on the host in float64, then stored as float32.
 */
export function computeGroupAdvantages(
  rewards: ArrayLike<number>,
  groupSize: number,
  options: GroupAdvantageOptions = {},
): GroupAdvantages {
  const { advantages, metrics } = groupAdvantageValues(rewards, groupSize, options);
  return { advantages: tf.tensor1d(advantages, 'float32'), metrics };
}

/**
 * Group-relative advantages on the host, in float64 (plain numbers, no tensors). With μ_g and σ over the *scored*
 * (finite) rewards only, `stdKind` picking n − 1 or n as divisor:
 *
 *     group:  A_i = (r_i − μ_g) / (σ_g + eps)
 *     batch:  A_i = (r_i − μ_g) / (σ_batch + eps)     σ_batch over all scored rewards of the batch
 *     none:   A_i =  r_i − μ_g
 *
 * - A non-finite reward (NaN: the reward function failed) is a failed sample: it is left out of μ and σ, and its
 *   advantage is 0, as TRL's nanmean / nanstd and `nan_to_num(advantages, nan=0.0)` do for unscorable completions
 *   (grpo_trainer.py @ f2cd577). [1, 0, NaN, 0] → [1.1547, −0.5774, 0, −0.5774].
 * - A group whose scored rewards all tie (tested exactly, max = min) gets exactly 0: float32 (or even float64)
 *   centring leaves a residue that a std of the same size would blow up to O(1).
 * - A group with fewer than two scored rewards has no baseline: 0.
 * Statistics are scaled by the largest |r| first, so huge finite rewards give finite advantages.
 *
 * Metrics, TRL's definitions under TRL's names (grpo_trainer.py @ f2cd577): `reward` = nanmean of the batch;
 * `reward_std` = unbiased nanstd of all rewards of the batch (TRL ≥ 0.27); `frac_reward_zero_std` = fraction of
 * samples whose scaling std is ≈ 0 (torch.isclose: ≤ 1e-8; the group std under group/none, the batch std under
 * batch, so there it is 0 or 1). Ours, kept under their own names: `reward_std/group_mean` = mean of the group
 * stds (with `stdKind`, over groups where defined), `frac_reward_zero_std/groups` = fraction of groups whose scored
 * rewards all tie exactly (meaningful under every scaling).
 */
export function groupAdvantageValues(
  rewards: ArrayLike<number>,
  groupSize: number,
  options: GroupAdvantageOptions = {},
): GroupAdvantageValues {
  const fn = 'computeGroupAdvantages';
  const { scaleRewards = 'group', stdKind = 'unbiased', advantageEps = DEFAULT_ADVANTAGE_EPS } = options;
  assertGroups(fn, rewards.length, groupSize);
  assertNonNegativeFinite(fn, 'advantageEps', advantageEps);
  if (scaleRewards !== 'group' && scaleRewards !== 'batch' && scaleRewards !== 'none') {
    throw new Error(`${fn}: scaleRewards must be 'group', 'batch' or 'none', got '${scaleRewards}'`);
  }
  const values = Array.from(rewards);
  const groups = splitGroups(values, groupSize).map((group) => ({ group, stats: scoredStats(group, stdKind) }));
  const batch = scoredStats(values, stdKind);
  const advantages = groups.flatMap(({ group, stats }) =>
    group.map((reward) => {
      // No signal: a failed sample, a tie, or no baseline (one scored sample; the n − 1 std is undefined).
      if (!Number.isFinite(reward) || stats.tied || stats.count < 2) return 0;
      const centred = reward - stats.mean;
      if (scaleRewards === 'none') return centred;
      return centred / ((scaleRewards === 'group' ? stats.std : batch.std) + advantageEps);
    }),
  );
  return { advantages, metrics: rewardMetrics(values, groups, scaleRewards) };
}

function splitGroups(values: number[], groupSize: number): number[][] {
  const groups: number[][] = [];
  for (let start = 0; start < values.length; start += groupSize) groups.push(values.slice(start, start + groupSize));
  return groups;
}

/** torch.isclose(std, 0) with its default atol 1e-8 (rtol · 0 = 0); NaN is not close to anything. */
function isCloseToZero(x: number): boolean {
  return Math.abs(x) <= 1e-8;
}

function rewardMetrics(values: number[], groups: { stats: ScoredStats }[], scaleRewards: RewardScaling) {
  // TRL's nanstd is unbiased whatever the run's std estimator.
  const trlBatch = scoredStats(values, 'unbiased');
  const trlGroupStds = groups.map(({ stats }) => (stats.count < 2 ? Number.NaN : stats.tied ? 0 : stats.std));
  const zeroStd =
    scaleRewards === 'batch'
      ? isCloseToZero(trlBatch.std) ? 1 : 0
      : trlGroupStds.filter(isCloseToZero).length / groups.length;
  const definedStds = groups.map(({ stats }) => stats.std).filter(Number.isFinite);
  return {
    reward: trlBatch.mean,
    reward_std: trlBatch.count < 2 ? Number.NaN : trlBatch.std,
    frac_reward_zero_std: zeroStd,
    'reward_std/group_mean': definedStds.length ? mean(definedStds) : Number.NaN,
    'frac_reward_zero_std/groups': groups.filter(({ stats }) => stats.tied).length / groups.length,
  };
}

/**
 * CS336 `compute_group_normalized_rewards`. Scores every response with `rewardFn(response, groundTruth)`, splits the
 * B rollouts into consecutive groups of `groupSize`, and returns
 *
 *     A_i = (r_i − mean_g) / (std_g + advantageEps)    std_g unbiased (n − 1), as torch.std
 *     A_i =  r_i − mean_g                              when normalizeByStd is false
 *
 * A NaN reward (failed sample) is left out of its group's statistics and gets advantage 0; a tied group gets exactly
 * 0 (see groupAdvantageValues). metadata: the metrics of groupAdvantageValues, `reward_min`, `reward_max` (over
 * the scored rewards), and `rewards/format_reward/mean`, `rewards/answer_reward/mean` when
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
    reward_min: raw.reduce((a, b) => (Number.isFinite(b) ? Math.min(a, b) : a), Number.POSITIVE_INFINITY),
    reward_max: raw.reduce((a, b) => (Number.isFinite(b) ? Math.max(a, b) : a), Number.NEGATIVE_INFINITY),
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
