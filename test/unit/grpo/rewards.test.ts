import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import {
  combineWeightedRewards,
  computeGroupAdvantages,
  computeGroupNormalizedRewards,
  RewardFunction,
  scoreWithRewardFunctions,
} from '../../../src/grpo';
import { assertClose, assertNoLeak, describeOnBackends, normals } from './helpers';
import { refGroupAdvantages, refStd } from './reference';

/** Reward = the number written in the response; ground truth unused. */
const numericReward: RewardFunction = (response) => ({ reward: Number(response) });

async function normalized(rewards: number[], groupSize: number, eps: number, normalizeByStd: boolean) {
  const responses = rewards.map(String);
  return computeGroupNormalizedRewards(numericReward, responses, responses.map(() => ''), groupSize, eps, normalizeByStd);
}

describeOnBackends('computeGroupNormalizedRewards', () => {
  it('normalises a hand-computed batch: group [0,1,2] has mean 1 and unbiased std 1; a tied group gives 0', async () => {
    const { advantages, rawRewards, metadata } = await normalized([0, 1, 2, 5, 5, 5], 3, 1e-6, true);
    assertClose(advantages, [-1 / (1 + 1e-6), 0, 1 / (1 + 1e-6), 0, 0, 0], 1e-6, 'advantages');
    assertClose(rawRewards, [0, 1, 2, 5, 5, 5], 0, 'rawRewards');
    assert.deepEqual(metadata, { reward: 3, reward_std: 0.5, reward_min: 0, reward_max: 5, frac_reward_zero_std: 0.5 });
    tf.dispose([advantages, rawRewards]);
  });

  it('uses the unbiased std: group [1,0] gives ±0.5/√0.5', async () => {
    const { advantages, rawRewards } = await normalized([1, 0], 2, 0, true);
    assertClose(advantages, [Math.SQRT1_2, -Math.SQRT1_2], 1e-6);
    tf.dispose([advantages, rawRewards]);
  });

  it('only subtracts the group mean when normalizeByStd is false', async () => {
    const { advantages, rawRewards } = await normalized([0, 1, 2, 5, 5, 5], 3, 1e-6, false);
    assertClose(advantages, [-1, 0, 1, 0, 0, 0], 1e-7);
    tf.dispose([advantages, rawRewards]);
  });

  for (const normalizeByStd of [true, false]) {
    it(`matches the float64 reference on random rewards (normalizeByStd=${normalizeByStd})`, async () => {
      const rewards = normals(7, 24, 2, 0.5);
      const { advantages, rawRewards } = await normalized(rewards, 4, 1e-4, normalizeByStd);
      assertClose(advantages, refGroupAdvantages(rewards, 4, normalizeByStd ? 'group' : 'none', true, 1e-4), 1e-5);
      tf.dispose([advantages, rawRewards]);
    });
  }

  it('propagates a NaN reward to its own group only, as torch does', async () => {
    const { advantages, rawRewards, metadata } = await normalized([1, Number.NaN, 0, 0, 1, 2], 3, 1e-6, true);
    assertClose(advantages, [NaN, NaN, NaN, -1 / (1 + 1e-6), 0, 1 / (1 + 1e-6)], 1e-6);
    assert.ok(Number.isNaN(metadata.reward));
    assert.equal(metadata.frac_reward_zero_std, 0);
    tf.dispose([advantages, rawRewards]);
  });

  it('refuses G = 1 with a message about the std of one sample', async () => {
    await assert.rejects(normalized([1, 0], 1, 1e-6, true), /groupSize must be an integer ≥ 2.*std of one sample/);
    await assert.rejects(normalized([1, 0], 1, 1e-6, false), /groupSize must be an integer ≥ 2/);
  });

  it('refuses a batch that does not split into groups, or mismatched ground truths', async () => {
    await assert.rejects(normalized([1, 0, 1], 2, 1e-6, true), /3 rollouts do not split into groups of 2/);
    await assert.rejects(
      computeGroupNormalizedRewards(numericReward, ['1', '0'], ['x'], 2, 1e-6, true),
      /2 responses but 1 ground truths/,
    );
    const broken = (() => ({})) as unknown as RewardFunction;
    await assert.rejects(
      computeGroupNormalizedRewards(broken, ['1', '0'], ['', ''], 2, 1e-6, true),
      /no numeric 'reward' for rollout 0/,
    );
  });

  it('awaits async reward functions, passes the ground truth, and reports format/answer rewards', async () => {
    const rewardFn: RewardFunction = async (response, truth) => {
      const answerReward = response === truth ? 1 : 0;
      const formatReward = response.length > 0 ? 1 : 0;
      return { reward: answerReward * formatReward, formatReward, answerReward };
    };
    const { advantages, rawRewards, metadata } = await computeGroupNormalizedRewards(
      rewardFn,
      ['4', '5', '', '7', '7', '8'],
      ['4', '4', '4', '7', '7', '7'],
      3,
      1e-6,
      false,
    );
    assertClose(rawRewards, [1, 0, 0, 1, 1, 0], 0);
    assertClose(advantages, [2 / 3, -1 / 3, -1 / 3, 1 / 3, 1 / 3, -2 / 3], 1e-6);
    assert.equal(metadata['rewards/format_reward/mean'], 5 / 6);
    assert.equal(metadata['rewards/answer_reward/mean'], 0.5);
    tf.dispose([advantages, rawRewards]);
  });

  it('leaks no tensors', async () => {
    await assertNoLeak(async () => {
      const { advantages, rawRewards } = await normalized(normals(3, 8), 4, 1e-6, true);
      return [advantages, rawRewards];
    });
  });
});

