import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import {
  combineWeightedRewards,
  computeGroupAdvantages,
  computeGroupNormalizedRewards,
  DEFAULT_ADVANTAGE_EPS,
  groupAdvantageValues,
  RewardFunction,
  scoreWithRewardFunctions,
} from '../../../src/grpo';
import { validateRunConfig } from '../../../src/protocol';
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
    // reward_std is TRL's batch std (unbiased, of 0,1,2,5,5,5: √(26/5)); ours is the mean group std (1 + 0) / 2.
    assert.deepEqual(metadata, {
      reward: 3,
      reward_std: Math.sqrt(26 / 5),
      reward_min: 0,
      reward_max: 5,
      frac_reward_zero_std: 0.5,
      'reward_std/group_mean': 0.5,
      'frac_reward_zero_std/groups': 0.5,
    });
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

  it('leaves a NaN (failed) reward out of its group statistics, with advantage 0, as TRL nanmean/nanstd', async () => {
    const { advantages, rawRewards, metadata } = await normalized([1, Number.NaN, 0, 0, 1, 2], 3, 1e-6, true);
    // Group 1: scored [1, 0], mean 0.5, unbiased std √0.5.
    const a = 0.5 / (Math.SQRT1_2 + 1e-6);
    assertClose(advantages, [a, 0, -a, -1 / (1 + 1e-6), 0, 1 / (1 + 1e-6)], 1e-6);
    assert.equal(metadata.reward, 4 / 5);
    assert.equal(metadata.reward_min, 0);
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
        assertClose(metrics.reward_std, refStd(rewards, true), 1e-12, 'reward_std (TRL: batch, unbiased)');
        assertClose(metrics['reward_std/group_mean'], groupStds.reduce((a, b) => a + b) / 4, 1e-12, 'group mean std');
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
    assert.deepEqual(metrics, {
      reward: 1.75,
      reward_std: 1.5,
      frac_reward_zero_std: 0.5,
      'reward_std/group_mean': Math.SQRT1_2 / 2,
      'frac_reward_zero_std/groups': 0.5,
    });
    advantages.dispose();
  });

  describe('ties stay ties (issue 13 item 1)', () => {
    it('has one advantage_eps default: TRL 1e-4, the same in the run-config schema', () => {
      assert.equal(DEFAULT_ADVANTAGE_EPS, 1e-4);
      assert.equal(validateRunConfig({ name: 'x', task: { type: 'bandit' } }).algorithm.advantage_eps, DEFAULT_ADVANTAGE_EPS);
    });

    for (const advantageEps of [undefined, 1e-8, 0]) {
      it(`G = 6 rewards of 0.3 give exactly 0 (advantageEps ${advantageEps ?? 'default'}), under every scaling`, () => {
        for (const scaleRewards of ['group', 'batch', 'none'] as const) {
          for (const stdKind of ['unbiased', 'population'] as const) {
            const { advantages, metrics } = groupAdvantageValues(new Array(6).fill(0.3), 6, { advantageEps, scaleRewards, stdKind });
            assert.deepEqual(advantages, [0, 0, 0, 0, 0, 0], `${scaleRewards}/${stdKind}`);
            assert.equal(metrics.frac_reward_zero_std, 1);
            assert.equal(metrics['frac_reward_zero_std/groups'], 1);
          }
        }
        // Before the host float64 path, on wasm: +0.0003 (eps 1e-4), +0.029 (1e-6, the old schema default), +0.70 (1e-8).
        const tensor = computeGroupAdvantages(new Array(6).fill(0.3), 6, { advantageEps });
        assert.deepEqual(Array.from(tensor.advantages.dataSync()), [0, 0, 0, 0, 0, 0]);
      });
    }

    it('a tied group next to an untied one: the tie is 0 under batch scaling too', () => {
      const rewards = [0.3, 0.3, 0.3, 0.1, 0.7, 0.2];
      const { advantages } = groupAdvantageValues(rewards, 3, { scaleRewards: 'batch', advantageEps: 1e-8 });
      assert.deepEqual(advantages.slice(0, 3), [0, 0, 0]);
      assertClose(advantages, refGroupAdvantages(rewards, 3, 'batch', true, 1e-8), 1e-12);
    });

    it('a reward of 1e20 (finite in float32, its square is not) gives finite, correct advantages', () => {
      const rewards = [1e20, 0, 0, 0, 3e20, -1e20];
      for (const scaleRewards of ['group', 'batch'] as const) {
        const { advantages, metrics } = groupAdvantageValues(rewards, 3, { scaleRewards });
        // Group [1e20, 0, 0]: mean 1e20/3, unbiased std 1e20/√3 → (2/3)/(1/√3) = 2/√3 and −1/√3 (eps negligible).
        if (scaleRewards === 'group') assertClose(advantages.slice(0, 3), [2 / Math.sqrt(3), -1 / Math.sqrt(3), -1 / Math.sqrt(3)], 1e-12);
        assertClose(advantages, refGroupAdvantages(rewards, 3, scaleRewards, true, 1e-4), 1e-12);
        assert.ok(advantages.every(Number.isFinite) && Number.isFinite(metrics.reward_std));
        const tensor = computeGroupAdvantages(rewards, 3, { scaleRewards }).advantages;
        assert.ok(Array.from(tensor.dataSync()).every(Number.isFinite));
      }
    });

    it('even 1e200 (whose square overflows float64) stays finite', () => {
      const { advantages } = groupAdvantageValues([1e200, 0, -1e200, 0], 4);
      assertClose(advantages, [1e200 / (1e200 * Math.sqrt(2 / 3)), 0, -1e200 / (1e200 * Math.sqrt(2 / 3)), 0], 1e-12);
    });
  });

  describe('failed samples are out of the statistics (issue 13 item 2)', () => {
    it('[1, 0, NaN, 0] → [1.1547, −0.5774, 0, −0.5774] (the stand-in value used to give [1.4142, −0.7071, 0, −0.7071])', () => {
      const { advantages, metrics } = groupAdvantageValues([1, 0, Number.NaN, 0], 4, { advantageEps: 0 });
      // Scored [1, 0, 0]: mean 1/3, unbiased std 1/√3.
      assertClose(advantages, [2 / Math.sqrt(3), -1 / Math.sqrt(3), 0, -1 / Math.sqrt(3)], 1e-12);
      assertClose(advantages, [1.1547, -0.5774, 0, -0.5774], 1e-4);
      assert.equal(advantages[2], 0);
      assert.equal(metrics.reward, 1 / 3);
    });

    it('a group with one scored sample, or none, has no baseline: all 0; metrics skip the failed', () => {
      const { advantages, metrics } = groupAdvantageValues([Number.NaN, 2, Number.NaN, Number.NaN, 1, 3], 3);
      assert.deepEqual(advantages.slice(0, 3), [0, 0, 0]);
      assert.deepEqual(groupAdvantageValues([Number.NaN, Number.NaN], 2).advantages, [0, 0]);
      assert.equal(metrics.reward, 2);
      // TRL: a group whose nanstd is NaN (one scored sample) is not "zero std".
      assert.equal(metrics.frac_reward_zero_std, 0);
    });

    it('matches the float64 reference on random rewards with failures and ties, every scaling and std', () => {
      const rewards = normals(21, 40, 1).map((r, i) => (i % 7 === 3 ? Number.NaN : i >= 32 ? 0.3 : Math.round(r * 4) / 4));
      for (const scaleRewards of ['group', 'batch', 'none'] as const) {
        for (const stdKind of ['unbiased', 'population'] as const) {
          const { advantages } = groupAdvantageValues(rewards, 8, { scaleRewards, stdKind, advantageEps: 1e-6 });
          assertClose(advantages, refGroupAdvantages(rewards, 8, scaleRewards, stdKind === 'unbiased', 1e-6), 1e-12);
        }
      }
    });
  });

  describe("TRL's metric definitions (issue 13 item 9)", () => {
    it('reward_std is the batch std; frac_reward_zero_std under batch scaling is 0 or 1 as TRL computes it', () => {
      const rewards = [1, 1, 0, 2, 5, 5];
      const { metrics } = groupAdvantageValues(rewards, 2, { scaleRewards: 'batch' });
      assertClose(metrics.reward_std, refStd(rewards, true), 1e-12);
      assert.equal(metrics.frac_reward_zero_std, 0); // the batch std is not 0
      assert.equal(metrics['frac_reward_zero_std/groups'], 2 / 3); // ours: two of three groups tie
      assert.equal(groupAdvantageValues([2, 2, 2, 2], 2, { scaleRewards: 'batch' }).metrics.frac_reward_zero_std, 1);
      assert.equal(groupAdvantageValues(rewards, 2).metrics.frac_reward_zero_std, 2 / 3);
    });
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
