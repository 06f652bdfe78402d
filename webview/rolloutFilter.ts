/** Sorting and filtering a step's groups for the rollout browser. Pure: unit tests run it in Node. */
import type { GroupSort, GroupSummary, RolloutFilter, StepRollouts } from '../src/protocol/webview';

export const DEFAULT_FILTER: RolloutFilter = { search: '', minReward: undefined, maxReward: undefined, tied: 'any', truncatedOnly: false };

export interface VisibleGroup {
  /** Index of the group in the step's record. */
  index: number;
  group: GroupSummary;
  /** Indices of the rollouts that pass the filter, in record order. */
  rollouts: number[];
  meanReward: number;
  stdReward: number;
  /** All completions got the same reward: zero advantage, no learning signal. */
  tied: boolean;
  meanLength: number;
}

function describe(group: GroupSummary, index: number): Omit<VisibleGroup, 'rollouts'> {
  const rewards = group.rollouts.map((r) => r.reward);
  const n = Math.max(1, rewards.length);
  const mean = rewards.reduce((a, b) => a + b, 0) / n;
  const variance = rewards.reduce((a, r) => a + (r - mean) ** 2, 0) / n;
  const tied = rewards.every((r) => r === rewards[0]);
  const meanLength = group.rollouts.reduce((a, r) => a + r.length, 0) / n;
  return { index, group, meanReward: mean, stdReward: Math.sqrt(variance), tied, meanLength };
}

const SORTERS: Record<GroupSort, ((a: VisibleGroup, b: VisibleGroup) => number) | undefined> = {
  index: undefined,
  'reward-desc': (a, b) => b.meanReward - a.meanReward,
  'reward-asc': (a, b) => a.meanReward - b.meanReward,
  'std-desc': (a, b) => b.stdReward - a.stdReward,
  'length-desc': (a, b) => b.meanLength - a.meanLength,
};

export function visibleGroups(record: Pick<StepRollouts, 'groups'>, filter: RolloutFilter, sort: GroupSort): VisibleGroup[] {
  const needle = filter.search.trim().toLowerCase();
  const result: VisibleGroup[] = [];
  record.groups.forEach((group, index) => {
    const summary = describe(group, index);
    if ((filter.tied === 'only' && !summary.tied) || (filter.tied === 'hide' && summary.tied)) return;
    const promptMatches = needle !== '' && group.prompt.toLowerCase().includes(needle);
    const rollouts: number[] = [];
    group.rollouts.forEach((rollout, i) => {
      if (filter.minReward !== undefined && rollout.reward < filter.minReward) return;
      if (filter.maxReward !== undefined && rollout.reward > filter.maxReward) return;
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
