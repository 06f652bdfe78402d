/**
 * A worker that does not end after its stop message (frozen in native code, or a build without the fix for a
 * reward that never returns) is escalated: SIGTERM after a grace period (the worker treats it as the same clean
 * stop), then SIGKILL. Each step is recorded in the run's events.jsonl, so the run's history says why it ended.
 * No `vscode` here: tested against real processes.
 */
import * as fs from 'fs';
import * as path from 'path';
import { LogEvent, RUN_FILES } from '../protocol';

export interface StopGrace {
  /** From the stop message to SIGTERM. A stop normally ends a run in well under 2 s; a checkpoint may take longer. */
  signalAfterMs: number;
  /** From SIGTERM to SIGKILL. */
  killAfterMs: number;
}

export const STOP_GRACE: StopGrace = { signalAfterMs: 10000, killAfterMs: 10000 };

/**
 * The grace for a run whose recent steps took up to `slowestStepSeconds`: a worker answers a stop (and SIGTERM)
 * only between steps, since a step is synchronous compute, so a run of 40 s steps (a GPT-2-sized LoRA update on
 * wasm) is not frozen when it has not stopped after 10 s. Each wait covers two such steps and 5 s more.
 */
export function stopGraceFor(slowestStepSeconds: number | undefined): StopGrace {
  const step = slowestStepSeconds !== undefined && Number.isFinite(slowestStepSeconds) && slowestStepSeconds > 0 ? slowestStepSeconds : 0;
  const wait = Math.max(STOP_GRACE.signalAfterMs, 1000 * Math.ceil(2 * step + 5)); // whole seconds, for the messages
  return { signalAfterMs: wait, killAfterMs: Math.max(STOP_GRACE.killAfterMs, wait) };
}

/** The slowest of the last `keep` step times, as the host sees them stream by. */
export class RecentStepTimes {
  private readonly seconds: number[] = [];
  constructor(private readonly keep = 5) {}

  add(stepSeconds: number | undefined): void {
    if (stepSeconds === undefined || !Number.isFinite(stepSeconds) || stepSeconds < 0) return;
    this.seconds.push(stepSeconds);
    if (this.seconds.length > this.keep) this.seconds.shift();
  }

  slowest(): number | undefined {
    return this.seconds.length ? Math.max(...this.seconds) : undefined;
  }
}

/** What escalation needs of a child process (a ChildProcess is one). */
export interface Killable {
  readonly pid?: number;
  kill(signal: NodeJS.Signals): boolean;
}

/** Appends a warning to the run's events.jsonl (O_APPEND: whole lines, next to the worker's own). */
export function recordRunWarning(runDir: string, message: string): LogEvent {
  const event: LogEvent = { type: 'log', time: Date.now(), level: 'warning', message };
  fs.appendFileSync(path.join(runDir, RUN_FILES.events), JSON.stringify(event) + '\n');
  return event;
}

/**
 * Starts the escalation of a stop already sent to `child`; it ends when `exited` resolves. `record` gets each step
 * taken. Returns a function that cancels what is still pending.
 */
export function escalateStop(child: Killable, exited: Promise<unknown>, record: (message: string) => void, grace: StopGrace = STOP_GRACE): () => void {
  let done = false;
  const timers: NodeJS.Timeout[] = [];
  const cancel = () => {
    done = true;
    timers.forEach(clearTimeout);
  };
  void exited.then(cancel);
  timers.push(setTimeout(() => {
    if (done) return;
    record(`the worker (pid ${child.pid}) did not stop within ${grace.signalAfterMs / 1000} s of Stop: sent SIGTERM`);
    child.kill('SIGTERM');
    timers.push(setTimeout(() => {
      if (done) return;
      record(`the worker (pid ${child.pid}) ignored SIGTERM for ${grace.killAfterMs / 1000} s: killed (SIGKILL); the run resumes from its newest complete checkpoint`);
      child.kill('SIGKILL');
    }, grace.killAfterMs));
  }, grace.signalAfterMs));
  return cancel;
}
