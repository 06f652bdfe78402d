/**
 * The run directory is the source of truth: everything the dashboard shows is appended here first. Files are only
 * ever appended to; each record is written with one `writeSync` of a whole line, so a crash leaves at most one torn
 * last line, which readers skip (see src/protocol/runFiles.ts).
 */
import * as fs from 'fs';
import * as path from 'path';
import { MetricsRecord, RUN_FILES, RunConfig, RunEvent, RolloutsRecord, TokenColumns } from '../protocol';
import { encodeTokenRows, roundRolloutsRecord, storedRolloutsLine, TokenBlockOptions, tokenBlockOptions, tokenRows, withTokenRows } from '../protocol/tokenBlocks';
import { fsyncDirectory, syncTree, writeFileAtomic } from './durableFiles';

export class RunDirectoryWriter {
  private readonly fds = new Map<string, number>();
  /** How this run's token blocks are written (which columns its config lets the reader recompute). */
  private readonly tokenOptions: TokenBlockOptions;

  /**
   * Creates the run folder and writes config.json, refusing a folder that already holds a run — or, with
   * `config` undefined, reopens an existing run to append to it (resume).
   */
  constructor(readonly runDir: string, config: RunConfig | undefined) {
    const configFile = path.join(runDir, RUN_FILES.config);
    if (config === undefined) {
      if (!fs.existsSync(configFile)) throw new Error(`${runDir} is not a run directory (no ${RUN_FILES.config})`);
      for (const file of [RUN_FILES.metrics, RUN_FILES.rollouts, RUN_FILES.evalRollouts, RUN_FILES.events]) dropTornTail(path.join(runDir, file));
      this.tokenOptions = tokenBlockOptions(readConfig(configFile));
      return;
    }
    this.tokenOptions = tokenBlockOptions(config);
    if (fs.existsSync(configFile)) {
      throw new Error(`${runDir} already holds a run (config.json exists); choose another run folder`);
    }
    fs.mkdirSync(runDir, { recursive: true });
    writeFileAtomic(configFile, JSON.stringify(config, null, 2) + '\n');
  }

  /** Appends a validation's rollouts; returns the record as a reader of the run folder will get it back. */
  appendEvalRollouts(record: RolloutsRecord): RolloutsRecord {
    return this.appendRolloutsTo(RUN_FILES.evalRollouts, RUN_FILES.evalRolloutTokens, record);
  }

  appendMetrics(record: MetricsRecord): void {
    this.appendLine(RUN_FILES.metrics, record);
  }

  /** Appends a step's rollouts; returns the record as a reader of the run folder will get it back. */
  appendRollouts(record: RolloutsRecord): RolloutsRecord {
    return this.appendRolloutsTo(RUN_FILES.rollouts, RUN_FILES.rolloutTokens, record);
  }

  appendEvent(event: RunEvent): void {
    this.appendLine(RUN_FILES.events, event);
  }

  close(): void {
    for (const fd of this.fds.values()) fs.closeSync(fd);
    this.fds.clear();
  }

  /**
   * A step's per-token columns go to its token block (src/protocol/tokenBlocks.ts), appended to `tokensFile`, and
   * the rest of the record, with a pointer to the block, to `file`. The block is written first: a crash between the
   * two leaves an unreferenced block (never read) and at most a torn line (dropped), never a line whose block is
   * missing. Columns the block cannot hold exactly keep the step inline, as runs before token blocks were written.
   */
  private appendRolloutsTo(file: string, tokensFile: string, record: RolloutsRecord): RolloutsRecord {
    let encoded: { block: Uint8Array; read: TokenColumns[] };
    try {
      encoded = encodeTokenRows(record.step, tokenRows(record), this.tokenOptions);
    } catch {
      const rounded = roundRolloutsRecord(record);
      this.appendLine(file, rounded);
      return rounded;
    }
    const { block, read } = encoded;
    const fd = this.fd(tokensFile);
    // Append mode writes at the end; the run lock makes this process the only writer, so the end is the offset.
    const offset = fs.fstatSync(fd).size;
    writeAll(fd, block);
    this.appendLine(file, storedRolloutsLine(record, { file: tokensFile, offset, length: block.length }));
    return withTokenRows(record, read);
  }

  private fd(file: string): number {
    let fd = this.fds.get(file);
    if (fd === undefined) {
      fd = fs.openSync(path.join(this.runDir, file), 'a');
      this.fds.set(file, fd);
    }
    return fd;
  }

