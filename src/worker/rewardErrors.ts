/**
 * How reward failures reach events.jsonl and the console: the first few of each reward in full (a reward_error
 * event with the prompt and completion), then counted. A reward that always fails would otherwise write one event,
 * IPC message and console line per sample, thousands per run, each saying the same thing.
 */
import type { RewardFailure } from './rewardScorer';

/** Failures of one reward logged in full before they are only counted. */
export const REWARD_ERRORS_IN_FULL = 5;

interface Tally {
  total: number;
  /** Counted but not logged since the last flush. */
  unlogged: number;
}

export class RewardErrorLog {
  private readonly tallies = new Map<string, Tally>();

  constructor(
    private readonly emit: (failure: RewardFailure & { step: number }) => void,
    private readonly warn: (message: string) => void,
    private readonly inFull = REWARD_ERRORS_IN_FULL,
  ) {}

  report(failure: RewardFailure & { step: number }): void {
    const tally = this.tallies.get(failure.reward) ?? { total: 0, unlogged: 0 };
    this.tallies.set(failure.reward, tally);
    tally.total += 1;
    if (tally.total <= this.inFull) this.emit(failure);
    else tally.unlogged += 1;
  }

  /** One summary line per reward with failures not logged in full since the last call (one scoring pass). */
  flush(step: number): void {
    for (const [reward, tally] of this.tallies) {
      if (tally.unlogged === 0) continue;
      const samples = tally.unlogged === 1 ? 'sample' : 'samples';
      this.warn(`reward "${reward}" failed on ${tally.unlogged} more ${samples} at step ${step} (${tally.total} failures so far; the first ${this.inFull} are logged in full as reward_error events)`);
      tally.unlogged = 0;
    }
  }
}
