/**
 * Reward functions: the built-in ones by name, and user modules. Every reward has the signature users write:
 *   (prompt, completion, example) => number | { reward, ...extras } (or a Promise of one)
 * A user module is a CommonJS/ESM JS file whose default (or module.exports) is such a function; it is loaded in the
 * worker only, in a pool of threads (rewardPool.ts). `null` / `undefined` means "abstain" (TRL): the function does
 * not score that sample. A throw, a time-out or an unusable value is not fatal: that sample fails (reward NaN,
 * advantage 0) and an error event records it.
 */
import * as path from 'path';
import { pathToFileURL } from 'url';
import { extractAnswerTag, extractBoxed, extractFinalNumber, normalizeNumber, numbersMatch } from './answers';
import { softOverlongReward } from './overlong';
import { RewardExample } from './task';

/**
 * A step of process supervision: `end` is the character offset in the completion where the step ends (exclusive,
 * as String.slice), `reward` its reward (DeepSeekMath §4.1.3).
 */
export interface StepReward {
  end: number;
  reward: number;
}

export type RewardValue = number | { reward: number; [extra: string]: number } | { steps: StepReward[]; reward?: number; [extra: string]: number | StepReward[] | undefined };
/** What a function may return: a value, or `null` / `undefined` to abstain on this sample (TRL's None). */
export type RewardOutput = RewardValue | null | undefined;
/** `example`: the row's columns, `id`, `prompt`, `answer`, `messages`, `completion` (rewardExample in task.ts). */
export type RewardFunction = (prompt: string, completion: string, example: RewardExample) => RewardOutput | Promise<RewardOutput>;
/** The largest finite float32: rewards go into float32 tensors, where anything larger becomes ±Infinity. */
export const FLOAT32_MAX = 3.4028234663852886e38;

/** One function's verdict on one sample, as it crosses from the reward thread (structured-cloneable). */
export type RewardScore = { kind: 'abstain' } | { kind: 'scored'; reward: number; extras: Record<string, number>; steps?: StepReward[] };
/** What the built-in rewards read of an example: its ground truth. */
type WithAnswer = Pick<RewardExample, 'answer'>;

/**
 * R1-Zero reward (CS336 `r1_zero_reward_fn`): format 1 when the completion closes its thinking and opens an answer
 * ("</think> <answer>" … "</answer>"); answer 1 when that answer (a `\boxed{}` inside it, if any) equals the ground
 * truth numerically. reward = answer (only well-formatted answers can be right).
 */
export function r1ZeroReward(_prompt: string, completion: string, example: WithAnswer): { reward: number; format_reward: number; answer_reward: number } {
  if (!completion.includes('</think> <answer>') || !completion.includes('</answer>')) {
    return { reward: 0, format_reward: 0, answer_reward: 0 };
  }
  const tagged = extractAnswerTag(completion) ?? '';
  const boxed = tagged.includes('\\boxed') ? extractBoxed(tagged) : tagged;
  const correct = boxed !== undefined && numbersMatch(normalizeNumber(boxed), example.answer);
  return { reward: correct ? 1 : 0, format_reward: 1, answer_reward: correct ? 1 : 0 };
}

/** GSM8K correctness without format demands: the final number of the completion equals the ground truth. */
export function gsm8kAnswerReward(_prompt: string, completion: string, example: WithAnswer): number {
  return numbersMatch(extractFinalNumber(completion), example.answer) ? 1 : 0;
}

/** The R1-Zero format alone: 1 when "</think> <answer>" … "</answer>" is present. */
export function r1ZeroFormatReward(prompt: string, completion: string, example: WithAnswer): number {
  return r1ZeroReward(prompt, completion, example).format_reward;
}

/** Arithmetic: the completion, up to its first newline, is exactly the answer (no extra text). */
export function arithmeticAnswerReward(_prompt: string, completion: string, example: WithAnswer): number {
  return completion.split('\n')[0].trim() === example.answer ? 1 : 0;
}

/** Arithmetic partial credit: the completion's first line is an integer (the right shape of answer). */
export function integerFormatReward(_prompt: string, completion: string): number {
  return /^-?\d+$/.test(completion.split('\n')[0].trim()) ? 1 : 0;
}

export const BUILT_IN_REWARDS: Record<string, RewardFunction> = {
  r1_zero: r1ZeroReward,
  r1_zero_format: r1ZeroFormatReward,
  gsm8k_answer: gsm8kAnswerReward,
  arithmetic_answer: arithmeticAnswerReward,
  integer_format: integerFormatReward,
};

/**
 * Built-in rewards that take parameters (a reward's `params`, and the run's settings in `context`), made once per
 * run. TRL builds these with factories too (trl/rewards: get_soft_overlong_punishment).
 */
export const PARAMETERISED_REWARDS: Record<string, (params: Record<string, number>, context: { maxCompletionLength?: number }) => RewardFunction> = {
  soft_overlong_punishment: softOverlongReward,
};

