/**
 * The run directory is the source of truth: everything the dashboard shows is appended here first. Files are only
 * ever appended to; each record is written with one `writeSync` of a whole line, so a crash leaves at most one torn
 * last line, which readers skip (see src/protocol/runFiles.ts).
 */
import * as fs from 'fs';
import * as path from 'path';
import { makeRunId, MetricsRecord, RUN_FILES, RunConfig, RunEvent, RolloutsRecord } from '../protocol';

export class RunDirectoryWriter {
  private readonly fds = new Map<string, number>();

  /**
   * Creates the run folder and writes config.json, refusing a folder that already holds a run — or, with
   * `config` undefined, reopens an existing run to append to it (resume).
   */
  constructor(readonly runDir: string, config: RunConfig | undefined) {
    const configFile = path.join(runDir, RUN_FILES.config);
    if (config === undefined) {
      if (!fs.existsSync(configFile)) throw new Error(`${runDir} is not a run directory (no ${RUN_FILES.config})`);
      for (const file of [RUN_FILES.metrics, RUN_FILES.rollouts, RUN_FILES.evalRollouts, RUN_FILES.events]) dropTornTail(path.join(runDir, file));
      return;
    }
    if (fs.existsSync(configFile)) {
      throw new Error(`${runDir} already holds a run (config.json exists); choose another run folder`);
    }
    fs.mkdirSync(runDir, { recursive: true });
    fs.writeFileSync(configFile, JSON.stringify(config, null, 2) + '\n');
  }

  appendEvalRollouts(record: RolloutsRecord): void {
    this.appendLine(RUN_FILES.evalRollouts, record);
  }

  appendMetrics(record: MetricsRecord): void {
    this.appendLine(RUN_FILES.metrics, record);
  }

  appendRollouts(record: RolloutsRecord): void {
    this.appendLine(RUN_FILES.rollouts, record);
  }

  appendEvent(event: RunEvent): void {
    this.appendLine(RUN_FILES.events, event);
  }

  close(): void {
    for (const fd of this.fds.values()) fs.closeSync(fd);
    this.fds.clear();
  }

  private appendLine(file: string, record: unknown): void {
    let fd = this.fds.get(file);
    if (fd === undefined) {
      fd = fs.openSync(path.join(this.runDir, file), 'a');
      this.fds.set(file, fd);
    }
    fs.writeSync(fd, JSON.stringify(record) + '\n');
  }
}

/**
 * A crash can leave a file's last line half written. Before appending again (resume), that fragment goes: new lines
 * must not be glued onto it, and it was never a record.
 */
function dropTornTail(file: string): void {
  if (!fs.existsSync(file)) return;
  // From the end, a chunk at a time: a rollouts file reaches gigabytes, more than one string can hold.
  const fd = fs.openSync(file, 'r');
  let keep = 0;
  try {
    const size = fs.fstatSync(fd).size;
    const chunk = Buffer.alloc(Math.min(size, TAIL_CHUNK_BYTES));
    for (let end = size; end > 0; end -= chunk.length) {
      const start = Math.max(0, end - chunk.length);
      const read = fs.readSync(fd, chunk, 0, end - start, start);
      const newline = chunk.subarray(0, read).lastIndexOf(10);
      if (newline >= 0) {
        keep = start + newline + 1;
        break;
      }
    }
    if (keep === size) return;
  } finally {
    fs.closeSync(fd);
  }
  fs.truncateSync(file, keep);
}

const TAIL_CHUNK_BYTES = 1 << 16;

/** Checkpoint folders of a run, oldest first: `checkpoints/step-N`. */
export function listCheckpoints(runDir: string): { step: number; dir: string }[] {
  const root = path.join(runDir, RUN_FILES.checkpoints);
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root)
    .map((name) => ({ name, match: /^step-(\d+)$/.exec(name) }))
    .filter(({ name, match }) => match && fs.existsSync(path.join(root, name, CHECKPOINT_STATE)))
    .map(({ name, match }) => ({ step: Number(match?.[1]), dir: path.join(root, name) }))
    .sort((a, b) => a.step - b.step);
}

/** Written last into a checkpoint folder: a folder without it is an interrupted write and is ignored. */
export const CHECKPOINT_STATE = 'state.json';

/** A new run folder under `runsDir`: `<timestamp>-<name>`, with `-2`, `-3`… if runs started in the same second. */
export function newRunDirectory(runsDir: string, name: string, now = new Date()): string {
  const base = path.join(runsDir, makeRunId(name, now));
  let candidate = base;
  for (let n = 2; fs.existsSync(candidate); n++) candidate = `${base}-${n}`;
  return candidate;
}
