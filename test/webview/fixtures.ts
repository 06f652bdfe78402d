/**
 * Run directories for the webview tests and the bench, written with the worker's own RunDirectoryWriter: metrics
 * with every series the dashboard draws, rollouts with all per-token columns, validation rollouts, and hostile or
 * awkward model output (`<script>`, `<img onerror>`, whitespace, special tokens).
 */
import * as fs from 'fs';
import * as path from 'path';
import { GroupRecord, MetricsRecord, RolloutRecord, roundForRecord, RUN_FILES, validateRunConfig } from '../../src/protocol';
import { RunDirectoryWriter } from '../../src/worker/runDirectory';

export const HOSTILE_COMPLETIONS = ['<script>window.__pwned = 1</script>', '<img src=x onerror="window.__pwned = 2">'];
/** A token list that exercises the visible-whitespace and special-token display. */
export const AWKWARD_TOKENS = ['Hello', ' ', 'world', '\n', '\t', '<|endoftext|>'];
/** The prompt sampled at every step (the "one prompt across steps" view). */
export const RECURRING_PROMPT = 'What is 2 + 2?';

export interface FixtureOptions {
  name: string;
  steps: number;
  /** Steps that get a rollouts record. */
  rolloutSteps: (step: number) => boolean;
  groups: number;
  groupSize: number;
  tokens: number;
  /** Steps after which a validation record is written. */
  evalSteps?: (step: number) => boolean;
  /** A step whose record is much larger: `groups × groupSize` rollouts of `tokens` tokens. */
  bigStep?: { step: number; groups: number; groupSize: number; tokens: number };
  learningRate?: number;
  startTime?: number;
  /** A step where a reward function failed: its first completion scores NaN (stored as null), and so does `loss`. */
  failedRewardStep?: number;
  /** The run was resumed after this step: a second `started` event, 90 s after the step. */
  resumedAfter?: number;
}

/** Deterministic pseudo-random numbers in [0, 1) (fixtures must be identical on every run). */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

export function metricsAt(step: number, steps: number, random: () => number, time: number, learningRate: number): MetricsRecord {
  const progress = step / steps;
  const reward = 0.2 + 0.6 * progress + 0.05 * (random() - 0.5);
  const metrics: Record<string, number> = {
    reward,
    reward_std: 0.2 + 0.05 * random(),
    'rewards/correct/mean': reward * 0.9,
    'rewards/format/mean': Math.min(1, reward + 0.1),
    kl: 0.001 + 0.05 * progress * random(),
    loss: 0.1 * (random() - 0.5),
    'clip_ratio/low_mean': 0.01 * random(),
    'clip_ratio/high_mean': 0.02 * random(),
    'clip_ratio/region_mean': 0.03 * random(),
    entropy: 2 - progress + 0.1 * random(),
    'completions/mean_length': 40 + 20 * random(),
    'completions/max_length': 90 + 10 * random(),
    'completions/clipped_ratio': 0.1 * random(),
    frac_reward_zero_std: 0.3 * (1 - progress),
    learning_rate: learningRate,
    // The trainer's names (src/worker/grpoTrainer.ts).
    'tokens_per_second/sample': 900 + 100 * random(),
    'tokens_per_second/train': 400 + 50 * random(),
    'time/step': 1 + random(),
  };
  if (step % 10 === 0) {
    metrics['eval/reward'] = reward - 0.05;
    metrics['eval/accuracy'] = Math.min(1, reward);
  }
  return { step, time, metrics };
}

function rollout(random: () => number, tokens: string[], text: string, reward: number, advantage: number, finish: 'stop' | 'length'): RolloutRecord {
  const n = tokens.length;
  // Stored as the trainer stores them (roundForRecord), so sizes and parse times match real runs.
  const round = roundForRecord;
  const logprob = tokens.map(() => round(-3 * random()));
  const oldLogprob = logprob.map((l) => round(l + 0.2 * (random() - 0.5)));
  const ratio = logprob.map((l, i) => round(Math.exp(l - oldLogprob[i])));
  return {
    completion: text,
    reward,
    rewards: { correct: reward > 0.5 ? 1 : 0, format: reward > 0.2 ? 1 : 0 },
    advantage,
    finish_reason: finish,
    tokens: {
      text: tokens,
      logprob,
      old_logprob: oldLogprob,
      ref_logprob: logprob.map((l) => round(l - 0.1 * random())),
      // Process supervision: the advantage varies along the completion.
      advantage: tokens.map((_, i) => round(advantage * (0.5 + i / Math.max(1, n - 1)))),
      ratio,
      clipped_low: ratio.map((r) => r < 0.9),
      clipped_high: ratio.map((r) => r > 1.1),
      kl: tokens.map(() => round(0.05 * random())),
      entropy: tokens.map(() => round(3 * random())),
    },
  };
}

