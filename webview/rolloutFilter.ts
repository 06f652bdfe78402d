/** Sorting and filtering a step's groups for the rollout browser. Pure: unit tests run it in Node. */
import type { StdEstimator } from '../src/protocol/config';
import { groupRewardStats, StoredNumber } from '../src/protocol/records';
import type { GroupSort, GroupSummary, RolloutFilter, StepRollouts } from '../src/protocol/webview';

export const DEFAULT_FILTER: RolloutFilter = { search: '', minReward: undefined, maxReward: undefined, tied: 'any', truncatedOnly: false };

export interface VisibleGroup {
  /** Index of the group in the step's record. */
  index: number;
  group: GroupSummary;
  /** Indices of the rollouts that pass the filter, in record order. */
  rollouts: number[];
  /** Mean of the scored rewards (NaN when every reward function failed). */
  meanReward: number;
  /** Std as the trainer computed it for the advantages (NaN for a single completion with n − 1). */
  stdReward: number;
  /** All completions got the same reward: zero advantage, no learning signal. */
  tied: boolean;
  meanLength: number;
}

function describe(group: GroupSummary, index: number, estimator: StdEstimator): Omit<VisibleGroup, 'rollouts'> {
  const rewards = group.rollouts.map((r) => r.reward);
  const { mean, std } = groupRewardStats(rewards, estimator);
  const scored = rewards.filter((r) => r !== null);
  // One completion (a validation sample) has no group to be tied with.
  const tied = rewards.length > 1 && scored.every((r) => r === scored[0]);
  const meanLength = group.rollouts.reduce((a, r) => a + r.length, 0) / Math.max(1, group.rollouts.length);
  return { index, group, meanReward: mean, stdReward: std, tied, meanLength };
}

/** Descending or ascending by a number, groups without one (NaN: no scored reward, one sample) last either way. */
function byNumber(key: (g: VisibleGroup) => number, direction: 1 | -1): (a: VisibleGroup, b: VisibleGroup) => number {
  return (a, b) => {
    const x = key(a);
    const y = key(b);
    if (Number.isNaN(x) || Number.isNaN(y)) return Number(Number.isNaN(x)) - Number(Number.isNaN(y));
    return direction * (x - y);
  };
}

const SORTERS: Record<GroupSort, ((a: VisibleGroup, b: VisibleGroup) => number) | undefined> = {
  index: undefined,
  'reward-desc': byNumber((g) => g.meanReward, -1),
  'reward-asc': byNumber((g) => g.meanReward, 1),
  'std-desc': byNumber((g) => g.stdReward, -1),
  'length-desc': byNumber((g) => g.meanLength, -1),
};

/** A reward filter's bounds: a completion whose reward failed (null) passes only when no bound is set. */
function passesRewardBounds(reward: StoredNumber, filter: RolloutFilter): boolean {
  if (filter.minReward === undefined && filter.maxReward === undefined) return true;
  if (reward === null) return false;
  return (filter.minReward === undefined || reward >= filter.minReward) && (filter.maxReward === undefined || reward <= filter.maxReward);
}

/** The groups to list, filtered and sorted; group std with the run's estimator (`algorithm.std_estimator`). */
export function visibleGroups(record: Pick<StepRollouts, 'groups'>, filter: RolloutFilter, sort: GroupSort, estimator: StdEstimator = 'unbiased'): VisibleGroup[] {
  const needle = filter.search.trim().toLowerCase();
  const result: VisibleGroup[] = [];
  record.groups.forEach((group, index) => {
    const summary = describe(group, index, estimator);
    if ((filter.tied === 'only' && !summary.tied) || (filter.tied === 'hide' && summary.tied)) return;
    const promptMatches = needle !== '' && group.prompt.toLowerCase().includes(needle);
    const rollouts: number[] = [];
    group.rollouts.forEach((rollout, i) => {
      if (!passesRewardBounds(rollout.reward, filter)) return;
      if (filter.truncatedOnly && rollout.finish_reason !== 'length') return;
      if (needle && !promptMatches && !rollout.completion.toLowerCase().includes(needle)) return;
      rollouts.push(i);
    });
    if (rollouts.length) result.push({ ...summary, rollouts });
  });
  const sorter = SORTERS[sort];
  // Array.prototype.sort is stable: equal keys keep the record's order.
  return sorter ? result.sort(sorter) : result;
}
