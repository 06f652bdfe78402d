import type { GroupRecord } from '../protocol';

export interface StepResult {
  metrics: Record<string, number>;
  groups: GroupRecord[];
}

export interface EvalResult {
  metrics: Record<string, number>;
  groups: GroupRecord[];
}

export interface StepControl {
  /** True once a stop was requested. */
  shouldStop(): boolean;
}

/**
 * A task's training state. The loop in train.ts drives it: optional warm start, then `step` after `step`, with
 * validation and checkpoints in between. Randomness comes from the run's Random, whose state the loop checkpoints.
 */
/** The SFT loss at SFT step `step` of `steps` (the run writes it as a `warm_start` event). */
export type WarmStartProgress = (step: number, steps: number, loss: number) => void;

/** What the warm start reports to, and asks, the run around it. */
export interface WarmStartHooks {
  log(message: string): void;
  /** Polled before each SFT step: true once a stop was requested. */
  shouldStop(): boolean;
  progress: WarmStartProgress;
  /** Awaited before each SFT step with the SFT steps done: a pause holds the warm start there. */
  between(done: number): Promise<void>;
}

export interface TrainingJob {
  /**
   * Supervised warm start before GRPO (SFT); returns its metrics, or undefined when there is none. Stops early
   * (keeping what it learned so far) once `shouldStop` turns true; reports its loss as it goes. After a checkpoint
   * of a stopped warm start is loaded, it continues where that one stopped.
   */
  warmStart(hooks: WarmStartHooks): Promise<Record<string, number> | undefined>;
  /** True while the warm start has steps left: a stop interrupted it (checkpointed with the job). */
  warmStartPending(): boolean;
  /**
   * One GRPO step: sample, score, advantages, update. Resolves undefined when a stop arrived before the step changed
   * any weight; the job then rolls its random stream and data cursor back to the step boundary.
   */
  step(step: number, control: StepControl): Promise<StepResult | undefined>;
  /**
   * Validation on held-out prompts, or undefined when the task has none (or a stop came first). `between` is awaited
   * between two of its batches (a pause holds validation there).
   */
  evaluate(step: number, between?: () => Promise<void>): Promise<EvalResult | undefined>;
  saveCheckpoint(dir: string): Promise<void>;
  loadCheckpoint(dir: string): Promise<void>;
  dispose(): void;
  /**
   * After a wasm trap, when nothing may touch the trapped heap (so no dispose): ends the threads the job started
   * (the data-parallel replica's instance is its own heap), which would keep the process alive.
   */
  stopThreads?(): void;
}
