/**
 * Follows a run directory that some other process is writing (the CLI on this machine, or a window that has
 * since closed): each poll returns the records appended since the last one. Runs this window started need none
 * of this; their records arrive over IPC. Only complete lines count: a line still being written is read next time.
 */
import * as path from 'path';
import { isMetricsRecord, isRolloutsRecord, isRunEvent, MetricsRecord, RolloutsRecord, RolloutSource, RUN_FILES, RunEvent } from '../protocol';
import { JsonlStepIndex, JsonlTail } from '../protocol/stepIndex';

export interface FollowedRecords {
  metrics: MetricsRecord[];
  events: RunEvent[];
  /**
   * Per source (training, validation), the newest step whose rollouts appeared since the last poll (older new
   * ones are on disk for the scrubber).
   */
  rollouts: { source: RolloutSource; record: RolloutsRecord }[];
}

export class RunFollower {
  private readonly metrics: JsonlTail;
  private readonly events: JsonlTail;
  private readonly lastRolloutStep: Record<RolloutSource, number>;

  /**
   * Starts at the files' current ends: what is already there, the dashboard reads as a snapshot. The rollout
   * indexes are the dashboard's own (RunRequests), so a long rollouts file is not scanned twice.
   */
  constructor(
    readonly runDir: string,
    private readonly rollouts: Record<RolloutSource, JsonlStepIndex>,
  ) {
    this.metrics = JsonlTail.fromEnd(path.join(runDir, RUN_FILES.metrics));
    this.events = JsonlTail.fromEnd(path.join(runDir, RUN_FILES.events));
    this.lastRolloutStep = { train: rollouts.train.steps().at(-1) ?? -Infinity, eval: rollouts.eval.steps().at(-1) ?? -Infinity };
  }

  poll(): FollowedRecords {
    const rollouts: FollowedRecords['rollouts'] = [];
    for (const source of ['train', 'eval'] as const) {
      const newest = this.rollouts[source].steps().at(-1);
      if (newest === undefined || newest <= this.lastRolloutStep[source]) continue;
      this.lastRolloutStep[source] = newest;
      const record = this.rollouts[source].read(newest, isRolloutsRecord);
      if (record) rollouts.push({ source, record });
    }
    return { metrics: this.metrics.read(isMetricsRecord), events: this.events.read(isRunEvent), rollouts };
  }
}
