/**
 * Where a run's records go: always to the run directory first (the source of truth), then to whoever watches —
 * the extension host over IPC, or the terminal for the CLI.
 */
import { MetricsRecord, RolloutsRecord, RunEvent, WorkerMessage } from '../protocol';
import { RunDirectoryWriter } from './runDirectory';

export interface RunObserver {
  (message: WorkerMessage): void;
}

export class RunSink {
  constructor(
    private readonly writer: RunDirectoryWriter,
    private readonly observers: RunObserver[],
  ) {}

  event(event: RunEvent): void {
    this.writer.appendEvent(event);
    this.notify(event);
  }

  metrics(record: MetricsRecord): void {
    this.writer.appendMetrics(record);
    this.notify({ type: 'metrics', record });
  }

  rollouts(record: RolloutsRecord): void {
    this.writer.appendRollouts(record);
    this.notify({ type: 'rollouts', record });
  }

  evalRollouts(record: RolloutsRecord): void {
    this.writer.appendEvalRollouts(record);
    this.notify({ type: 'eval_rollouts', record });
  }

  log(message: string, level: 'info' | 'warning' = 'info'): void {
    // Info lines are chatter for the terminal / output channel; warnings are part of the run's history.
    const event: RunEvent = { type: 'log', time: Date.now(), level, message };
    if (level === 'warning') this.writer.appendEvent(event);
    this.notify(event);
  }

  close(): void {
    this.writer.close();
  }

  private notify(message: WorkerMessage): void {
    for (const observer of this.observers) observer(message);
  }
}
