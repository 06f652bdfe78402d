/**
 * On-disk records of a run directory. The worker appends them to the run's files and sends the very same objects
 * over IPC, so a live run and a run reopened from disk look identical to the host and the webview.
 *
 *   <run>/config.json     the validated RunConfig, written once at start
 *   <run>/metrics.jsonl   one MetricsRecord per step
 *   <run>/rollouts.jsonl  one RolloutsRecord per step
 *   <run>/eval_rollouts.jsonl  one RolloutsRecord per validation (its `step` is the step it followed; 0 = before training)
 *   <run>/rollouts.tokens.bin, eval_rollouts.tokens.bin  the per-token columns of each step, one compressed block
 *                         per line above, which points at it (`token_block`; src/protocol/tokenBlocks.ts, docs/run-format.md)
 *   <run>/events.jsonl    lifecycle: started (again on resume), log (warnings), warm_start (SFT loss), reward_error, checkpoint,
 *                         pause_requested, paused, continued, stop_requested, error, finished
 *   <run>/run.lock, run.socket  while a worker writes the run: its lock (runLockFile.ts) and its control socket (runSocket.ts)
 *   <run>/checkpoints/step-N/  policy weights (safetensors), optimizer state, state.json (RNG, data cursor); step 0
 *                              of a run stopped in its warm start: the SFT step and optimizer too (train.ts)
 * A resumed run appends again from its checkpoint's step: a step can then appear twice, and the later line wins.
 */
import type { RunConfig, StdEstimator } from './config';
import type { RunSource } from './runSource';
import type { RunState } from './runState';

export const RUN_FILES = {
  config: 'config.json',
  metrics: 'metrics.jsonl',
  rollouts: 'rollouts.jsonl',
  evalRollouts: 'eval_rollouts.jsonl',
  /** Token blocks of rollouts.jsonl / eval_rollouts.jsonl (src/protocol/tokenBlocks.ts). */
  rolloutTokens: 'rollouts.tokens.bin',
  evalRolloutTokens: 'eval_rollouts.tokens.bin',
  events: 'events.jsonl',
  checkpoints: 'checkpoints',
  /** Held by the one process that writes the run (see src/worker/runLock.ts). */
  lock: 'run.lock',
  /** Where that process serves its control socket (src/protocol/runSocket.ts); removed when it ends. */
  socket: 'run.socket',
  /** The detached worker's stdout and stderr. */
  workerLog: 'worker.log',
} as const;

/**
 * A float as a record holds it. JSON has no NaN, so a NaN written by the worker (a reward function that failed, a
 * loss over no tokens, an entropy that was not computed) reads back as null: readers must expect both.
 */
export type StoredNumber = number | null;

/** The value as a finite number, or undefined when it is absent, null (a NaN) or infinite. */
export function finiteValue(x: StoredNumber | undefined): number | undefined {
  return typeof x === 'number' && Number.isFinite(x) ? x : undefined;
}

/** Scalar metrics of one optimisation step, keyed by TRL/verl names (`reward`, `reward_std`, `kl`, `loss`, …). */
export interface MetricsRecord {
  step: number;
  /** Wall-clock time the step finished, ms since the epoch. */
  time: number;
  metrics: Record<string, StoredNumber>;
}

/**
 * How floats are stored in rollout records: 6 significant digits keep the files about half as big as full
 * precision (and quicker to parse), while every plotted or hovered value stays exact to the digits shown.
 */
export function roundForRecord(x: number): number {
  return Number.isFinite(x) ? Number(x.toPrecision(6)) : x;
}

/**
 * A group's reward mean and std as the trainer computed its advantages: failed (null) rewards are left out, as
 * TRL's nanmean does, and the std uses the run's `algorithm.std_estimator` (NaN for one reward and n − 1).
 */
export function groupRewardStats(rewards: StoredNumber[], estimator: StdEstimator): { mean: number; std: number } {
  const scored = scoredRewards(rewards);
  const n = scored.length;
  if (n === 0) return { mean: Number.NaN, std: Number.NaN };
  const mean = scoredMean(scored);
  const squares = scored.reduce((a, r) => a + (r - mean) ** 2, 0);
  const dof = estimator === 'unbiased' ? n - 1 : n;
  return { mean, std: dof > 0 ? Math.sqrt(squares / dof) : Number.NaN };
}

/** The mean of the rewards that were scored (NaN when none was): what a group's baseline is. */
export function scoredMean(rewards: StoredNumber[]): number {
  const scored = scoredRewards(rewards);
  return scored.length ? scored.reduce((a, b) => a + b, 0) / scored.length : Number.NaN;
}

function scoredRewards(rewards: StoredNumber[]): number[] {
  return rewards.filter((r): r is number => typeof r === 'number' && Number.isFinite(r));
}

/** Per-token quantities of one completion, one array entry per response token (columnar: compact on disk). */
export interface TokenColumns {
  text: string[];
  logprob: number[];
  old_logprob?: number[];
  ref_logprob?: number[];
  advantage?: number[];
  ratio?: number[];
  clipped_low?: boolean[];
  clipped_high?: boolean[];
  kl?: number[];
  entropy?: number[];
}

/** `unknown`: a trainer that does not record why a completion ended (verl's rollout dumps). */
export type FinishReason = 'stop' | 'length' | 'unknown';

