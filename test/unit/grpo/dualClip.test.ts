/**
 * Issue 13 item 6 (dual clip, verl `clip_ratio_c`; TRL `delta`: one implementation, two names), item 9's
 * `clip_ratio/low_min` / `high_max`, and item 2's rule that a failed sample (advantage 0) keeps its tokens in the
 * loss normaliser and the KL term.
 */
import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { computeAsymmetricClipLoss, computeGrpoLoss, GrpoLossConfig, LOSS_AGGREGATIONS, LossAggregation, VERL_LOSS_AGG_MODES } from '../../../src/grpo';
import { assertClose, centralDifferences, describeOnBackends, normals, rows } from './helpers';
import { refAggregate, refClipLoss, refK3, refKlPenalty, refTrlDelta, refVerlAggLoss, refVerlDualClip } from './reference';

const [EPS_LOW, EPS_HIGH, C] = [0.2, 0.28, 3];
const [B, T] = [4, 6];

/** Log-ratios spread over ρ ∈ ~[0.05, 20] (both sides of the clip range and beyond c), kept off every kink. */
function spreadLogRatios(seed: number, count: number): number[] {
  const kinks = [Math.log(1 - EPS_LOW), Math.log(1 + EPS_HIGH), Math.log(C)];
  return normals(seed, count, 1.2).map((x) => (kinks.some((k) => Math.abs(x - k) < 0.03) ? Math.fround(x + 0.07) : x));
}

describeOnBackends('dual clip (verl clip_ratio_c) = two-sided clipping (TRL delta)', () => {
  it('hand-computed: A = −1 and ρ = 5 gives 3 = −A·c instead of 5; other tokens are unchanged', () => {
    // Tokens: (A −1, ρ 5), (A −1, ρ 2), (A +1, ρ 5), (A −1, ρ 0.5).
    const logp = tf.tensor2d([[Math.log(5), Math.log(2), Math.log(5), Math.log(0.5)]]);
    const old = tf.zeros([1, 4]) as tf.Tensor2D;
    const advantages = tf.tensor2d([[-1, -1, 1, -1]]);
    const plain = computeAsymmetricClipLoss(advantages, logp, old, 0.2, 0.2);
    const dual = computeAsymmetricClipLoss(advantages, logp, old, 0.2, 0.2, 3);
    assertClose(plain.loss, [5, 2, -1.2, 0.8], 1e-6, 'plain');
    assertClose(dual.loss, [3, 2, -1.2, 0.8], 1e-6, 'dual');
    assertClose(dual.dualClipped as tf.Tensor, [1, 0, 0, 0], 0, 'flags');
    assert.equal(plain.dualClipped, undefined);
  });

  it('matches verl and TRL (δ = c) literally, in value and gradient, on random inputs', () => {
    const old = normals(81, B * T, 1, -2);
    const logp = spreadLogRatios(82, B * T).map((r, i) => Math.fround(r + old[i]));
    const advantages = [1.3, -0.7, -2.1, 0.4];
    const weights = normals(83, B * T);
    const at = (i: number) => advantages[Math.floor(i / T)];
    const verl = (x: number[]) => x.map((l, i) => refVerlDualClip(at(i), l, old[i], EPS_LOW, EPS_HIGH, C));
    const trl = (x: number[]) => x.map((l, i) => refTrlDelta(at(i), l, old[i], EPS_LOW, EPS_HIGH, C));
    assertClose(verl(logp), trl(logp), 1e-12, 'verl and TRL agree in float64');
    const ratios = logp.map((l, i) => Math.exp(l - old[i]));
    assert.ok(ratios.some((r) => r > C) && ratios.some((r) => r < 1 - EPS_LOW), 'the data is outside the clip range on both sides and beyond c');
    const run = (x: tf.Tensor) =>
      computeAsymmetricClipLoss(tf.tensor2d(advantages, [B, 1]), x as tf.Tensor2D, tf.tensor2d(old, [B, T]), EPS_LOW, EPS_HIGH, C);
    const result = run(tf.tensor2d(logp, [B, T]));
    assertClose(result.loss, verl(logp), 1e-5, 'loss');
    const expectedFlags = logp.map((l, i) => {
      const r = Math.exp(l - old[i]);
      const standard = Math.max(-at(i) * r, -at(i) * Math.min(Math.max(r, 1 - EPS_LOW), 1 + EPS_HIGH));
      return at(i) < 0 && standard > -at(i) * C ? 1 : 0;
    });
    assert.ok(expectedFlags.some((f) => f === 1), 'the dual clip binds somewhere');
    assertClose(result.dualClipped as tf.Tensor, expectedFlags, 0, 'pg_clipfrac_lower flags');
    const gradient = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(run(x).loss, tf.tensor2d(weights, [B, T]))))(tf.tensor2d(logp, [B, T]));
    const weighted = (f: (x: number[]) => number[]) => (x: number[]) => f(x).reduce((a, v, i) => a + v * weights[i], 0);
    assertClose(gradient, centralDifferences(weighted(trl), logp, 1e-6), 1e-4, 'gradient vs TRL delta');
  });

  it('computeGrpoLoss: clip_ratio/lower_dual is the masked fraction of dual-clipped tokens', () => {
    const logp = tf.tensor2d([[Math.log(5), Math.log(2), 0], [Math.log(4), 0, 0]]);
    const { metrics } = computeGrpoLoss(
      { policyLogProbs: logp, responseMask: tf.tensor2d([[1, 1, 1], [1, 0, 0]]), advantages: tf.tensor2d([[-1], [-1]]), oldLogProbs: tf.zeros([2, 3]) as tf.Tensor2D },
      { lossType: 'bnpo', epsilonLow: 0.2, beta: 0, dualClipRatio: 3 },
    );
    assert.equal(metrics['clip_ratio/lower_dual'], 2 / 4);
  });

  it('refuses c ≤ 1', () => {
    const x = tf.zeros([1, 1]) as tf.Tensor2D;
    assert.throws(() => computeAsymmetricClipLoss(x, x, x, 0.2, 0.2, 1), /dualClip \(clip_ratio_c \/ delta\) must be a finite number > 1/);
  });
});

