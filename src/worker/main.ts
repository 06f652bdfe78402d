/**
 * Entry of the training worker process, forked by the extension host with an IPC channel:
 *   node dist/worker.js --config <run-config.json> --run-dir <folder> [--backend auto|tensorflow|wasm|cpu]
 * Records go to the run directory and, identically, to the host. A `stop` message (or the host going away) ends
 * the run after the current step. Exit code 0 when the run completed or stopped, 1 when it failed.
 */
import { isHostToWorkerMessage, WorkerMessage } from '../protocol';
import { train } from './train';
import { parseArgs } from './args';

let stopRequested = false;
let errorReported = false;
const pendingSends = new Set<Promise<void>>();

function send(message: WorkerMessage): void {
  if (message.type === 'error') errorReported = true;
  if (!process.send || !process.connected) return;
  const sent = new Promise<void>((resolve) => process.send?.(message, undefined, {}, () => resolve()));
  pendingSends.add(sent);
  void sent.then(() => pendingSends.delete(sent));
}

async function main(): Promise<number> {
  process.on('message', (message: unknown) => {
    if (isHostToWorkerMessage(message) && message.type === 'stop') stopRequested = true;
  });
  // If the host goes away (window closed or reloaded), finish the step, record the stop and leave.
  process.on('disconnect', () => (stopRequested = true));
  try {
    const args = parseArgs(process.argv.slice(2), ['config', 'run-dir'], ['backend']);
    await train({
      configPath: args.config,
      runDir: args['run-dir'],
      backend: args.backend,
      observers: [send],
      shouldStop: () => stopRequested,
    });
    return 0;
  } catch (err) {
    // A failure before the run directory existed (unreadable or invalid config) has not been reported yet.
    if (!errorReported) send({ type: 'error', time: Date.now(), message: err instanceof Error ? err.message : String(err) });
    process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    return 1;
  }
}

void main().then(async (code) => {
  await Promise.all(pendingSends);
  process.exitCode = code;
  if (process.connected) process.disconnect();
});
