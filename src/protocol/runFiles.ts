/**
 * Reading the run directory's JSON Lines files. The worker appends a line per record and flushes at step end; a
 * reader may see a torn last line (the worker was killed mid-write, or is writing now). That line is skipped. A
 * malformed line anywhere else (a disk error, a hand edit) is skipped too and reported with its file and line
 * number in `problems`: one bad line must not hide a run's other records, so readers never throw on content.
 */
import type { MetricsRecord, RolloutsRecord, RunEvent } from './records';

export interface JsonlParseResult<T> {
  records: T[];
  /** True when the final line was incomplete and skipped. */
  tornTail: boolean;
  /** `file:line: what is wrong`, one per line that was skipped (the torn tail aside). */
  problems: string[];
}

/** A record check: a line that parses as JSON but fails it is skipped and reported, never handed on. */
export type RecordGuard<T> = (value: unknown) => value is T;

/** Text editors on Windows may save a byte-order mark; it is not part of the first record. */
export function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

export function parseJsonl<T>(text: string, source: string, accept?: RecordGuard<T>): JsonlParseResult<T> {
  const lines = stripBom(text).split('\n');
  const endsCleanly = text.endsWith('\n') || text.length === 0;
  const records: T[] = [];
  const problems: string[] = [];
  let tornTail = false;
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const isLast = i === lines.length - 1;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      // A complete-looking final line without its newline is still being written: only trust it if it parsed.
      if (isLast && !endsCleanly) tornTail = true;
      else problems.push(`${source}:${i + 1}: malformed record: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    if (accept && !accept(value)) {
      problems.push(`${source}:${i + 1}: not a record of this file: ${line.length > 80 ? `${line.slice(0, 80)}…` : line}`);
      return;
    }
    records.push(value as T);
  });
  return { records, tornTail, problems };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStep(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** A line of metrics.jsonl: a step, a time and an object of metrics (numbers, or null for NaN). */
export function isMetricsRecord(value: unknown): value is MetricsRecord {
  return isObject(value) && isStep(value.step) && typeof value.time === 'number' && isObject(value.metrics)
    && Object.values(value.metrics).every((m) => m === null || typeof m === 'number');
}

/** A line of rollouts.jsonl / eval_rollouts.jsonl: a step and its groups. */
export function isRolloutsRecord(value: unknown): value is RolloutsRecord {
  return isObject(value) && isStep(value.step) && Array.isArray(value.groups) && value.groups.every((g) => isObject(g) && Array.isArray(g.rollouts));
}

/** A line of events.jsonl: a typed, timed event. */
export function isRunEvent(value: unknown): value is RunEvent {
  return isObject(value) && typeof value.type === 'string' && typeof value.time === 'number';
}

/** Run folder name: sortable start time plus the run's name. */
export function makeRunId(name: string, date = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  const stamp = `${date.getFullYear()}${pad(date.getMonth() + 1)}${pad(date.getDate())}-${pad(date.getHours())}${pad(date.getMinutes())}${pad(date.getSeconds())}`;
  return `${stamp}-${name}`;
}
