/** Issue 13 item 7: the KL penalty in the reward (verl use_kl_in_reward) and verl's fixed / adaptive kl_ctrl. */
import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { applyKlPenaltyToRewards, computeKlPenaltyPerToken, KL_PENALTIES, klPenaltyValue, nextKlCoefficient } from '../../../src/grpo';
import { assertClose, describeOnBackends, normals } from './helpers';
import { refKlPenalty } from './reference';

describe('KL penalty in the reward (verl apply_kl_penalty, kl_ctrl)', () => {
  const adaptive = { type: 'adaptive' as const, kl_coef: 0.001, target_kl: 0.1, horizon: 10000 };

  it('adaptive: β · (1 + clip(KL/target − 1, ±0.2) · n / horizon); fixed: unchanged (hand-computed)', () => {
    // KL 0.15: error 0.5 → clipped 0.2; n = 64: β · (1 + 0.2 · 64 / 10000) = 0.001 · 1.00128.
    assertClose(nextKlCoefficient(adaptive, 0.001, 0.15, 64), [0.001 * 1.00128], 1e-12);
    // KL 0.09: error −0.1 → β · (1 − 0.1 · 64 / 10000).
    assertClose(nextKlCoefficient(adaptive, 0.001, 0.09, 64), [0.001 * (1 - 0.00064)], 1e-12);
    assert.equal(nextKlCoefficient({ ...adaptive, type: 'fixed' }, 0.001, 5, 64), 0.001);
    assert.equal(nextKlCoefficient(adaptive, 0.001, Number.NaN, 64), 0.001);
    assert.throws(() => nextKlCoefficient({ ...adaptive, horizon: 0 }, 0.001, 0.1, 64), /horizon must be > 0/);
  });

  it('r_i − β Σ_t kl_it with k1 (hand-computed); current_kl = mean of the per-sequence means; NaN stays NaN', () => {
    const old = [[-1, -2], [-0.5], [-1, -1, -1], []];
    const ref = [[-1.5, -1], [-0.25], [-1, -1, -1], []];
    const { rewards, currentKl } = applyKlPenaltyToRewards([1, 0, Number.NaN, 0.5], old, ref, 0.1, 'kl');
    // kl rows: [0.5, −1] (sum −0.5, mean −0.25), [−0.25], [0, 0, 0], [] (skipped in the mean).
    assertClose(rewards, [1 + 0.05, 0 + 0.025, Number.NaN, 0.5], 1e-12);
    assertClose(currentKl, (-0.25 - 0.25 + 0) / 3, 1e-12);
  });

});

describeOnBackends('klPenaltyValue (host) = computeKlPenaltyPerToken (tensor)', () => {
  it('for every estimator, on random inputs and at ±100 nats', () => {
    const logp = [...normals(111, 10, 1, -2), -110, -10];
    const ref = [...normals(112, 10, 1, -2), -10, -110];
    for (const estimator of KL_PENALTIES) {
      const host = logp.map((l, i) => klPenaltyValue(l, ref[i], estimator));
      assertClose(host, logp.map((l, i) => refKlPenalty(l, ref[i], estimator)), 1e-12, estimator);
      const tensor = computeKlPenaltyPerToken(tf.tensor2d(logp, [1, 12]), tf.tensor2d(ref, [1, 12]), estimator);
      assertClose(tensor, host, 1e-5, `${estimator} tensor`);
      tensor.dispose();
    }
  });
});
