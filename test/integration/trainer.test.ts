/**
 * The GRPO trainer on real tasks, in process: a few real steps of each task, every algorithm switch, reward-module
 * failures, checkpoints, and resume — a run stopped and resumed equals an uninterrupted one, step for step.
 * The crash test (kill -9 mid-step, then resume) forks the built worker, as the extension does.
 */
import * as assert from 'assert';
import { fork } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { MetricsRecord, RolloutsRecord, RunEvent, WorkerMessage } from '../../src/protocol';
import { latestPerStep, readSnapshot } from '../../src/protocol/runStore';
import { CHARTS } from '../../webview/chartSpecs';
import { deterministic, runInProcess, writeConfig as writeConfigIn } from './inProcess';
import { numericMetrics } from './metrics';
import { readRecords as read } from './runFiles';

const ROOT = path.resolve(__dirname, '../..');
const WORKER = path.join(ROOT, 'dist', 'worker.js');
const GSM8K = path.join(ROOT, 'examples', 'data', 'gsm8k');

function tinyArithmetic(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'tiny-arith',
    seed: 3,
    backend: 'wasm',
    model: { name_or_path: 'tiny' },
    task: { type: 'arithmetic', max_operand: 9, num_train: 60, num_eval: 8 },
    sft: { steps: 3, batch_size: 8 },
    algorithm: { num_generations: 4 },
    optimization: { max_steps: 4, prompts_per_step: 2, micro_batch_size: 5 },
    sampling: { max_completion_length: 4 },
    evaluation: { eval_steps: 2 },
    checkpointing: { save_steps: 2, save_total_limit: 0 },
    ...overrides,
  };
}


