/**
 * Process supervision as DeepSeekMath defines it (Shao et al. 2024, arXiv 2402.03300, §4.1.3): a reward for each
 * reasoning step, normalised over every step of the group, and a token's advantage the sum of the normalised
 * rewards of the steps that end at or after it:
 *
 *     R = { r_i^{index(j)} : i = 1..G, j = 1..K_i }                 every step reward of the G outputs
 *     r̃_i^{index(j)} = (r_i^{index(j)} − mean(R)) / std(R)
 *     Â_{i,t} = Σ_{index(j) ≥ t} r̃_i^{index(j)}
 *
 * index(j) is the token on which step j ends. Host-side float64 (rewards are few, and group statistics in float32
 * leave residues where rewards tie); a group whose step rewards are all equal gets exactly 0. One step per output
 * at its last token is outcome supervision: Â_{i,t} = r̃_i on every token.
 * (Seed 001's per-position discounted-return estimator is a different one: process.ts.)
 */
import type { StdKind } from './statistics';

/** A step's reward placed on the token that ends the step (0-based index into the completion's tokens). */
export interface TokenStep {
  token: number;
  reward: number;
}

export interface StepSupervisionOptions {
  /** Added to the std before dividing. */
  advantageEps: number;
  /** Default `'unbiased'`. */
  stdKind?: StdKind;
  /** Default true; false only centres the step rewards. */
  normalizeByStd?: boolean;
}

/**
 * Per-token advantages [B][lengths[i]] from each rollout's steps (B = groups × groupSize, consecutive groups).
 * A rollout with `failed[i]` (its reward could not be computed) is out of its group's statistics and gets 0.
 */
export function computeStepSupervisionAdvantages(
  steps: readonly (readonly TokenStep[])[],
  lengths: readonly number[],
  groupSize: number,
  options: StepSupervisionOptions,
  failed: readonly boolean[] = [],
): number[][] {
  const fn = 'computeStepSupervisionAdvantages';
  if (steps.length !== lengths.length) throw new Error(`${fn}: ${steps.length} rollouts of steps but ${lengths.length} lengths`);
  if (!Number.isInteger(groupSize) || groupSize < 1 || steps.length % groupSize !== 0) throw new Error(`${fn}: ${steps.length} rollouts do not split into groups of ${groupSize}`);
  const { advantageEps, stdKind = 'unbiased', normalizeByStd = true } = options;
  const out: number[][] = [];
  for (let start = 0; start < steps.length; start += groupSize) {
    const members = Array.from({ length: groupSize }, (_, k) => start + k);
    const pooled = members.filter((i) => !failed[i]).flatMap((i) => steps[i].map((s) => s.reward));
    const { centre, scale } = groupStatistics(pooled, stdKind, normalizeByStd, advantageEps);
    for (const i of members) {
      const advantages = new Array<number>(lengths[i]).fill(0);
      if (!failed[i]) {
        for (const { token, reward } of steps[i]) {
          if (!Number.isInteger(token) || token < 0 || token >= lengths[i]) throw new Error(`${fn}: rollout ${i} has a step ending at token ${token}, outside its ${lengths[i]} tokens`);
          const normalised = scale === 0 ? 0 : (reward - centre) / scale;
          // A step ending at token e adds its reward to every token t ≤ e.
          for (let t = 0; t <= token; t++) advantages[t] += normalised;
        }
      }
      out.push(advantages);
    }
  }
  return out;
}

/** mean(R) and the divisor std(R) + eps; scale 0 means "all tied": every normalised reward is exactly 0. */
function groupStatistics(rewards: number[], stdKind: StdKind, normalizeByStd: boolean, eps: number): { centre: number; scale: number } {
  if (rewards.length === 0 || rewards.every((r) => r === rewards[0])) return { centre: rewards[0] ?? 0, scale: 0 };
  const centre = rewards.reduce((a, b) => a + b, 0) / rewards.length;
  if (!normalizeByStd) return { centre, scale: 1 };
  const denominator = stdKind === 'unbiased' ? rewards.length - 1 : rewards.length;
  const std = Math.sqrt(rewards.reduce((a, r) => a + (r - centre) ** 2, 0) / denominator);
  return { centre, scale: std + eps };
}

/**
 * The token on which a step ending at character `end` of the completion text ends: the first token whose text
 * reaches `end` (`charEnds[t]`: characters of the completion covered by tokens 0..t, non-decreasing). A step that
 * ends at or past the end of the text ends on the last token, the stop token included, so a step covering the
 * whole completion trains every token as outcome supervision does.
 */
export function stepEndToken(charEnds: readonly number[], end: number): number {
  const last = charEnds.length - 1;
  if (last < 0) throw new Error('stepEndToken: the completion has no tokens');
  const textLength = charEnds[last];
  if (end >= textLength) return last;
  for (let t = 0; t <= last; t++) if (charEnds[t] >= end && charEnds[t] > 0) return t;
  return last;
}
