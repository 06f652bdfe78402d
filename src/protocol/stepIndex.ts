/**
 * A step → byte-range index over a per-step JSONL file (rollouts.jsonl, eval_rollouts.jsonl), so one step's record
 * is read without loading the whole file (a long run's rollouts reach gigabytes). The first scan reads the file
 * once; later refreshes read only what was appended. A line without its newline is still being written (or torn
 * by a crash) and is left for the next refresh. JsonlTail reads the complete lines appended to any JSONL file
 * since its last read. Nothing here needs VS Code.
 */
import * as fs from 'fs';
import * as path from 'path';
import { RecordGuard, stripBom } from './runFiles';
import { resolveTokenBlock, TokenBlockRef } from './tokenBlocks';

interface LineRange {
  start: number;
  length: number;
}

const CHUNK_BYTES = 1 << 20;
/** Records start with `{"step":N` (JSON.stringify keeps the writer's key order); other layouts are parsed in full. */
const STEP_HEAD = /^\s*\{\s*"step"\s*:\s*(\d+)\s*[,}]/;
const HEAD_BYTES = 64;

export class JsonlStepIndex {
  /** Per step, the lines that claim it, newest first: a bad newest line falls back to the one before. */
  private readonly lines = new Map<number, LineRange[]>();
  /** Lines skipped as malformed (`file: malformed record at byte N: …`), for a log; they never stop the index. */
  readonly problems: string[] = [];
  private sortedSteps: number[] | undefined;
  /** Byte offset just past the last complete line indexed. */
  private indexedBytes = 0;

  /**
   * `resolve` completes a parsed line before it is checked (a rollouts line gets its token block); it throws when it
   * cannot, and the line then counts as malformed.
   */
  constructor(
    readonly file: string,
    private readonly resolve?: (value: unknown) => unknown,
  ) {}

  /** Steps with a complete record, ascending. */
  steps(): number[] {
    this.refresh();
    this.sortedSteps ??= [...this.lines.keys()].sort((a, b) => a - b);
    return this.sortedSteps;
  }

  /**
   * The record of `step` (the newest good line of that step, checked by `accept` when given), or undefined if the
   * file has none (yet).
   */
  read<T>(step: number, accept?: RecordGuard<T>): T | undefined {
    if (!this.lines.has(step)) this.refresh();
    const ranges = this.lines.get(step);
    if (!ranges) return undefined;
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch {
      return undefined;
    }
    try {
      for (const range of ranges) {
        const text = stripBom(readRange(fd, range.start, range.length).toString('utf8'));
        let why = '';
        try {
          const parsed: unknown = JSON.parse(text);
          const value = this.resolve ? this.resolve(parsed) : parsed;
          if ((accept === undefined || accept(value)) && stepOf(value) === step) return value as T;
        } catch (err) {
          // malformed despite its `{"step":N` head, or its token block is unreadable: the line before of the same step, if any
          if (this.resolve) why = `: ${err instanceof Error ? err.message : String(err)}`;
        }
        this.note(`${this.file}: malformed record for step ${step} at byte ${range.start}${why}`);
      }
      return undefined;
    } finally {
      fs.closeSync(fd);
    }
  }

  private note(problem: string): void {
    if (!this.problems.includes(problem)) this.problems.push(problem);
  }

  /** Indexes the lines appended since the last refresh; starts over if the file shrank (it was replaced). */
  refresh(): void {
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch {
      return; // not there (yet), or not readable: nothing to index
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (size < this.indexedBytes) this.reset();
      this.scan(fd, size);
    } finally {
      fs.closeSync(fd);
    }
  }

  private reset(): void {
    this.lines.clear();
    this.sortedSteps = undefined;
    this.indexedBytes = 0;
  }

  private scan(fd: number, size: number): void {
    const buffer = Buffer.alloc(CHUNK_BYTES);
    let lineStart = this.indexedBytes;
    for (let position = this.indexedBytes; position < size; ) {
      const read = fs.readSync(fd, buffer, 0, Math.min(CHUNK_BYTES, size - position), position);
      if (read <= 0) break;
      const chunk = buffer.subarray(0, read);
      for (let newline = chunk.indexOf(10); newline >= 0; newline = chunk.indexOf(10, newline + 1)) {
        const lineEnd = position + newline;
        this.addLine(fd, lineStart, lineEnd - lineStart);
        lineStart = lineEnd + 1;
      }
      position += read;
    }
    this.indexedBytes = lineStart;
  }

