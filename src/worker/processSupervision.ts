/**
 * The worker's side of DeepSeekMath process supervision (src/grpo/stepSupervision.ts): reward functions give step
 * ends as character offsets in the completion text; this maps them to the tokens that end the steps, through the
 * text each prefix of the completion's tokens decodes to (the same decoding that produced the text the rewards saw).
 */
import { computeStepSupervisionAdvantages, stepEndToken, StepSupervisionOptions, TokenStep } from '../grpo/stepSupervision';
import type { TextTokenizer } from '../model/tokenizer';
import type { StepReward } from './tasks/rewards';

/**
 * charEnds[t]: length of the text tokens 0..t decode to (special tokens skipped, as for the rewards). Kept
 * non-decreasing: a prefix that ends inside a multi-byte character decodes to U+FFFD, which is not text yet.
 */
export function completionCharEnds(tokenizer: Pick<TextTokenizer, 'decode'>, ids: readonly number[]): number[] {
  let reached = 0;
  return ids.map((_, t) => {
    const text = tokenizer.decode(ids.slice(0, t + 1), { skipSpecialTokens: true });
    const complete = text.endsWith('\uFFFD') ? text.length - 1 : text.length;
    reached = Math.max(reached, complete);
    return reached;
  });
}

/** Character steps → token steps of one completion; a step ending at or past the text's end is on its last token. */
export function tokenSteps(steps: readonly StepReward[], charEnds: readonly number[], textLength: number): TokenStep[] {
  if (charEnds.length === 0) return [];
  return steps.map(({ end, reward }) => ({ token: end >= textLength ? charEnds.length - 1 : stepEndToken(charEnds, end), reward }));
}

/** Per-token advantages of a batch from its scored steps (consecutive groups of `groupSize`). */
export function stepAdvantages(
  tokenizer: Pick<TextTokenizer, 'decode'>,
  tokens: readonly number[][],
  texts: readonly string[],
  steps: readonly StepReward[][],
  groupSize: number,
  options: StepSupervisionOptions,
  failed: readonly boolean[],
): number[][] {
  const placed = tokens.map((ids, i) => tokenSteps(steps[i], completionCharEnds(tokenizer, ids), texts[i].length));
  return computeStepSupervisionAdvantages(placed, tokens.map((ids) => ids.length), groupSize, options, failed);
}
