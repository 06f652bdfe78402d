import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  arithmeticAnswerReward,
  gsm8kAnswerReward,
  integerFormatReward,
  loadRewardModule,
  r1ZeroReward,
  unpackReward,
  checkRewardOutput,
  FLOAT32_MAX,
} from '../../../src/worker/tasks/rewards';

const example = { id: '1', prompt: 'q', answer: '72' };

describe('reward functions', () => {
  it('r1_zero: format and answer as CS336 r1_zero_reward_fn', () => {
    assert.deepStrictEqual(r1ZeroReward('', ' 48+24=72 </think> <answer> 72 </answer>', example), { reward: 1, format_reward: 1, answer_reward: 1 });
    assert.deepStrictEqual(r1ZeroReward('', ' x </think> <answer> \\boxed{72} </answer>', example), { reward: 1, format_reward: 1, answer_reward: 1 });
    assert.deepStrictEqual(r1ZeroReward('', ' x </think> <answer> 71 </answer>', example), { reward: 0, format_reward: 1, answer_reward: 0 });
    assert.deepStrictEqual(r1ZeroReward('', ' x </think><answer> 72 </answer>', example), { reward: 0, format_reward: 0, answer_reward: 0 });
    assert.deepStrictEqual(r1ZeroReward('', ' 72', example), { reward: 0, format_reward: 0, answer_reward: 0 });
  });

  it('gsm8k_answer takes the final number whatever the format', () => {
    assert.strictEqual(gsm8kAnswerReward('', 'so she has 72 apples', example), 1);
    assert.strictEqual(gsm8kAnswerReward('', '72 apples, no: 70', example), 0);
  });

  it('arithmetic rewards: exact first line, integer shape', () => {
    const sum = { id: '3+4=', prompt: '3+4=', answer: '7' };
    assert.strictEqual(arithmeticAnswerReward('', '7\n12', sum), 1);
    assert.strictEqual(arithmeticAnswerReward('', '77', sum), 0);
    assert.strictEqual(arithmeticAnswerReward('', '', sum), 0);
    assert.strictEqual(integerFormatReward('', '-12\n'), 1);
    assert.strictEqual(integerFormatReward('', '1a'), 0);
  });

  it('unpacks numbers and objects; rejects non-finite values', () => {
    assert.deepStrictEqual(unpackReward(0.5), { reward: 0.5, extras: {} });
    assert.deepStrictEqual(unpackReward({ reward: 1, format_reward: 1 }), { reward: 1, extras: { format_reward: 1 } });
    assert.throws(() => unpackReward(Number.NaN), /finite/);
    assert.throws(() => unpackReward(Infinity), /finite/);
    assert.throws(() => unpackReward({ score: 1 } as never), /reward must be/);
  });

  it('refuses rewards outside float32 and extras that are not finite numbers; null abstains', () => {
    // 3.4028234663852886e38 is the largest float32; 1e39 is finite in JavaScript but Infinity in a float32 tensor.
    assert.deepStrictEqual(unpackReward(-FLOAT32_MAX), { reward: -FLOAT32_MAX, extras: {} });
    assert.throws(() => unpackReward(1e39), /reward 1e\+39 is outside float32's range/);
    assert.throws(() => unpackReward({ reward: -1e39 }), /outside float32's range/);
    assert.throws(() => unpackReward({ reward: 1, note: 'x' } as never), /extra "note" is not a finite number: "x"/);
    assert.throws(() => unpackReward({ reward: 1, n: Infinity }), /extra "n" is not a finite number: Infinity/);
    assert.throws(() => unpackReward({ reward: 1, n: null } as never), /extra "n" is not a finite number: null/);
    assert.deepStrictEqual(checkRewardOutput('f', null), { kind: 'abstain' });
    assert.deepStrictEqual(checkRewardOutput('f', undefined), { kind: 'abstain' });
    assert.deepStrictEqual(checkRewardOutput('f', { reward: 2, a: 1 }), { kind: 'scored', reward: 2, extras: { a: 1 } });
    assert.throws(() => checkRewardOutput('f', 1e39), /^Error: reward function "f" returned an unusable value: reward 1e\+39/);
    assert.throws(() => checkRewardOutput('f', '1'), /reward function "f" returned an unusable value: reward must be a finite number or \{ reward: number, … \}, got "1"/);
  });

  describe('user reward modules', () => {
    let dir: string;
    before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-rm-'))));
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('loads a CommonJS module.exports function and an ES module default export', async () => {
      fs.writeFileSync(path.join(dir, 'len.js'), 'module.exports = (prompt, completion) => completion.length;');
      fs.writeFileSync(path.join(dir, 'async.mjs'), 'export default async (p, c, ex) => ({ reward: c === ex.answer ? 1 : 0, exact: 1 });');
      assert.strictEqual(await (await loadRewardModule('len.js', dir))('p', 'abc', example), 3);
      assert.deepStrictEqual(await (await loadRewardModule(path.join(dir, 'async.mjs'), '/'))('p', '72', example), { reward: 1, exact: 1 });
    });

    it('names the file when it cannot be loaded or exports no function', async () => {
      fs.writeFileSync(path.join(dir, 'obj.js'), 'module.exports = { score: 1 };');
      await assert.rejects(loadRewardModule('missing.js', dir), /cannot load reward module .*missing\.js/);
      await assert.rejects(loadRewardModule('obj.js', dir), /obj\.js must export a function/);
    });
  });
});
