/**
 * The built worker (dist/worker.js, as the extension forks it) against a real run directory: records over IPC equal
 * the lines on disk, stop ends the run cleanly, and failures are reported without losing what was written.
 * `npm test` builds first; run `npm run build` before running this file alone.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { MetricsRecord, RolloutsRecord, RunEvent } from '../../src/protocol';
import { readSnapshot, readSummary } from '../../src/protocol/runStore';
import { readRecords as readLines, runWorker, WORKER } from './runFiles';
import { wasmThreadCount } from '../../src/worker/wasmThreads';


function writeConfig(dir: string, overrides: Record<string, unknown> = {}): string {
  const config = {
    name: 'it',
    seed: 42,
    backend: 'wasm',
    task: { type: 'bandit' },
    algorithm: { num_generations: 20, advantage_eps: 1e-8, std_estimator: 'population' },
    optimization: { optimizer: 'sgd', learning_rate: 0.01, max_steps: 12 },
    ...overrides,
  };
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify(config));
  return file;
}


describe('training worker process', function () {
  this.timeout(60000);
  let tmp: string;

  before(() => assert.ok(fs.existsSync(WORKER), `${WORKER} is missing: run "npm run build" first`));
  beforeEach(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-worker-'))));
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('streams the same records it writes, one line per step, and exits 0', async () => {
    const runDir = path.join(tmp, 'run');
    const run = await runWorker(['--config', writeConfig(tmp), '--run-dir', runDir]);
    assert.strictEqual(run.exitCode, 0, run.stderr);

    const started = run.messages[0];
    assert.strictEqual(started.type, 'started');
    assert.strictEqual(started.type === 'started' && started.backend, 'wasm');

    const sentMetrics = run.messages.flatMap((m) => (m.type === 'metrics' ? [m.record] : []));
    const sentRollouts = run.messages.flatMap((m) => (m.type === 'rollouts' ? [m.record] : []));
    assert.strictEqual(sentMetrics.length, 12);
    assert.deepStrictEqual(readLines<MetricsRecord>(path.join(runDir, 'metrics.jsonl')), sentMetrics);
    assert.deepStrictEqual(readLines<RolloutsRecord>(path.join(runDir, 'rollouts.jsonl')), sentRollouts);
    assert.deepStrictEqual(sentMetrics.map((m) => m.step), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    assert.strictEqual(sentRollouts[0].groups[0].rollouts.length, 20);

    const events = readLines<RunEvent>(path.join(runDir, 'events.jsonl'));
    assert.deepStrictEqual(events.map((e) => e.type), ['started', 'checkpoint', 'finished']);
    assert.ok(fs.existsSync(path.join(runDir, 'checkpoints', 'step-12', 'state.json')));
    assert.deepStrictEqual(run.messages.at(-1), events.at(-1));
    assert.strictEqual(JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8')).name, 'it');

    const summary = readSummary(runDir);
    assert.deepStrictEqual([summary.status, summary.step, summary.maxSteps], ['completed', 12, 12]);
    assert.strictEqual(summary.reward, sentMetrics[11].metrics.reward);
  });

  it('honours stop between steps: outcome "stopped", exit 0, the steps taken are kept', async () => {
    const runDir = path.join(tmp, 'run');
    const config = writeConfig(tmp, { optimization: { optimizer: 'sgd', learning_rate: 0.01, max_steps: 100000 } });
    const run = await runWorker(['--config', config, '--run-dir', runDir], (m, send) => {
      if (m.type === 'metrics' && m.record.step === 3) send({ type: 'stop' });
    });
    assert.strictEqual(run.exitCode, 0, run.stderr);
    const finished = run.messages.at(-1);
    assert.ok(finished?.type === 'finished' && finished.outcome === 'stopped', JSON.stringify(finished));
    const steps = readLines<MetricsRecord>(path.join(runDir, 'metrics.jsonl')).length;
    // How many steps this fast task takes before the stop arrives depends on how soon this process reads step 3's
    // message (639 once, with this process busy at the end of the whole suite): only "before max_steps" is the worker's.
    assert.ok(steps >= 3 && steps < 100000, `steps on disk: ${steps}`);
    assert.strictEqual(finished.type === 'finished' && finished.steps, steps);
    assert.strictEqual(readSnapshot(runDir).status, 'stopped');
  });

  it('honours stop during the warm start: the SFT loop ends early, no GRPO step runs', async () => {
    const runDir = path.join(tmp, 'run');
    const config = writeConfig(tmp, {
      model: { name_or_path: 'tiny' },
      task: { type: 'arithmetic', max_operand: 9, num_train: 60, num_eval: 8 },
      sft: { steps: 100000, batch_size: 4 },
      algorithm: { num_generations: 4 },
      optimization: { max_steps: 4, prompts_per_step: 2 },
      sampling: { max_completion_length: 4 },
    });
    const run = await runWorker(['--config', config, '--run-dir', runDir], (m, send) => {
      if (m.type === 'log' && m.message.startsWith('sft step 25/')) send({ type: 'stop' });
    });
    assert.strictEqual(run.exitCode, 0, run.stderr);
    const stopped = run.messages.find((m) => m.type === 'log' && m.message.startsWith('sft stopped at step'));
    const at = stopped?.type === 'log' ? Number(/step (\d+)\//.exec(stopped.message)?.[1]) : NaN;
    assert.ok(at >= 25 && at < 100000, JSON.stringify(stopped));
    const finished = run.messages.at(-1);
    assert.ok(finished?.type === 'finished' && finished.outcome === 'stopped' && finished.steps === 0, JSON.stringify(finished));
  });

  /** A language-model run with a warm start of `sftSteps` SFT steps and two GRPO steps. */
  const warmStartConfig = (sftSteps: number): string =>
    writeConfig(tmp, {
      model: { name_or_path: 'tiny' },
      task: { type: 'arithmetic', max_operand: 9, num_train: 60, num_eval: 8 },
      sft: { steps: sftSteps, batch_size: 4 },
      algorithm: { num_generations: 4 },
      optimization: { max_steps: 2, prompts_per_step: 2 },
      sampling: { max_completion_length: 4 },
    });

  it('honours pause during the warm start: it holds between two SFT steps (pausing first), continue finishes it', async () => {
    const runDir = path.join(tmp, 'run');
    const run = await runWorker(['--config', warmStartConfig(200), '--run-dir', runDir], (m, send) => {
      if (m.type === 'log' && m.message.startsWith('sft step 25/')) send({ type: 'pause' });
      // Held for a while: nothing of the warm start may move meanwhile.
      if (m.type === 'paused') setTimeout(() => send({ type: 'resume' }), 1500);
    });
    assert.strictEqual(run.exitCode, 0, run.stderr);
    const types = run.messages.map((m) => m.type);
    const requested = types.indexOf('pause_requested');
    const paused = run.messages.findIndex((m) => m.type === 'paused');
    const continued = types.indexOf('continued');
    assert.ok(requested >= 0 && requested < paused && paused < continued, types.join(','));
    const pause = run.messages[paused];
    const sftStep = pause.type === 'paused' ? pause.sftStep : undefined;
    assert.ok(pause.type === 'paused' && pause.step === 0 && sftStep !== undefined && sftStep >= 25 && sftStep < 200, JSON.stringify(pause));
    const sftPoints = (from: number, to: number) => run.messages.slice(from, to).filter((m) => m.type === 'warm_start').length;
    assert.strictEqual(sftPoints(paused, continued), 0, 'no SFT step while paused');
    assert.ok(sftPoints(continued, run.messages.length) > 0, 'the warm start goes on after the continue');
    assert.ok(run.messages.slice(continued).some((m) => m.type === 'log' && m.message.startsWith('warm start done')), 'the warm start ends after the continue');
    const finished = run.messages.at(-1);
    assert.ok(finished?.type === 'finished' && finished.outcome === 'completed' && finished.steps === 2, JSON.stringify(finished));
    const step0 = readLines<MetricsRecord>(path.join(runDir, 'metrics.jsonl')).find((r) => r.step === 0);
    assert.strictEqual(step0?.metrics['sft/steps'], 200, 'the whole warm start ran');
    assert.strictEqual(readSnapshot(runDir).status, 'completed');
  });

  it('a stop while paused in the warm start ends the run there (resumable inside the warm start)', async () => {
    const runDir = path.join(tmp, 'run');
    const run = await runWorker(['--config', warmStartConfig(100000), '--run-dir', runDir], (m, send) => {
      if (m.type === 'log' && m.message.startsWith('sft step 25/')) send({ type: 'pause' });
      if (m.type === 'paused') send({ type: 'stop' });
    });
    assert.strictEqual(run.exitCode, 0, run.stderr);
    const pause = run.messages.find((m) => m.type === 'paused');
    const stopped = run.messages.find((m) => m.type === 'log' && m.message.startsWith('sft stopped at step'));
    assert.ok(pause?.type === 'paused' && stopped?.type === 'log' && stopped.message.startsWith(`sft stopped at step ${pause.sftStep}/`), JSON.stringify([pause, stopped]));
    const finished = run.messages.at(-1);
    assert.ok(finished?.type === 'finished' && finished.outcome === 'stopped' && finished.steps === 0, JSON.stringify(finished));
    const state = JSON.parse(fs.readFileSync(path.join(runDir, 'checkpoints', 'step-0', 'state.json'), 'utf8')) as { warmStartPending?: boolean };
    assert.strictEqual(state.warmStartPending, true);
  });

  it('a language model on wasm: "auto" runs data-parallel, falls back to the pool where it cannot, and the device string says which', async function () {
    // A fresh process per run: wasm fixes its thread count when it first starts, as in the extension's worker.
    const threads = wasmThreadCount();
    if (threads < 2) this.skip();
    const device = async (name: string, overrides: Record<string, unknown>) => {
      const config = writeConfig(tmp, {
        model: { name_or_path: 'tiny' },
        task: { type: 'arithmetic', max_operand: 9, num_train: 20, num_eval: 4 },
        algorithm: { num_generations: 4, ...(overrides.algorithm as object) },
        optimization: { max_steps: 1, prompts_per_step: 2, micro_batch_size: 8, ...(overrides.optimization as object) },
        sampling: { max_completion_length: 3 },
        evaluation: { eval_steps: 0 },
      });
      const run = await runWorker(['--config', config, '--run-dir', path.join(tmp, name)]);
      assert.strictEqual(run.exitCode, 0, run.stderr);
      const started = run.messages.find((m) => m.type === 'started');
      return started?.type === 'started' ? started.device : '';
    };
    assert.strictEqual(await device('auto', {}), 'CPU (WebAssembly SIMD, data-parallel: 2 single-threaded instances)');
    assert.strictEqual(await device('pool', { optimization: { data_parallel: false } }), `CPU (WebAssembly SIMD, thread pool of ${threads})`);
    assert.strictEqual(
      await device('exact-kl', { algorithm: { beta: 0.1, kl_estimator: 'full' } }),
      `CPU (WebAssembly SIMD, thread pool of ${threads}; not data-parallel: the exact KL (algorithm.kl_estimator "full") needs the full logits, which the replicas do not exchange)`,
    );
  });

  it('rejects an invalid config with an error naming the field, exit 1, and creates no run', async () => {
    const runDir = path.join(tmp, 'run');
    const config = writeConfig(tmp, { algorithm: { num_generations: 1 } });
    const run = await runWorker(['--config', config, '--run-dir', runDir]);
    assert.strictEqual(run.exitCode, 1);
    assert.strictEqual(run.messages.length, 1);
    const error = run.messages[0];
    assert.ok(error.type === 'error' && /algorithm\.num_generations: must be ≥ 2, got 1/.test(error.message), JSON.stringify(error));
    assert.ok(!fs.existsSync(runDir));
  });

  it('a failure after the run started is recorded in events.jsonl, exit 1, config kept', async () => {
    const runDir = path.join(tmp, 'run');
    // The native tensorflow backend is not installed on these machines: asking for it explicitly must fail clearly.
    const run = await runWorker(['--config', writeConfig(tmp), '--run-dir', runDir, '--backend', 'tensorflow']);
    assert.strictEqual(run.exitCode, 1);
    const error = run.messages.find((m) => m.type === 'error');
    assert.ok(error?.type === 'error' && /backend 'tensorflow' cannot be used/.test(error.message), JSON.stringify(run.messages));
    assert.strictEqual(run.messages.filter((m) => m.type === 'error').length, 1);
    const events = readLines<RunEvent>(path.join(runDir, 'events.jsonl'));
    assert.deepStrictEqual(events.map((e) => e.type), ['error']);
    assert.ok(fs.existsSync(path.join(runDir, 'config.json')));
    assert.strictEqual(readSummary(runDir).status, 'failed');
  });

  it('refuses to overwrite an existing run directory', async () => {
    const runDir = path.join(tmp, 'run');
    assert.strictEqual((await runWorker(['--config', writeConfig(tmp), '--run-dir', runDir])).exitCode, 0);
    const before = fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8');
    const again = await runWorker(['--config', writeConfig(tmp), '--run-dir', runDir]);
    assert.strictEqual(again.exitCode, 1);
    assert.ok(again.messages.some((m) => m.type === 'error' && /already holds a run/.test(m.message)));
    assert.strictEqual(fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8'), before);
  });

  it('a run killed mid-way reads back as interrupted, torn last line skipped', async () => {
    const runDir = path.join(tmp, 'run');
    await runWorker(['--config', writeConfig(tmp), '--run-dir', runDir]);
    // Simulate a crash: drop the finished event and tear the last metrics line.
    const eventsFile = path.join(runDir, 'events.jsonl');
    fs.writeFileSync(eventsFile, fs.readFileSync(eventsFile, 'utf8').split('\n')[0] + '\n');
    const started = readLines<RunEvent>(eventsFile)[0];
    assert.ok(started.type === 'started');
    fs.appendFileSync(path.join(runDir, 'metrics.jsonl'), '{"step":13,"ti');
    const snapshot = readSnapshot(runDir);
    assert.strictEqual(snapshot.status, 'interrupted');
    assert.strictEqual(snapshot.metrics.length, 12);
    assert.strictEqual(readSummary(runDir).step, 12);
  });
});
