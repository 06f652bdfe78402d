import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { parseRunConfig, SchemaError, validateRunConfig } from '../../../src/protocol';

const EXAMPLES = path.resolve(__dirname, '../../../examples');

function problemsOf(raw: unknown): string[] {
  try {
    validateRunConfig(raw, 'test.json');
  } catch (err) {
    assert.ok(err instanceof SchemaError, `expected a SchemaError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('config was accepted');
}

describe('run config validation', () => {
  it('accepts every built-in example and template', () => {
    const files = [...fs.readdirSync(EXAMPLES).map((f) => path.join(EXAMPLES, f)), ...fs.readdirSync(path.join(EXAMPLES, 'templates')).map((f) => path.join(EXAMPLES, 'templates', f))];
    const configs = files.filter((f) => f.endsWith('.json'));
    assert.ok(configs.length >= 3);
    for (const file of configs) assert.ok(parseRunConfig(fs.readFileSync(file, 'utf8'), file).name, file);
  });

  it('fills defaults for omitted optional fields', () => {
    const config = validateRunConfig({ name: 'x', task: { type: 'bandit' } });
    assert.strictEqual(config.seed, 42);
    assert.strictEqual(config.backend, 'auto');
    assert.deepStrictEqual(config.task, { type: 'bandit', words: ['apple', 'banana', 'cherry', 'date', 'elderberry'] });
    assert.deepStrictEqual(config.rewards, []);
    assert.deepStrictEqual(config.algorithm, {
      num_generations: 8, advantage_eps: 1e-4, scale_rewards: 'group', std_estimator: 'unbiased', loss_type: 'grpo', epsilon: 0.2,
      beta: 0, use_kl_in_reward: false, kl_penalty: 'kl', kl_ctrl: { type: 'fixed', kl_coef: 0.001, target_kl: 0.1, horizon: 10000 },
      kl_estimator: 'k3', kl_log_ratio_clamp: 20, kl_value_clamp: 10, num_iterations: 1, supervision: 'outcome', gamma: 1, ref_model_sync_steps: 0,
      importance_sampling_level: 'token', cispo_clip: 'trl', mask_truncated_completions: false, top_entropy_quantile: 1,
      filter_groups: { enable: false, max_num_gen_batches: 0 },
    });
    assert.strictEqual(config.algorithm.epsilon_high, undefined);
    assert.strictEqual(config.optimization.optimizer, 'adam');
    assert.strictEqual(config.optimization.max_steps, 50);
    assert.deepStrictEqual(config.sampling, { max_completion_length: 64, temperature: 1, top_p: 1, top_k: 0, stop: [], stop_token_ids: [] });
    assert.deepStrictEqual(config.evaluation, { eval_steps: 10, n: 1 });
    assert.deepStrictEqual(config.sft, { steps: 0, learning_rate: 3e-3, batch_size: 32 });
    assert.deepStrictEqual(config.checkpointing, { save_steps: 25, save_total_limit: 2 });
    assert.strictEqual(config.model, undefined);
  });

  it('clip_ratio_c (verl) and delta (TRL) are one bound: off by default, must agree, delta ≥ 1 + epsilon_high', () => {
    const base = { name: 'x', task: { type: 'bandit' } };
    const config = validateRunConfig(base);
    assert.strictEqual(config.algorithm.clip_ratio_c, undefined);
    assert.strictEqual(config.algorithm.delta, undefined);
    assert.strictEqual(validateRunConfig({ ...base, algorithm: { clip_ratio_c: 3, delta: 3 } }).algorithm.delta, 3);
    assert.match(problemsOf({ ...base, algorithm: { clip_ratio_c: 3, delta: 4 } }).join('\n'), /same bound.*set one/);
    assert.match(problemsOf({ ...base, algorithm: { delta: 1.1, epsilon_high: 0.28 } }).join('\n'), /delta: 1.1 must be ≥ 1 \+ epsilon_high \(1.28\)/);
    assert.ok(problemsOf({ ...base, algorithm: { clip_ratio_c: 1 } }).length > 0, 'c must be > 1');
  });

  it('names an unknown field and suggests the close one', () => {
    const problems = problemsOf({ name: 'x', task: { type: 'bandit' }, algorithm: { num_generation: 4 } });
    assert.deepStrictEqual(problems, ['algorithm.num_generation: unknown field (did you mean "num_generations"?)']);
  });

  it('names ill-typed fields, all at once', () => {
    const problems = problemsOf({ name: 'x', seed: 1.5, task: { type: 'bandit', words: ['a', 3] }, optimization: { learning_rate: '0.1' } });
    assert.deepStrictEqual(problems, [
      'seed: expected an integer, got number 1.5',
      'task.words[1]: expected a string, got number 3',
      'optimization.learning_rate: expected a number, got string "0.1"',
    ]);
  });

  it('rejects out-of-range values and bad enums', () => {
    const problems = problemsOf({ name: 'bad name', task: { type: 'bandit' }, algorithm: { num_generations: 1, scale_rewards: 'std' }, backend: 'gpu' });
    assert.deepStrictEqual(problems, [
      'name: "bad name" does not match ^[A-Za-z0-9._-]+$',
      'algorithm.num_generations: must be ≥ 2, got 1',
      'algorithm.scale_rewards: must be one of "group", "batch", "none", got string "std"',
      'backend: must be one of "auto", "tensorflow", "webgpu", "wasm", "cpu", got string "gpu"',
    ]);
  });

  it('reads a config saved with a UTF-8 byte-order mark', () => {
    assert.strictEqual(parseRunConfig('\uFEFF{"name": "bom", "task": {"type": "bandit"}}', 'bom.json').name, 'bom');
  });

  it('rejects a repeated operation (it would make fewer distinct problems than the range promises)', () => {
    assert.deepStrictEqual(problemsOf({ name: 'x', task: { type: 'arithmetic', operations: ['+', '+'] } }), ['task.operations: "+" is listed more than once']);
  });

  it('reports missing required fields and an unknown task type', () => {
    assert.deepStrictEqual(problemsOf({}), ['name: required field is missing', 'task: required field is missing']);
    assert.deepStrictEqual(problemsOf({ name: 'x', task: { type: 'chess' } }), ['task.type: must be one of "bandit", "arithmetic", "gsm8k", "prompts", got string "chess"']);
    assert.deepStrictEqual(problemsOf({ name: 'x', task: { type: 'gsm8k' } }), ['task.train_file: required field is missing', 'task.eval_file: required field is missing']);
    assert.deepStrictEqual(problemsOf([]), ['(top level): expected a object, got an array']);
  });

  it('checks fields against each other', () => {
    assert.deepStrictEqual(problemsOf({ name: 'x', task: { type: 'arithmetic' } }), ['model: required for task "arithmetic" (a preset such as "tiny", or a checkpoint folder)']);
    assert.deepStrictEqual(problemsOf({ name: 'x', task: { type: 'bandit' }, model: { name_or_path: 'tiny' } }), ['model: the bandit task has its own policy (logits over its words); remove "model"']);
    assert.deepStrictEqual(problemsOf({ name: 'x', model: { name_or_path: 'tiny' }, task: { type: 'arithmetic', min_operand: 9, max_operand: 2 }, rewards: [{ name: 'a' }, { name: 'a', module: 'r.js' }] }), [
      'task.min_operand: 9 is larger than task.max_operand (2)',
      'rewards[1].name: "a" is used twice',
    ]);
    assert.deepStrictEqual(problemsOf({ name: 'x', model: { name_or_path: 'tiny' }, task: { type: 'arithmetic' }, optimization: { optimizer: 'sgd' }, algorithm: { supervision: 'process', scale_rewards: 'batch' } }), [
      'optimization.optimizer: language models train with Adam(W) ("adam"); "sgd" is for the bandit',
      'algorithm.scale_rewards: process supervision normalises per group (and position); use "group" or "none"',
    ]);
    assert.deepStrictEqual(problemsOf({ name: 'x', model: { name_or_path: 'tiny' }, task: { type: 'arithmetic' }, optimization: { data_parallel: true }, algorithm: { beta: 0.1, kl_estimator: 'full' } }), [
      'optimization.data_parallel: the threads exchange per-token values only, and the exact KL needs the full logits; use kl_estimator "k3" or turn data_parallel off',
    ]);
  });

  it('optimization.data_parallel: "auto" by default, true, false or "auto"; only an explicit true is refused with the exact KL', () => {
    const exactKl = { name: 'x', model: { name_or_path: 'tiny' }, task: { type: 'arithmetic' }, algorithm: { beta: 0.1, kl_estimator: 'full' } };
    assert.strictEqual(validateRunConfig(exactKl).optimization.data_parallel, 'auto', 'the default: auto falls back to the thread pool here');
    assert.strictEqual(validateRunConfig({ ...exactKl, optimization: { data_parallel: 'auto' } }).optimization.data_parallel, 'auto');
    assert.strictEqual(validateRunConfig({ ...exactKl, optimization: { data_parallel: false } }).optimization.data_parallel, false);
    assert.deepStrictEqual(problemsOf({ ...exactKl, optimization: { data_parallel: 'yes' } }), ['optimization.data_parallel: must be one of true, false, "auto", got string "yes"']);
  });

  it('prompts task: defaults, file extensions, split options and rewards are checked', () => {
    const base = { name: 'x', model: { name_or_path: 'tiny' }, rewards: [{ name: 'mine', module: 'r.js' }] };
    const config = validateRunConfig({ ...base, task: { type: 'prompts', train_file: 'd.csv' } });
    assert.deepStrictEqual(config.task, { type: 'prompts', train_file: 'd.csv', max_train: 0, max_eval: 200 });
    for (const file of ['d.jsonl', 'd.json', 'd.csv', 'd.parquet', 'd.JSONL.gz', 'd.csv.gz']) validateRunConfig({ ...base, task: { type: 'prompts', train_file: file } });
    assert.deepStrictEqual(problemsOf({ ...base, task: { type: 'prompts', train_file: 'd.tsv', eval_file: 'e.parquet.gz' } }), [
      'task.train_file: "d.tsv" must end in .jsonl, .json, .csv (each optionally .gz) or .parquet',
      'task.eval_file: "e.parquet.gz" must end in .jsonl, .json, .csv (each optionally .gz) or .parquet',
    ]);
    assert.deepStrictEqual(problemsOf({ ...base, task: { type: 'prompts', train_file: 'd.csv', eval_file: 'e.csv', eval_split: 0.2, split_seed: 3, field: 'data' } }), [
      'task.eval_split: there is a task.eval_file to validate on; remove one of them',
      'task.split_seed: only for a held-out split (there is a task.eval_file)',
      'task.field: only for .json files ("d.csv", "e.csv" is not one)',
    ]);
    assert.deepStrictEqual(problemsOf({ ...base, task: { type: 'prompts', train_file: 'd.json', eval_split: 2.5 } }), ['task.eval_split: 2.5 is neither a fraction below 1 nor a whole number of rows']);
    assert.deepStrictEqual(problemsOf({ ...base, rewards: [], task: { type: 'prompts', train_file: 'd.json' } }), ['rewards: the prompts task has no default reward; list at least one (a built-in name, or a "module" of your own)']);
  });

  it('evaluation: n, greedy and success are checked against each other and the rewards', () => {
    const arithmetic = { name: 'x', model: { name_or_path: 'tiny' }, task: { type: 'arithmetic' } };
    const config = validateRunConfig({ ...arithmetic, evaluation: { n: 4, success: { reward: 'arithmetic_answer', threshold: 1 } } });
    assert.deepStrictEqual(config.evaluation, { eval_steps: 10, n: 4, success: { reward: 'arithmetic_answer', threshold: 1 } });
    assert.deepStrictEqual(problemsOf({ ...arithmetic, evaluation: { n: 4, greedy: true, success: { reward: 'r1_zero', threshold: 1 } } }), [
      'evaluation.greedy: greedy decoding would give 4 identical samples per prompt; with evaluation.n > 1 set greedy to false or leave it out (then validation samples at sampling.temperature)',
      'evaluation.success.reward: "r1_zero" is not one of the run\'s rewards ("arithmetic_answer")',
    ]);
    assert.deepStrictEqual(problemsOf({ ...arithmetic, rewards: [{ name: 'mine', module: 'm.js' }], evaluation: { success: { reward: 'arithmetic_answer' } } }), ['evaluation.success.threshold: required field is missing']);
    assert.deepStrictEqual(problemsOf({ ...arithmetic, rewards: [{ name: 'mine', module: 'm.js' }], evaluation: { success: { reward: 'arithmetic_answer', threshold: 1 } } }), [
      'evaluation.success.reward: "arithmetic_answer" is not one of the run\'s rewards ("mine")',
    ]);
    assert.deepStrictEqual(problemsOf({ name: 'x', task: { type: 'bandit' }, evaluation: { success: { reward: 'a', threshold: 1 } } }), ['evaluation.success: the bandit task has no validation']);
    assert.deepStrictEqual(problemsOf({ ...arithmetic, evaluation: { n: 0 } }), ['evaluation.n: must be ≥ 1, got 0']);
  });

  it('Ajv: every section\'s problems at once, defaults inside the chosen task type, a task that is no object, $schema for editors', () => {
    assert.deepStrictEqual(problemsOf({ name: 'x', task: { type: 'gsm8k', train_file: '', max_eval: -1 }, sampling: { top_p: 0, stop: [''] }, checkpointing: { save_step: 1 }, rewards: [{ weight: 'high' }] }), [
      'task.train_file: must have at least 1 character(s)',
      'task.max_eval: must be ≥ 0, got -1',
      'task.eval_file: required field is missing',
      'sampling.top_p: must be > 0, got 0',
      'sampling.stop[0]: must have at least 1 character(s)',
      'checkpointing.save_step: unknown field (did you mean "save_steps"?)',
      'rewards[0].weight: expected a number, got string "high"',
      'rewards[0].name: required field is missing',
    ]);
    const config = validateRunConfig({ $schema: '../dist/run-config.schema.json', name: 'x', model: { name_or_path: 'tiny' }, task: { type: 'gsm8k', train_file: 't.jsonl', eval_file: 'e.jsonl' } });
    assert.deepStrictEqual(config.task, { type: 'gsm8k', train_file: 't.jsonl', eval_file: 'e.jsonl', prompt_template: 'r1_zero', max_train: 0, max_eval: 200 });
    assert.ok(!('$schema' in config));
    assert.deepStrictEqual(problemsOf({ name: 'x', task: 5 }), ['task: expected a object, got number 5']);
    assert.deepStrictEqual(problemsOf({ name: 'x', task: {} }), ['task.type: must be one of "bandit", "arithmetic", "gsm8k", "prompts", got nothing']);
    assert.deepStrictEqual(problemsOf({ name: 'x', task: { type: 'bandit' }, seed: Number.NaN }), ['seed: expected an integer, got number NaN']);
  });

  it('gives the file, line and column of a JSON syntax error', () => {
    assert.throws(() => parseRunConfig('{\n  "name": "x",\n  "task": }\n', 'cfg.json'), /^Error: cfg\.json:3:11: invalid JSON: ValueExpected/);
  });

  it('prefixes validation errors with the file name', () => {
    assert.throws(() => parseRunConfig('{"name":"x","task":{"type":"bandit"},"sed":1}', 'my.json'), /^SchemaError: my\.json: invalid run config:\n {2}- sed: unknown field \(did you mean "seed"\?\)/);
  });
});
