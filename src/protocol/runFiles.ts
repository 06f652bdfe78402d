/**
 * Reading the run directory's JSON Lines files. The worker appends a line per record and flushes at step end; a
 * reader may see a torn last line (the worker was killed mid-write, or is writing now). That line is skipped; a
 * malformed line anywhere else is reported with its file and line number.
 */

export interface JsonlParseResult<T> {
  records: T[];
  /** True when the final line was incomplete and skipped. */
  tornTail: boolean;
}

export function parseJsonl<T>(text: string, source: string): JsonlParseResult<T> {
  const lines = text.split('\n');
  const endsCleanly = text.endsWith('\n') || text.length === 0;
  const records: T[] = [];
  let tornTail = false;
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const isLast = i === lines.length - 1;
    try {
      records.push(JSON.parse(line) as T);
    } catch (err) {
      if (isLast && !endsCleanly) {
        tornTail = true;
        return;
      }
      throw new Error(`${source}:${i + 1}: malformed record: ${err instanceof Error ? err.message : String(err)}`);
    }
  });
  // A complete-looking final line without its newline is still being written: only trust it if it parsed.
  return { records, tornTail };
}

/** Run folder name: sortable start time plus the run's name. */
export function makeRunId(name: string, date = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  const stamp = `${date.getFullYear()}${pad(date.getMonth() + 1)}${pad(date.getDate())}-${pad(date.getHours())}${pad(date.getMinutes())}${pad(date.getSeconds())}`;
  return `${stamp}-${name}`;
}
