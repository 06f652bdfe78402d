/**
 * Running out of memory is an error, never corruption (issue 12, item 6). A step whose sampling, reference log-probs
 * and micro-batches would pass optimization.memory_limit_mb runs them in fewer rows at a time, with the results of
 * the unsplit run; a wasm trap inside a phase ends the run as failed with the phase and the trap in events.jsonl,
 * nothing freed after it, and the run folder resumes from its last checkpoint.
 *
 * The model is stories260K with a longer context (its config says 512 positions; the GSM8K prompts reach
 * 596 tokens): RoPE has no table to outgrow, so the test raises max_position_embeddings in a copy.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { MetricsRecord, RolloutsRecord, RunEvent, RUN_FILES, WorkerMessage } from '../../src/protocol';
import { readSnapshot } from '../../src/protocol/runStore';
import { readModelConfig } from '../../src/model';
import { rowBytes } from '../../src/worker/memoryBudget';
import { train } from '../../src/worker/train';
import { numericMetrics } from './metrics';
import { readRecords } from './runFiles';

const ROOT = path.resolve(__dirname, '../..');
const STORIES = path.join(ROOT, 'examples', 'models', 'stories260K');
const SENTENCES = ['Once upon a time, there was a kind girl called Nina.', 'It was a sunny day. Rob wanted to go outside.', 'Kim was sad because it was raining.', 'Anna saw a big tree in the forest.'];
const MiB = 2 ** 20;

describe('memory: split to fit, traps fail the run', function () {
  this.timeout(300000);
  let tmp: string;
  let model: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-memory-'));
    model = path.join(tmp, 'stories-long');
    fs.cpSync(STORIES, model, { recursive: true });
    const config = JSON.parse(fs.readFileSync(path.join(model, 'config.json'), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(path.join(model, 'config.json'), JSON.stringify({ ...config, max_position_embeddings: 1024 }));
    // Prompts of 8 sentences (about 170 tokens): a training row costs several sampled ones.
    const rows = SENTENCES.map((_, i) => ({ prompt: [...SENTENCES.slice(i), ...SENTENCES, ...SENTENCES.slice(0, i)].join(' ') }));
    fs.writeFileSync(path.join(tmp, 'train.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  function config(name: string, optimization: Record<string, unknown> = {}): string {
    const file = path.join(tmp, `${name}.json`);
    fs.writeFileSync(file, JSON.stringify({
      name, seed: 5, backend: 'wasm',
      model: { name_or_path: model },
      task: { type: 'prompts', train_file: path.join(tmp, 'train.jsonl'), eval_file: path.join(tmp, 'train.jsonl') },
      rewards: [{ name: 'length', module: path.join(ROOT, 'examples', 'stories', 'length_target.js'), weight: 1 }],
      algorithm: { num_generations: 4, beta: 0.1, loss_type: 'grpo' },
      optimization: { max_steps: 2, prompts_per_step: 3, micro_batch_size: 12, learning_rate: 1e-3, ...optimization },
      sampling: { max_completion_length: 8, temperature: 1 },
      evaluation: { eval_steps: 2 },
      checkpointing: { save_steps: 1, save_total_limit: 0 },
    }));
    return file;
  }

  function noEval(file: string): string {
    const c = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(file, JSON.stringify({ ...c, evaluation: { eval_steps: 0 } }));
    return file;
  }

  async function run(configPath: string | undefined, observe: (m: WorkerMessage) => void = () => undefined, resumeDir?: string) {
    const messages: WorkerMessage[] = [];
    const result = await train({
      configPath, resumeDir, runsDir: tmp,
      observers: [(m) => (messages.push(m), observe(m))],
      control: { shouldStop: () => false, waitWhilePaused: async () => undefined },
    });
    return { ...result, messages };
  }

  const deterministic = (r: MetricsRecord) =>
    Object.entries(numericMetrics(r)).filter(([k]) => !/^(time|tokens_per_second|memory)\//.test(k));

  it('a step past memory_limit_mb runs sampling, reference and training in fewer rows, with the unsplit results', async () => {
    const whole = await run(config('whole'));
    // A limit that holds one training row but not the twelve sampled rows at once (the estimate's own numbers).
    const stories = readModelConfig(model);
    const shape = { promptTokens: 180, completionTokens: 8 };
    const limit = tf.memory().numBytes + 4 * MiB + 1.3 * rowBytes(stories, 'training', shape);
    assert.ok(limit < 12 * rowBytes(stories, 'sampling', shape), 'the test limit must make sampling split too');
    const split = await run(config('split', { memory_limit_mb: Math.ceil(limit / MiB) }));

    const logs = split.messages.flatMap((m) => (m.type === 'log' ? [m.message] : []));
    for (const phase of ['sampling', 'scoring', 'training']) {
      const line = logs.find((l) => l.startsWith(`memory: ${phase} runs`));
      assert.ok(line, `no split logged for ${phase}: ${logs.join(' | ')}`);
      const [, k, n] = /runs (\d+) of (\d+) rows/.exec(line) ?? [];
      assert.ok(Number(k) >= 1 && Number(k) < Number(n), line);
    }
    assert.ok(!whole.messages.some((m) => m.type === 'log' && m.message.startsWith('memory:')));

    const rollouts = (dir: string) => readRecords<RolloutsRecord>(path.join(dir, RUN_FILES.rollouts));
    const [a, b] = [rollouts(whole.runDir), rollouts(split.runDir)];
    const members = (r: RolloutsRecord[], step: number) => r[step].groups.flatMap((g) => g.rollouts);
    // Sampling in row chunks keeps the whole batch's padding and draw order: the same completions, bit for bit.
    assert.deepStrictEqual(members(b, 0).map((r) => [r.completion, r.tokens.old_logprob]), members(a, 0).map((r) => [r.completion, r.tokens.old_logprob]));
    // Reference log-probs and the update: the same to float rounding (micro-batches are padded to their own width).
    members(b, 0).forEach((r, i) => r.tokens.ref_logprob?.forEach((v, t) => assert.ok(Math.abs(v - (members(a, 0)[i].tokens.ref_logprob?.[t] ?? NaN)) < 1e-5)));
    const metrics = (dir: string) => readRecords<MetricsRecord>(path.join(dir, RUN_FILES.metrics));
    const [ma, mb] = [metrics(whole.runDir), metrics(split.runDir)];
    // Validation (its exact KL in row chunks too) before step 1 and after step 2, and the two steps.
    assert.deepStrictEqual(mb.map((r) => r.step), [0, 1, 2]);
    assert.ok(mb.every((r, i) => r.step === ma[i].step) && mb[2].metrics['eval/kl'] !== undefined);
    ma.forEach((record, s) => {
      const other = Object.fromEntries(deterministic(mb[s]));
      for (const [key, value] of deterministic(record)) {
        assert.ok(Math.abs(value - other[key]) <= 1e-4 * Math.max(1, Math.abs(value)), `step ${record.step} ${key}: ${value} unsplit, ${other[key]} split`);
      }
    });
  });

  it('a wasm trap in a phase: a failed run with the phase and the reason, nothing freed after it, and a folder that resumes', async () => {
    // The trap a real out-of-memory gives, raised by the softmax kernel from step 2 on (after checkpoint step-1).
    const original = tf.getKernel('Softmax', 'wasm');
    assert.ok(original);
    let armed = false;
    tf.unregisterKernel('Softmax', 'wasm');
    tf.registerKernel({
      ...original,
      kernelFunc: (args) => {
        if (armed) throw new WebAssembly.RuntimeError('memory access out of bounds');
        return original.kernelFunc(args);
      },
    });
    let failure: unknown;
    let runDir = '';
    try {
      await run(noEval(config('trap')), (m) => {
        if (m.type === 'started') runDir = m.runDir;
        if (m.type === 'checkpoint' && m.step === 1) armed = true;
      });
    } catch (err) {
      failure = err;
    } finally {
      tf.unregisterKernel('Softmax', 'wasm');
      tf.registerKernel(original);
      // The failed run left its tensors alone, as it must after a trap; this test's backend is fine, so free them.
      tf.disposeVariables();
    }
    assert.ok(failure instanceof Error && failure.name === 'BackendTrap', String(failure));
    const events = readRecords<RunEvent>(path.join(runDir, RUN_FILES.events));
    const last = events.at(-1);
    assert.strictEqual(last?.type, 'error');
    assert.match(last.type === 'error' ? last.message : '', /^the wasm backend trapped during sampling \(step 2\): memory access out of bounds\. .* resume the run from checkpoints\/step-1 \(grpo-studio resume .*\); the run folder is intact$/);
    assert.strictEqual(readSnapshot(runDir).status, 'failed');
    assert.strictEqual(readRecords<MetricsRecord>(path.join(runDir, RUN_FILES.metrics)).length, 1);

    const resumed = await run(undefined, undefined, runDir);
    assert.strictEqual(resumed.outcome, 'completed');
    assert.strictEqual(resumed.steps, 2);
    assert.deepStrictEqual(readRecords<MetricsRecord>(path.join(runDir, RUN_FILES.metrics)).map((r) => r.step), [1, 2]);
  });
});
