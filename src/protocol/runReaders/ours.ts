/**
 * Our own run folders (docs/run-format.md): config.json, metrics.jsonl, events.jsonl, rollouts.jsonl and
 * eval_rollouts.jsonl with their token blocks. A thin wrapper over runStore and the step indexes.
 */
import * as path from 'path';
import { RUN_FILES, type MetricsRecord, type RolloutSource, type RolloutsRecord, type RunEvent, type RunSnapshot } from '../records';
import { isMetricsRecord, isRolloutsRecord, isRunEvent } from '../runFiles';
import { readSnapshot, readSummary, RunSummary } from '../runStore';
import { JsonlStepIndex, JsonlTail, rolloutStepIndex } from '../stepIndex';
import type { RunReader, RunTail } from './runReader';

export class OurRunReader implements RunReader {
  readonly format = 'grpo-studio' as const;
  /** The step indexes of training and validation rollouts; RunFollower polls the same ones. */
  readonly indexes: Record<RolloutSource, JsonlStepIndex>;

  constructor(readonly runDir: string) {
    this.indexes = {
      train: rolloutStepIndex(path.join(runDir, RUN_FILES.rollouts)),
      eval: rolloutStepIndex(path.join(runDir, RUN_FILES.evalRollouts)),
    };
  }

  get problems(): string[] {
    return [...this.indexes.train.problems, ...this.indexes.eval.problems];
  }

  snapshot(isLive: boolean, stopSent = false): RunSnapshot {
    return readSnapshot(this.runDir, isLive, stopSent);
  }

  summary(isLive: boolean, stopSent = false): RunSummary {
    return readSummary(this.runDir, isLive, stopSent);
  }

  rolloutSteps(source: RolloutSource): number[] {
    return this.indexes[source].steps();
  }

  async readRollouts(source: RolloutSource, step: number): Promise<RolloutsRecord | undefined> {
    return this.indexes[source].read(step, isRolloutsRecord);
  }

  tail(fromStart = false): RunTail {
    const open = (file: string) => (fromStart ? new JsonlTail(file) : JsonlTail.fromEnd(file));
    const metrics = open(path.join(this.runDir, RUN_FILES.metrics));
    const events = open(path.join(this.runDir, RUN_FILES.events));
    return {
      read: () => ({ metrics: metrics.read<MetricsRecord>(isMetricsRecord), events: events.read<RunEvent>(isRunEvent), restarted: false }),
    };
  }
}