function words(random: () => number, count: number): string[] {
  const vocabulary = ['the', ' answer', ' is', ' 4', '.', ' Let', ' me', ' think', '\n', ' so', ' 2', ' +', ' =', '<think>', '</think>'];
  return Array.from({ length: count }, () => vocabulary[Math.floor(random() * vocabulary.length)]);
}

export function groupsAt(step: number, groups: number, groupSize: number, tokenCount: number, random: () => number): GroupRecord[] {
  return Array.from({ length: groups }, (_, g) => {
    const tied = g === groups - 1 && groups > 1;
    const rewards = Array.from({ length: groupSize }, () => (tied ? 1 : Math.round(random() * 4) / 4));
    const mean = rewards.reduce((a, b) => a + b, 0) / groupSize;
    // The unbiased std, as the fixture's config (std_estimator's default) says the trainer divided by.
    const std = Math.sqrt(rewards.reduce((a, r) => a + (r - mean) ** 2, 0) / Math.max(1, groupSize - 1));
    const rollouts = rewards.map((reward, i) => {
      let tokens = words(random, tokenCount);
      if (g === 0 && i === 0) tokens = AWKWARD_TOKENS;
      if (g === 0 && i < HOSTILE_COMPLETIONS.length + 1 && i > 0) tokens = ['<', HOSTILE_COMPLETIONS[i - 1].slice(1)];
      const text = tokens.join('');
      const finish = i === groupSize - 1 && !tied ? 'length' : 'stop';
      return rollout(random, tokens, text, reward, std > 0 ? (reward - mean) / std : 0, finish);
    });
    return { prompt: g === 0 ? RECURRING_PROMPT : `Problem ${step}.${g}: add ${g} and ${step}.`, ground_truth: String(g + step), rollouts };
  });
}

/** Writes a complete (finished) run under `runsDir`; returns its run id. */
export function writeFixtureRun(runsDir: string, options: FixtureOptions): string {
  const runId = options.name;
  const learningRate = options.learningRate ?? 1e-5;
  // μ = 2: the fixture's ratios vary, as only an off-policy run's do (with μ = 1 the view does not offer them).
  const config = validateRunConfig({ name: options.name, task: { type: 'bandit' }, algorithm: { num_iterations: 2 }, optimization: { optimizer: 'adam', learning_rate: learningRate, max_steps: options.steps } });
  const writer = new RunDirectoryWriter(path.join(runsDir, runId), config);
  const random = lcg(options.steps * 7919 + options.groups);
  const start = options.startTime ?? Date.UTC(2026, 0, 1);
  writer.appendEvent({ type: 'started', time: start, runId, runDir: path.join(runsDir, runId), pid: 0, backend: 'cpu', device: 'fixture', fallbacks: [], config });
  const evalLines: string[] = [];
  for (let step = 1; step <= options.steps; step++) {
    const metrics = metricsAt(step, options.steps, random, start + step * 1500, learningRate);
    const failed = options.failedRewardStep === step;
    if (failed) metrics.metrics.loss = Number.NaN;
    writer.appendMetrics(metrics);
    const big = options.bigStep?.step === step ? options.bigStep : undefined;
    if (big) writer.appendRollouts({ step, groups: groupsAt(step, big.groups, big.groupSize, big.tokens, random) });
    else if (options.rolloutSteps(step)) {
      const groups = groupsAt(step, options.groups, options.groupSize, options.tokens, random);
      // What the trainer writes for a failed reward function: NaN, which JSON stores as null, and the reason.
      if (failed) groups[1].rollouts[0] = { ...groups[1].rollouts[0], reward: Number.NaN, rewards: { ...groups[1].rollouts[0].rewards, correct: Number.NaN }, error: 'reward function "correct" timed out after 10 s (rewards[].timeout_s): its thread was terminated', advantage: 0 };
      writer.appendRollouts({ step, groups });
    }
    if (options.resumedAfter === step) {
      writer.appendEvent({ type: 'started', time: start + step * 1500 + 90_000, runId, runDir: path.join(runsDir, runId), pid: 0, backend: 'cpu', device: 'fixture', fallbacks: [], config, resumedFrom: step });
    }
    // As the trainer writes validation: one completion per prompt.
    if (options.evalSteps?.(step)) evalLines.push(JSON.stringify({ step, groups: groupsAt(step, 2, 1, options.tokens, random) }));
  }
  writer.appendEvent({ type: 'finished', time: start + options.steps * 1500 + 100, outcome: 'completed', steps: options.steps });
  writer.close();
  if (evalLines.length) fs.writeFileSync(path.join(runsDir, runId, RUN_FILES.evalRollouts), evalLines.join('\n') + '\n');
  return runId;
}