describeOnBackends('computeGroupAdvantages (TRL scale_rewards)', () => {
  const rewards = normals(11, 12, 1.5);
  for (const scaleRewards of ['group', 'batch', 'none'] as const) {
    for (const stdKind of ['unbiased', 'population'] as const) {
      it(`matches the float64 reference for scaleRewards=${scaleRewards}, stdKind=${stdKind}`, () => {
        const { advantages, metrics } = computeGroupAdvantages(rewards, 3, { scaleRewards, stdKind, advantageEps: 1e-4 });
        const unbiased = stdKind === 'unbiased';
        assertClose(advantages, refGroupAdvantages(rewards, 3, scaleRewards, unbiased, 1e-4), 1e-5);
        const groupStds = [0, 3, 6, 9].map((start) => refStd(rewards.slice(start, start + 3), unbiased));
        const expectedStd = scaleRewards === 'batch' ? refStd(rewards, unbiased) : groupStds.reduce((a, b) => a + b) / 4;
        assertClose(metrics.reward_std, expectedStd, 1e-12, 'reward_std');
        advantages.dispose();
      });
    }
  }

  it("reproduces the seed-000 bandit's numpy (ddof = 0) normalisation", () => {
    // rewards 1,0,0,0,1: mean 0.4, numpy std √0.24.
    const { advantages } = computeGroupAdvantages([1, 0, 0, 0, 1], 5, { stdKind: 'population', advantageEps: 1e-8 });
    const scale = Math.sqrt(0.24) + 1e-8;
    assertClose(advantages, [0.6 / scale, -0.4 / scale, -0.4 / scale, -0.4 / scale, 0.6 / scale], 1e-6);
    advantages.dispose();
  });

  it('defaults to group scaling, unbiased std and eps 1e-4, as TRL', () => {
    const { advantages, metrics } = computeGroupAdvantages([1, 0, 3, 3], 2);
    assertClose(advantages, [0.5 / (Math.SQRT1_2 + 1e-4), -0.5 / (Math.SQRT1_2 + 1e-4), 0, 0], 1e-6);
    assert.deepEqual(metrics, { reward: 1.75, reward_std: Math.SQRT1_2 / 2, frac_reward_zero_std: 0.5 });
    advantages.dispose();
  });

  it('rejects an unknown scaling and a group of one', () => {
    assert.throws(
      () => computeGroupAdvantages([1, 2], 2, { scaleRewards: 'global' as 'group' }),
      /scaleRewards must be 'group', 'batch' or 'none'/,
    );
    assert.throws(() => computeGroupAdvantages([1, 2], 1), /groupSize must be an integer ≥ 2/);
  });

  it('leaks no tensors', async () => {
    await assertNoLeak(() => computeGroupAdvantages(normals(5, 8), 4, { scaleRewards: 'batch' }).advantages);
  });
});

describe('combineWeightedRewards / scoreWithRewardFunctions', () => {
  it('sums weighted rewards, skipping NaN (not applicable) entries, and reports rewards/<name>/mean', () => {
    const { rewards, metrics } = combineWeightedRewards([
      { name: 'accuracy', rewards: [1, 0, NaN, 1] },
      { name: 'format', weight: 0.5, rewards: [1, 1, NaN, 0] },
      { name: 'length', weight: -0.1, rewards: [2, NaN, NaN, 4] },
    ]);
    assertClose(rewards, [1 + 0.5 - 0.2, 0.5, 0, 1 - 0.4], 1e-12);
    assert.equal(metrics['rewards/accuracy/mean'], 2 / 3);
    assert.equal(metrics['rewards/format/mean'], 2 / 3);
    assert.equal(metrics['rewards/length/mean'], 3);
    assertClose(metrics['rewards/length/std'], Math.SQRT2, 1e-12);
  });

  it('rejects duplicate names, unequal lengths and an empty list', () => {
    assert.throws(() => combineWeightedRewards([]), /at least one reward source/);
    assert.throws(
      () => combineWeightedRewards([{ name: 'a', rewards: [1] }, { name: 'a', rewards: [1] }]),
      /reward name 'a' is used twice/,
    );
    assert.throws(
      () => combineWeightedRewards([{ name: 'a', rewards: [1, 2] }, { name: 'b', rewards: [1] }]),
      /'b' scored 1 rollouts, 'a' 2/,
    );
  });

  it('scores with sync and async functions, null meaning not applicable', async () => {
    const { rewards, metrics } = await scoreWithRewardFunctions(
      [
        { name: 'exact', score: (response, truth) => (response === truth ? 1 : 0) },
        { name: 'numeric', weight: 2, score: async (response) => (Number.isNaN(Number(response)) ? null : 0.25) },
      ],
      ['42', 'forty-two'],
      ['42', '42'],
    );
    assert.deepEqual(rewards, [1.5, 0]);
    assert.equal(metrics['rewards/numeric/mean'], 0.25);
    assert.equal(metrics['rewards/exact/mean'], 0.5);
  });
});
