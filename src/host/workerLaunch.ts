/**
 * Starting a training worker that outlives the window: detached (a new session and process group, so neither the
 * extension host's exit nor a signal to its group reaches it), stdout and stderr appended to the run's worker.log
 * (a pipe would break, and the worker with it, when this host goes away). No `vscode` here: tested with a real
 * host process that is killed while the worker runs on.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { RUN_FILES } from '../protocol';

export function spawnDetachedWorker(workerScript: string, args: string[], runDir: string): ChildProcess {
  const log = fs.openSync(path.join(runDir, RUN_FILES.workerLog), 'a');
  try {
    const child = spawn(process.execPath, [workerScript, ...args], {
      detached: true,
      stdio: ['ignore', log, log],
      // Inside Electron the extension host's execPath is the editor binary: make it behave as plain Node.
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
      windowsHide: true,
    });
    // This host does not wait for it: its exit code is read while this host lives, not kept alive for.
    child.unref();
    return child;
  } finally {
    fs.closeSync(log);
  }
}

/** What the worker's log says about why it ended before serving its socket (its last `error:` line). */
export function startupFailure(runDir: string): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync(path.join(runDir, RUN_FILES.workerLog), 'utf8');
  } catch {
    return undefined;
  }
  const errors = text.split('\n').filter((line) => line.startsWith('error: '));
  return errors.at(-1)?.slice('error: '.length);
}

/** How a worker process ended: its exit code, or the signal that killed it (then the code is null). */
export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** What the worker this window launched recorded before it ended (its own records only, not an earlier process's). */
export interface WorkerProgress {
  /** Its `started` record arrived: the run began. */
  started: boolean;
  /** Its last record (`finished` or `error`) arrived: the run's end is recorded and shown already. */
  ended: boolean;
  /** The run's newest step record, if any. */
  step: number | undefined;
}

function howItEnded(exit: WorkerExit): string {
  if (exit.signal) return `the worker was killed (${exit.signal})`;
  return exit.code === null ? 'the worker ended' : `the worker exited with code ${exit.code}`;
}

/**
 * What to tell the user when a worker this window launched has exited, or undefined when its records said it all
 * (a completed, stopped or failed run). A run that never recorded its start "did not start" (with the reason its
 * log gives); one that started and ended without a last record "stopped unexpectedly" — a kill, a crash.
 */
export function workerExitNotice(runId: string, exit: WorkerExit, progress: WorkerProgress, startupReason: string | undefined, logPath: string): string | undefined {
  if (progress.ended) return undefined;
  if (!progress.started) {
    if (exit.code === 0) return undefined;
    return `run ${runId} did not start: ${startupReason ?? `${howItEnded(exit)}; see ${logPath}`}`;
  }
  const where = progress.step === undefined ? 'before its first step' : `at step ${progress.step}`;
  return `run ${runId} stopped unexpectedly ${where}: ${howItEnded(exit)}; see ${logPath}`;
}
