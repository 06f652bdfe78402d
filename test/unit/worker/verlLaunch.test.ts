/**
 * Launching verl: the run config → verl's Hydra overrides (every key checked against verl's own config names,
 * test/fixtures/verl/ppo_trainer_keys.txt, flattened from verl/trainer/config/_generated_ppo_trainer.yaml at the
 * commit the mapping cites), refusals by field, the command line and its read-back, the dataset in verl's Parquet
 * layout read back with hyparquet, and the launch folder with its record.
 *
 * Regenerate the keys file: `git show <commit>:verl/trainer/config/_generated_ppo_trainer.yaml` in a verl clone,
 * then flatten the leaves with dots (PyYAML safe_load).
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parquetReadObjects } from 'hyparquet';
import { parseRayJobRecord, RunConfig, validateRunConfig } from '../../../src/protocol';
import { entrypointFromDocument, hydraValue, overrideValue, shellWords, verlCommandLine } from '../../../src/worker/verl/commandLine';
import { verlParquet, verlRows } from '../../../src/worker/verl/dataset';
import { jobRecord, prepareVerlLaunch, readJobRecords, submitRequest, writeJobRecord } from '../../../src/worker/verl/launch';
import { VERL_ENTRYPOINT, VerlJobPaths, VerlMappingError, verlOverrides } from '../../../src/worker/verl/overrides';

const FIXTURES = path.resolve(__dirname, '../../fixtures');
const VERL_KEYS = new Set(
  fs.readFileSync(path.join(FIXTURES, 'verl/ppo_trainer_keys.txt'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#')),
);

const PATHS: VerlJobPaths = {
  trainFile: '/shared/job/train.parquet',
  valFile: '/shared/job/test.parquet',
  rolloutDataDir: '/shared/job/rollouts',
  validationDataDir: '/shared/job/validation',
  checkpointDir: '/shared/job/checkpoints',
  rewardFile: '/shared/job/reward.py',
};

function config(overrides: Record<string, unknown> = {}, sections: Record<string, Record<string, unknown>> = {}): RunConfig {
  return validateRunConfig({
    name: 'verl-test',
    model: { name_or_path: 'Qwen/Qwen2.5-0.5B-Instruct' },
    task: { type: 'prompts', train_file: path.join(FIXTURES, 'prompts/rows.jsonl'), eval_split: 1 },
    rewards: [{ name: 'exact', module: path.join(FIXTURES, 'verl/reward.py') }],
    ...overrides,
    algorithm: { num_generations: 5, epsilon: 0.2, epsilon_high: 0.28, beta: 0.001, kl_estimator: 'low_var_kl', scale_rewards: 'none', loss_type: 'dapo', ...sections.algorithm },
    optimization: { learning_rate: 1e-6, max_steps: 30, prompts_per_step: 16, steps_per_generation: 2, micro_batch_size: 4, weight_decay: 0.01, ...sections.optimization },
    sampling: { max_prompt_length: 256, max_completion_length: 512, temperature: 0.9, top_k: 0, ...sections.sampling },
    evaluation: { eval_steps: 5, ...sections.evaluation },
    checkpointing: { save_steps: 10, save_total_limit: 0, ...sections.checkpointing },
  }, 'verl-test.json');
}

function overrideMap(c: RunConfig): Map<string, unknown> {
  return new Map(verlOverrides(c, PATHS).overrides.map((o) => [o.key, o.value]));
}

function problemsOf(c: RunConfig): string[] {
  try {
    verlOverrides(c, PATHS);
  } catch (err) {
    assert.ok(err instanceof VerlMappingError, String(err));
    return err.problems;
  }
  return assert.fail('the config was accepted');
}

describe('verl launch: run config → verl overrides', () => {
  it('maps the issue\'s fields to verl\'s names and values', () => {
    const o = overrideMap(config());
    const expected: Record<string, unknown> = {
      'algorithm.adv_estimator': 'grpo',
      'actor_rollout_ref.rollout.n': 5,
      'actor_rollout_ref.actor.clip_ratio_low': 0.2,
      'actor_rollout_ref.actor.clip_ratio_high': 0.28,
      'actor_rollout_ref.actor.use_kl_loss': true,
      'actor_rollout_ref.actor.kl_loss_coef': 0.001,
      'actor_rollout_ref.actor.kl_loss_type': 'low_var_kl',
      'actor_rollout_ref.actor.loss_agg_mode': 'token-mean',
      'algorithm.norm_adv_by_std_in_grpo': false,
      'actor_rollout_ref.actor.optim.lr': 1e-6,
      'actor_rollout_ref.actor.optim.weight_decay': 0.01,
      'data.train_batch_size': 16,
      // 2 optimizer steps per generation: mini-batches of 8 prompts; 30 of our steps are 15 verl steps.
      'actor_rollout_ref.actor.ppo_mini_batch_size': 8,
      'trainer.total_training_steps': 15,
      'actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu': 4,
      'data.max_prompt_length': 256,
      'data.max_response_length': 512,
      'actor_rollout_ref.model.path': 'Qwen/Qwen2.5-0.5B-Instruct',
      'actor_rollout_ref.rollout.temperature': 0.9,
      'actor_rollout_ref.rollout.top_k': -1,
      'trainer.test_freq': 5,
      'trainer.save_freq': 10,
      'trainer.max_actor_ckpt_to_keep': null,
      'trainer.rollout_data_dir': '/shared/job/rollouts',
      'trainer.validation_data_dir': '/shared/job/validation',
      'trainer.logger': ['console', 'file'],
      'custom_reward_function.path': '/shared/job/reward.py',
      'custom_reward_function.name': 'compute_score',
      'data.train_files': '/shared/job/train.parquet',
      'data.val_files': '/shared/job/test.parquet',
    };
    for (const [key, value] of Object.entries(expected)) assert.deepStrictEqual(o.get(key), value, key);
  });

  it('emits only keys that verl\'s ppo_trainer config has', () => {
    const lora = config({ model: { name_or_path: 'Qwen/Qwen2.5-0.5B-Instruct', lora: { r: 16, lora_alpha: 32, target_modules: ['q_proj', 'v_proj'] } } }, {
      algorithm: { loss_type: 'cispo', cispo_clip: 'verl', use_kl_in_reward: true, loss_scale_factor: 512 },
    });
    for (const c of [config(), lora, config({}, { algorithm: { importance_sampling_level: 'sequence_token', clip_ratio_c: 3 } })]) {
      for (const { key } of verlOverrides(c, PATHS).overrides) assert.ok(VERL_KEYS.has(key), `${key} is not a key of verl's ppo_trainer config`);
    }
    const o = overrideMap(lora);
    assert.strictEqual(o.get('actor_rollout_ref.actor.policy_loss.loss_mode'), 'cispo');
    assert.strictEqual(o.get('actor_rollout_ref.model.lora_rank'), 16);
    assert.deepStrictEqual(o.get('actor_rollout_ref.model.target_modules'), ['q_proj', 'v_proj']);
    assert.strictEqual(o.get('algorithm.kl_ctrl.kl_coef'), 0.001);
  });

  it('loss_type and scale_rewards: each to verl\'s aggregation and std switch; beta 0 turns the KL loss off', () => {
    assert.strictEqual(overrideMap(config({}, { algorithm: { loss_type: 'grpo' } })).get('actor_rollout_ref.actor.loss_agg_mode'), 'seq-mean-token-mean');
    assert.strictEqual(overrideMap(config({}, { algorithm: { loss_type: 'dr_grpo' } })).get('actor_rollout_ref.actor.loss_agg_mode'), 'seq-mean-token-sum-norm');
    assert.strictEqual(overrideMap(config({}, { algorithm: { loss_agg_mode: 'seq-mean-token-sum' } })).get('actor_rollout_ref.actor.loss_agg_mode'), 'seq-mean-token-sum');
    assert.strictEqual(overrideMap(config({}, { algorithm: { scale_rewards: 'group' } })).get('algorithm.norm_adv_by_std_in_grpo'), true);
    const noKl = overrideMap(config({}, { algorithm: { beta: 0, kl_estimator: 'k3' } }));
    assert.strictEqual(noKl.get('actor_rollout_ref.actor.use_kl_loss'), false);
    assert.ok(!noKl.has('actor_rollout_ref.actor.kl_loss_coef'));
  });

  it('refuses every field verl lacks, each by name, all at once', () => {
    const refused = config({ rewards: [{ name: 'r1_zero' }, { name: 'js', module: path.join(FIXTURES, 'verl/reward.js') }], model: { name_or_path: 'tiny' } }, {
      algorithm: { scale_rewards: 'batch', std_estimator: 'population', kl_estimator: 'k3', mask_truncated_completions: true, top_entropy_quantile: 0.2, filter_groups: { enable: true }, gamma: 0.9, importance_sampling_level: 'sequence' },
      optimization: { lr_scheduler_type: 'linear', max_grad_norm: 0, max_steps: 31 },
      sampling: { stop: ['\n\n'] },
      evaluation: { success: { reward: 'js', threshold: 1 } },
    });
    delete refused.sampling.max_prompt_length;
    const problems = problemsOf(refused);
    const fields = problems.map((p) => p.slice(0, p.indexOf(':')));
    assert.deepStrictEqual(fields.sort(), [
      'algorithm.filter_groups.enable', 'algorithm.gamma', 'algorithm.importance_sampling_level', 'algorithm.kl_estimator', 'algorithm.mask_truncated_completions',
      'algorithm.scale_rewards', 'algorithm.std_estimator', 'algorithm.top_entropy_quantile',
      'evaluation.success', 'model.name_or_path', 'optimization.lr_scheduler_type', 'optimization.max_grad_norm', 'optimization.max_steps',
      'rewards[0].name', 'rewards[1].module', 'sampling.max_prompt_length', 'sampling.stop',
    ]);
    const js = problems.find((p) => p.startsWith('rewards[1].module'));
    assert.match(js ?? '', /JavaScript reward; verl calls a Python function compute_score\(data_source, solution_str, ground_truth, extra_info\)/);
    assert.match(problems.find((p) => p.startsWith('algorithm.kl_estimator')) ?? '', /set kl_estimator "low_var_kl"/);
  });

  it('no reward, two Python rewards, SFT warm start, process supervision: refused', () => {
    assert.match(problemsOf(config({ rewards: [], task: { type: 'arithmetic' } })).join('\n'), /^rewards: verl needs a Python reward file/);
    const two = config({ rewards: [{ name: 'a', module: 'a.py' }, { name: 'b', module: 'b.py' }] });
    assert.match(problemsOf(two).join('\n'), /rewards: 2 Python reward files/);
    assert.match(problemsOf(config({ sft: { steps: 5 } })).join('\n'), /sft\.steps: 5: verl's SFT is a separate trainer/);
    assert.match(problemsOf(config({}, { algorithm: { supervision: 'process' } })).join('\n'), /algorithm\.supervision: "process": verl's GRPO estimator takes one outcome score/);
  });

  it('without held-out rows: the training file as val_files (verl always builds one) and validation off', () => {
    const { overrides, notes } = verlOverrides(config(), { ...PATHS, valFile: undefined });
    const o = new Map(overrides.map((x) => [x.key, x.value]));
    assert.strictEqual(o.get('data.val_files'), PATHS.trainFile);
    assert.strictEqual(o.get('trainer.test_freq'), -1);
    assert.strictEqual(o.get('trainer.val_before_train'), false);
    assert.ok(notes.includes('evaluation.eval_steps 5: the task holds out no validation rows, so the job does not validate'), notes.join('\n'));
  });

  it('notes where verl differs at our defaults instead of refusing', () => {
    const { notes } = verlOverrides(config({}, { algorithm: { advantage_eps: 1e-4 } }), PATHS);
    assert.ok(notes.some((n) => n.startsWith('algorithm.advantage_eps 0.0001: verl\'s GRPO adds a fixed 1e-6')), notes.join('\n'));
    assert.ok(notes.some((n) => n.startsWith('algorithm.clip_ratio_c unset')));
    assert.match(problemsOf(config({}, { algorithm: { advantage_eps: 0.01 } })).join('\n'), /algorithm\.advantage_eps: 0\.01/);
  });
});

describe('verl launch: the command line', () => {
  it('quotes Hydra strings that would read as numbers, lists and paths with spaces, and reads them back', () => {
    assert.strictEqual(hydraValue('1e3'), "'1e3'");
    assert.strictEqual(hydraValue('true'), "'true'");
    assert.strictEqual(hydraValue(['console', 'file']), '[console,file]');
    assert.strictEqual(hydraValue([0.9, 0.999]), '[0.9,0.999]');
    assert.strictEqual(hydraValue(null), 'null');
    const command = verlCommandLine([
      { key: 'trainer.experiment_name', value: '1e3', from: 'name' },
      { key: 'trainer.rollout_data_dir', value: "/mnt/shared dir/it's", from: 'launcher' },
      { key: 'trainer.logger', value: ['console', 'file'], from: 'launcher' },
    ]);
    assert.ok(command.startsWith(`${VERL_ENTRYPOINT} \\\n`));
    const entrypoint = entrypointFromDocument(`# a comment\n${command}\n`);
    assert.ok(!entrypoint.includes('\n') && !entrypoint.includes('#'));
    assert.deepStrictEqual(shellWords(entrypoint).slice(3), ["trainer.experiment_name='1e3'", "trainer.rollout_data_dir='/mnt/shared dir/it\\'s'", 'trainer.logger=[console,file]']);
    assert.strictEqual(overrideValue(entrypoint, 'trainer.rollout_data_dir'), "/mnt/shared dir/it's");
    assert.strictEqual(overrideValue(entrypoint, 'trainer.experiment_name'), '1e3');
    assert.strictEqual(overrideValue(entrypoint, 'trainer.nnodes'), undefined);
  });

  it('an edited command: the last value of a key wins; an unterminated quote or an empty document is an error', () => {
    assert.strictEqual(overrideValue('python3 -m x a.b=1 "a.b=two words" +c=3', 'a.b'), 'two words');
    assert.strictEqual(overrideValue('python3 -m x +c=3', 'c'), '3');
    assert.throws(() => shellWords("python3 -m x a='open"), /unterminated ' quote at character 16/);
    assert.throws(() => entrypointFromDocument('# only\n# comments\n'), /empty: nothing to submit/);
    assert.throws(() => entrypointFromDocument("python3 -m x \\\n  a='open \\\n  b=1\n"), /unterminated ' quote/);
  });
});

describe('verl launch: dataset in verl\'s Parquet layout', () => {
  it('rows as verl\'s gsm8k preprocessing writes them, read back with hyparquet', async () => {
    const rows = verlRows([
      { id: '101', prompt: 'What is 2+3?', answer: '5', columns: { difficulty: 2, tag: 'math', meta: { a: 1 } } },
      { id: 'c1', prompt: '', messages: [{ role: 'system', content: 'One word.' }, { role: 'user', content: 'Sky?' }], answer: 'blue', columns: { difficulty: null, tag: 'sky', meta: 'x', data_source: 'my/source' } },
    ], 'train', 'prompts');
    const bytes = verlParquet(rows);
    const read = await parquetReadObjects({ file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer });
    assert.deepStrictEqual(read.map((r) => Object.keys(r)), [['data_source', 'prompt', 'ability', 'reward_model', 'extra_info'], ['data_source', 'prompt', 'ability', 'reward_model', 'extra_info']]);
    assert.deepStrictEqual(read[0].prompt, [{ role: 'user', content: 'What is 2+3?' }]);
    assert.deepStrictEqual(read[1].prompt, [{ role: 'system', content: 'One word.' }, { role: 'user', content: 'Sky?' }]);
    assert.deepStrictEqual(read[0].reward_model, { style: 'rule', ground_truth: '5' });
    assert.strictEqual(read[0].data_source, 'grpo-studio/prompts');
    assert.strictEqual(read[1].data_source, 'my/source');
    assert.strictEqual(read[0].ability, 'prompts');
    // extra_info: our split, index (INT64, as pandas writes it) and id, then the row's columns; a column of mixed
    // types is text, JSON for the non-strings.
    assert.deepStrictEqual(read[0].extra_info, { index: 0n, split: 'train', id: '101', difficulty: 2, tag: 'math', meta: '{"a":1}' });
    assert.deepStrictEqual(read[1].extra_info, { index: 1n, split: 'train', id: 'c1', difficulty: null, tag: 'sky', meta: 'x' });
  });
});

describe('verl launch: the job folder and its record', () => {
  let shared: string;
  beforeEach(() => {
    shared = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-verl-'));
  });
  afterEach(() => fs.rmSync(shared, { recursive: true, force: true }));

  it('writes the dataset and reward file, the reviewed command becomes the submit request and the record', async () => {
    const configPath = path.join(FIXTURES, 'verl/config.json');
    const c = config({ task: { type: 'prompts', train_file: '../prompts/rows.jsonl', eval_split: 1 }, rewards: [{ name: 'exact', module: 'reward.py' }] });
    const now = new Date('2026-12-01T05:00:00.123Z');
    const plan = await prepareVerlLaunch(configPath, c, shared, { now });
    assert.strictEqual(plan.submissionId, 'grpo-verl-test-20261201T050000Z');
    assert.strictEqual(plan.jobDir, path.join(shared, plan.submissionId));
    assert.deepStrictEqual(fs.readdirSync(plan.jobDir).sort(), ['checkpoints', 'reward.py', 'rollouts', 'test.parquet', 'train.parquet', 'validation']);
    assert.strictEqual(fs.readFileSync(path.join(plan.jobDir, 'reward.py'), 'utf8'), fs.readFileSync(path.join(FIXTURES, 'verl/reward.py'), 'utf8'));
    const trainBytes = fs.readFileSync(plan.paths.trainFile);
    const train = await parquetReadObjects({ file: trainBytes.buffer.slice(trainBytes.byteOffset, trainBytes.byteOffset + trainBytes.byteLength) as ArrayBuffer });
    // rows.jsonl has 4 rows; eval_split 1 holds one out.
    assert.strictEqual(train.length, 3);
    assert.match(plan.document, /^# verl GRPO job from /);
    assert.match(plan.document, /Where verl differs from the run config:/);

    // The user moves the rollouts elsewhere in the review document: the record follows the command.
    const edited = plan.document.replace(`trainer.rollout_data_dir=${plan.paths.rolloutDataDir}`, 'trainer.rollout_data_dir=/elsewhere/rollouts');
    const entrypoint = entrypointFromDocument(edited);
    const request = submitRequest(plan, entrypoint);
    assert.strictEqual(request.submission_id, plan.submissionId);
    assert.deepStrictEqual(request.runtime_env, { env_vars: { VERL_FILE_LOGGER_PATH: path.join(plan.jobDir, 'metrics.jsonl') } });
    const record = jobRecord(plan, 'http://head:8265', plan.submissionId, entrypoint, now);
    assert.strictEqual(record.rollout_data_dir, '/elsewhere/rollouts');
    assert.strictEqual(record.validation_data_dir, plan.paths.validationDataDir);
    assert.strictEqual(record.metrics_file, path.join(plan.jobDir, 'metrics.jsonl'));
    const file = writeJobRecord(record);
    assert.deepStrictEqual(parseRayJobRecord(fs.readFileSync(file, 'utf8'), file), record);
    assert.deepStrictEqual(readJobRecords(shared), { records: [record], problems: [] });
  });

  it('a refused config writes nothing; a broken record is reported with its file and field', async () => {
    const c = config({ rewards: [{ name: 'js', module: path.join(FIXTURES, 'verl/reward.js') }] });
    await assert.rejects(prepareVerlLaunch(path.join(FIXTURES, 'verl/config.json'), c, shared), /rewards\[0\]\.module: ".*reward\.js" is a JavaScript reward/);
    assert.deepStrictEqual(fs.readdirSync(shared), []);
    await assert.rejects(prepareVerlLaunch('config.json', c, 'relative/dir'), /grpo\.ray\.sharedDirectory: "relative\/dir" must be an absolute path/);
    fs.mkdirSync(path.join(shared, 'job'));
    fs.writeFileSync(path.join(shared, 'job', 'ray-job.json'), JSON.stringify({ format: 'verl', version: 1, submission_id: 'x' }));
    const { records, problems } = readJobRecords(shared);
    assert.deepStrictEqual(records, []);
    assert.deepStrictEqual(problems, [`${path.join(shared, 'job', 'ray-job.json')}: address: expected a non-empty string, found undefined`]);
  });
});
