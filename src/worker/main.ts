/**
 * Entry of the training worker process, forked by the extension host with an IPC channel:
 *   node dist/worker.js --config <run-config.json> --run-dir <folder> [--backend auto|tensorflow|wasm|cpu]
 *   node dist/worker.js --resume <run-dir>
 * Records go to the run directory and, identically, to the host. A `stop` message, SIGTERM / SIGINT (the host's
 * escalation of an unanswered stop) or the host going away end the run: a step in flight is abandoned (its reward
 * calls too), then the last completed step is checkpointed; `pause` / `resume` hold it at a step boundary. Exit
 * code 0 when the run completed or stopped, 1 when it failed.
 */
import { isHostToWorkerMessage, WorkerMessage } from '../protocol';
import { train } from './train';
import { parseArgs } from './args';

let stopRequested = false;
let paused: { release: () => void; done: Promise<void> } | undefined;

function pause(): void {
  if (paused) return;
  let release = () => undefined as void;
  const done = new Promise<void>((resolve) => (release = resolve));
  paused = { release, done };
}

function resume(): void {
  paused?.release();
  paused = undefined;
}
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
    if (!isHostToWorkerMessage(message)) return;
    if (message.type === 'stop') {
      stopRequested = true;
      resume();
    } else if (message.type === 'pause') pause();
    else resume();
  });
  const stop = () => {
    stopRequested = true;
    resume();
  };
  // If the host goes away (window closed or reloaded), checkpoint and leave.
  process.on('disconnect', stop);
  // The host signals a worker that has not answered its stop message (runManager.ts): the same clean stop. A worker
  // that cannot even run this handler is killed by the host after a grace period.
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  try {
    const args = parseArgs(process.argv.slice(2), [], ['config', 'run-dir', 'resume', 'backend']);
    await train({
      configPath: args.config,
      runDir: args['run-dir'],
      resumeDir: args.resume,
      backend: args.backend,
      observers: [send],
      control: { shouldStop: () => stopRequested, waitWhilePaused: () => paused?.done ?? Promise.resolve() },
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