/** Loads a user reward module (path relative to `baseDir`): its default export or module.exports function. */
export async function loadRewardModule(modulePath: string, baseDir: string): Promise<RewardFunction> {
  const resolved = path.resolve(baseDir, modulePath);
  let loaded: unknown;
  try {
    // A dynamic import of a run-time path: loads CommonJS and ES modules alike (esbuild leaves it as import()).
    loaded = await import(pathToFileURL(resolved).href);
  } catch (err) {
    throw new Error(`cannot load reward module ${resolved}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const candidate = pickFunction(loaded);
  if (!candidate) throw new Error(`reward module ${resolved} must export a function (default export or module.exports)`);
  return candidate;
}

function pickFunction(module: unknown): RewardFunction | undefined {
  if (typeof module === 'function') return module as RewardFunction;
  if (typeof module !== 'object' || module === null) return undefined;
  const withDefault = module as { default?: unknown };
  if (typeof withDefault.default === 'function') return withDefault.default as RewardFunction;
  // `module.exports = { default: fn }` through import() arrives as { default: { default: fn } }.
  if (typeof withDefault.default === 'object' && withDefault.default !== null) return pickFunction(withDefault.default);
  return undefined;
}

/**
 * The total reward and named extras of one value; throws (saying why) unless the reward is a finite number within
 * float32's range and every extra is a finite number. With `steps` (process supervision) the value also carries its
 * step rewards; `reward`, if absent, is their sum (the advantage of the first token sums every step too).
 */
export function unpackReward(value: RewardValue): { reward: number; extras: Record<string, number>; steps?: StepReward[] } {
  if (typeof value === 'number') return { reward: checkRewardNumber(value), extras: {} };
  if (typeof value === 'object' && value !== null && 'steps' in value) return unpackSteps(value as { steps: unknown; [extra: string]: unknown });
  if (typeof value !== 'object' || value === null || typeof value.reward !== 'number') {
    throw new Error(`reward must be a finite number or { reward: number, … }, got ${describe(value)}`);
  }
  const { reward, ...extras } = value;
  for (const [key, extra] of Object.entries(extras as Record<string, unknown>)) {
    // Extras become metrics (means over the batch): a string or NaN there would silently turn into null.
    if (typeof extra !== 'number' || !Number.isFinite(extra)) throw new Error(`extra "${key}" is not a finite number: ${describe(extra)}`);
  }
  return { reward: checkRewardNumber(reward), extras };
}

function checkRewardNumber(x: number): number {
  if (!Number.isFinite(x)) throw new Error(`reward is not a finite number: ${x}`);
  if (Math.abs(x) > FLOAT32_MAX) throw new Error(`reward ${x} is outside float32's range (|reward| ≤ ${FLOAT32_MAX}): it would become ±Infinity in the tensors`);
  return x;
}

/**
 * What function `name` returned, checked: `null` / `undefined` abstain, anything else must unpack (unpackReward).
 * A refusal names the function, so the message alone says which reward to fix.
 */
export function checkRewardOutput(name: string, output: unknown): RewardScore {
  if (output === null || output === undefined) return { kind: 'abstain' };
  try {
    return { kind: 'scored', ...unpackReward(output as RewardValue) };
  } catch (err) {
    throw new Error(`reward function "${name}" returned an unusable value: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** A returned value for an error message (JSON.stringify fails on BigInt and cycles, and drops undefined). */
function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value !== 'object' || value === null) return String(value);
  try {
    return JSON.stringify(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

function unpackSteps(value: { steps: unknown; reward?: unknown; [extra: string]: unknown }): { reward: number; extras: Record<string, number>; steps: StepReward[] } {
  const { steps, reward, ...extras } = value;
  const valid = Array.isArray(steps) && steps.every((s: unknown) => {
    const step = s as Partial<StepReward> | null;
    return typeof step === 'object' && step !== null && Number.isInteger(step.end) && (step.end as number) >= 0 && typeof step.reward === 'number';
  });
  if (!valid) throw new Error(`steps must be a list of { end: character offset ≥ 0, reward: number }, got ${describe(steps)}`);
  const list = (steps as StepReward[]).map(({ end, reward: r }, k) => {
    try {
      return { end, reward: checkRewardNumber(r) };
    } catch (err) {
      throw new Error(`steps[${k}]: ${err instanceof Error ? err.message : String(err)}`);
    }
  });
  if (reward !== undefined && typeof reward !== 'number') throw new Error(`reward must be a finite number, got ${describe(reward)}`);
  for (const [key, extra] of Object.entries(extras)) {
    if (typeof extra !== 'number' || !Number.isFinite(extra)) throw new Error(`extra "${key}" is not a finite number: ${describe(extra)}`);
  }
  const total = checkRewardNumber(reward ?? list.reduce((a, s) => a + s.reward, 0));
  return { reward: total, extras: extras as Record<string, number>, steps: list };
}