describeOnBackends('clip_ratio/low_min and clip_ratio/high_max (TRL)', () => {
  it('are the min / max over non-empty sequences of the per-sequence clip fraction', () => {
    const old = rows(normals(91, 3 * 4, 1, -2), 4);
    const logp = spreadLogRatios(92, 3 * 4).map((r, i) => Math.fround(r + old.flat()[i]));
    const mask = [[1, 1, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1]];
    const advantages = [[0.5], [1], [-0.8]];
    const { metrics } = computeGrpoLoss(
      { policyLogProbs: tf.tensor2d(logp, [3, 4]), responseMask: tf.tensor2d(mask), advantages: tf.tensor2d(advantages), oldLogProbs: tf.tensor2d(old) },
      { lossType: 'grpo', epsilonLow: EPS_LOW, epsilonHigh: EPS_HIGH, beta: 0 },
    );
    const reference = refClipLoss(advantages, rows(logp, 4), old, EPS_LOW, EPS_HIGH);
    const rowMean = (flags: number[][], i: number) => flags[i].reduce((a, f, t) => a + f * mask[i][t], 0) / mask[i].reduce((a, b) => a + b);
    // Row 1 is empty (0/0): left out, as TRL's nanmin / nanmax.
    assertClose(metrics['clip_ratio/low_min'], Math.min(rowMean(reference.low, 0), rowMean(reference.low, 2)), 1e-7, 'low_min');
    assertClose(metrics['clip_ratio/high_max'], Math.max(rowMean(reference.high, 0), rowMean(reference.high, 2)), 1e-7, 'high_max');
    assert.ok(metrics['clip_ratio/high_max'] > 0 || metrics['clip_ratio/low_min'] > 0, 'something clips');
  });
});

