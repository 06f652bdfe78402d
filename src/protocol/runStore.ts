/**
 * Reads runs back from their directories. Nothing here needs the worker to be alive: a finished, failed or
 * reopened run is drawn from the files alone.
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  finiteValue,
  isMetricsRecord,
  isRunEvent,
  MetricsRecord,
  parseJsonl,
  RecordGuard,
  RUN_FILES,
  RunConfig,
  DerivedRunState,
  deriveRunState,
  RunEvent,
  RunFormat,
  RunState,
  RunSnapshot,
  RunStatus,
  StartedEvent,
  stripBom,
  WarmStartEvent,
} from './index';
// The lock check only: runLock.ts has no tfjs or worker-process dependencies.
import { runLockHolder } from './runLockFile';

export interface RunSummary {
  /** Which trainer wrote the run (src/protocol/runReaders). */
  format: RunFormat;
  runId: string;
  runDir: string;
  name: string;
  state: RunState;
  status: RunStatus;
  step: number;
  maxSteps: number | undefined;
  reward: number | undefined;
  /** The SFT warm start's newest progress, while the run has no step record yet (it is warming up, or stopped in it). */
  warmStart?: { step: number; steps: number };
}

/** A file's text, or '' when it cannot be read (missing, a folder, no permission): a run is drawn from what is there. */
function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** The good records of a run file; a bad line is skipped (parseJsonl says which) and never hides the others. */
function readJsonl<T>(runDir: string, file: string, accept: RecordGuard<T>): T[] {
  const full = path.join(runDir, file);
  return parseJsonl<T>(readText(full), full, accept).records;
}

/** The last good line of a JSONL file, reading only its tail (metrics files grow with every step). */
function readLastRecord<T>(file: string, accept: RecordGuard<T>): T | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size === 0) return undefined;
    for (let chunk = 16 * 1024; ; chunk *= 4) {
      const length = Math.min(chunk, size);
      const buffer = Buffer.alloc(length);
      fs.readSync(fd, buffer, 0, length, size - length);
      const lines = buffer.toString('utf8').split('\n');
      // The first line of a partial chunk may be cut; use it only when the chunk is the whole file.
      const candidates = length === size ? [stripBom(lines[0]), ...lines.slice(1)] : lines.slice(1);
      for (let i = candidates.length - 1; i >= 0; i--) {
        try {
          if (!candidates[i].trim()) continue;
          const value: unknown = JSON.parse(candidates[i]);
          if (accept(value)) return value;
        } catch {
          // a torn last line: try the one before
        }
      }
      if (length === size) return undefined;
    }
  } catch {
    return undefined; // not a readable file (a folder in its place): no record, as for a missing file
  } finally {
    fs.closeSync(fd);
  }
}

function readConfig(runDir: string): RunConfig | undefined {
  const text = stripBom(readText(path.join(runDir, RUN_FILES.config)));
  if (!text) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    // Written by the worker after validation; anything else (a hand edit gone wrong) is as good as no config.
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as RunConfig) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The run's state (deriveRunState) from its lifecycle events and whether its worker lives: `isLive` is the host's
 * own knowledge (it is attached to the worker); any other writer counts only through the run's lock (`runDir`),
 * which names the process by pid *and* start time: the pid in a `started` event may have been reused since.
 */
export function runStateOf(events: RunEvent[], isLive: boolean, runDir?: string, stopSent = false): DerivedRunState {
  // The lock is read only when the events leave the question open (no last record of the newest process).
  const alive = () => isLive || (runDir !== undefined && runLockHolder(runDir) !== undefined);
  const ended = deriveRunState(events, { alive: false });
  if (ended.status !== 'interrupted') return ended;
  return deriveRunState(events, { alive: alive(), stopSent });
}

/** The newest `started` event: a resumed run has one per process. */
function lastStarted(events: RunEvent[]): StartedEvent | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const event = events[i];
    if (event.type === 'started') return event;
  }
  return undefined;
}

/**
 * One record per step. A run resumed from a checkpoint repeats the steps after it, so the later line of a step wins
 * (it is what the resumed policy did); records stay in step order.
 */
export function latestPerStep<T extends { step: number }>(records: T[]): T[] {
  const byStep = new Map<number, T>();
  for (const record of records) byStep.set(record.step, record);
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

export function isRunDirectory(dir: string): boolean {
  return fs.existsSync(path.join(dir, RUN_FILES.config));
}

/**
 * The run's config: its config.json, or, where that is missing or unreadable (hand-edited, copied without it), the
 * config the newest `started` event carries, so that the run's name, max steps and reward range still show.
 */
function configOf(runDir: string, events: RunEvent[]): RunConfig | undefined {
  return readConfig(runDir) ?? lastStarted(events)?.config;
}

export function readSnapshot(runDir: string, isLive = false, stopSent = false): RunSnapshot {
  const events = readJsonl<RunEvent>(runDir, RUN_FILES.events, isRunEvent);
  return {
    runId: path.basename(runDir),
    runDir,
    ...runStateOf(events, isLive, runDir, stopSent),
    config: configOf(runDir, events),
    started: lastStarted(events),
    startTime: events.find((e) => e.type === 'started')?.time,
    events,
    metrics: latestPerStep(readJsonl<MetricsRecord>(runDir, RUN_FILES.metrics, isMetricsRecord)),
  };
}

export function readSummary(runDir: string, isLive = false, stopSent = false): RunSummary {
  const events = readJsonl<RunEvent>(runDir, RUN_FILES.events, isRunEvent);
  const config = configOf(runDir, events);
  const last = readLastRecord<MetricsRecord>(path.join(runDir, RUN_FILES.metrics), isMetricsRecord);
  return {
    format: 'grpo-studio',
    runId: path.basename(runDir),
    runDir,
    name: config?.name ?? path.basename(runDir),
    ...runStateOf(events, isLive, runDir, stopSent),
    step: last?.step ?? 0,
    maxSteps: config?.optimization?.max_steps,
    reward: finiteValue(last?.metrics.reward),
    ...(last ? {} : warmStartOf(events)),
  };
}

/** The newest warm-start progress among the events, as a summary field. */
function warmStartOf(events: readonly RunEvent[]): Pick<RunSummary, 'warmStart'> {
  const newest = events.filter((e): e is WarmStartEvent => e.type === 'warm_start').at(-1);
  return newest ? { warmStart: { step: newest.step, steps: newest.steps } } : {};
}

/** Run folders under `runsDir`, newest first (folder names start with a sortable timestamp). */
export function listRunDirectories(runsDir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(runsDir);
  } catch {
    return [];
  }
  return names
    .map((name) => path.join(runsDir, name))
    .filter(isRunDirectory)
    .sort()
    .reverse();
}
