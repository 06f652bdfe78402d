/**
 * A reward module that never returns (`while (true) {}`) cannot hold a run: Ctrl-C on the built CLI and the
 * extension's stop message over IPC each end the run in under 2 s, with the last completed step checkpointed, and
 * the run resumes from it. The module hangs once a marker file exists, and says when it has started hanging.
 * `npm test` builds first; run `npm run build` before running this file alone.
 */
import * as assert from 'assert';
import { ChildProcess, fork } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { MetricsRecord, RunEvent, WorkerMessage } from '../../src/protocol';
import { readSnapshot } from '../../src/protocol/runStore';
import { readRecords, WORKER } from './runFiles';

const CLI = path.resolve(__dirname, '../../dist/cli.js');
const STOP_WITHIN_MS = 2000;

const HANGING_REWARD = `const fs = require('fs');
const path = require('path');
module.exports = () => {
  if (!fs.existsSync(path.join(__dirname, 'hang'))) return 1;
  fs.writeFileSync(path.join(__dirname, 'hanging'), '');
  while (true) {}
};`;

function config(dir: string): string {
  fs.writeFileSync(path.join(dir, 'hang.js'), HANGING_REWARD);
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify({
    name: 'hang',
    seed: 5,
    backend: 'wasm',
    model: { name_or_path: 'tiny' },
    task: { type: 'arithmetic', max_operand: 9, num_train: 60, num_eval: 8 },
    sft: { steps: 0 },
    // An hour: the stop must not wait for the time-out.
    rewards: [{ name: 'arithmetic_answer' }, { name: 'hang', module: './hang.js', timeout_s: 3600 }],
    algorithm: { num_generations: 4 },
    optimization: { max_steps: 1000, prompts_per_step: 2, micro_batch_size: 8 },
    sampling: { max_completion_length: 4 },
    evaluation: { eval_steps: 0 },
    checkpointing: { save_steps: 1000 },
  }));
  return file;
}

async function until(check: () => boolean, what: string, limitMs = 90000): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > limitMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

interface Watched {
  child: ChildProcess;
  output: () => string;
  exit: Promise<{ code: number | null; at: number }>;
}

function watch(child: ChildProcess): Watched {
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exit = new Promise<{ code: number | null; at: number }>((resolve) => child.on('exit', (code) => resolve({ code, at: performance.now() })));
  return { child, output: () => output, exit };
}

/** Once the run has completed `steps` steps, makes the reward hang and waits until a call is stuck in it. */
async function hangAfter(dir: string, runDir: () => string | undefined, steps: number): Promise<void> {
  await until(() => {
    const run = runDir();
    return run !== undefined && readRecords<MetricsRecord>(path.join(run, 'metrics.jsonl')).length >= steps;
  }, `${steps} steps`);
  fs.writeFileSync(path.join(dir, 'hang'), '');
  await until(() => fs.existsSync(path.join(dir, 'hanging')), 'the reward to hang');
  // Stuck for a while (the training thread would be frozen by now if the reward ran on it).
  await new Promise((resolve) => setTimeout(resolve, 300));
}

/** The stopped run: finished "stopped" at its last completed step, whose checkpoint is complete. */
function assertStoppedAndCheckpointed(runDir: string): number {
  const steps = readRecords<MetricsRecord>(path.join(runDir, 'metrics.jsonl')).map((m) => m.step);
  const last = steps.at(-1) ?? 0;
  assert.ok(last >= 2, `steps: ${steps}`);
  const events = readRecords<RunEvent>(path.join(runDir, 'events.jsonl'));
  const finished = events.at(-1);
  assert.ok(finished?.type === 'finished' && finished.outcome === 'stopped' && finished.steps === last, JSON.stringify(events));
  assert.ok(events.some((e) => e.type === 'checkpoint' && e.step === last), JSON.stringify(events));
  assert.ok(fs.existsSync(path.join(runDir, 'checkpoints', `step-${last}`, 'state.json')));
  assert.strictEqual(readSnapshot(runDir).status, 'stopped');
  return last;
}

