/**
 * The prompts task through the built worker (dist/worker.js, as the extension forks it, so the bundled CSV and
 * Parquet readers are the ones tested): a CSV and a Parquet dataset, each with a user reward module that reads a
 * custom column, validated with n = 2 samples per prompt and a reward-threshold pass rate. And the shipped example
 * config (examples/templates/prompts-custom-reward.json) runs a few steps as it is.
 * `npm test` builds first; run `npm run build` before running this file alone.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { EvalRolloutsRecord, MetricsRecord, RolloutsRecord } from '../../src/protocol';
import { train } from '../../src/worker/train';
import { numericMetrics } from './metrics';
import { readRecords as read, runWorker, WORKER } from './runFiles';

const ROOT = path.resolve(__dirname, '../..');
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'prompts');
const TEMPLATE = path.join(ROOT, 'examples', 'templates', 'prompts-custom-reward.json');

/** A tiny-preset run of the prompts task; the reward module scores every completion with the row's `column`. */
function promptsConfig(task: Record<string, unknown>, column: string, threshold: number): Record<string, unknown> {
  return {
    name: 'prompts-it',
    seed: 5,
    backend: 'wasm',
    model: { name_or_path: 'tiny' },
    task: { type: 'prompts', ...task },
    rewards: [{ name: 'column', module: './column_reward.js' }],
    algorithm: { num_generations: 2 },
    optimization: { max_steps: 2, prompts_per_step: 2, micro_batch_size: 4 },
    sampling: { max_completion_length: 3 },
    evaluation: { eval_steps: 2, n: 2, success: { reward: 'column', threshold } },
    checkpointing: { save_steps: 0, save_total_limit: 1 },
    // The reward module reads this column; written next to the config in each test.
    description: column,
  };
}

const EVAL_KEYS = ['eval/reward', 'eval/rewards/column/mean', 'eval/accuracy', 'eval/pass@1', 'eval/pass@2', 'eval/reward/mean@2', 'eval/reward/std@2', 'eval/reward/best@2'];

