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
  /** Milliseconds spent writing records and notifying observers since the last `takeIoTime`. */
  private ioMs = 0;

  constructor(
    private readonly writer: RunDirectoryWriter,
    private readonly observers: RunObserver[],
  ) {}

  event(event: RunEvent): void {
    this.timed(() => {
      this.writer.appendEvent(event);
      this.notify(event);
    });
  }

  metrics(record: MetricsRecord): void {
    this.timed(() => {
      this.writer.appendMetrics(record);
      this.notify({ type: 'metrics', record });
    });
  }

  /**
   * A step's rollouts with their per-token columns unrounded (float32 values): the disk gets them compactly and
   * exactly, the observers the record a reader of the run directory gets back (rounded, a recomputed KL included).
   */
  rollouts(record: RolloutsRecord): void {
    this.timed(() => this.notify({ type: 'rollouts', record: this.writer.appendRollouts(record) }));
  }

  evalRollouts(record: RolloutsRecord): void {
    this.timed(() => this.notify({ type: 'eval_rollouts', record: this.writer.appendEvalRollouts(record) }));
  }

  /** Seconds of I/O (disk and IPC) since the last call: a step reports its predecessor's, as it happens after it. */
  takeIoTime(): number {
    const seconds = this.ioMs / 1000;
    this.ioMs = 0;
    return seconds;
  }

  addIoTime(seconds: number): void {
    this.ioMs += seconds * 1000;
  }

  private timed(write: () => void): void {
    const started = performance.now();
    write();
    this.ioMs += performance.now() - started;
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