describe('a reward that never returns', function () {
  this.timeout(240000);
  let tmp: string;
  const children: ChildProcess[] = [];

  before(() => assert.ok(fs.existsSync(CLI) && fs.existsSync(WORKER), 'dist/ is missing: run "npm run build" first'));
  beforeEach(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-hang-'))));
  afterEach(() => {
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('Ctrl-C on the CLI stops in < 2 s, checkpoints the last completed step, and `resume` continues from it', async () => {
    const configPath = config(tmp);
    const runs = path.join(tmp, 'runs');
    const train = watch(fork(CLI, ['train', configPath, '--out', runs], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] }));
    children.push(train.child);
    const runDir = () => (fs.existsSync(runs) ? fs.readdirSync(runs).map((d) => path.join(runs, d))[0] : undefined);
    await hangAfter(tmp, runDir, 2);

    const asked = performance.now();
    train.child.kill('SIGINT');
    const { code, at } = await train.exit;
    const took = at - asked;
    assert.strictEqual(code, 0, train.output());
    assert.ok(took < STOP_WITHIN_MS, `exited ${took.toFixed(0)} ms after SIGINT`);
    const dir = runDir() as string;
    const last = assertStoppedAndCheckpointed(dir);

    // Resumed (the reward no longer hangs): it continues at the next step; stopped again after one.
    fs.rmSync(path.join(tmp, 'hang'));
    const resumed = watch(fork(CLI, ['resume', dir], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] }));
    children.push(resumed.child);
    await until(() => readRecords<MetricsRecord>(path.join(dir, 'metrics.jsonl')).length > last, 'a resumed step');
    resumed.child.kill('SIGINT');
    assert.strictEqual((await resumed.exit).code, 0, resumed.output());
    const steps = readRecords<MetricsRecord>(path.join(dir, 'metrics.jsonl')).map((m) => m.step);
    assert.strictEqual(steps[last], last + 1, `steps: ${steps}`);
    const started = readRecords<RunEvent>(path.join(dir, 'events.jsonl')).filter((e) => e.type === 'started');
    assert.strictEqual(started.at(-1)?.type === 'started' && started.at(-1)?.resumedFrom, last);
  });

  it('the extension\'s stop message stops the worker in < 2 s, checkpointed, and the run resumes', async () => {
    const runDir = path.join(tmp, 'run');
    const messages: WorkerMessage[] = [];
    const worker = watch(fork(WORKER, ['--config', config(tmp), '--run-dir', runDir], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] }));
    children.push(worker.child);
    worker.child.on('message', (m: WorkerMessage) => messages.push(m));
    await hangAfter(tmp, () => runDir, 2);

    const asked = performance.now();
    worker.child.send({ type: 'stop' });
    const { code, at } = await worker.exit;
    const took = at - asked;
    assert.strictEqual(code, 0, worker.output());
    assert.ok(took < STOP_WITHIN_MS, `exited ${took.toFixed(0)} ms after the stop message`);
    const last = assertStoppedAndCheckpointed(runDir);
    assert.deepStrictEqual(messages.filter((m) => m.type === 'reward_error'), [], 'an abandoned call is no reward failure');

    fs.rmSync(path.join(tmp, 'hang'));
    const resumed = watch(fork(WORKER, ['--resume', runDir], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] }));
    children.push(resumed.child);
    resumed.child.on('message', (m: WorkerMessage) => {
      if (m.type === 'metrics') resumed.child.send({ type: 'stop' });
    });
    assert.strictEqual((await resumed.exit).code, 0, resumed.output());
    const steps = readRecords<MetricsRecord>(path.join(runDir, 'metrics.jsonl')).map((m) => m.step);
    assert.strictEqual(steps[last], last + 1, `steps: ${steps}`);
  });
});
