import * as assert from 'assert';
import * as os from 'os';
import { validateRunConfig } from '../../../src/protocol';
import { RewardScorer } from '../../../src/worker/rewardScorer';
import { softOverlongPunishment } from '../../../src/worker/tasks/overlong';

const example = { id: 'a', prompt: 'q', answer: '' };

describe('soft_overlong_punishment (DAPO Eq. 13, TRL get_soft_overlong_punishment)', () => {
  it('0 up to L_max − L_cache, linear to −1 at L_max, −1 beyond (hand-computed)', () => {
    const params = { max_completion_len: 100, soft_punish_cache: 20 };
    // TRL's docstring example: 90 tokens of 100 with a cache of 20 → (80 − 90)/20 = −0.5.
    assert.strictEqual(softOverlongPunishment(90, params), -0.5);
    assert.strictEqual(softOverlongPunishment(80, params), 0);
    assert.strictEqual(softOverlongPunishment(81, params), -0.05);
    assert.strictEqual(softOverlongPunishment(100, params), -1);
    assert.strictEqual(softOverlongPunishment(101, params), -1);
    assert.strictEqual(softOverlongPunishment(3, params), 0);
  });

  it('as a run reward: reads the token ids the trainer passes, L_max from sampling.max_completion_length by default', async () => {
    const scorer = await RewardScorer.load([{ name: 'soft_overlong_punishment', weight: 1, params: { soft_punish_cache: 4 } }], [], os.tmpdir(), { maxCompletionLength: 8 });
    const ids = [[1, 2, 3, 4], [1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6, 7, 8]];
    // L_max 8, L_cache 4: 4 tokens → 0; 6 → (4 − 6)/4 = −0.5; 8 → −1. The texts do not matter, only the token counts.
    const scored = await scorer.score(['x', 'x', 'x'], [example, example, example], () => assert.fail('no failure expected'), { completionIds: ids });
    assert.deepStrictEqual(scored.totals, [0, -0.5, -1]);
    const explicit = await RewardScorer.load([{ name: 'soft_overlong_punishment', weight: 1, params: { soft_punish_cache: 2, max_completion_len: 6 } }], [], os.tmpdir(), { maxCompletionLength: 8 });
    assert.deepStrictEqual((await explicit.score(['x'], [example], () => undefined, { completionIds: [[1, 2, 3, 4, 5]] })).totals, [-0.5]);
  });

  it('refuses a missing or too large cache at load, and scores NaN without token ids', async () => {
    await assert.rejects(RewardScorer.load([{ name: 'soft_overlong_punishment', weight: 1 }], [], os.tmpdir(), { maxCompletionLength: 8 }), /rewards\[0\]\.params: .*soft_punish_cache/);
    await assert.rejects(RewardScorer.load([{ name: 'soft_overlong_punishment', weight: 1, params: { soft_punish_cache: 9 } }], [], os.tmpdir(), { maxCompletionLength: 8 }), /\[1, max_completion_len = 8\]/);
    await assert.rejects(RewardScorer.load([{ name: 'arithmetic_answer', weight: 1, params: { soft_punish_cache: 1 } }], [], os.tmpdir()), /takes no params/);
    const scorer = await RewardScorer.load([{ name: 'soft_overlong_punishment', weight: 1, params: { soft_punish_cache: 4 } }], [], os.tmpdir(), { maxCompletionLength: 8 });
    const messages: string[] = [];
    const scored = await scorer.score(['x'], [example], (f) => messages.push(f.message));
    assert.ok(Number.isNaN(scored.totals[0]));
    assert.match(messages[0], /completion_ids/);
  });

  it('the run config takes params with known keys only', () => {
    const base = { name: 'x', model: { name_or_path: 'tiny' }, task: { type: 'arithmetic' } };
    const config = validateRunConfig({ ...base, rewards: [{ name: 'soft_overlong_punishment', params: { soft_punish_cache: 16 } }] });
    assert.deepStrictEqual(config.rewards[0].params, { soft_punish_cache: 16 });
    assert.throws(() => validateRunConfig({ ...base, rewards: [{ name: 'soft_overlong_punishment', params: { cache: 16 } }] }), /cache/);
  });
});
