/**
 * Follows a run directory that some other process is writing (the CLI on this machine, or a window that has
 * since closed): each poll returns the records appended since the last one. Runs this window started need none
 * of this; their records arrive over IPC. Only complete lines count: a line still being written is read next time.
 */
import * as fs from 'fs';
import * as path from 'path';
import { MetricsRecord, RolloutsRecord, RUN_FILES, RunEvent } from '../protocol';
import { JsonlStepIndex } from './stepIndex';

export interface FollowedRecords {
  metrics: MetricsRecord[];
  events: RunEvent[];
  /** The newest step whose rollouts appeared since the last poll (older new ones are on disk for the scrubber). */
  rollouts: RolloutsRecord | undefined;
}

/** Appended complete lines of one JSONL file, from a byte offset on. */
class JsonlTail {
  constructor(
    private readonly file: string,
    private offset = 0,
  ) {}

  static fromEnd(file: string): JsonlTail {
    return new JsonlTail(file, fileSize(file));
  }

  read<T>(): T[] {
    const size = fileSize(this.file);
    if (size < this.offset) this.offset = 0;
    if (size === this.offset) return [];
    const fd = fs.openSync(this.file, 'r');
    try {
      const buffer = Buffer.alloc(size - this.offset);
      fs.readSync(fd, buffer, 0, buffer.length, this.offset);
      const end = buffer.lastIndexOf(10);
      if (end < 0) return [];
      this.offset += end + 1;
      return buffer
        .subarray(0, end)
        .toString('utf8')
        .split('\n')
        .filter((line) => line.trim() !== '')
        .flatMap((line) => {
          try {
            return [JSON.parse(line) as T];
          } catch {
            // A malformed line is skipped here; reading the run from scratch reports it with its line number.
            return [];
          }
        });
    } finally {
      fs.closeSync(fd);
    }
  }
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

export class RunFollower {
  private readonly metrics: JsonlTail;
  private readonly events: JsonlTail;
  private readonly rollouts: JsonlStepIndex;
  private lastRolloutStep: number;

  /** Starts at the files' current ends: what is already there, the dashboard reads as a snapshot. */
  constructor(readonly runDir: string) {
    this.metrics = JsonlTail.fromEnd(path.join(runDir, RUN_FILES.metrics));
    this.events = JsonlTail.fromEnd(path.join(runDir, RUN_FILES.events));
    this.rollouts = new JsonlStepIndex(path.join(runDir, RUN_FILES.rollouts));
    this.lastRolloutStep = this.rollouts.steps().at(-1) ?? -Infinity;
  }

  poll(): FollowedRecords {
    const newest = this.rollouts.steps().at(-1);
    let rollouts: RolloutsRecord | undefined;
    if (newest !== undefined && newest > this.lastRolloutStep) {
      this.lastRolloutStep = newest;
      rollouts = this.rollouts.read<RolloutsRecord>(newest);
    }
    return { metrics: this.metrics.read<MetricsRecord>(), events: this.events.read<RunEvent>(), rollouts };
  }
}
