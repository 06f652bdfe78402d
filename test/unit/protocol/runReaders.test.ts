/**
 * The run readers of other trainers' folders, on fixtures written as each trainer writes them
 * (scripts/make_external_fixtures.py): what the dashboard, the tree and Compare get from each.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { validateRunConfig } from '../../../src/protocol';
import { detectRunFormat, openRunReader, runFoldersIn } from '../../../src/protocol/runReaders';
import { parseConsoleLine, verlAdvantages } from '../../../src/protocol/runReaders/verl';
import { RunDirectoryWriter } from '../../../src/worker/runDirectory';

const FIXTURES = path.resolve(__dirname, '../../fixtures');
const fixture = (...parts: string[]) => path.join(FIXTURES, ...parts);

/** GRPO's advantage as the paper defines it, written out here independently of the reader. */
function grpoAdvantage(score: number, scores: number[]): number {
  const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
  const std = Math.sqrt(scores.reduce((a, s) => a + (s - mean) ** 2, 0) / (scores.length - 1));
  return (score - mean) / (std + 1e-6);
}

function copyFixture(name: string, tmp: string): string {
  const target = path.join(tmp, name.replace(/\//g, '-'));
  fs.cpSync(fixture(name), target, { recursive: true });
  return target;
}

describe('run readers: other trainers\' run folders as our records', () => {
  let tmp: string;
  beforeEach(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-readers-'))));
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('detects each format, and refuses a folder of none with what it looked for', () => {
    assert.strictEqual(detectRunFormat(fixture('verl', 'run')), 'verl');
    assert.strictEqual(detectRunFormat(fixture('verl', 'console')), 'verl');
    assert.strictEqual(detectRunFormat(fixture('trl', 'run')), 'trl');
    assert.strictEqual(detectRunFormat(fixture('prime-rl', 'run')), 'prime-rl');
    const ours = path.join(tmp, 'ours');
    new RunDirectoryWriter(ours, validateRunConfig({ name: 'o', task: { type: 'bandit' } })).close();
    assert.strictEqual(detectRunFormat(ours), 'grpo-studio');
    assert.throws(() => openRunReader(tmp), /not a run folder of any format.*\n.*verl: \{step\}\.jsonl/s);
    assert.deepStrictEqual(runFoldersIn(fixture('verl')), [fixture('verl', 'console'), fixture('verl', 'run')]);
  });

  it('verl: metrics renamed to ours with verl\'s names kept; rows grouped by identical input; GRPO advantages derived', async () => {
    const reader = openRunReader(fixture('verl', 'run'));
    const snapshot = reader.snapshot(false);
    assert.deepStrictEqual(snapshot.metrics.map((m) => m.step), [1, 2, 3]);
    const first = snapshot.metrics[0].metrics;
    assert.strictEqual(first.reward, 0.5);
    assert.strictEqual(first.loss, -0.012);
    assert.strictEqual(first['clip_ratio/region_mean'], 0.002);
    assert.strictEqual(first['completions/mean_length'], 4.5);
    assert.strictEqual(first['time/step'], 4.5);
    assert.strictEqual(first['actor/ppo_kl'], 0.0004, 'a metric without a counterpart keeps its verl name');
    assert.strictEqual(snapshot.source?.metricOrigins.reward, 'critic/score/mean');
    assert.strictEqual(snapshot.source?.metricOrigins['clip_ratio/region_mean'], 'actor/pg_clipfrac');
    assert.match(snapshot.source?.derived[0] ?? '', /advantage: recomputed .* grpo estimator \(the run config\)/);

    assert.deepStrictEqual(reader.rolloutSteps('train'), [1, 2, 3]);
    assert.deepStrictEqual(reader.rolloutSteps('eval'), [0]);
    const step = await reader.readRollouts('train', 1);
    // The dump interleaves the two prompts' rows; each group holds one prompt's four.
    assert.deepStrictEqual(step?.groups.map((g) => [g.prompt, g.rollouts.length, g.ground_truth]), [
      ['What is 17 + 25?', 4, '42'],
      ['What is 38 + 46?', 4, '84'],
    ]);
    const group = step!.groups[0];
    const scores = group.rollouts.map((r) => r.reward as number);
    assert.deepStrictEqual(group.rollouts.map((r) => r.completion), ['32', 'The answer is 42', '41', '42']);
    group.rollouts.forEach((r, i) => assert.ok(Math.abs(r.advantage - grpoAdvantage(scores[i], scores)) < 1e-12));
    assert.deepStrictEqual(group.rollouts[1].rewards, { acc: 1 }, 'the reward function\'s numeric extras; text (pred) is not a reward');
    assert.strictEqual(group.rollouts[0].finish_reason, 'unknown');
    assert.strictEqual((await reader.readRollouts('eval', 0))?.groups.length, 2);
  });

  it('verl: the console logger\'s lines (with Ray\'s prefix and numpy reprs) give the file logger\'s metrics', () => {
    const fromFile = openRunReader(fixture('verl', 'run')).snapshot(false).metrics;
    const fromConsole = openRunReader(fixture('verl', 'console')).snapshot(false).metrics;
    assert.deepStrictEqual(fromConsole, fromFile);
    assert.deepStrictEqual(parseConsoleLine('(TaskRunner pid=7, ip=10.0.0.2) step:12 - a/b:np.float64(0.25) - c:nan - d:True - e:np.int64(3)'), {
      step: 12,
      data: { 'a/b': 0.25, c: Number.NaN, d: 1, e: 3 },
    });
    assert.strictEqual(parseConsoleLine('(TaskRunner pid=7) Total training steps: 3'), undefined);
  });

  it('verl: the estimator comes from the run config (Dr. GRPO, RLOO), is assumed GRPO without one, and one that needs a critic derives nothing', async () => {
    const scores = [1, 0, 0, 1];
    assert.deepStrictEqual(verlAdvantages(scores, { name: 'grpo', normByStd: false, fromConfig: true }), [0.5, -0.5, -0.5, 0.5]);
    // RLOO: the score minus the mean of the other three.
    const rloo = verlAdvantages(scores, { name: 'rloo', normByStd: true, fromConfig: true })!;
    [2 / 3, -2 / 3, -2 / 3, 2 / 3].forEach((expected, i) => assert.ok(Math.abs(rloo[i] - expected) < 1e-12));
    assert.strictEqual(verlAdvantages(scores, { name: 'gae', normByStd: true, fromConfig: true }), undefined);

    const run = copyFixture('verl/run', tmp);
    fs.writeFileSync(path.join(run, '.hydra', 'config.yaml'), 'algorithm:\n  adv_estimator: gae\n');
    const critic = openRunReader(run);
    const step = await critic.readRollouts('train', 1);
    assert.ok(step!.groups[0].rollouts.every((r) => Number.isNaN(r.advantage)));
    fs.rmSync(path.join(run, '.hydra'), { recursive: true });
    assert.match(openRunReader(run).snapshot(false).source?.derived[0] ?? '', /grpo estimator \(assumed: no \.hydra\/config\.yaml/);
  });

  it('verl: a malformed rollout line is skipped and named with its file and line; the step\'s other rows still read', async () => {
    const run = copyFixture('verl/run', tmp);
    const file = path.join(run, 'rollout_data', '2.jsonl');
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    lines.splice(2, 0, '{"input": "What is 17 + 25?", "output": ');
    fs.writeFileSync(file, lines.join('\n'));
    const reader = openRunReader(run);
    const step = await reader.readRollouts('train', 2);
    assert.strictEqual(step?.groups.reduce((n, g) => n + g.rollouts.length, 0), 8);
    assert.match(reader.problems.join('\n'), new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3: malformed record`));
  });

  it('TRL: completions tables through the Parquet reader, groups as runs of one prompt, metrics from the newest trainer_state.json', async () => {
    const reader = openRunReader(fixture('trl', 'run'));
    assert.deepStrictEqual(reader.rolloutSteps('train'), [2, 4]);
    const step = await reader.readRollouts('train', 4);
    assert.deepStrictEqual(step?.groups.map((g) => [g.prompt, g.rollouts.length]), [
      ['What is 17 + 25?', 4],
      ['What is 38 + 46?', 4],
    ]);
    const rollout = step!.groups[0].rollouts[0];
    assert.strictEqual(rollout.completion, '42');
    assert.deepStrictEqual(rollout.rewards, { accuracy_reward: 1, format_reward: 1 });
    assert.strictEqual(rollout.reward, 2, 'the sum of the reward columns');
    // TRL's own advantage column, as written: (2 − 1.25) / (std 0.5 + 1e-4) for this group's totals 2, 1, 1, 1.
    assert.ok(Math.abs(rollout.advantage - 0.75 / (0.5 + 1e-4)) < 1e-9);

    const snapshot = reader.snapshot(false);
    assert.deepStrictEqual(snapshot.metrics.map((m) => m.step), [1, 2, 3, 4], 'checkpoint-4 has steps 3 and 4, which checkpoint-2 lacks');
    assert.strictEqual(snapshot.metrics[3].metrics['rewards/accuracy_reward/mean'], 0.5);
    assert.strictEqual(snapshot.metrics[3].metrics.train_runtime, 12.5, 'the final summary entry merges into its step');
    const summary = reader.summary(false);
    assert.deepStrictEqual([summary.format, summary.status, summary.step, summary.maxSteps], ['trl', 'completed', 4, 4]);
  });

  it('prime-rl: a step with token exports has the per-token view (groups by prompt tokens); one without reads its rollout records', async () => {
    const reader = openRunReader(fixture('prime-rl', 'run'));
    assert.deepStrictEqual(reader.rolloutSteps('train'), [1, 2]);
    const exported = await reader.readRollouts('train', 1);
    assert.strictEqual(exported?.groups.length, 2);
    assert.deepStrictEqual(exported!.groups.map((g) => g.rollouts.length), [2, 2]);
    const rank0 = fs.readFileSync(fixture('prime-rl', 'run', 'token_exports', 'step_1', 'rank_0.jsonl'), 'utf8').split('\n')[0];
    const line = JSON.parse(rank0) as { token_ids: number[]; loss_mask: boolean[]; trainer_logprobs: number[]; inference_logprobs: number[]; importance_ratio: number[] };
    const trained = line.loss_mask.flatMap((m, i) => (m ? [i] : []));
    const tokens = exported!.groups[0].rollouts[0].tokens;
    assert.deepStrictEqual(tokens.text, trained.map((i) => `⟨${line.token_ids[i]}⟩`));
    assert.deepStrictEqual(tokens.logprob, trained.map((i) => line.trainer_logprobs[i]));
    assert.deepStrictEqual(tokens.old_logprob, trained.map((i) => line.inference_logprobs[i]));
    assert.deepStrictEqual(tokens.ratio, trained.map((i) => line.importance_ratio[i]));
    assert.strictEqual(exported!.groups[0].rollouts[0].advantage, 0.5);

    const records = await reader.readRollouts('train', 2);
    assert.deepStrictEqual(records?.groups.map((g) => [g.prompt_id, g.prompt, g.ground_truth, g.rollouts.map((r) => r.completion)]), [
      ['0', 'What is 17 + 25?', '42', ['42', '32']],
      ['1', 'What is 38 + 46?', '84', ['84', '74']],
    ]);
    assert.deepStrictEqual(records!.groups[0].rollouts[0].rewards, { correct_answer: 1 });
    const snapshot = reader.snapshot(false);
    assert.deepStrictEqual(snapshot.metrics.map((m) => [m.step, m.metrics.reward, m.metrics['rewards/correct_answer/mean']]), [
      [1, 0.5, 0.5],
      [2, 0.5, 0.5],
    ]);
  });
});
