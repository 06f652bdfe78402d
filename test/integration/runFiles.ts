/** Running the built worker as the extension forks it, and reading a run directory's JSONL files, for the tests. */
import { fork } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { readTokenBlock } from '../../src/protocol/stepIndex';
import { parseJsonl, WorkerMessage } from '../../src/protocol';
import { resolveTokenBlock } from '../../src/protocol/tokenBlocks';

/** The bundled worker (`npm run build`; `npm test` builds first). */
export const WORKER = path.resolve(__dirname, '../../dist/worker.js');

export interface WorkerRun {
  messages: WorkerMessage[];
  exitCode: number | null;
  stderr: string;
}

/** Forks the worker with `args`, collects its IPC messages and stderr; `onMessage` may answer over IPC. */
export function runWorker(args: string[], onMessage?: (m: WorkerMessage, send: (m: unknown) => void) => void): Promise<WorkerRun> {
  return new Promise((resolve) => {
    const child = fork(WORKER, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    const run: WorkerRun = { messages: [], exitCode: null, stderr: '' };
    child.stderr?.on('data', (d: Buffer) => (run.stderr += d.toString()));
    child.on('message', (m: WorkerMessage) => {
      run.messages.push(m);
      onMessage?.(m, (reply) => child.connected && child.send(reply as never));
    });
    child.on('exit', (code) => resolve({ ...run, exitCode: code }));
  });
}

/** The records of a JSONL file of a run directory ([] when the file does not exist yet). */
export function readRecords<T>(file: string): T[] {
  if (!fs.existsSync(file)) return [];
  // The tests' own files must be clean: a skipped line is a failure here, not something to read past.
  const { records, problems } = parseJsonl<T>(fs.readFileSync(file, 'utf8'), file);
  if (problems.length > 0) throw new Error(problems.join('\n'));
  // Rollouts lines point at their token blocks: read as the host reads them (a bad block throws here too).
  const dir = path.dirname(file);
  return records.map((record) => resolveTokenBlock(record, (ref) => readTokenBlock(dir, ref)) as T);
}
