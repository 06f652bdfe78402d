/** File helpers the readers of other trainers' runs share: listing, step-numbered files, status from file times. */
import * as fs from 'fs';
import * as path from 'path';
import type { MetricsRecord, RunSnapshot, RunStatus, StoredNumber } from '../records';
import type { RunSource } from '../runSource';
import { stateOfStatus } from '../runState';
import { LIVE_WINDOW_MS } from './runReader';

/** A file's text, or undefined when it cannot be read (missing, a folder, no permission). */
export function readTextFile(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** The entries of a folder (names), or none when it cannot be listed. */
export function listNames(dir: string): fs.Dirent[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

export function isDirectory(file: string): boolean {
  try {
    return fs.statSync(file).isDirectory();
  } catch {
    return false;
  }
}

/** Files (or folders) of `dir` whose names give a step through `pattern`'s first group, by step. */
export function stepNamed(dir: string, pattern: RegExp, kind: 'file' | 'dir' = 'file'): Map<number, string> {
  const steps = new Map<number, string>();
  for (const entry of listNames(dir)) {
    if (kind === 'file' ? !entry.isFile() : !entry.isDirectory()) continue;
    const match = pattern.exec(entry.name);
    const step = match ? Number(match[1]) : Number.NaN;
    if (Number.isSafeInteger(step) && step >= 0) steps.set(step, path.join(dir, entry.name));
  }
  return steps;
}

export function ascending(steps: Iterable<number>): number[] {
  return [...steps].sort((a, b) => a - b);
}

/** Newest modification time of the files, ms since the epoch (0 when none can be read). */
export function newestWrite(files: string[]): number {
  let newest = 0;
  for (const file of files) {
    try {
      newest = Math.max(newest, fs.statSync(file).mtimeMs);
    } catch {
      // gone since listed
    }
  }
  return newest;
}

/**
 * Another trainer's run leaves no end marker we can read: it counts as running while its files change (within
 * LIVE_WINDOW_MS), else as stopped — or completed, when the reader knows the planned number of steps was reached.
 */
export function statusFromWrites(lastWrite: number, finished: boolean, now = Date.now()): RunStatus {
  if (finished) return 'completed';
  return now - lastWrite < LIVE_WINDOW_MS ? 'running' : 'stopped';
}

/** A number as a metric holds it: finite numbers and booleans (Python's True is a number); NaN stays as null. */
export function metricValue(value: unknown): StoredNumber | undefined {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value !== 'number') return undefined;
  return Number.isNaN(value) ? null : value;
}

/** A run of another trainer as a snapshot: no config of ours, no events, its metrics and where they came from. */
export function externalSnapshot(runDir: string, status: RunStatus, metrics: MetricsRecord[], source: RunSource): RunSnapshot {
  return { runId: path.basename(runDir), runDir, state: stateOfStatus(status), status, config: undefined, started: undefined, startTime: undefined, events: [], metrics, source };
}

/** One record per step, in step order; a step logged twice (a resumed run) merges, the later values winning. */
export function mergeByStep(records: MetricsRecord[]): MetricsRecord[] {
  const byStep = new Map<number, MetricsRecord>();
  for (const record of records) {
    const earlier = byStep.get(record.step);
    byStep.set(record.step, earlier ? { ...record, metrics: { ...earlier.metrics, ...record.metrics } } : record);
  }
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}
