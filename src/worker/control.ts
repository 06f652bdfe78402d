/**
 * Stop / Pause / Continue of a run in this process, from whatever asks (a host over the control socket or IPC, a
 * signal). What takes effect is recorded in the run's events, so every window — one attached now, one attached
 * after a reload, one reopening the run later — derives the same state: `stop_requested` when a stop is asked for,
 * `paused` when the run actually holds at a step boundary, `continued` when it goes on.
 */
import { RunEvent } from '../protocol';
import type { RunControl } from './train';

export class WorkerControl implements RunControl {
  private stopRequested = false;
  private hold: { release: () => void; done: Promise<void> } | undefined;
  private record: (event: RunEvent) => void = () => undefined;

  /** Where control events go once the run has a folder (train binds its sink). */
  bindRecorder(record: (event: RunEvent) => void): void {
    this.record = record;
  }

  shouldStop(): boolean {
    return this.stopRequested;
  }

  get isPaused(): boolean {
    return this.hold !== undefined;
  }

  stop(): void {
    if (!this.stopRequested) {
      this.stopRequested = true;
      this.record({ type: 'stop_requested', time: Date.now() });
    }
    this.release();
  }

  /** Holds the run at its next step boundary (a step in flight finishes first). */
  pause(): void {
    if (this.hold || this.stopRequested) return;
    let release = () => undefined as void;
    const done = new Promise<void>((resolve) => (release = resolve));
    this.hold = { release, done };
  }

  proceed(): void {
    this.release();
  }

  async waitWhilePaused(step: number): Promise<void> {
    const hold = this.hold;
    if (!hold || this.stopRequested) return;
    this.record({ type: 'paused', time: Date.now(), step });
    await hold.done;
    if (!this.stopRequested) this.record({ type: 'continued', time: Date.now(), step });
  }

  private release(): void {
    this.hold?.release();
    this.hold = undefined;
  }
}
