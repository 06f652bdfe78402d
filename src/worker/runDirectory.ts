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

  /** Creates the run folder and writes config.json; refuses a folder that already holds a run. */
  constructor(readonly runDir: string, config: RunConfig) {
    if (fs.existsSync(path.join(runDir, RUN_FILES.config))) {
      throw new Error(`${runDir} already holds a run (config.json exists); choose another run folder`);
    }
    fs.mkdirSync(runDir, { recursive: true });
    fs.writeFileSync(path.join(runDir, RUN_FILES.config), JSON.stringify(config, null, 2) + '\n');
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

/** A new run folder under `runsDir`: `<timestamp>-<name>`, with `-2`, `-3`… if runs started in the same second. */
export function newRunDirectory(runsDir: string, name: string, now = new Date()): string {
  const base = path.join(runsDir, makeRunId(name, now));
  let candidate = base;
  for (let n = 2; fs.existsSync(candidate); n++) candidate = `${base}-${n}`;
  return candidate;
}
