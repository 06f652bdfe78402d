/**
 * A step → byte-range index over a per-step JSONL file (rollouts.jsonl, eval_rollouts.jsonl), so one step's record
 * is read without loading the whole file (a long run's rollouts reach gigabytes). The first scan reads the file
 * once; later refreshes read only what was appended. A line without its newline is still being written (or torn
 * by a crash) and is left for the next refresh. JsonlTail reads the complete lines appended to any JSONL file
 * since its last read. Nothing here needs VS Code.
 */
import * as fs from 'fs';

interface LineRange {
  start: number;
  length: number;
}

const CHUNK_BYTES = 1 << 20;
/** Records start with `{"step":N` (JSON.stringify keeps the writer's key order); other layouts are parsed in full. */
const STEP_HEAD = /^\s*\{\s*"step"\s*:\s*(\d+)\s*[,}]/;
const HEAD_BYTES = 64;

export class JsonlStepIndex {
  private readonly lines = new Map<number, LineRange>();
  private sortedSteps: number[] | undefined;
  /** Byte offset just past the last complete line indexed. */
  private indexedBytes = 0;

  constructor(readonly file: string) {}

  /** Steps with a complete record, ascending. */
  steps(): number[] {
    this.refresh();
    this.sortedSteps ??= [...this.lines.keys()].sort((a, b) => a - b);
    return this.sortedSteps;
  }

  /** The record of `step`, or undefined if the file has none (yet). */
  read<T>(step: number): T | undefined {
    if (!this.lines.has(step)) this.refresh();
    const range = this.lines.get(step);
    if (!range) return undefined;
    const fd = fs.openSync(this.file, 'r');
    try {
      const text = readRange(fd, range.start, range.length).toString('utf8');
      try {
        return JSON.parse(text) as T;
      } catch (err) {
        throw new Error(`${this.file}: malformed record for step ${step} at byte ${range.start}: ${err instanceof Error ? err.message : String(err)}`);
      }
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Indexes the lines appended since the last refresh; starts over if the file shrank (it was replaced). */
  refresh(): void {
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
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
    const head = readRange(fd, start, Math.min(HEAD_BYTES, length)).toString('utf8');
    if (head.trim() === '') return;
    const match = STEP_HEAD.exec(head);
    const step = match ? Number(match[1]) : this.stepOfWholeLine(fd, start, length);
    // A resumed run may write a step again: the later record wins, as it does on screen.
    this.lines.set(step, { start, length });
    this.sortedSteps = undefined;
  }

  private stepOfWholeLine(fd: number, start: number, length: number): number {
    const text = readRange(fd, start, length).toString('utf8');
    let step: unknown;
    try {
      step = (JSON.parse(text) as { step?: unknown }).step;
    } catch (err) {
      throw new Error(`${this.file}: malformed record at byte ${start}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (typeof step !== 'number') throw new Error(`${this.file}: record at byte ${start} has no numeric "step"`);
    return step;
  }
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

/** Appended complete lines of one JSONL file, from a byte offset on. */
export class JsonlTail {
  constructor(
    private readonly file: string,
    private offset = 0,
  ) {}

  static fromEnd(file: string): JsonlTail {
    return new JsonlTail(file, fileSize(file));
  }

  read<T>(): T[] {
    const size = fileSize(this.file);
    if (size < this.offset) this.offset = 0;
    if (size === this.offset) return [];
    const fd = fs.openSync(this.file, 'r');
    try {
      const buffer = Buffer.alloc(size - this.offset);
      fs.readSync(fd, buffer, 0, buffer.length, this.offset);
      const end = buffer.lastIndexOf(10);
      if (end < 0) return [];
      this.offset += end + 1;
      return buffer
        .subarray(0, end)
        .toString('utf8')
        .split('\n')
        .filter((line) => line.trim() !== '')
        .flatMap((line) => {
          try {
            return [JSON.parse(line) as T];
          } catch {
            // A malformed line is skipped here; reading the run from scratch reports it with its line number.
            return [];
          }
        });
    } finally {
      fs.closeSync(fd);
    }
  }
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}