describe('GRPO trainer', function () {
  this.timeout(120000);
  let tmp: string;
  beforeEach(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-trainer-'))));
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const writeConfig = (config: Record<string, unknown>, name?: string) => writeConfigIn(tmp, config, name);
  const run = (options: Parameters<typeof runInProcess>[1]) => runInProcess(tmp, options);

  it('arithmetic: SFT warm start, steps with full metrics and per-token records, validation, checkpoints', async () => {
    const { runDir } = await run({ configPath: writeConfig(tinyArithmetic({ optimization: { max_steps: 4, prompts_per_step: 2, micro_batch_size: 5, warmup_steps: 2 } })) });
    const metrics = read<MetricsRecord>(path.join(runDir, 'metrics.jsonl'));
    assert.deepStrictEqual(metrics.map((m) => m.step), [0, 1, 2, 3, 4]);
    assert.ok(numericMetrics(metrics[0])['sft/loss'] > 0 && 'eval/accuracy' in metrics[0].metrics, JSON.stringify(metrics[0]));
    for (const key of ['reward', 'reward_std', 'frac_reward_zero_std', 'rewards/arithmetic_answer/mean', 'loss', 'grad_norm', 'learning_rate', 'entropy',
      'clip_ratio/low_mean', 'clip_ratio/high_mean', 'clip_ratio/region_mean', 'completions/mean_length', 'completions/clipped_ratio',
      'time/sample', 'time/train', 'time/step', 'tokens_per_second/sample']) {
      assert.ok(Number.isFinite(metrics[1].metrics[key]), `${key} = ${metrics[1].metrics[key]}`);
    }
    assert.ok('eval/accuracy' in metrics[2].metrics && !('eval/accuracy' in metrics[1].metrics));
    // Every series the dashboard draws is a metric a language-model run writes (KL only with a reference model,
    // distinct-n only when completions have words: these sums have none; repetition only for completions of 4
    // tokens or more, which a 4-token cap rarely samples).
    const written = new Set(metrics.flatMap((m) => Object.keys(m.metrics)));
    const drawn = CHARTS.flatMap((c) => c.series.map((series) => series.key)).filter((key) => !['kl', 'eval/kl', 'eval/distinct_1', 'eval/distinct_2', 'completions/repetition'].includes(key));
    // The warm start's loss curve, one event per SFT step here (3 steps), ending at the logged sft/loss.
    const warm = read<RunEvent>(path.join(runDir, 'events.jsonl')).filter((e) => e.type === 'warm_start');
    assert.deepStrictEqual(warm.map((e) => e.type === 'warm_start' && [e.step, e.steps]), [[1, 3], [2, 3], [3, 3]]);
    const last = warm[2];
    assert.ok(last.type === 'warm_start' && last.loss === metrics[0].metrics['sft/loss'], JSON.stringify(last));
    assert.deepStrictEqual(drawn.filter((key) => !written.has(key)), []);
    // The rate each step trained with: warm-up 1/2, 2/2 of the peak, then the peak.
    assert.deepStrictEqual(metrics.slice(1).map((m) => m.metrics.learning_rate), [5e-4, 1e-3, 1e-3, 1e-3]);

    const rollouts = read<RolloutsRecord>(path.join(runDir, 'rollouts.jsonl'));
    assert.strictEqual(rollouts.length, 4);
    const group = rollouts[0].groups[0];
    assert.strictEqual(rollouts[0].groups.length, 2);
    assert.strictEqual(group.rollouts.length, 4);
    assert.match(group.prompt, /^\d\+\d=$/);
    const [first] = group.rollouts;
    // Every completion's columns line up with its tokens (a shifted row would show as a length mismatch somewhere).
    rollouts.forEach((record) => record.groups.forEach((g, gi) => g.rollouts.forEach((rollout, ri) => {
      const n = rollout.tokens.text.length;
      assert.ok(n >= 1 && n <= 4, `step ${record.step} group ${gi} rollout ${ri}: ${n} tokens`);
      for (const column of ['logprob', 'old_logprob', 'advantage', 'ratio', 'clipped_low', 'clipped_high', 'entropy'] as const) {
        assert.strictEqual(rollout.tokens[column]?.length, n, `step ${record.step} group ${gi} rollout ${ri} ${column}`);
      }
    })));
    // On-policy first pass (μ = 1): ratio 1, nothing clipped; the advantage is the same on every token (outcome).
    first.tokens.ratio?.forEach((r) => assert.ok(Math.abs(r - 1) < 1e-3, `ratio ${r}`));
    assert.ok(first.tokens.advantage?.every((a) => a === first.tokens.advantage?.[0]));
    // Group-relative: the advantages of a group sum to ~0 unless all rewards tie.
    const sum = group.rollouts.reduce((s, r) => s + r.advantage, 0);
    assert.ok(Math.abs(sum) < 1e-3, `advantages sum to ${sum}`);

    const evals = read<RolloutsRecord>(path.join(runDir, 'eval_rollouts.jsonl'));
    assert.deepStrictEqual(evals.map((e) => e.step), [0, 2, 4]);
    assert.strictEqual(evals[0].groups.length, 8);
    const events = read<RunEvent>(path.join(runDir, 'events.jsonl'));
    assert.deepStrictEqual(events.filter((e) => e.type === 'checkpoint').map((e) => e.type === 'checkpoint' && e.step), [2, 4]);
    assert.ok(fs.existsSync(path.join(runDir, 'checkpoints', 'step-4', 'policy', 'model.safetensors')));
    assert.ok(fs.existsSync(path.join(runDir, 'checkpoints', 'step-4', 'optimizer.safetensors')));
    assert.strictEqual(readSnapshot(runDir).status, 'completed');
  });

  it('every algorithm switch runs: β > 0 with k3 or exact KL, process supervision (both estimators), clip-higher, μ = 2, each loss type', async () => {
    const variants: Record<string, unknown>[] = [
      { beta: 0.05, loss_type: 'bnpo', num_iterations: 2, epsilon_high: 0.28 },
      { supervision: 'discounted_returns', gamma: 0.9, loss_type: 'dr_grpo', scale_rewards: 'group' },
      { supervision: 'process', loss_type: 'bnpo' },
      { loss_type: 'dapo', scale_rewards: 'none', ref_model_sync_steps: 1 },
      { beta: 0.1, kl_estimator: 'full', num_iterations: 2 },
      // Issue 13: verl's aggregation, dual clip, KL estimators and the KL in the reward with an adaptive coefficient.
      { beta: 0.05, kl_estimator: 'low_var_kl', loss_agg_mode: 'seq-mean-token-mean', clip_ratio_c: 3, use_kl_in_reward: true, kl_ctrl: { type: 'adaptive', kl_coef: 0.01 } },
      { beta: 0.05, kl_estimator: 'k3+', loss_agg_mode: 'seq-mean-token-sum-norm', delta: 2 },
    ];
    for (const [i, algorithm] of variants.entries()) {
      const config = tinyArithmetic({ name: `variant-${i}`, algorithm: { num_generations: 4, ...algorithm }, optimization: { max_steps: 2, prompts_per_step: 2, micro_batch_size: 8 }, evaluation: { eval_steps: 0 } });
      const { runDir } = await run({ configPath: writeConfig(config, `v${i}.json`) });
      const metrics = read<MetricsRecord>(path.join(runDir, 'metrics.jsonl'));
      assert.strictEqual(metrics.length, 2, JSON.stringify(algorithm));
      assert.ok(Number.isFinite(metrics[1].metrics.loss), JSON.stringify(metrics[1].metrics));
      const [rollout] = read<RolloutsRecord>(path.join(runDir, 'rollouts.jsonl'))[1].groups[0].rollouts;
      if ('beta' in algorithm || 'ref_model_sync_steps' in algorithm) {
        assert.ok(Number.isFinite(metrics[1].metrics.kl), `kl for ${JSON.stringify(algorithm)}`);
        assert.strictEqual(rollout.tokens.kl?.length, rollout.tokens.text.length);
        assert.strictEqual(rollout.tokens.ref_logprob?.length, rollout.tokens.text.length);
      }
      if ('clip_ratio_c' in algorithm || 'delta' in algorithm) assert.ok(Number.isFinite(metrics[1].metrics['clip_ratio/lower_dual']));
      if ('use_kl_in_reward' in algorithm) {
        assert.strictEqual(metrics[0].metrics.reward_kl_penalty_coeff, 0.01);
        assert.ok(Number.isFinite(metrics[1].metrics.reward_kl_penalty_coeff) && Number.isFinite(metrics[1].metrics.reward_kl_penalty));
      }
      assert.strictEqual(metrics[1].metrics['train/skipped_steps'], 0);
    }
  });

  it('process supervision (DeepSeekMath): a module\'s step rewards reach the tokens that end the steps', async () => {
    // Step 1: the first character (1 if a digit); step 2: the rest of the completion (1 if it has no letter).
    fs.writeFileSync(path.join(tmp, 'steps.js'), 'module.exports = (p, c) => ({ steps: [{ end: 1, reward: /^[0-9]/.test(c) ? 1 : 0 }, { end: c.length, reward: /[a-z]/i.test(c) ? 0 : 1 }] });');
    const config = tinyArithmetic({ name: 'steps', sft: { steps: 0 }, rewards: [{ name: 'steps', module: './steps.js' }], algorithm: { num_generations: 4, supervision: 'process' }, optimization: { max_steps: 1, prompts_per_step: 2, micro_batch_size: 8 }, evaluation: { eval_steps: 0 } });
    const { runDir } = await run({ configPath: writeConfig(config) });
    const [record] = read<RolloutsRecord>(path.join(runDir, 'rollouts.jsonl'));
    assert.strictEqual(record.groups.length, 2);
    assert.ok(record.groups.some((g) => g.rollouts.some((r) => r.tokens.advantage?.some((a) => a !== 0))), 'some advantage is not 0');
    for (const group of record.groups) {
      // Recompute by hand: the tiny model's tokenizer is character-level, so token t ends at character t + 1.
      // A step ending at character e < |c| ends on token e − 1; at the end of the text, on the last token (the stop token).
      const onToken = (c: string, last: number, end: number) => (end >= c.length ? last : end - 1);
      const steps = group.rollouts.map((r) => {
        const c = r.completion;
        const last = r.tokens.text.length - 1;
        return [{ token: onToken(c, last, 1), reward: /^[0-9]/.test(c) ? 1 : 0 }, { token: last, reward: /[a-z]/i.test(c) ? 0 : 1 }];
      });
      const rewards = steps.flat().map((s) => s.reward);
      const mean = rewards.reduce((a, b) => a + b, 0) / rewards.length;
      const std = Math.sqrt(rewards.reduce((a, r) => a + (r - mean) ** 2, 0) / (rewards.length - 1));
      group.rollouts.forEach((r, i) => {
        const expected = r.tokens.text.map((_, t) => steps[i].filter((s) => s.token >= t).reduce((a, s) => a + (std === 0 ? 0 : (s.reward - mean) / (std + 1e-6)), 0));
        assert.strictEqual(r.tokens.advantage?.length, r.tokens.text.length);
        (r.tokens.advantage ?? []).forEach((a, t) => assert.ok(Math.abs(a - expected[t]) < 1e-3, `rollout ${i} token ${t}: ${a} vs ${expected[t]} (${JSON.stringify(r.completion)})`));
      });
    }
  });

  it('dynamic sampling (filter_groups): tied groups are dropped and stored as dropped, rounds are counted; the rounds limit fails the run', async () => {
    fs.writeFileSync(path.join(tmp, 'parity.js'), 'module.exports = (p, c) => (c.length > 0 ? c.charCodeAt(0) % 2 : 0);');
    const config = tinyArithmetic({ name: 'dyn', sft: { steps: 0 }, rewards: [{ name: 'parity', module: './parity.js' }], algorithm: { num_generations: 4, filter_groups: { enable: true } }, optimization: { max_steps: 4, prompts_per_step: 2, micro_batch_size: 8 }, evaluation: { eval_steps: 0 } });
    const { runDir } = await run({ configPath: writeConfig(config) });
    const metrics = read<MetricsRecord>(path.join(runDir, 'metrics.jsonl')).map(numericMetrics);
    const records = read<RolloutsRecord>(path.join(runDir, 'rollouts.jsonl'));
    assert.strictEqual(records.length, 4);
    const tied = (g: RolloutsRecord['groups'][number]) => g.rollouts.every((r) => r.reward === g.rollouts[0].reward);
    records.forEach((record, s) => {
      const trained = record.groups.filter((g) => !g.dropped);
      const dropped = record.groups.filter((g) => g.dropped);
      assert.strictEqual(trained.length, 2, `step ${s + 1}`);
      assert.ok(trained.every((g) => !tied(g)), 'trained groups have differing rewards');
      assert.ok(dropped.every((g) => tied(g) && g.rollouts.every((r) => r.advantage === 0)), 'dropped groups tied, advantage 0');
      assert.strictEqual(metrics[s]['dynamic_sampling/dropped_groups'], dropped.length);
      // Each round draws prompts_per_step prompts: rounds × 2 groups were generated, the extra kept ones discarded.
      assert.ok(metrics[s].num_gen_batches >= Math.ceil((dropped.length + 2) / 2), `rounds ${metrics[s].num_gen_batches}, dropped ${dropped.length}`);
    });
    // Four steps of 4-sample groups: a parity tie has probability ~1/8 per group, so some step needed a second round.
    assert.ok(metrics.some((m) => m.num_gen_batches > 1) && records.some((r) => r.groups.some((g) => g.dropped)), JSON.stringify(metrics.map((m) => m.num_gen_batches)));

    // A reward that always ties (the untrained model never answers): the rounds limit fails the run with the reason.
    const hopeless = tinyArithmetic({ name: 'dyn-fail', sft: { steps: 0 }, algorithm: { num_generations: 4, filter_groups: { enable: true, max_num_gen_batches: 3 } }, optimization: { max_steps: 2, prompts_per_step: 2, micro_batch_size: 8 }, evaluation: { eval_steps: 0 } });
    await assert.rejects(run({ configPath: writeConfig(hopeless, 'fail.json') }), /3 generation rounds \(max_num_gen_batches\) gave 0 of 2 groups/);
  });

  it('steps_per_generation: one generation serves several steps, each on its slice of groups, the later ones off-policy', async () => {
    fs.writeFileSync(path.join(tmp, 'parity.js'), 'module.exports = (p, c) => (c.length > 0 ? c.charCodeAt(0) % 2 : 0);');
    const config = tinyArithmetic({ name: 'spg', sft: { steps: 0 }, rewards: [{ name: 'parity', module: './parity.js' }], optimization: { max_steps: 4, prompts_per_step: 4, micro_batch_size: 8, steps_per_generation: 2, learning_rate: 0.01 }, evaluation: { eval_steps: 0 } });
    const { runDir } = await run({ configPath: writeConfig(config) });
    const metrics = read<MetricsRecord>(path.join(runDir, 'metrics.jsonl')).map(numericMetrics);
    const records = read<RolloutsRecord>(path.join(runDir, 'rollouts.jsonl'));
    assert.deepStrictEqual(metrics.map((m) => m['generation/slice']), [0, 1, 0, 1]);
    // Rewards are logged at the generating step only; each step trains on 2 of the generation's 4 groups.
    assert.deepStrictEqual(metrics.map((m) => 'rewards/parity/mean' in m), [true, false, true, false]);
    assert.deepStrictEqual(records.map((r) => r.groups.length), [2, 2, 2, 2]);
    // On-policy at the generating step (every ratio 1, ESS 1); the next step's π_old is one update old: ratios move.
    // (π_old comes from the sampler's KV-cache pass, π_θ from the training pass: equal up to float rounding.)
    const ratios = (r: RolloutsRecord) => r.groups.flatMap((g) => g.rollouts.flatMap((x) => x.tokens.ratio ?? []));
    const drift = (r: RolloutsRecord) => Math.max(...ratios(r).map((x) => Math.abs(x - 1)));
    assert.ok(drift(records[0]) < 1e-4 && drift(records[2]) < 1e-4, `generating steps: ${drift(records[0])}, ${drift(records[2])}`);
    assert.ok(drift(records[1]) > 1e-2 && drift(records[3]) > 1e-2, `reusing steps: ${drift(records[1])}, ${drift(records[3])}`);
    assert.ok(1 - metrics[0]['importance_weights/ess'] < 1e-9 && 1 - metrics[1]['importance_weights/ess'] > 1e-6, 'ESS drops off-policy');
    // The two slices are different prompts of one generation.
    assert.notDeepStrictEqual(records[0].groups.map((g) => g.prompt_id), records[1].groups.map((g) => g.prompt_id));
  });

  it('policy-loss variants run and report their metrics: GSPO, CISPO, top_entropy_quantile, mask_truncated_completions', async () => {
    const variants: Record<string, unknown>[] = [
      { importance_sampling_level: 'sequence', num_iterations: 2 },
      { importance_sampling_level: 'sequence_token', loss_type: 'cispo', epsilon_high: 5, num_iterations: 2 },
      { loss_type: 'cispo', cispo_clip: 'verl', top_entropy_quantile: 0.2, beta: 0.05 },
      { mask_truncated_completions: true },
    ];
    for (const [i, algorithm] of variants.entries()) {
      // With the truncation mask, also DAPO's soft overlong punishment (L_max 3, L_cache 2), which needs the token ids.
      const rewards = 'mask_truncated_completions' in algorithm ? { rewards: [{ name: 'arithmetic_answer' }, { name: 'soft_overlong_punishment', params: { soft_punish_cache: 2 } }] } : {};
      const config = tinyArithmetic({ name: `policy-${i}`, algorithm: { num_generations: 4, ...algorithm }, optimization: { max_steps: 2, prompts_per_step: 2, micro_batch_size: 8 }, sampling: { max_completion_length: 3, stop: ['\n'] }, evaluation: { eval_steps: 0 }, ...rewards });
      const { runDir } = await run({ configPath: writeConfig(config, `p${i}.json`) });
      const metrics = read<MetricsRecord>(path.join(runDir, 'metrics.jsonl'));
      assert.strictEqual(metrics.length, 2, JSON.stringify(algorithm));
      const last = numericMetrics(metrics[1]);
      assert.ok(Number.isFinite(last.loss), JSON.stringify(last));
      const ess = last['importance_weights/ess'];
      // μ = 1: the only pass is on-policy, every weight 1; μ = 2: the second pass has moved, ESS in (0, 1].
      if ('num_iterations' in algorithm) assert.ok(ess > 0 && ess <= 1, `ess ${ess}`);
      else if (!('mask_truncated_completions' in algorithm)) assert.ok(Math.abs(ess - 1) < 1e-6, `ess ${ess}`);
      if (algorithm.loss_type === 'cispo') assert.strictEqual(last.cispo_clip_ratio, last['clip_ratio/high_mean']);
      if ('mask_truncated_completions' in algorithm) {
        const groups = read<RolloutsRecord>(path.join(runDir, 'rollouts.jsonl'))[1].groups;
        const truncated = groups.flatMap((g) => g.rollouts).filter((r) => r.finish_reason === 'length').length;
        assert.strictEqual(last['completions/masked_truncated'], truncated);
        // 1 token → 0, 2 → (1 − 2)/2 = −0.5, 3 → −1, the stop token counted.
        const punished = groups.flatMap((g) => g.rollouts).map((r) => r.rewards.soft_overlong_punishment);
        assert.deepStrictEqual(punished, groups.flatMap((g) => g.rollouts).map((r) => [0, 0, -0.5, -1][r.tokens.text.length]));
        // Some completions reach a line break within 3 tokens (stop), the others are cut: both kinds occur.
        assert.ok(truncated > 0 && truncated < 8, `truncated ${truncated}`);
      }
    }
  });

  it('mask_truncated_completions: when every completion is cut, nothing trains (loss and gradient exactly 0)', async () => {
    // Completions of at most 1 token from an untrained model: none can end on a stop token except by chance.
    const config = tinyArithmetic({ name: 'all-cut', sft: { steps: 0 }, algorithm: { num_generations: 4, mask_truncated_completions: true }, optimization: { max_steps: 1, prompts_per_step: 2, micro_batch_size: 8 }, sampling: { max_completion_length: 1 }, evaluation: { eval_steps: 0 } });
    const { runDir } = await run({ configPath: writeConfig(config) });
    const [metrics] = read<MetricsRecord>(path.join(runDir, 'metrics.jsonl')).map(numericMetrics);
    assert.strictEqual(metrics['completions/masked_truncated'], 8);
    assert.strictEqual(metrics.loss, 0);
    assert.strictEqual(metrics.grad_norm, 0);
  });

  it('micro-batches that do not divide the batch give every rollout the same weight (same gradient as one batch)', async () => {
    // A reward that varies within groups even for an untrained model: the parity of the first character's code.
    fs.writeFileSync(path.join(tmp, 'parity.js'), 'module.exports = (p, c) => (c.length > 0 ? c.charCodeAt(0) % 2 : 0);');
    const gradNorm = async (microBatch: number, lossType: string) => {
      const config = tinyArithmetic({ name: `mb${microBatch}${lossType}`, sft: { steps: 0 }, rewards: [{ name: 'parity', module: './parity.js' }], algorithm: { num_generations: 4, loss_type: lossType }, optimization: { max_steps: 1, prompts_per_step: 2, micro_batch_size: microBatch }, evaluation: { eval_steps: 0 } });
      const { runDir } = await run({ configPath: writeConfig(config, `mb${microBatch}${lossType}.json`) });
      return numericMetrics(read<MetricsRecord>(path.join(runDir, 'metrics.jsonl'))[0]).grad_norm;
    };
    for (const lossType of ['grpo', 'dr_grpo']) {
      const whole = await gradNorm(8, lossType);
      const uneven = await gradNorm(6, lossType);
      assert.ok(whole > 0 && Math.abs(uneven - whole) / whole < 1e-4, `${lossType}: ${uneven} vs ${whole}`);
    }
  });

  it('data_parallel: the second thread gives the same gradient as one thread', async () => {
    fs.writeFileSync(path.join(tmp, 'parity.js'), 'module.exports = (p, c) => (c.length > 0 ? c.charCodeAt(0) % 2 : 0);');
    const step1 = async (dataParallel: boolean) => {
      const config = tinyArithmetic({ name: `dp${dataParallel}`, sft: { steps: 2 }, rewards: [{ name: 'parity', module: './parity.js' }], optimization: { max_steps: 1, prompts_per_step: 2, micro_batch_size: 8, data_parallel: dataParallel }, evaluation: { eval_steps: 0 } });
      const { runDir } = await run({ configPath: writeConfig(config, `dp${dataParallel}.json`) });
      return numericMetrics(read<MetricsRecord>(path.join(runDir, 'metrics.jsonl'))[0]);
    };
    const [single, parallel] = [await step1(false), await step1(true)];
    assert.strictEqual(parallel.reward, single.reward);
    assert.ok(single.grad_norm > 0 && Math.abs(parallel.grad_norm - single.grad_norm) / single.grad_norm < 1e-4, `${parallel.grad_norm} vs ${single.grad_norm}`);
  });

  it('gsm8k: the shipped sample with the R1-Zero rewards; prompts past the context are refused, or left out with max_prompt_length', async () => {
    // The tiny preset's character alphabet is ASCII: keep the sample's ASCII-only problems.
    const isAscii = (line: string) => /^[\x20-\x7e\n]*$/.test(Object.values(JSON.parse(line) as Record<string, string>).join(''));
    const ascii = (file: string) => fs.readFileSync(path.join(GSM8K, file), 'utf8').split('\n').filter((l) => l && isAscii(l)).join('\n') + '\n';
    fs.writeFileSync(path.join(tmp, 'train.jsonl'), ascii('train_sample.jsonl'));
    fs.writeFileSync(path.join(tmp, 'test.jsonl'), ascii('test_sample.jsonl'));
    const gsm8k = (template: string, sampling: Record<string, unknown>) => tinyArithmetic({
      name: 'gsm8k-tiny',
      task: { type: 'gsm8k', train_file: 'train.jsonl', eval_file: 'test.jsonl', prompt_template: template, max_eval: 40 },
      rewards: [{ name: 'r1_zero' }],
      sft: { steps: 0 },
      algorithm: { num_generations: 2 },
      optimization: { max_steps: 1, prompts_per_step: 1, micro_batch_size: 2 },
      sampling,
      evaluation: { eval_steps: 0 },
    });
    // R1-Zero prompts are 700–1,000 characters: one token each for the tiny preset, whose context is 512.
    await assert.rejects(
      run({ configPath: writeConfig(gsm8k('r1_zero', { max_completion_length: 4 })) }),
      /the longest prompt \(id \d+: "A conversation between User and Assistan…"\) has \d{3,4} tokens; with sampling.max_completion_length 4 that is \d+, more than the model's 512 positions \(max_position_embeddings\)/,
    );
    // "Question: …\nAnswer:" prompts are 114–571 characters: with max_prompt_length 300 the longer ones are left out.
    const { runDir, messages } = await run({ configPath: writeConfig(gsm8k('question_answer', { max_completion_length: 4, max_prompt_length: 300 })) });
    const dropped = messages.find((m) => m.type === 'log' && m.message.startsWith('sampling.max_prompt_length 300'));
    assert.match(dropped?.type === 'log' ? dropped.message : '', /left out (\d+) of 179 training prompts and (\d+) of 40 validation prompts \(longest: 571 tokens\)/);
    const metrics = read<MetricsRecord>(path.join(runDir, 'metrics.jsonl'));
    assert.deepStrictEqual(metrics.map((m) => m.step), [1]);
    assert.ok('rewards/r1_zero/mean' in metrics[0].metrics && 'rewards/r1_zero/format_reward' in metrics[0].metrics, JSON.stringify(metrics[0]));
    const [group] = read<RolloutsRecord>(path.join(runDir, 'rollouts.jsonl'))[0].groups;
    assert.ok(group.prompt.startsWith('Question: ') && group.prompt.length <= 300, group.prompt);
    assert.match(group.ground_truth ?? '', /^-?[\d.]+$/);
  });

  it('a reward module that throws scores NaN → advantage 0, logs reward_error, and the run goes on', async () => {
    fs.writeFileSync(path.join(tmp, 'flaky.js'), "module.exports = (prompt, completion) => { if (completion.length % 2) throw new Error('odd length'); return 1; };");
    const config = tinyArithmetic({ rewards: [{ name: 'arithmetic_answer' }, { name: 'flaky', module: './flaky.js', weight: 0.5 }], evaluation: { eval_steps: 0 } });
    const { runDir, messages } = await run({ configPath: writeConfig(config) });
    const errors = messages.filter((m): m is Extract<WorkerMessage, { type: 'reward_error' }> => m.type === 'reward_error');
    assert.ok(errors.length > 0, 'no reward_error');
    assert.strictEqual(errors[0].reward, 'flaky');
    assert.strictEqual(errors[0].message, 'odd length');
    assert.strictEqual(errors[0].completion.length % 2, 1);
    assert.strictEqual(readSnapshot(runDir).status, 'completed');
    const metrics = read<MetricsRecord>(path.join(runDir, 'metrics.jsonl')).filter((m) => m.step > 0);
    for (const record of read<RolloutsRecord>(path.join(runDir, 'rollouts.jsonl'))) {
      const rollouts = record.groups.flatMap((g) => g.rollouts);
      for (const r of rollouts) {
        if (r.rewards.flaky !== null) continue;
        // Shown as failed: no reward (null, not a stand-in), the reason, and no gradient.
        assert.deepStrictEqual([r.reward, r.error, r.advantage], [null, 'odd length', 0], JSON.stringify(r));
      }
      // The step's mean reward and failure count leave the failed samples out of the mean.
      const scored = rollouts.flatMap((r) => (r.reward === null ? [] : [r.reward]));
      const step = metrics.find((m) => m.step === record.step);
      assert.strictEqual(step?.metrics['rewards/failed'], rollouts.length - scored.length);
      assert.ok(Math.abs((step?.metrics.reward as number) - scored.reduce((a, b) => a + b, 0) / scored.length) < 1e-5, JSON.stringify(step?.metrics));
    }
  });

  it('resume: stopped at step 2, resumed, steps 3–4 equal an uninterrupted run (also with dynamic sampling, and mid-generation with steps_per_generation)', async () => {
    fs.writeFileSync(path.join(tmp, 'parity.js'), 'module.exports = (p, c) => (c.length > 0 ? c.charCodeAt(0) % 2 : 0);');
    // G = 2: a parity tie has probability ~1/2 per group, so resumed steps go through extra rounds.
    const dynamic = { rewards: [{ name: 'parity', module: './parity.js' }], algorithm: { num_generations: 2, filter_groups: { enable: true } } };
    // One generation of 4 prompts serves steps 1–4: the stop at step 2 checkpoints a half-used generation buffer.
    const buffered = { optimization: { max_steps: 4, prompts_per_step: 4, micro_batch_size: 5, steps_per_generation: 4 } };
    for (const [name, overrides] of [['plain', {}], ['dynamic', dynamic], ['buffered', buffered]] as const) {
      await resumeEqualsWhole(name, overrides);
    }
  });

  async function resumeEqualsWhole(name: string, overrides: Record<string, unknown>): Promise<void> {
    const configPath = writeConfig(tinyArithmetic(overrides), `${name}.json`);
    const whole = await run({ configPath, runDir: path.join(tmp, `${name}-whole`) });
    const stopped = await run({ configPath, runDir: path.join(tmp, `${name}-parts`), stopAfter: 2 });
    assert.strictEqual(readSnapshot(stopped.runDir).status, 'stopped');
    assert.deepStrictEqual(read<MetricsRecord>(path.join(stopped.runDir, 'metrics.jsonl')).map((m) => m.step), [0, 1, 2]);
    // Mid-generation, the checkpoint holds the buffer (slices 3 and 4 of step 1's generation); otherwise none.
    assert.strictEqual(fs.existsSync(path.join(stopped.runDir, 'checkpoints', 'step-2', 'generation.json')), name === 'buffered', name);
    const resumed = await run({ resumeDir: stopped.runDir });
    const started = resumed.messages.find((m) => m.type === 'started');
    assert.strictEqual(started?.type === 'started' && started.resumedFrom, 2);

    const expected = read<MetricsRecord>(path.join(whole.runDir, 'metrics.jsonl'));
    const actual = latestPerStep(read<MetricsRecord>(path.join(stopped.runDir, 'metrics.jsonl')));
    assert.deepStrictEqual(actual.map(deterministic), expected.map(deterministic));
    const strip = (r: RolloutsRecord) => r.groups;
    assert.deepStrictEqual(read<RolloutsRecord>(path.join(stopped.runDir, 'rollouts.jsonl')).map(strip), read<RolloutsRecord>(path.join(whole.runDir, 'rollouts.jsonl')).map(strip));
    assert.strictEqual(readSnapshot(stopped.runDir).status, 'completed');
    // With dynamic sampling the resumed steps must have gone through extra rounds for the comparison to mean something.
    if (name === 'dynamic') assert.ok(read<RolloutsRecord>(path.join(whole.runDir, 'rollouts.jsonl')).slice(2).some((r) => r.groups.some((g) => g.dropped)), 'a resumed step dropped a group');
  }

  it('resume inside the SFT warm start: the warm start continues where it stopped (step, optimizer, data order), then GRPO; equals an uninterrupted run', async () => {
    // Stopped mid-SFT (with a reference model, which must end up the warm-started policy), and stopped after the last
    // SFT step but before step-0 validation.
    for (const [name, stopAt, algorithm] of [['mid-sft', 3, { num_generations: 4, beta: 0.05 }], ['before-validation', 6, { num_generations: 4 }]] as const) {
      const configPath = writeConfig(tinyArithmetic({ sft: { steps: 6, batch_size: 8 }, algorithm, optimization: { max_steps: 2, prompts_per_step: 2, micro_batch_size: 5 } }), `${name}.json`);
      const whole = await run({ configPath, runDir: path.join(tmp, `${name}-whole`) });
      const stopped = await run({ configPath, runDir: path.join(tmp, `${name}-parts`), stopWhen: (m) => m.type === 'warm_start' && m.step === stopAt });
      assert.strictEqual(readSnapshot(stopped.runDir).status, 'stopped');
      const warmSteps = (messages: WorkerMessage[]) => messages.flatMap((m) => (m.type === 'warm_start' ? [m.step] : []));
      assert.deepStrictEqual(warmSteps(stopped.messages), [1, 2, 3, 4, 5, 6].slice(0, stopAt), name);
      assert.deepStrictEqual(read<MetricsRecord>(path.join(stopped.runDir, 'metrics.jsonl')), [], `${name}: no step-0 validation yet`);
      const state = JSON.parse(fs.readFileSync(path.join(stopped.runDir, 'checkpoints', 'step-0', 'state.json'), 'utf8')) as { warmStartPending?: boolean };
      assert.strictEqual(state.warmStartPending, true, name);
      // The SFT optimizer travels with the checkpoint only while SFT steps remain.
      assert.strictEqual(fs.existsSync(path.join(stopped.runDir, 'checkpoints', 'step-0', 'sft', 'optimizer.safetensors')), stopAt < 6, name);

      const legacy = path.join(tmp, `${name}-legacy`);
      fs.cpSync(stopped.runDir, legacy, { recursive: true });

      const resumed = await run({ resumeDir: stopped.runDir });
      const started = resumed.messages.find((m) => m.type === 'started');
      assert.strictEqual(started?.type === 'started' && started.resumedFrom, 0);
      assert.deepStrictEqual(warmSteps(resumed.messages), [4, 5, 6].slice(stopAt - 3), name);
      const logs = resumed.messages.flatMap((m) => (m.type === 'log' ? [m.message] : []));
      assert.ok(logs.some((l) => l === 'resumed from checkpoints/step-0, inside the warm start: it finishes before GRPO step 1'), logs.join('\n'));
      if (stopAt < 6) assert.ok(logs.includes(`sft continues at step ${stopAt + 1}/6 (its optimizer state and data order restored)`), logs.join('\n'));

      const expected = read<MetricsRecord>(path.join(whole.runDir, 'metrics.jsonl'));
      assert.deepStrictEqual(expected.map((m) => m.step), [0, 1, 2]);
      assert.strictEqual(expected[0].metrics['sft/steps'], 6);
      assert.deepStrictEqual(latestPerStep(read<MetricsRecord>(path.join(stopped.runDir, 'metrics.jsonl'))).map(deterministic), expected.map(deterministic), name);
      const strip = (r: RolloutsRecord) => r.groups;
      assert.deepStrictEqual(read<RolloutsRecord>(path.join(stopped.runDir, 'eval_rollouts.jsonl')).map(strip), read<RolloutsRecord>(path.join(whole.runDir, 'eval_rollouts.jsonl')).map(strip), name);
      assert.deepStrictEqual(read<RolloutsRecord>(path.join(stopped.runDir, 'rollouts.jsonl')).map(strip), read<RolloutsRecord>(path.join(whole.runDir, 'rollouts.jsonl')).map(strip), name);
      const weights = (dir: string) => fs.readFileSync(path.join(dir, 'checkpoints', 'step-2', 'policy', 'model.safetensors'));
      assert.ok(weights(stopped.runDir).equals(weights(whole.runDir)), `${name}: the final weights differ after resume`);
      assert.strictEqual(readSnapshot(stopped.runDir).status, 'completed');

      // The same checkpoint as written before warm-start resume (no SFT state, no manifest): GRPO starts, with a warning.
      const checkpoint = path.join(legacy, 'checkpoints', 'step-0');
      const rewrite = (file: string, drop: string[]) => {
        const record = JSON.parse(fs.readFileSync(path.join(checkpoint, file), 'utf8')) as Record<string, unknown>;
        for (const key of drop) delete record[key];
        fs.writeFileSync(path.join(checkpoint, file), JSON.stringify(record));
      };
      rewrite('state.json', ['warmStartPending', 'files']);
      rewrite('job.json', ['sft']);
      fs.rmSync(path.join(checkpoint, 'sft'), { recursive: true, force: true });
      const old = await run({ resumeDir: legacy });
      assert.deepStrictEqual(warmSteps(old.messages), [], name);
      assert.ok(old.messages.some((m) => m.type === 'log' && m.level === 'warning' && m.message.startsWith('this step-0 checkpoint predates warm-start resume')), name);
    }
  });

  it('resume inside the SFT warm start on gsm8k, whose warm start draws from the training cursor: the same prompts and weights as an uninterrupted run', async () => {
    const isAscii = (line: string) => /^[\x20-\x7e\n]*$/.test(Object.values(JSON.parse(line) as Record<string, string>).join(''));
    const short = (line: string) => (JSON.parse(line) as { question: string; answer: string }).question.length + (JSON.parse(line) as { answer: string }).answer.length < 400;
    const lines = fs.readFileSync(path.join(GSM8K, 'train_sample.jsonl'), 'utf8').split('\n').filter((l) => l && isAscii(l) && short(l));
    fs.writeFileSync(path.join(tmp, 'train.jsonl'), lines.slice(8).join('\n') + '\n');
    fs.writeFileSync(path.join(tmp, 'test.jsonl'), lines.slice(0, 8).join('\n') + '\n');
    const configPath = writeConfig(tinyArithmetic({
      name: 'gsm8k-sft',
      task: { type: 'gsm8k', train_file: 'train.jsonl', eval_file: 'test.jsonl', prompt_template: 'question_answer' },
      rewards: [{ name: 'gsm8k_answer' }],
      sft: { steps: 4, batch_size: 2 },
      algorithm: { num_generations: 2 },
      optimization: { max_steps: 2, prompts_per_step: 1, micro_batch_size: 2 },
      evaluation: { eval_steps: 0 },
    }));
    const whole = await run({ configPath, runDir: path.join(tmp, 'whole') });
    const stopped = await run({ configPath, runDir: path.join(tmp, 'parts'), stopWhen: (m) => m.type === 'warm_start' && m.step === 2 });
    assert.deepStrictEqual(read<MetricsRecord>(path.join(stopped.runDir, 'metrics.jsonl')), []);
    await run({ resumeDir: stopped.runDir });
    const prompts = (dir: string) => read<RolloutsRecord>(path.join(dir, 'rollouts.jsonl')).map((r) => r.groups.map((g) => g.prompt));
    assert.deepStrictEqual(prompts(stopped.runDir), prompts(whole.runDir));
    assert.deepStrictEqual(read<MetricsRecord>(path.join(stopped.runDir, 'metrics.jsonl')).map(deterministic), read<MetricsRecord>(path.join(whole.runDir, 'metrics.jsonl')).map(deterministic));
    const weights = (dir: string) => fs.readFileSync(path.join(dir, 'checkpoints', 'step-2', 'policy', 'model.safetensors'));
    assert.ok(weights(stopped.runDir).equals(weights(whole.runDir)), 'the final weights differ after resume');
  });

  it('crash: kill -9 mid-run, resume from the last checkpoint, metrics equal an uninterrupted run', async () => {
    assert.ok(fs.existsSync(WORKER), `${WORKER} is missing: run "npm run build" first`);
    const config = tinyArithmetic({ optimization: { max_steps: 6, prompts_per_step: 2, micro_batch_size: 5 }, evaluation: { eval_steps: 0 } });
    const configPath = writeConfig(config);
    // The uninterrupted run in a worker process too: in this one, wasm already runs a thread pool, whose products
    // (XNNPACK's) round differently from a single-threaded instance's (kernels.ts, matrixProducts).
    const wholeDir = path.join(tmp, 'whole');
    const wholeExit = await new Promise<number | null>((resolve) => {
      fork(WORKER, ['--config', configPath, '--run-dir', wholeDir], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] }).on('exit', (code) => resolve(code));
    });
    assert.strictEqual(wholeExit, 0);

    const crashDir = path.join(tmp, 'crash');
    const killedAt = await new Promise<number>((resolve) => {
      const child = fork(WORKER, ['--config', configPath, '--run-dir', crashDir], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
      let step = 0;
      child.on('message', (m: WorkerMessage) => {
        // After the step-4 checkpoint's next step has started: kill in the middle of step 5.
        if (m.type === 'metrics') step = m.record.step;
        if (m.type === 'checkpoint' && m.step === 4) setTimeout(() => child.kill('SIGKILL'), 20);
      });
      child.on('exit', () => resolve(step));
    });
    assert.ok(killedAt >= 4 && killedAt < 6, `killed after step ${killedAt}`);
    assert.strictEqual(readSnapshot(crashDir).status, 'interrupted');

    const resumed = await new Promise<number | null>((resolve) => {
      const child = fork(WORKER, ['--resume', crashDir], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
      child.on('exit', (code) => resolve(code));
    });
    assert.strictEqual(resumed, 0);
    const expected = read<MetricsRecord>(path.join(wholeDir, 'metrics.jsonl'));
    const actual = latestPerStep(read<MetricsRecord>(path.join(crashDir, 'metrics.jsonl')));
    assert.deepStrictEqual(actual.map(deterministic), expected.map(deterministic));
    assert.strictEqual(readSnapshot(crashDir).status, 'completed');
  });

  it('bad inputs name the field or file and create no run', async () => {
    await assert.rejects(run({ configPath: writeConfig(tinyArithmetic({ rewards: [{ name: 'nope' }] })) }), /rewards\[0\]\.name: unknown built-in reward "nope"/);
    await assert.rejects(run({ configPath: writeConfig(tinyArithmetic({ model: { name_or_path: 'no-such-model' } })) }), /'no-such-model' is neither a preset/);
    await assert.rejects(run({ resumeDir: tmp }), /no config\.json|no checkpoint/);
  });

  it('a model too large for the backend is refused before its weights load, and the run records why', async () => {
    // Qwen2.5-0.5B-Instruct's config.json alone: the check must come before any weight is read.
    const model = path.join(tmp, 'Qwen2.5-0.5B-Instruct');
    fs.mkdirSync(model);
    fs.writeFileSync(path.join(model, 'config.json'), JSON.stringify({
      architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', vocab_size: 151936, hidden_size: 896, num_hidden_layers: 24,
      num_attention_heads: 14, num_key_value_heads: 2, intermediate_size: 4864, max_position_embeddings: 32768,
      rms_norm_eps: 1e-6, rope_theta: 1000000, tie_word_embeddings: true, eos_token_id: 151645,
    }));
    const started = Date.now();
    await assert.rejects(run({ configPath: writeConfig(tinyArithmetic({ model: { name_or_path: model } })) }),
      /model\.name_or_path: .*Qwen2\.5-0\.5B-Instruct has 494\.0 M parameters; training it needs about 13\.4 GiB .* the wasm backend holds/);
    assert.ok(Date.now() - started < 10000, 'refused up front, not after loading');
    const [runDir] = fs.readdirSync(tmp).filter((d) => d !== 'Qwen2.5-0.5B-Instruct').map((d) => path.join(tmp, d));
    const events = read<RunEvent>(path.join(runDir, 'events.jsonl'));
    assert.ok(events.some((e) => e.type === 'error' && /the wasm backend holds/.test(e.message)), JSON.stringify(events));
  });
});