describeOnBackends('a failed sample (advantage 0) keeps its tokens in the normaliser and the KL term (issue 13 item 2)', () => {
  it('bnpo: (Σ ℓ of the scored row + Σ β·k3 of the failed row) / all active tokens, as TRL', () => {
    const logp = [[-1.0, -2.0, -0.5], [-1.5, -0.7, -3.0]];
    const ref = [[-1.2, -1.8, -0.6], [-1.0, -0.9, -2.5]];
    const mask = [[1, 1, 0], [1, 1, 1]];
    const beta = 0.1;
    const config: GrpoLossConfig = { lossType: 'bnpo', epsilonLow: 0.2, beta };
    // Row 0 scored (A = 0.8); row 1 failed (A = 0). Without π_old the ratio is 1: ℓ = −A + β·k3.
    const { loss } = computeGrpoLoss(
      { policyLogProbs: tf.tensor2d(logp), responseMask: tf.tensor2d(mask), advantages: tf.tensor2d([[0.8], [0]]), refLogProbs: tf.tensor2d(ref) },
      config,
    );
    const k3 = refK3(logp, ref);
    const expected = ((-0.8 + beta * k3[0][0]) + (-0.8 + beta * k3[0][1]) + beta * (k3[1][0] + k3[1][1] + k3[1][2])) / 5;
    assertClose(loss, [expected], 1e-6);
  });
});

describeOnBackends('computeGrpoLoss: every aggregation × dual clip × verl KL, against the float64 reference', () => {
  // Row 1 empty, rows 0 and 3 shorter than T (completions shorter than max_completion_length).
  const mask = [[1, 1, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0]];
  const old = normals(121, B * T, 1, -2);
  const logp = spreadLogRatios(122, B * T).map((r, i) => Math.fround(r + old[i]));
  const ref = normals(123, B * T, 0.5, -2);
  const advantages = [-1.1, 0.6, -0.4, 1.5];
  const beta = 0.05;
  const items = 2 * 11;
  const perToken = (x: number[]) =>
    rows(x.map((l, i) => refVerlDualClip(advantages[Math.floor(i / T)], l, old[i], EPS_LOW, EPS_HIGH, C) + beta * refKlPenalty(l, ref[i], 'low_var_kl')), T);
  const reference = (mode: LossAggregation) => (x: number[]) =>
    (VERL_LOSS_AGG_MODES as readonly string[]).includes(mode)
      ? refVerlAggLoss(perToken(x), mask, mode, 2, mode === 'seq-mean-token-sum-norm' ? 8 : undefined)
      : refAggregate(perToken(x), mask, mode, { steps: 2, maxLength: 8, items });

  for (const mode of LOSS_AGGREGATIONS) {
    it(`${mode}: loss and gradient`, () => {
      const config: GrpoLossConfig = {
        lossType: mode, epsilonLow: EPS_LOW, epsilonHigh: EPS_HIGH, beta, klEstimator: 'low_var_kl', dualClipRatio: C,
        maxCompletionLength: 8, gradientAccumulationSteps: 2,
      };
      const run = (x: tf.Tensor) =>
        computeGrpoLoss(
          {
            policyLogProbs: x as tf.Tensor2D, responseMask: tf.tensor2d(mask), advantages: tf.tensor2d(advantages, [B, 1]),
            oldLogProbs: tf.tensor2d(old, [B, T]), refLogProbs: tf.tensor2d(ref, [B, T]), numItemsInBatch: items,
          },
          config,
        ).loss;
      assertClose(run(tf.tensor2d(logp, [B, T])), [reference(mode)(logp)], 1e-5, 'loss');
      const gradient = tf.grad(run)(tf.tensor2d(logp, [B, T]));
      assertClose(gradient, centralDifferences(reference(mode), logp, 1e-6), 1e-4, 'gradient');
    });
  }
});
