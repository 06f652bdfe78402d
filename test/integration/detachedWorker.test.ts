/**
 * A run outlives the host that started it: a "host" process starts the built worker detached (as the extension
 * does, src/host/workerLaunch.ts) and is then killed; the worker runs on, a new host attaches over the run's control
 * socket, sees steps advance, pauses it (recorded: a reopened run reads PAUSED), continues and stops it over the
 * socket. `npm test` builds first; run `npm run build` before running this file alone.
 */
import * as assert from 'assert';
import { execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { RUN_FILES, RunEvent, WorkerMessage } from '../../src/protocol';
import { isProcessAlive as isAlive, runLockHolder } from '../../src/protocol/runLockFile';
import { readSocketRecord } from '../../src/protocol/runSocket';
import { readSummary } from '../../src/protocol/runStore';
import { RunAttachment } from '../../src/host/workerClient';
import { readRecords, WORKER } from './runFiles';

const ROOT = path.resolve(__dirname, '../..');

async function until<T>(value: () => T | undefined | false, what: string, ms = 60000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const result = value();
    if (result !== undefined && result !== false) return result;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('detached worker: the run outlives its host', function () {
  this.timeout(120000);
  let tmp: string;
  let workerPid: number | undefined;

  before(() => assert.ok(fs.existsSync(WORKER), `${WORKER} is missing: run "npm run build" first`));
  beforeEach(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-detached-'))));
  afterEach(() => {
    // A failed test must not leave a worker spinning on the shared cores.
    if (workerPid !== undefined && isAlive(workerPid)) process.kill(workerPid, 'SIGKILL');
    workerPid = undefined;
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('survives its host being killed; a new host attaches, sees steps advance, pauses, continues and stops it', async () => {
    const configPath = path.join(tmp, 'config.json');
    fs.writeFileSync(configPath, JSON.stringify({
      name: 'detached', seed: 1, backend: 'wasm', task: { type: 'bandit' },
      algorithm: { num_generations: 8 }, optimization: { optimizer: 'sgd', learning_rate: 0.01, max_steps: 1000000 },
      checkpointing: { save_steps: 0 },
    }));
    const runDir = path.join(tmp, 'run');
    fs.mkdirSync(runDir);

    // The host: a separate Node process that starts the worker as the extension does, prints its pid, and stays
    // alive until it is killed (SIGKILL: no chance to stop or clean anything up).
    const hostScript = `const { spawnDetachedWorker } = require(${JSON.stringify(path.join(ROOT, 'src/host/workerLaunch.ts'))});
      const child = spawnDetachedWorker(${JSON.stringify(WORKER)}, ['--config', ${JSON.stringify(configPath)}, '--run-dir', ${JSON.stringify(runDir)}], ${JSON.stringify(runDir)});
      process.stdout.write(String(child.pid) + '\\n');
      setInterval(() => undefined, 1000);`;
    const host = spawn(process.execPath, ['-r', 'tsx/cjs', '-e', hostScript], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    const pidLine = await new Promise<string>((resolve) => host.stdout.once('data', (d: Buffer) => resolve(d.toString())));
    workerPid = Number(pidLine.trim());
    await until(() => readSocketRecord(runDir), 'the worker to serve its socket');
    host.kill('SIGKILL');
    await new Promise((resolve) => host.once('exit', resolve));

    // The worker is in its own session, not the host's: it lives on and keeps writing steps.
    assert.ok(isAlive(workerPid), 'the worker died with its host');
    const sid = (pid: number) => execFileSync('ps', ['-o', 'sid=', '-p', String(pid)], { encoding: 'utf8' }).trim();
    assert.strictEqual(sid(workerPid), String(workerPid), 'the worker leads its own session');
    const metricsFile = path.join(runDir, RUN_FILES.metrics);
    const stepsAt = () => readRecords<{ step: number }>(metricsFile).length;
    const before = stepsAt();
    await until(() => stepsAt() > before + 3, 'steps after the host died');
    assert.strictEqual(runLockHolder(runDir)?.pid, workerPid);
    assert.strictEqual(readSummary(runDir).state, 'RUNNING');

    // A new host attaches and sees steps advance live.
    const got: WorkerMessage[] = [];
    let ended = false;
    const attachment = new RunAttachment(runDir, { catchUp: 'latest', onMessage: (m) => got.push(m), onEnded: () => (ended = true), log: () => undefined });
    await until(() => attachment.isConnected, 'the attachment');
    assert.strictEqual(attachment.pid, workerPid);
    const liveSteps = () => got.flatMap((m) => (m.type === 'metrics' ? [m.record.step] : []));
    const first = await until(() => liveSteps()[0], 'a first step');
    await until(() => liveSteps().length >= 5, 'five live steps');
    assert.deepStrictEqual(liveSteps().slice(0, 5), [first, first + 1, first + 2, first + 3, first + 4], 'steps arrive in order, none twice');

    // Pause over the socket: the worker records it at a step boundary, and the run folder alone says PAUSED.
    attachment.send({ type: 'pause' });
    const paused = await until(() => got.find((m): m is Extract<RunEvent, { type: 'paused' }> => m.type === 'paused'), 'the paused event');
    assert.strictEqual(readSummary(runDir).state, 'PAUSED');
    const heldAt = stepsAt();
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.strictEqual(stepsAt(), heldAt, 'no step while paused');
    assert.strictEqual(heldAt, paused.step);

    attachment.send({ type: 'resume' });
    await until(() => got.some((m) => m.type === 'continued'), 'the continued event');
    await until(() => stepsAt() > heldAt + 2, 'steps after Continue');
    assert.strictEqual(readSummary(runDir).state, 'RUNNING');

    attachment.send({ type: 'stop' });
    await attachment.ended;
    assert.ok(ended);
    const finished = got.find((m) => m.type === 'finished');
    assert.deepStrictEqual(finished && finished.type === 'finished' && finished.outcome, 'stopped');
    assert.ok(got.some((m) => m.type === 'stop_requested'));
    await until(() => !isAlive(workerPid!), 'the worker to exit');
    const summary = readSummary(runDir);
    assert.strictEqual(summary.state, 'STOPPED');
    assert.strictEqual(readSocketRecord(runDir), undefined, 'run.socket is removed');
    const events = readRecords<RunEvent>(path.join(runDir, RUN_FILES.events)).map((e) => e.type);
    assert.deepStrictEqual(events.filter((t) => t !== 'log' && t !== 'checkpoint'), ['started', 'pause_requested', 'paused', 'continued', 'stop_requested', 'finished']);
    assert.ok(fs.existsSync(path.join(runDir, RUN_FILES.workerLog)));
  });
});