  private appendLine(file: string, record: unknown): void {
    fs.writeSync(this.fd(file), JSON.stringify(record) + '\n');
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.length; ) done += fs.writeSync(fd, bytes, done, bytes.length - done);
}

/** The config of a run being resumed, for how its token blocks are written (undefined when it does not parse). */
function readConfig(file: string): RunConfig | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as RunConfig;
  } catch {
    return undefined;
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

/** Checkpoint folders of a run, oldest first: `checkpoints/step-N` (complete or not: see newestCompleteCheckpoint). */
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

/**
 * Written last into a checkpoint folder, with the size of every other file in it (`files`): a folder without it, or
 * whose files differ from it, is an interrupted or damaged write and is never resumed from.
 */
export const CHECKPOINT_STATE = 'state.json';

/** Where a checkpoint is written before it is complete; the dot keeps it out of listCheckpoints. */
export function partialCheckpointDir(runDir: string, step: number): string {
  return path.join(runDir, RUN_FILES.checkpoints, `.step-${step}.partial`);
}

/**
 * Starts a checkpoint: an empty partial folder, and no leftovers of writes a crash interrupted (the run lock says
 * no other process writes here).
 */
export function beginCheckpoint(runDir: string, step: number): string {
  const root = path.join(runDir, RUN_FILES.checkpoints);
  if (fs.existsSync(root)) {
    for (const name of fs.readdirSync(root)) if (/^\.step-\d+\.(partial|old)$/.test(name)) fs.rmSync(path.join(root, name), { recursive: true, force: true });
  }
  const dir = partialCheckpointDir(runDir, step);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * Completes a checkpoint written into `partialDir`: fsyncs its files, writes state.json (with their sizes) atomically,
 * then renames the folder to checkpoints/step-N. At every instant step-N is either absent, the previous complete
 * checkpoint of that step, or the new complete one. Returns the final folder.
 */
export function commitCheckpoint(runDir: string, step: number, partialDir: string, state: object): string {
  const files = syncTree(partialDir);
  writeFileAtomic(path.join(partialDir, CHECKPOINT_STATE), JSON.stringify({ ...state, files }));
  const root = path.join(runDir, RUN_FILES.checkpoints);
  const finalDir = path.join(root, `step-${step}`);
  // A directory cannot be renamed over a non-empty one: the old step-N (a stop right after a periodic save) steps aside first.
  const old = path.join(root, `.step-${step}.old`);
  if (fs.existsSync(finalDir)) fs.renameSync(finalDir, old);
  fs.renameSync(partialDir, finalDir);
  fsyncDirectory(root);
  fs.rmSync(old, { recursive: true, force: true });
  return finalDir;
}

/** Why the checkpoint in `dir` cannot be resumed from, or undefined when it is complete. */
export function checkpointProblem(dir: string): string | undefined {
  let state: unknown;
  try {
    state = JSON.parse(fs.readFileSync(path.join(dir, CHECKPOINT_STATE), 'utf8'));
  } catch (err) {
    return `${CHECKPOINT_STATE} is unreadable (${err instanceof Error ? err.message : String(err)})`;
  }
  if (typeof state !== 'object' || state === null || typeof (state as { step?: unknown }).step !== 'number') return `${CHECKPOINT_STATE} has no step`;
  const files = (state as { files?: unknown }).files;
  // Checkpoints from before the manifest have none: state.json was written last then too, so they count as complete.
  if (files === undefined) return undefined;
  if (typeof files !== 'object' || files === null) return `${CHECKPOINT_STATE}: "files" is not an object`;
  for (const [relative, size] of Object.entries(files as Record<string, unknown>)) {
    let actual: number;
    try {
      actual = fs.statSync(path.join(dir, ...relative.split('/'))).size;
    } catch {
      return `${relative} is missing`;
    }
    if (actual !== size) return `${relative} has ${actual} bytes, ${CHECKPOINT_STATE} lists ${String(size)}`;
  }
  return undefined;
}

/** The newest checkpoint that is complete; each newer one that is not is reported through `skipped`. */
export function newestCompleteCheckpoint(runDir: string, skipped: (message: string) => void): { step: number; dir: string } | undefined {
  const checkpoints = listCheckpoints(runDir);
  for (let i = checkpoints.length - 1; i >= 0; i--) {
    const problem = checkpointProblem(checkpoints[i].dir);
    if (problem === undefined) return checkpoints[i];
    skipped(`skipped ${path.relative(runDir, checkpoints[i].dir)}: incomplete checkpoint (${problem})`);
  }
  return undefined;
}
