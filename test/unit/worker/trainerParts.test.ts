import * as assert from 'assert';
import * as path from 'path';
import { validateRunConfig } from '../../../src/protocol';
import { learningRateAt } from '../../../src/worker/grpoTrainer';
import { fillFailedRewards } from '../../../src/worker/rewardScorer';
import { resolveConfigPaths } from '../../../src/worker/train';

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);

describe('trainer parts', () => {
  it('learning rate: linear warm-up, then constant, linear or cosine decay', () => {
    close(learningRateAt(0, 100, 1, 4, 'constant'), 0.25);
    close(learningRateAt(3, 100, 1, 4, 'constant'), 1);
    close(learningRateAt(50, 100, 1, 0, 'constant'), 1);
    close(learningRateAt(0, 100, 1, 0, 'linear'), 1);
    close(learningRateAt(50, 100, 1, 0, 'linear'), 0.5);
    close(learningRateAt(100, 100, 1, 0, 'linear'), 0);
    close(learningRateAt(50, 100, 2, 0, 'cosine'), 1);
    close(learningRateAt(14, 24, 1, 4, 'cosine'), 0.5); // halfway through the 20 decay steps
  });

  it('a failed sample takes its group mean of finite rewards (advantage 0); an all-failed group becomes 0', () => {
    assert.deepStrictEqual(fillFailedRewards([1, Number.NaN, 0, 1, Number.NaN, Number.NaN], 3), [1, 0.5, 0, 1, 1, 1]);
    assert.deepStrictEqual(fillFailedRewards([Number.NaN, Number.NaN], 2), [0, 0]);
  });

  it('resolves config paths against the config file and leaves presets alone', () => {
    const config = validateRunConfig({
      name: 'x',
      model: { name_or_path: 'tiny' },
      task: { type: 'gsm8k', train_file: 'data/train.jsonl', eval_file: '/abs/test.jsonl' },
      rewards: [{ name: 'mine', module: 'rewards/mine.js' }, { name: 'r1_zero' }],
    });
    const resolved = resolveConfigPaths(config, '/cfg');
    assert.strictEqual(resolved.model?.name_or_path, 'tiny');
    assert.ok(resolved.task.type === 'gsm8k');
    assert.strictEqual(resolved.task.train_file, path.resolve('/cfg/data/train.jsonl'));
    assert.strictEqual(resolved.task.eval_file, '/abs/test.jsonl');
    assert.strictEqual(resolved.rewards[0].module, path.resolve('/cfg/rewards/mine.js'));
    assert.strictEqual(resolved.rewards[1].module, undefined);
    assert.strictEqual((config.task as { train_file: string }).train_file, 'data/train.jsonl', 'the input is not modified');
  });
});
