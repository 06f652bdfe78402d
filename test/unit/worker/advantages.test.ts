import * as assert from 'assert';
import { groupNormalizedAdvantages } from '../../../src/worker/advantages';

const close = (a: number[], b: number[], tol = 1e-12) => a.forEach((x, i) => assert.ok(Math.abs(x - b[i]) < tol, `[${i}] ${x} vs ${b[i]}`));

describe('group-normalised advantages (bandit)', () => {
  it('population std (seed 000): [1,0,1,1] → mean .75, std √.1875', () => {
    const s = Math.sqrt(0.1875);
    const { advantages, groupStd } = groupNormalizedAdvantages([1, 0, 1, 1], 4, { advantage_eps: 0, scale_rewards: 'group', std_estimator: 'population' });
    close(advantages, [0.25 / s, -0.75 / s, 0.25 / s, 0.25 / s]);
    close(groupStd, [s]);
  });

  it('unbiased std per group, groups are consecutive', () => {
    const { advantages } = groupNormalizedAdvantages([1, 0, 2, 2], 2, { advantage_eps: 0, scale_rewards: 'group', std_estimator: 'unbiased' });
    // group 1: mean .5, std √.5; group 2: all tied → 0/(0+0) would be NaN, so eps matters; here it is 0/0.
    close(advantages.slice(0, 2), [0.5 / Math.sqrt(0.5), -0.5 / Math.sqrt(0.5)]);
    assert.ok(Number.isNaN(advantages[2]));
  });

  it('tied groups give zero advantages with eps > 0; none scaling is r − mean', () => {
    close(groupNormalizedAdvantages([3, 3], 2, { advantage_eps: 1e-6, scale_rewards: 'group', std_estimator: 'unbiased' }).advantages, [0, 0]);
    close(groupNormalizedAdvantages([1, 3], 2, { advantage_eps: 1e-6, scale_rewards: 'none', std_estimator: 'unbiased' }).advantages, [-1, 1]);
  });

  it('rejects a group of one and a batch that does not split into groups', () => {
    assert.throws(() => groupNormalizedAdvantages([1], 1, { advantage_eps: 0, scale_rewards: 'group', std_estimator: 'unbiased' }), /at least 2/);
    assert.throws(() => groupNormalizedAdvantages([1, 2, 3], 2, { advantage_eps: 0, scale_rewards: 'group', std_estimator: 'unbiased' }), /do not split/);
  });
});