export interface RolloutRecord {
  completion: string;
  /**
   * Total (weighted) reward over the functions that scored this completion; null where the sample failed (a
   * function threw, timed out or returned an unusable value, or every function abstained): see `error`.
   */
  reward: StoredNumber;
  /** Each reward function's value, by name (null where it failed or abstained, i.e. returned null). */
  rewards: Record<string, StoredNumber>;
  /** Why this sample failed (absent when it did not). Its advantage is 0 and it is left out of every reward mean. */
  error?: string;
  advantage: number;
  finish_reason: FinishReason;
  tokens: TokenColumns;
}

export interface GroupRecord {
  /** Stable id of the prompt in its task (dataset line, generated problem), to follow it across steps. */
  prompt_id?: string;
  prompt: string;
  ground_truth?: string;
  rollouts: RolloutRecord[];
  /** Dynamic sampling (filter_groups): the group's rewards all tied, so it was left out of the step (never trained). */
  dropped?: boolean;
}

/** The rollouts sampled at one step: groups of `num_generations` completions of the same prompt. */
export interface RolloutsRecord {
  step: number;
  groups: GroupRecord[];
}

/**
 * Completions sampled on held-out prompts at one evaluation, after training step `step`: the same group shape as
 * training rollouts (advantages are 0 where no update follows). One line per evaluation in eval_rollouts.jsonl.
 */
export interface EvalRolloutsRecord {
  step: number;
  groups: GroupRecord[];
}

/** Which file a step's rollouts come from: training samples or validation samples. */
export type RolloutSource = 'train' | 'eval';

export type RunOutcome = 'completed' | 'stopped';

export interface StartedEvent {
  type: 'started';
  time: number;
  runId: string;
  runDir: string;
  pid: number;
  /** tfjs backend that actually runs, e.g. 'wasm', and the device it runs on. */
  backend: string;
  device: string;
  /** Why the backends tried before it were skipped. */
  fallbacks: string[];
  config: RunConfig;
  /** Set when this process resumed the run from the checkpoint of that step. */
  resumedFrom?: number;
}

export interface LogEvent {
  type: 'log';
  time: number;
  level: 'info' | 'warning';
  message: string;
}

/**
 * A reward function failed on a sample (threw, timed out, crashed its thread, returned an unusable value, or every
 * function abstained): that sample scored NaN (advantage 0); the run goes on. Only the first few failures of each
 * reward are logged like this; later ones are counted in a warning `log` event per step (and in `rewards/failed`).
 */
export interface RewardErrorEvent {
  type: 'reward_error';
  time: number;
  step: number;
  reward: string;
  message: string;
  prompt: string;
  completion: string;
}

export interface CheckpointEvent {
  type: 'checkpoint';
  time: number;
  step: number;
  /** Folder of the checkpoint, relative to the run directory. */
  path: string;
}

export interface ErrorEvent {
  type: 'error';
  time: number;
  message: string;
  stack?: string;
}

export interface FinishedEvent {
  type: 'finished';
  time: number;
  outcome: RunOutcome;
  steps: number;
}

/**
 * The SFT warm start's progress before GRPO step 1: its loss at SFT step `step` of `steps` (null: NaN). Written up
 * to about 200 times over a warm start, so its loss curve is charted while it runs (`sft/loss` in the metrics of
 * step 0 is its last value).
 */
export interface WarmStartEvent {
  type: 'warm_start';
  time: number;
  step: number;
  steps: number;
  loss: StoredNumber;
}

/**
 * The run holds at a step boundary (after `step`) until a `continued` or a stop: recorded when the hold begins, so a
 * window that attaches later, or reopens the run, sees it paused.
 */
export interface PausedEvent {
  type: 'paused';
  time: number;
  step: number;
  /** Set when the run holds inside the SFT warm start (before GRPO step 1): the SFT steps done. */
  sftStep?: number;
}

export interface ContinuedEvent {
  type: 'continued';
  time: number;
  step: number;
  /** Set when the run goes on inside the SFT warm start: the SFT steps done. */
  sftStep?: number;
}

/**
 * A pause was asked for and the run has not reached the step (or SFT step) boundary where it holds: the run shows
 * as pausing until its `paused` (or a `continued` that takes the request back, or a stop).
 */
export interface PauseRequestedEvent {
  type: 'pause_requested';
  time: number;
}

/** A stop was asked for (by a host, a signal): the run ends once the step in flight is abandoned and checkpointed. */
export interface StopRequestedEvent {
  type: 'stop_requested';
  time: number;
}

export type RunEvent =
  | StartedEvent
  | LogEvent
  | WarmStartEvent
  | RewardErrorEvent
  | CheckpointEvent
  | PauseRequestedEvent
  | PausedEvent
  | ContinuedEvent
  | StopRequestedEvent
  | ErrorEvent
  | FinishedEvent;

/**
 * Status of a run as a label: its RunState (runState.ts) in lower case, except that a run whose worker vanished
 * without a last record (state FAILED) is `interrupted`.
 */
export type RunStatus = 'running' | 'pausing' | 'paused' | 'stopping' | 'completed' | 'stopped' | 'failed' | 'interrupted';

/** Everything a dashboard needs to draw a run's curves from scratch; rollouts are read one step at a time. */
export interface RunSnapshot {
  runId: string;
  runDir: string;
  state: RunState;
  status: RunStatus;
  config: RunConfig | undefined;
  started: StartedEvent | undefined;
  /** When the run first started (a resumed run starts again later), ms since the epoch: the wall-time axis's zero. */
  startTime: number | undefined;
  events: RunEvent[];
  metrics: MetricsRecord[];
  /** Set for a run another trainer wrote (verl, TRL, prime-rl): its format, renamed metrics, derived values. */
  source?: RunSource;
}
