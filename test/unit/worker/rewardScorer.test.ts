import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { RewardFailure, RewardScorer } from '../../../src/worker/rewardScorer';

const example = (answer: string) => ({ id: answer, prompt: 'q', answer });

describe('reward scorer', () => {
  let dir: string;
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-scorer-'))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('uses the task defaults when the config lists no rewards', async () => {
    const scorer = await RewardScorer.load([], ['arithmetic_answer'], dir);
    assert.deepStrictEqual(scorer.names, ['arithmetic_answer']);
    const scored = await scorer.score(['7\n', '8'], [example('7'), example('7')], () => assert.fail('no failure expected'));
    assert.deepStrictEqual(scored.totals, [1, 0]);
    assert.strictEqual(scored.metrics['rewards/arithmetic_answer/mean'], 0.5);
  });

  it('weights and sums rewards, averages their extras, and turns failures into NaN with a report', async () => {
    fs.writeFileSync(path.join(dir, 'len.js'), "module.exports = (p, c) => { if (c === 'boom') throw new Error('no'); return { reward: c.length, short: c.length < 3 ? 1 : 0 }; };");
    const scorer = await RewardScorer.load([{ name: 'arithmetic_answer', weight: 2 }, { name: 'len', module: 'len.js', weight: 0.5 }], [], dir);
    const failures: RewardFailure[] = [];
    const scored = await scorer.score(['7', '1234', 'boom'], [example('7'), example('7'), example('7')], (f) => failures.push(f));
    assert.deepStrictEqual(scored.totals.slice(0, 2), [2 * 1 + 0.5 * 1, 2 * 0 + 0.5 * 4]);
    assert.ok(Number.isNaN(scored.totals[2]));
    assert.deepStrictEqual(scored.byFunction.arithmetic_answer, [1, 0, 0]);
    assert.deepStrictEqual(failures, [{ reward: 'len', message: 'no', prompt: 'q', completion: 'boom' }]);
    assert.strictEqual(scored.metrics['rewards/len/mean'], 2.5);
    assert.strictEqual(scored.metrics['rewards/len/short'], 0.5);
  });

  it('names an unknown built-in reward by its index', async () => {
    await assert.rejects(RewardScorer.load([{ name: 'a', weight: 1 }, { name: 'bogus', weight: 1 }], [], dir), /rewards\[0\]\.name: unknown built-in reward "a"/);
  });
});
