/**
 * Entry of the training worker process:
 *   node dist/worker.js --config <run-config.json> --run-dir <folder> [--backend auto|tensorflow|wasm|cpu]
 *   node dist/worker.js --resume <run-dir>
 * The extension host starts it detached (its own process group, stdout and stderr in the run's worker.log), so it
 * outlives the window: it serves the run's control socket (controlServer.ts), which any window connects to for the
 * live records and to stop, pause or continue it. Forked with an IPC channel (tests, benchmarks), it also streams
 * over IPC and stops when that channel closes. Records always go to the run directory first.
 * A `stop` message, SIGTERM / SIGINT (the host's escalation of an unanswered stop) end the run: a step in flight is
 * abandoned (its reward calls too), then the last completed step is checkpointed; `pause` / `resume` hold it at a
 * step boundary. Exit code 0 when the run completed or stopped, 1 when it failed.
 */
import { HostToWorkerMessage, isHostToWorkerMessage, WorkerMessage } from '../protocol';
import { train } from './train';
import { parseArgs } from './args';
import { WorkerControl } from './control';
import { ControlServer } from './controlServer';

const control = new WorkerControl();
let server: ControlServer | undefined;
let errorReported = false;
const pendingSends = new Set<Promise<void>>();

function command(message: HostToWorkerMessage): void {
  if (message.type === 'stop') control.stop();
  else if (message.type === 'pause') control.pause();
  else control.proceed();
}

function send(message: WorkerMessage): void {
  if (message.type === 'error') errorReported = true;
  server?.broadcast(message);
  if (!process.send || !process.connected) return;
  const sent = new Promise<void>((resolve) => process.send?.(message, undefined, {}, () => resolve()));
  pendingSends.add(sent);
  void sent.then(() => pendingSends.delete(sent));
}

async function main(): Promise<number> {
  process.on('message', (message: unknown) => {
    if (isHostToWorkerMessage(message)) command(message);
  });
  // A forked worker whose parent went away checkpoints and leaves; a detached one has no channel to lose.
  if (process.send) process.on('disconnect', () => control.stop());
  // The host signals a worker that has not answered its stop message (stopEscalation.ts): the same clean stop. A
  // worker that cannot even run this handler is killed by the host after a grace period.
  process.on('SIGTERM', () => control.stop());
  process.on('SIGINT', () => control.stop());
  try {
    const args = parseArgs(process.argv.slice(2), [], ['config', 'run-dir', 'resume', 'backend']);
    await train({
      configPath: args.config,
      runDir: args['run-dir'],
      resumeDir: args.resume,
      backend: args.backend,
      observers: [send],
      control,
      onRunLocked: async (runDir) => {
        server = await ControlServer.listen(runDir, command, (message) => process.stderr.write(`${message}\n`));
      },
    });
    return 0;
  } catch (err) {
    // A failure before the run directory existed (unreadable or invalid config) has not been reported yet.
    const message = err instanceof Error ? err.message : String(err);
    if (!errorReported) send({ type: 'error', time: Date.now(), message });
    // The `error:` line is what the host shows when the worker ends before serving its socket (runManager.ts).
    process.stderr.write(`error: ${message.replace(/\n/g, ' ')}\n${err instanceof Error && err.stack ? `${err.stack}\n` : ''}`);
    return 1;
  }
}

void main().then(async (code) => {
  await Promise.all(pendingSends);
  await server?.close();
  process.exitCode = code;
  if (process.connected) process.disconnect();
});