  private addLine(fd: number, start: number, length: number): void {
    if (length === 0) return;
    const head = stripBom(readRange(fd, start, Math.min(HEAD_BYTES, length)).toString('utf8'));
    if (head.trim() === '') return;
    const match = STEP_HEAD.exec(head);
    const step = match ? Number(match[1]) : this.stepOfWholeLine(fd, start, length);
    if (step === undefined || !Number.isSafeInteger(step)) return;
    // A resumed run may write a step again: the later record wins, as it does on screen.
    this.lines.set(step, [{ start, length }, ...(this.lines.get(step) ?? [])]);
    this.sortedSteps = undefined;
  }

  private stepOfWholeLine(fd: number, start: number, length: number): number | undefined {
    const text = stripBom(readRange(fd, start, length).toString('utf8'));
    let step: number | undefined;
    try {
      step = stepOf(JSON.parse(text));
    } catch (err) {
      this.note(`${this.file}: malformed record at byte ${start}: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    }
    if (step === undefined) this.note(`${this.file}: record at byte ${start} has no numeric "step"`);
    return step;
  }
}

/**
 * The step index of a rollouts file (rollouts.jsonl, eval_rollouts.jsonl): each step's record comes with its
 * per-token columns, read from the token block its line points at (or inline, in runs written before blocks).
 */
export function rolloutStepIndex(file: string): JsonlStepIndex {
  const dir = path.dirname(file);
  return new JsonlStepIndex(file, (value) => resolveTokenBlock(value, (ref) => readTokenBlock(dir, ref)));
}

/** The bytes of one token block (one step), or undefined when its file cannot be opened. */
export function readTokenBlock(dir: string, ref: TokenBlockRef): Buffer | undefined {
  let fd: number;
  try {
    fd = fs.openSync(path.join(dir, ref.file), 'r');
  } catch {
    return undefined;
  }
  try {
    return readRange(fd, ref.offset, ref.length);
  } finally {
    fs.closeSync(fd);
  }
}

function stepOf(value: unknown): number | undefined {
  const step = typeof value === 'object' && value !== null ? (value as { step?: unknown }).step : undefined;
  return typeof step === 'number' && Number.isSafeInteger(step) ? step : undefined;
}

function readRange(fd: number, start: number, length: number): Buffer {
  const buffer = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buffer, done, length - done, start + done);
    if (n <= 0) break;
    done += n;
  }
  return buffer.subarray(0, done);
}

/**
 * Appended complete lines of one JSONL file, from a byte offset on. A file that shrank, or whose bytes before the
 * offset changed, was rewritten in place (verl's file logger reopens its file with "wb" when a run resumes): the
 * tail then starts over from byte 0 and counts a restart, so a follower can redraw instead of mixing two files.
 */
export class JsonlTail {
  /** How many times the file was found rewritten; the records read after a restart repeat earlier steps. */
  restarts = 0;
  /** The last bytes read (up to GUARD_BYTES before `offset`): unchanged in a file that was only appended to. */
  private guard: Buffer;

  constructor(
    private readonly file: string,
    private offset = 0,
  ) {
    this.guard = this.bytesBefore(offset);
  }

  static fromEnd(file: string): JsonlTail {
    return new JsonlTail(file, fileSize(file));
  }

  /** The complete lines appended since the last read that parse (and pass `accept`, when given). */
  read<T>(accept?: RecordGuard<T>): T[] {
    return this.readLines().flatMap((line) => {
      try {
        const value: unknown = JSON.parse(line);
        return accept === undefined || accept(value) ? [value as T] : [];
      } catch {
        // A malformed line is skipped here; reading the run from scratch reports it with its line number.
        return [];
      }
    });
  }

  /** The complete, non-blank lines appended since the last read (a text log's, as JSONL's). */
  readLines(): string[] {
    const size = fileSize(this.file);
    if (size < this.offset || !this.bytesBefore(this.offset).equals(this.guard)) {
      this.offset = 0;
      this.guard = Buffer.alloc(0);
      this.restarts++;
    }
    if (size === this.offset) return [];
    const fromStart = this.offset === 0;
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch {
      return [];
    }
    let buffer: Buffer;
    try {
      buffer = readRange(fd, this.offset, size - this.offset);
    } finally {
      fs.closeSync(fd);
    }
    const end = buffer.lastIndexOf(10);
    if (end < 0) return [];
    this.offset += end + 1;
    this.guard = this.bytesBefore(this.offset);
    const text = buffer.subarray(0, end).toString('utf8');
    return (fromStart ? stripBom(text) : text).split('\n').filter((line) => line.trim() !== '');
  }

  private bytesBefore(offset: number): Buffer {
    if (offset === 0) return Buffer.alloc(0);
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch {
      return Buffer.alloc(0);
    }
    try {
      const start = Math.max(0, offset - GUARD_BYTES);
      return readRange(fd, start, offset - start);
    } finally {
      fs.closeSync(fd);
    }
  }
}

/** Bytes compared to tell a rewritten file from an appended one: a JSONL line's tail holds its step and values. */
const GUARD_BYTES = 64;

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}
