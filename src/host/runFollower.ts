/**
 * Follows a run folder that some other process is writing (the CLI on this machine, a window that has since
 * closed, or another trainer: verl, TRL, prime-rl): each poll returns the records appended since the last one.
 * Runs this window started need none of this; their records arrive over IPC. Only complete lines count: a line
 * still being written is read next time.
 */
import { RolloutsRecord, RolloutSource } from '../protocol';
import type { RunReader, RunTail, TailRecords } from '../protocol/runReaders';

export interface FollowedRecords extends TailRecords {
  /**
   * Per source (training, validation), the newest step whose rollouts appeared since the last poll (older new
   * ones are on disk for the scrubber).
   */
  rollouts: { source: RolloutSource; record: RolloutsRecord }[];
}

export class RunFollower {
  private readonly tail: RunTail;
  private readonly lastRolloutStep: Record<RolloutSource, number>;

  /**
   * Starts at the files' current ends: what is already there, the dashboard reads as a snapshot. The reader is
   * the dashboard's own (RunRequests), so a long rollouts file is not scanned twice.
   */
  constructor(private readonly reader: RunReader) {
    this.tail = reader.tail();
    this.lastRolloutStep = { train: reader.rolloutSteps('train').at(-1) ?? -Infinity, eval: reader.rolloutSteps('eval').at(-1) ?? -Infinity };
  }

  get runDir(): string {
    return this.reader.runDir;
  }

  async poll(): Promise<FollowedRecords> {
    const rollouts: FollowedRecords['rollouts'] = [];
    for (const source of ['train', 'eval'] as const) {
      const newest = this.reader.rolloutSteps(source).at(-1);
      if (newest === undefined || newest <= this.lastRolloutStep[source]) continue;
      this.lastRolloutStep[source] = newest;
      const record = await this.reader.readRollouts(source, newest);
      if (record) rollouts.push({ source, record });
    }
    return { ...this.tail.read(), rollouts };
  }
}
