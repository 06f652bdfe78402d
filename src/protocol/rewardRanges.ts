/**
 * The values each built-in reward can return, so a chart can keep the reward's ± std band inside what the reward
 * can be (a band of 0.8 ± 0.4 over a 0/1 reward would otherwise draw up to 1.2). User modules have no declared
 * range: a run with one has no known range.
 */
import type { RunConfig } from './config';

export const BUILT_IN_REWARD_RANGES: Readonly<Record<string, readonly [number, number]>> = {
  r1_zero: [0, 1],
  r1_zero_format: [0, 1],
  gsm8k_answer: [0, 1],
  arithmetic_answer: [0, 1],
  integer_format: [0, 1],
  // 0 up to the soft cache, then a linear penalty down to −1 at the length cap (DAPO).
  soft_overlong_punishment: [-1, 0],
};

/** [min, max] of the weighted sum of the run's rewards, or undefined when any of them is a module (or none is listed). */
export function rewardRange(config: Pick<RunConfig, 'rewards'> | undefined): [number, number] | undefined {
  const rewards = config?.rewards ?? [];
  if (rewards.length === 0) return undefined;
  let low = 0;
  let high = 0;
  for (const reward of rewards) {
    const range = reward.module === undefined ? BUILT_IN_REWARD_RANGES[reward.name] : undefined;
    if (!range) return undefined;
    const ends = [range[0] * reward.weight, range[1] * reward.weight];
    low += Math.min(...ends);
    high += Math.max(...ends);
  }
  return [low, high];
}
