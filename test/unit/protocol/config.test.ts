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
  it('accepts every built-in example', () => {
    for (const file of fs.readdirSync(EXAMPLES).filter((f) => f.endsWith('.json'))) {
      const config = parseRunConfig(fs.readFileSync(path.join(EXAMPLES, file), 'utf8'), file);
      assert.ok(config.name, file);
    }
  });

  it('fills defaults for omitted optional fields', () => {
    const config = validateRunConfig({ name: 'x', task: { type: 'bandit' } });
    assert.strictEqual(config.seed, 42);
    assert.strictEqual(config.backend, 'auto');
    assert.deepStrictEqual(config.task, { type: 'bandit', words: ['apple', 'banana', 'cherry', 'date', 'elderberry'] });
    assert.deepStrictEqual(config.algorithm, { num_generations: 8, advantage_eps: 1e-6, scale_rewards: 'group', std_estimator: 'unbiased' });
    assert.deepStrictEqual(config.optimization, { optimizer: 'adam', learning_rate: 1e-3, max_steps: 50 });
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
      'backend: must be one of "auto", "tensorflow", "wasm", "cpu", got string "gpu"',
    ]);
  });

  it('reports missing required fields and an unknown task type', () => {
    assert.deepStrictEqual(problemsOf({}), ['name: required field is missing', 'task: required field is missing']);
    assert.deepStrictEqual(problemsOf({ name: 'x', task: { type: 'chess' } }), ['task.type: must be one of "bandit", got string "chess"']);
    assert.deepStrictEqual(problemsOf([]), ['(top level): expected a object, got an array']);
  });

  it('gives the file, line and column of a JSON syntax error', () => {
    assert.throws(() => parseRunConfig('{\n  "name": "x",\n  "task": }\n', 'cfg.json'), /^Error: cfg\.json:3:11: invalid JSON: ValueExpected/);
  });

  it('prefixes validation errors with the file name', () => {
    assert.throws(() => parseRunConfig('{"name":"x","task":{"type":"bandit"},"sed":1}', 'my.json'), /^SchemaError: my\.json: invalid run config:\n {2}- sed: unknown field \(did you mean "seed"\?\)/);
  });
});
