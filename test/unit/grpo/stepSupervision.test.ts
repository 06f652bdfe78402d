import { strict as assert } from 'assert';
import { computeGroupAdvantages } from '../../../src/grpo';
import { computeStepSupervisionAdvantages, stepEndToken } from '../../../src/grpo/stepSupervision';
import { assertClose, describeOnBackends } from './helpers';

describe('computeStepSupervisionAdvantages (DeepSeekMath §4.1.3)', () => {
  it('normalises all step rewards of the group together and sums those ending at or after each token (hand-computed)', () => {
    // G = 2. Rollout 0 (4 tokens): steps ending on tokens 1 and 3 with rewards 1 and 0.
    //        Rollout 1 (3 tokens): one step ending on token 2 with reward 0.5.
    // R = {1, 0, 0.5}: mean 0.5, unbiased std 0.5 → r̃ = {1, −1, 0} (eps 0).
    // Rollout 0: tokens 0,1 get 1 + (−1) = 0; tokens 2,3 get −1. Rollout 1: all 0.
    const advantages = computeStepSupervisionAdvantages(
      [[{ token: 1, reward: 1 }, { token: 3, reward: 0 }], [{ token: 2, reward: 0.5 }]],
      [4, 3], 2, { advantageEps: 0 },
    );
    assert.deepEqual(advantages, [[0, 0, -1, -1], [0, 0, 0]]);
  });

  it('population std, eps, and no std division', () => {
    const steps = [[{ token: 0, reward: 2 }, { token: 1, reward: 0 }], [{ token: 0, reward: 1 }]];
    // R = {2, 0, 1}: mean 1, population std √(2/3) = 0.816497; eps 0.1 → divisor 0.916497.
    // Rollout 0: token 0 gets (1 − 1)/0.916497 = 0 → 1/0.916 + (−1/0.916) = 0; token 1 gets −1.091111. Rollout 1: 0.
    assertClose(computeStepSupervisionAdvantages(steps, [2, 1], 2, { advantageEps: 0.1, stdKind: 'population' }), [[0, -1.091111], [0]], 1e-6);
    assert.deepEqual(computeStepSupervisionAdvantages(steps, [2, 1], 2, { advantageEps: 0.1, normalizeByStd: false }), [[0, -1], [0]]);
  });

  it('tied step rewards give exactly 0, and a failed rollout is out of the statistics with advantage 0', () => {
    const tied = [[{ token: 0, reward: 0.3 }, { token: 1, reward: 0.3 }], [{ token: 0, reward: 0.3 }], [{ token: 2, reward: 0.3 }]];
    assert.deepEqual(computeStepSupervisionAdvantages(tied, [2, 1, 3], 3, { advantageEps: 1e-8 }), [[0, 0], [0], [0, 0, 0]]);
    // Rollout 1 failed: R = {1, 0} → mean 0.5, std 0.7071; r̃ = ±0.7071 (eps 0).
    const withFailure = [[{ token: 0, reward: 1 }], [{ token: 0, reward: 100 }], [{ token: 0, reward: 0 }]];
    assertClose(computeStepSupervisionAdvantages(withFailure, [1, 1, 1], 3, { advantageEps: 0 }, [false, true, false]), [[0.707107], [0], [-0.707107]], 1e-6);
  });

  it('refuses a step outside its completion and a batch that does not split into groups', () => {
    assert.throws(() => computeStepSupervisionAdvantages([[{ token: 3, reward: 1 }], []], [3, 1], 2, { advantageEps: 0 }), /token 3, outside its 3 tokens/);
    assert.throws(() => computeStepSupervisionAdvantages([[], [], []], [1, 1, 1], 2, { advantageEps: 0 }), /groups of 2/);
  });
});

describe('stepEndToken', () => {
  it('the first token whose text reaches the step end; at or past the end of the text, the last token', () => {
    // Tokens "ab" "c" "de" "" (a stop token that adds no text): charEnds [2, 3, 5, 5].
    const ends = [2, 3, 5, 5];
    assert.equal(stepEndToken(ends, 1), 0);
    assert.equal(stepEndToken(ends, 2), 0);
    assert.equal(stepEndToken(ends, 3), 1);
    assert.equal(stepEndToken(ends, 4), 2);
    assert.equal(stepEndToken(ends, 5), 3);
    assert.equal(stepEndToken(ends, 99), 3);
    assert.equal(stepEndToken(ends, 0), 0);
  });
});

// Outcome advantages come from the tfjs group statistics: compared on both CPU backends.
describeOnBackends('step supervision with one step per completion', () => {
  it('one step per completion on its last token is outcome supervision', () => {
    const rewards = [1, 0, 0.3, 0.7, 0.2, 0.2];
    const lengths = [3, 1, 2, 4, 2, 3];
    const steps = rewards.map((reward, i) => [{ token: lengths[i] - 1, reward }]);
    const advantages = computeStepSupervisionAdvantages(steps, lengths, 3, { advantageEps: 1e-6 });
    const outcome = Array.from(computeGroupAdvantages(rewards, 3, { advantageEps: 1e-6 }).advantages.dataSync());
    advantages.forEach((row, i) => assertClose(row, new Array<number>(lengths[i]).fill(outcome[i]), 1e-6, `rollout ${i}`));
  });

});
