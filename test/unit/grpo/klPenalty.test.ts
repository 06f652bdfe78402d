/** Issue 13 items 4 and 7: the per-token KL estimators of verl and TRL, with verl's clamps. */
import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { computeGrpoLoss, computeKlPenaltyPerToken, KL_PENALTIES, KlPenalty } from '../../../src/grpo';
import { assertClose, centralDifferences, describeOnBackends, normals, rows } from './helpers';
import { refKlPenalty, weightedSum } from './reference';

const [B, T] = [3, 4];

function perToken(logp: number[], ref: number[], estimator: string, clampL?: number, clampV?: number): number[][] {
  return rows(logp.map((l, i) => refKlPenalty(l, ref[i], estimator, clampL, clampV)), T);
}

function gradientOf(estimator: KlPenalty, logp: number[], ref: number[], weights: number[], clamps = {}): tf.Tensor {
  return tf.grad((x: tf.Tensor) =>
    tf.sum(tf.mul(computeKlPenaltyPerToken(x as tf.Tensor2D, tf.tensor2d(ref, [B, T]), estimator, clamps), tf.tensor2d(weights, [B, T]))),
  )(tf.tensor2d(logp, [B, T]));
}

describeOnBackends('computeKlPenaltyPerToken (verl kl_penalty, TRL k3)', () => {
  it('hand-computed values at log π_θ = log 0.5, log π_ref = log 0.25 (d = ref − logp = −log 2)', () => {
    const logp = tf.tensor2d([[Math.log(0.5)]]);
    const ref = tf.tensor2d([[Math.log(0.25)]]);
    const l2 = Math.LN2;
    const expected: Record<KlPenalty, number> = {
      kl: l2, k1: l2, abs: l2, mse: 0.5 * l2 * l2, k2: 0.5 * l2 * l2,
      k3: 0.5 + l2 - 1, low_var_kl: 0.5 + l2 - 1, 'k1+': l2, 'k3+': 0.5 + l2 - 1,
    };
    for (const estimator of KL_PENALTIES) assertClose(computeKlPenaltyPerToken(logp, ref, estimator), [expected[estimator]], 1e-6, estimator);
  });

  for (const estimator of KL_PENALTIES) {
    it(`${estimator}: value and gradient match the float64 reference on random inputs`, () => {
      const logp = normals(61, B * T, 0.8, -1.5);
      const ref = normals(62, B * T, 0.8, -1.5);
      const weights = normals(63, B * T);
      assertClose(computeKlPenaltyPerToken(tf.tensor2d(logp, [B, T]), tf.tensor2d(ref, [B, T]), estimator), perToken(logp, ref, estimator), 1e-5);
      // The "+" estimators take k2's gradient: d/dlogp ½(logp − ref)² = logp − ref.
      const gradientTarget = estimator.endsWith('+') ? 'mse' : estimator;
      const expected = centralDifferences((x) => weightedSum(perToken(x, ref, gradientTarget), weights), logp, 1e-5);
      assertClose(gradientOf(estimator, logp, ref, weights), expected, 1e-4, 'gradient');
    });
  }

  describe('stays finite at a log-ratio of 100 nats (issue 13 item 4)', () => {
    // Tokens where the reference is 100 nats above / below the policy, and one ordinary token.
    const logp = [-110, -10, -1.2, -110, -10, -1.2, -110, -10, -1.2, -110, -10, -1.2];
    const ref = [-10, -110, -1.0, -10, -110, -1.0, -10, -110, -1.0, -10, -110, -1.0];
    const weights = new Array(B * T).fill(1);

    it('k3 (TRL) overflows without the clamp: exp(100) is Inf in float32 — what the clamp prevents', () => {
      const unclamped = computeKlPenaltyPerToken(tf.tensor2d(logp, [B, T]), tf.tensor2d(ref, [B, T]), 'k3', { logRatioClamp: 0 });
      assert.equal(unclamped.dataSync()[0], Infinity);
    });

    for (const estimator of ['k3', 'low_var_kl', 'k3+', 'kl', 'mse'] as const) {
      it(`${estimator}: value and gradient finite and as verl's clamps give`, () => {
        const value = computeKlPenaltyPerToken(tf.tensor2d(logp, [B, T]), tf.tensor2d(ref, [B, T]), estimator);
        assert.ok(Array.from(value.dataSync()).every(Number.isFinite));
        // k3: d clamped to +20 → e^20 − 21 (1e-6 relative: float32); low_var_kl: then clamped to 10; d = −100 → −20:
        // e^−20 + 19 → 10 under low_var_kl.
        assertClose(value, perToken(logp, ref, estimator), 1e-6);
        const gradient = Array.from(gradientOf(estimator, logp, ref, weights).dataSync());
        assert.ok(gradient.every(Number.isFinite), `${estimator} gradient ${gradient}`);
        // Outside the clamp the gradient is 0 (torch.clamp's); the "+" estimator keeps k2's: logp − ref = ∓100.
        if (estimator === 'k3' || estimator === 'low_var_kl') assert.ok(gradient[0] === 0 && gradient[1] === 0, `${gradient}`);
        if (estimator === 'k3+') assertClose([gradient[0], gradient[1]], [-100, 100], 1e-6);
      });
    }

    it('the GRPO loss with β·low_var_kl at that input: finite loss and finite gradient', () => {
      const policy = tf.tensor2d(logp, [B, T]);
      const inputs = (x: tf.Tensor2D) => ({
        policyLogProbs: x,
        responseMask: tf.ones([B, T]) as tf.Tensor2D,
        advantages: tf.tensor2d([[1], [-1], [0.5]]),
        refLogProbs: tf.tensor2d(ref, [B, T]),
      });
      for (const klEstimator of ['k3', 'low_var_kl'] as const) {
        const config = { lossType: 'bnpo' as const, epsilonLow: 0.2, beta: 0.1, klEstimator };
        const { loss } = computeGrpoLoss(inputs(policy), config);
        assert.ok(Number.isFinite(loss.dataSync()[0]), `${klEstimator} loss ${loss.dataSync()[0]}`);
        const gradient = tf.grad((x: tf.Tensor) => computeGrpoLoss(inputs(x as tf.Tensor2D), config).loss)(policy);
        assert.ok(Array.from(gradient.dataSync()).every(Number.isFinite), `${klEstimator} gradient`);
      }
      // Before: klEstimator 'k3' had no clamp, loss +Inf.
      const { loss } = computeGrpoLoss(inputs(policy), { lossType: 'bnpo', epsilonLow: 0.2, beta: 0.1, klEstimator: 'k3', klLogRatioClamp: 0 });
      assert.equal(loss.dataSync()[0], Infinity);
    });
  });

  it('rejects an unknown estimator and a negative clamp', () => {
    const x = tf.zeros([1, 1]) as tf.Tensor2D;
    assert.throws(() => computeKlPenaltyPerToken(x, x, 'k4' as KlPenalty), /estimator must be one of/);
    assert.throws(() => computeKlPenaltyPerToken(x, x, 'k3', { logRatioClamp: -1 }), /logRatioClamp must be ≥ 0/);
  });
});
