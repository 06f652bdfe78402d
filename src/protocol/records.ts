/**
 * On-disk records of a run directory. The worker appends them to the run's files and sends the very same objects
 * over IPC, so a live run and a run reopened from disk look identical to the host and the webview.
 *
 *   <run>/config.json     the validated RunConfig, written once at start
 *   <run>/metrics.jsonl   one MetricsRecord per step
 *   <run>/rollouts.jsonl  one RolloutsRecord per step
 *   <run>/events.jsonl    lifecycle: started, log (warnings), error, finished
 *   <run>/eval_rollouts.jsonl  one EvalRolloutsRecord per evaluation (optional: written by trainers that validate)
 */
import type { RunConfig } from './config';

export const RUN_FILES = {
  config: 'config.json',
  metrics: 'metrics.jsonl',
  rollouts: 'rollouts.jsonl',
  events: 'events.jsonl',
  evalRollouts: 'eval_rollouts.jsonl',
} as const;

/** Scalar metrics of one optimisation step, keyed by TRL/verl names (`reward`, `reward_std`, `kl`, `loss`, …). */
export interface MetricsRecord {
  step: number;
  /** Wall-clock time the step finished, ms since the epoch. */
  time: number;
  metrics: Record<string, number>;
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

export type FinishReason = 'stop' | 'length';

export interface RolloutRecord {
  completion: string;
  /** Total (weighted) reward. */
  reward: number;
  /** Each reward function's value, by name. */
  rewards: Record<string, number>;
  advantage: number;
  finish_reason: FinishReason;
  tokens: TokenColumns;
}

export interface GroupRecord {
  prompt: string;
  ground_truth?: string;
  rollouts: RolloutRecord[];
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
}

export interface LogEvent {
  type: 'log';
  time: number;
  level: 'info' | 'warning';
  message: string;
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

export type RunEvent = StartedEvent | LogEvent | ErrorEvent | FinishedEvent;

/** Status of a run as seen from its directory (plus liveness of its worker, when known). */
export type RunStatus = 'running' | 'completed' | 'stopped' | 'failed' | 'interrupted';

/** Everything a dashboard needs to draw a run's curves from scratch; rollouts are read one step at a time. */
export interface RunSnapshot {
  runId: string;
  runDir: string;
  status: RunStatus;
  config: RunConfig | undefined;
  started: StartedEvent | undefined;
  events: RunEvent[];
  metrics: MetricsRecord[];
}
