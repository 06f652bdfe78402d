/**
 * One interface over run folders of every format: ours (docs/run-format.md) and the dumps of verl, TRL and
 * prime-rl. A reader turns a folder into our records — RunSnapshot, RunSummary, RolloutsRecord — so the dashboard,
 * the runs tree, Compare and `grpo-studio summary` never ask which trainer wrote a run. Readers never write, never
 * throw on content (a bad line is skipped; the file and line are in `problems`), and re-read what a live run adds.
 */
import type { MetricsRecord, RolloutSource, RolloutsRecord, RunEvent, RunSnapshot } from '../records';
import type { RunFormat } from '../runSource';
import type { RunSummary } from '../runStore';

export interface RunReader {
  readonly format: RunFormat;
  readonly runDir: string;
  /**
   * Curves, events and status, read from scratch. `isLive`: a worker of this window writes the run; `stopSent`: this
   * window asked it to stop (STOPPING before the worker records it).
   */
  snapshot(isLive: boolean, stopSent?: boolean): RunSnapshot;
  /** Status, newest step and reward, reading as little as it can (the tree refreshes every second). */
  summary(isLive: boolean, stopSent?: boolean): RunSummary;
  /** Steps that have rollouts, ascending; each call picks up what was written since. */
  rolloutSteps(source: RolloutSource): number[];
  /** The training steps with per-token data, for a format that has it at some steps only (prime-rl's token exports). */
  tokenSteps?(): number[];
  /** One step's rollouts as our record (groups, rewards, advantages, per-token columns where the trainer has them). */
  readRollouts(source: RolloutSource, step: number): Promise<RolloutsRecord | undefined>;
  /** A cursor over the metrics and events written from now on (from the first one with `fromStart`). */
  tail(fromStart?: boolean): RunTail;
  /** Lines and files skipped as malformed, each naming the file (and line); they never stop a read. */
  readonly problems: string[];
}

export interface TailRecords {
  metrics: MetricsRecord[];
  events: RunEvent[];
  /** A file was rewritten from its start (verl's file logger on resume): what was drawn may be stale. */
  restarted: boolean;
}

export interface RunTail {
  read(): TailRecords;
}

/**
 * Token ids → the text each token adds (`context`: the ids before them, for tokenizers whose pieces depend on it).
 * Protocol code loads no tokenizer (src/model does): the host hands readers a lookup that can.
 */
export interface TokenDecoder {
  pieces(ids: readonly number[], context: readonly number[]): string[];
  /** Which tokenizer, for the header: "the tokenizer of Qwen/Qwen3-0.6B (…/snapshots/abc)". */
  readonly description: string;
}

/** The decoder for a run's model, or why there is none (named model, places looked in). */
export type TokenDecoderLookup = (model: string | undefined, runDir: string) => { decoder: TokenDecoder } | { reason: string };

/** What the host may give a reader beyond the folder. */
export interface ReaderOptions {
  /** Runs whose files hold token ids without text (prime-rl's token exports) decode them with it. */
  tokenDecoders?: TokenDecoderLookup;
}

/** How recently a file of another trainer's run must have changed for the run to count as running. */
export const LIVE_WINDOW_MS = 120_000;
