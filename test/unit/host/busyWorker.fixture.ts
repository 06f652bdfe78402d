/**
 * A stand-in for a training worker whose steps are synchronous compute (wasm kernels on the main thread): it holds
 * the run's lock, serves the real ControlServer, and between "steps" — each blocking its event loop for `blockMs` —
 * only lets the loop turn as the trainer does (`betweenSteps`, the trainer's own). Each step appends a metrics record to disk and sends
 * it to the hosts. Stops on a `stop` over the socket or on SIGTERM, at the next step boundary, as the worker does.
 *   node -r tsx/cjs busyWorker.fixture.ts <runDir> <blockMs> <steps>
 */
import * as fs from 'fs';
import * as path from 'path';
import { RUN_FILES, WorkerMessage } from '../../../src/protocol';
import { betweenSteps, ControlServer } from '../../../src/worker/controlServer';
import { RunLock } from '../../../src/worker/runLock';

async function main(): Promise<void> {
  const [runDir, blockMs, steps] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
  let stop = false;
  process.on('SIGTERM', () => (stop = true));
  const lock = RunLock.acquire(runDir);
  const server = await ControlServer.listen(runDir, (m) => (stop ||= m.type === 'stop'), (m) => process.stderr.write(`${m}\n`));
  for (let step = 1; step <= steps && !stop; step++) {
    const until = Date.now() + blockMs;
    while (Date.now() < until) {
      // busy: the event loop cannot run, as during a training step
    }
    const message: WorkerMessage = { type: 'metrics', record: { step, time: Date.now(), metrics: { reward: 0 } } };
    fs.appendFileSync(path.join(runDir, RUN_FILES.metrics), JSON.stringify(message.record) + '\n');
    server.broadcast(message);
    await betweenSteps();
  }
  await server.close();
  lock.release();
}

void main();