describe('prompts task through the worker', function () {
  this.timeout(120000);
  let tmp: string;
  before(() => assert.ok(fs.existsSync(WORKER), `${WORKER} is missing: run "npm run build" first`));
  beforeEach(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-prompts-it-'))));
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  /**
   * Runs the config in the worker and checks: the column reached the reward function (every training and eval
   * sample scores its row's value), validation at steps 0 and 2 with n = 2 samples per prompt, and the pass rate
   * and pass@k the values imply (every sample of a prompt scores the same, so pass@1 = pass@2 = the share of
   * validation prompts whose value reaches the threshold).
   */
  async function runAndCheck(config: Record<string, unknown>, column: string, valueOf: Map<string, number>, threshold: number, evalCount: number): Promise<void> {
    fs.writeFileSync(path.join(tmp, 'column_reward.js'), `module.exports = (prompt, completion, example) => example[${JSON.stringify(column)}];`);
    const configPath = path.join(tmp, 'config.json');
    fs.writeFileSync(configPath, JSON.stringify(config));
    const runDir = path.join(tmp, 'run');
    const run = await runWorker(['--config', configPath, '--run-dir', runDir]);
    assert.strictEqual(run.exitCode, 0, run.stderr);
    assert.strictEqual(run.messages.filter((m) => m.type === 'reward_error').length, 0, JSON.stringify(run.messages.find((m) => m.type === 'reward_error')));

    const metrics = read<MetricsRecord>(path.join(runDir, 'metrics.jsonl'));
    assert.deepStrictEqual(metrics.map((m) => m.step), [0, 1, 2]);
    for (const record of [metrics[0], metrics[2]]) {
      const values = numericMetrics(record);
      for (const key of EVAL_KEYS) assert.ok(Number.isFinite(values[key]), `step ${record.step}: ${key} = ${values[key]}`);
    }
    assert.ok(!('eval/accuracy' in metrics[1].metrics));

    for (const record of read<RolloutsRecord>(path.join(runDir, 'rollouts.jsonl'))) {
      for (const group of record.groups) for (const r of group.rollouts) assert.strictEqual(r.reward, valueOf.get(group.prompt_id ?? ''), `train ${group.prompt_id}`);
    }
    const evals = read<EvalRolloutsRecord>(path.join(runDir, 'eval_rollouts.jsonl'));
    assert.deepStrictEqual(evals.map((e) => e.step), [0, 2]);
    for (const evaluation of evals) {
      assert.strictEqual(evaluation.groups.length, evalCount);
      for (const group of evaluation.groups) {
        assert.strictEqual(group.rollouts.length, 2, 'n = 2 completions per validation prompt');
        for (const r of group.rollouts) assert.strictEqual(r.reward, valueOf.get(group.prompt_id ?? ''));
      }
      const passRate = evaluation.groups.filter((g) => (valueOf.get(g.prompt_id ?? '') ?? 0) >= threshold).length / evalCount;
      const step = numericMetrics(metrics.find((m) => m.step === evaluation.step) as MetricsRecord);
      assert.strictEqual(step['eval/accuracy'], passRate);
      assert.strictEqual(step['eval/pass@1'], passRate);
      assert.strictEqual(step['eval/pass@2'], passRate);
      const mean = evaluation.groups.reduce((s, g) => s + (valueOf.get(g.prompt_id ?? '') ?? 0), 0) / evalCount;
      assert.ok(Math.abs(step['eval/rewards/column/mean'] - mean) < 1e-12 && Math.abs(step['eval/reward/mean@2'] - mean) < 1e-12);
      assert.strictEqual(step['eval/reward/std@2'], 0);
    }
  }

  it('CSV: quoted fields, a held-out split, a numeric column read by the reward', async () => {
    const rows = Array.from({ length: 10 }, (_, i) => ({ id: `r${i}`, prompt: `Say "${String.fromCharCode(97 + i)}", then stop.`, score: i % 4 }));
    fs.writeFileSync(path.join(tmp, 'data.csv'), ['id,prompt,score', ...rows.map((r) => `${r.id},"${r.prompt.replace(/"/g, '""')}",${r.score}`)].join('\n') + '\n');
    const config = promptsConfig({ train_file: 'data.csv', eval_split: 0.3 }, 'score', 2);
    await runAndCheck(config, 'score', new Map(rows.map((r) => [r.id, r.score])), 2, 3);
  });

  it('Parquet (snappy, INT64 columns): a held-out count, an INT64 column read by the reward', async () => {
    const config = promptsConfig({ train_file: path.join(FIXTURES, 'rows.snappy.parquet'), eval_split: 2 }, 'difficulty', 2);
    await runAndCheck(config, 'difficulty', new Map([['101', 1], ['102', 3], ['103', 2], ['104', 1]]), 2, 2);
  });

  it('the shipped example config runs as it is (shortened): SFT on its completion column, GRPO, validation with pass@k', async () => {
    const template = JSON.parse(fs.readFileSync(TEMPLATE, 'utf8')) as Record<string, Record<string, unknown>>;
    const config = { ...template, backend: 'wasm', sft: { ...template.sft, steps: 2 }, optimization: { ...template.optimization, max_steps: 1, prompts_per_step: 2 }, evaluation: { ...template.evaluation, eval_steps: 1 } };
    // Next to the template, so its relative paths resolve as they do for a user.
    const configPath = path.join(path.dirname(TEMPLATE), `.it-${process.pid}.json`);
    fs.writeFileSync(configPath, JSON.stringify(config));
    try {
      const result = await train({ configPath, runsDir: tmp, observers: [], control: { shouldStop: () => false, waitWhilePaused: async () => undefined } });
      const metrics = read<MetricsRecord>(path.join(result.runDir, 'metrics.jsonl'));
      assert.deepStrictEqual(metrics.map((m) => m.step), [0, 1]);
      for (const key of ['sft/loss', 'eval/rewards/first_letter/mean', 'eval/accuracy', 'eval/pass@4', 'eval/reward/best@4']) assert.ok(key in metrics[0].metrics, key);
      for (const key of ['rewards/first_letter/mean', 'rewards/first_letter/starts', 'rewards/first_letter/long_enough', 'eval/pass@2']) assert.ok(key in metrics[1].metrics, key);
      const [evaluation] = read<EvalRolloutsRecord>(path.join(result.runDir, 'eval_rollouts.jsonl'));
      assert.strictEqual(evaluation.groups.length, 8);
      assert.ok(evaluation.groups.every((g) => g.rollouts.length === 4));
    } finally {
      fs.rmSync(configPath, { force: true });
    }
  });
});
