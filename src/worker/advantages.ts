import type { AlgorithmConfig } from '../protocol';

/**
 * Group-relative advantages from scalar rewards: Aᵢ = (rᵢ − mean_g) / (std_g + eps), where groups are consecutive
 * runs of `groupSize`. `scale_rewards` picks the std of the group, of the whole batch, or none (Dr. GRPO).
 */
export function groupNormalizedAdvantages(
  rewards: number[],
  groupSize: number,
  algorithm: Pick<AlgorithmConfig, 'advantage_eps' | 'scale_rewards' | 'std_estimator'>,
): { advantages: number[]; groupStd: number[] } {
  if (groupSize < 2) throw new Error(`num_generations must be at least 2 to compute a group std, got ${groupSize}`);
  if (rewards.length % groupSize !== 0) {
    throw new Error(`${rewards.length} rewards do not split into groups of ${groupSize}`);
  }
  const ddof = algorithm.std_estimator === 'unbiased' ? 1 : 0;
  const batchStd = std(rewards, ddof);
  const advantages: number[] = [];
  const groupStd: number[] = [];
  for (let start = 0; start < rewards.length; start += groupSize) {
    const group = rewards.slice(start, start + groupSize);
    const mu = group.reduce((a, b) => a + b, 0) / groupSize;
    const sigma = std(group, ddof);
    groupStd.push(sigma);
    const scale = algorithm.scale_rewards === 'group' ? sigma : algorithm.scale_rewards === 'batch' ? batchStd : undefined;
    for (const r of group) advantages.push(scale === undefined ? r - mu : (r - mu) / (scale + algorithm.advantage_eps));
  }
  return { advantages, groupStd };
}

function std(xs: number[], ddof: number): number {
  const mu = xs.reduce((a, b) => a + b, 0) / xs.length;
  const ss = xs.reduce((a, x) => a + (x - mu) ** 2, 0);
  return Math.sqrt(ss / (xs.length - ddof));
}
