/**
 * Stop / Pause / Continue of a run in this process, from whatever asks (a host over the control socket or IPC, a
 * signal). What takes effect is recorded in the run's events, so every window — one attached now, one attached
 * after a reload, one reopening the run later — derives the same state: `stop_requested` when a stop is asked for,
 * `pause_requested` when a pause is (the run shows as pausing until it gets to a boundary), `paused` when the run
 * actually holds at a step boundary (or between two SFT steps of the warm start), `continued` when it goes on.
 */
import { RunEvent } from '../protocol';
import type { RunControl } from './train';

export class WorkerControl implements RunControl {
  private stopRequested = false;
  private hold: { release: () => void; done: Promise<void> } | undefined;
  /** The hold has begun (its `paused` is recorded), as opposed to asked for and not yet reached. */
  private holding = false;
  /** Where the run last passed a boundary: what a `continued` that takes back a pause not yet in effect says. */
  private last: { step: number; sftStep?: number } = { step: 0 };
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

  /** Holds the run at its next step boundary, or SFT step boundary in the warm start (a step in flight finishes first). */
  pause(): void {
    if (this.hold || this.stopRequested) return;
    let release = () => undefined as void;
    const done = new Promise<void>((resolve) => (release = resolve));
    this.hold = { release, done };
    this.record({ type: 'pause_requested', time: Date.now() });
  }

  proceed(): void {
    // A pause asked for and not reached yet is taken back: say so, or the run would read as pausing until its end.
    if (this.hold && !this.holding && !this.stopRequested) this.record({ type: 'continued', time: Date.now(), ...this.last });
    this.release();
  }

  async waitWhilePaused(step: number, sftStep?: number): Promise<void> {
    const where = { step, ...(sftStep === undefined ? {} : { sftStep }) };
    this.last = where;
    const hold = this.hold;
    if (!hold || this.stopRequested) return;
    this.holding = true;
    this.record({ type: 'paused', time: Date.now(), ...where });
    await hold.done;
    if (!this.stopRequested) this.record({ type: 'continued', time: Date.now(), ...where });
  }

  private release(): void {
    this.hold?.release();
    this.hold = undefined;
    this.holding = false;
  }
}
