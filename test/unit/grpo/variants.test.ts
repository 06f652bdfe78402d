import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { computeGrpoLoss, GrpoLossConfig, GrpoLossInputs, LossAggregation, stopGradient } from '../../../src/grpo';
import { computeCispoLoss } from '../../../src/grpo/cispo';
import { computeHighEntropyMask } from '../../../src/grpo/entropyMask';
import { computeImportanceLogWeights, computeSequenceLogRatio } from '../../../src/grpo/gspo';
import { effectiveSampleSize } from '../../../src/grpo/importanceWeights';
import { assertClose, assertNoLeak, centralDifferences, describeOnBackends, normals, rows } from './helpers';
import { Matrix, refAggregate, refClipLoss, refK3 } from './reference';
import { refCispoWeights, refGspoLoss, refHighEntropyMask, refSequenceLogRatio } from './variantsReference';

const [EPS_LOW, EPS_HIGH, BETA] = [0.2, 0.28, 0.04];

/** Random rows with an empty one, and sequence log-ratios chosen on both sides of the clip range and inside it. */
const [B, T] = [5, 4];
const MASK: Matrix = [
  [1, 1, 1, 1],
  [1, 1, 0, 0],
  [0, 0, 0, 0],
  [1, 1, 1, 0],
  [1, 0, 0, 0],
];
const ACTIVE = 10;
const SEQUENCE_LOG_RATIOS = [0.6, -0.7, 0, 0.05, -0.1];
const OLD = rows(normals(91, B * T, 1, -2), T);
const NOISE = rows(normals(92, B * T, 0.3), T);
/** log π_θ = old + noise shifted so that each row's masked mean log-ratio is SEQUENCE_LOG_RATIOS[i]. */
const LOGP: number[] = NOISE.flatMap((row, i) => {
  const count = Math.max(1, MASK[i].reduce((a, b) => a + b, 0));
  const mean = row.reduce((a, v, t) => a + v * MASK[i][t], 0) / count;
  return row.map((v, t) => Math.fround(OLD[i][t] + v - mean + SEQUENCE_LOG_RATIOS[i]));
});
const REF = rows(normals(93, B * T, 0.3, -2), T);
const ADVANTAGES = [0.9, -1.2, 0.4, -0.5, 1.1];
const AGGREGATION = { steps: 2, maxLength: 6, items: 2 * ACTIVE };
const LOSS_TYPES: LossAggregation[] = ['grpo', 'bnpo', 'dapo', 'dr_grpo'];

function inputs(logp: tf.Tensor, overrides: Partial<GrpoLossInputs> = {}): GrpoLossInputs {
  return {
    policyLogProbs: logp as tf.Tensor2D,
    responseMask: tf.tensor2d(MASK),
    advantages: tf.tensor2d(ADVANTAGES, [B, 1]),
    oldLogProbs: tf.tensor2d(OLD),
    refLogProbs: tf.tensor2d(REF),
    numItemsInBatch: AGGREGATION.items,
    ...overrides,
  };
}

function config(lossType: LossAggregation, overrides: Partial<GrpoLossConfig> = {}): GrpoLossConfig {
  return {
    lossType,
    epsilonLow: EPS_LOW,
    epsilonHigh: EPS_HIGH,
    beta: BETA,
    maxCompletionLength: AGGREGATION.maxLength,
    gradientAccumulationSteps: AGGREGATION.steps,
    ...overrides,
  };
}

function withKl(policyTerm: Matrix, logp: Matrix): Matrix {
  const kl = refK3(logp, REF);
  return policyTerm.map((row, i) => row.map((v, t) => v + BETA * kl[i][t]));
}

describeOnBackends('GSPO: importance_sampling_level', () => {
  it('sequence: hand-computed value, clip flags and gradient (grpo aggregation)', () => {
    // log-ratios [0.3, −0.1, 0.1] → log w₀ = 0.1; [0.5, 0.1, (9 masked)] → log w₁ = 0.3. A = [1, −1], ε = 0.2.
    // Row 0: w₀ = e^0.1 = 1.105171 inside the range → ℓ = −1.105171 on each token.
    // Row 1: w₁ = e^0.3 = 1.349859 > 1.2 but A < 0, so the unclipped term is the larger loss → ℓ = +1.349859.
    // grpo: mean of the row means = (−1.105171 + 1.349859) / 2 = 0.122344.
    // ∂L/∂log π: row 0 tokens −w₀/(2·3) = −0.184195, row 1 tokens +w₁/(2·2) = 0.337465, the masked one 0.
    const old = [[0, 0, 0], [0, 0, 0]];
    const logp = tf.tensor2d([[0.3, -0.1, 0.1], [0.5, 0.1, 9]]);
    const hand: GrpoLossInputs = { policyLogProbs: logp, responseMask: tf.tensor2d([[1, 1, 1], [1, 1, 0]]), advantages: tf.tensor2d([[1], [-1]]), oldLogProbs: tf.tensor2d(old) };
    const cfg: GrpoLossConfig = { lossType: 'grpo', epsilonLow: 0.2, beta: 0, importanceSamplingLevel: 'sequence' };
    const result = computeGrpoLoss(hand, cfg);
    assertClose(result.loss, [0.122344], 1e-5, 'loss');
    assertClose(result.perToken.ratio, [[1.105171, 1.105171, 1.105171], [1.349859, 1.349859, 1.349859]], 1e-5, 'ratio');
    assert.deepEqual(result.perToken.highClipped, [[0, 0, 0], [0, 0, 0]]);
    assert.deepEqual(result.perToken.lowClipped, [[0, 0, 0], [0, 0, 0]]);
    const gradient = tf.grad((x: tf.Tensor) => computeGrpoLoss({ ...hand, policyLogProbs: x as tf.Tensor2D }, cfg).loss)(logp);
    assertClose(gradient, [[-0.184195, -0.184195, -0.184195], [0.337465, 0.337465, 0]], 1e-5, 'gradient');
  });

  it('sequence: a positive-advantage sequence above 1 + ε_high is clipped as a whole (no gradient on any token)', () => {
    const logp = tf.tensor2d([[0.5, 0.3]]);
    const hand: GrpoLossInputs = { policyLogProbs: logp, responseMask: tf.tensor2d([[1, 1]]), advantages: tf.tensor2d([[2]]), oldLogProbs: tf.tensor2d([[0, 0]]) };
    const cfg: GrpoLossConfig = { lossType: 'grpo', epsilonLow: 0.2, beta: 0, importanceSamplingLevel: 'sequence' };
    // log w = 0.4, w = 1.4918 > 1.2 → ℓ = −1.2·2 = −2.4 on both tokens; the token-level ratios e^0.3 = 1.35, e^0.5 alike.
    const result = computeGrpoLoss(hand, cfg);
    assertClose(result.loss, [-2.4], 1e-6, 'loss');
    assert.deepEqual(result.perToken.highClipped, [[1, 1]]);
    assertClose(tf.grad((x: tf.Tensor) => computeGrpoLoss({ ...hand, policyLogProbs: x as tf.Tensor2D }, cfg).loss)(logp), [[0, 0]], 0, 'gradient');
  });

  for (const lossType of LOSS_TYPES) {
    it(`sequence with β·k3, ${lossType}: matches the float64 reference in value and gradient (an empty row, ratios on both sides of the range)`, () => {
      const cfg = config(lossType, { importanceSamplingLevel: 'sequence' });
      const refLoss = (x: number[]) => {
        const logp = rows(x, T);
        return refAggregate(withKl(refGspoLoss(ADVANTAGES, logp, OLD, MASK, EPS_LOW, EPS_HIGH).loss, logp), MASK, lossType, AGGREGATION);
      };
      const result = computeGrpoLoss(inputs(tf.tensor2d(LOGP, [B, T])), cfg);
      assertClose(result.loss, [refLoss(LOGP)], 1e-6, 'loss');
      const reference = refGspoLoss(ADVANTAGES, rows(LOGP, T), OLD, MASK, EPS_LOW, EPS_HIGH);
      assertClose(result.perToken.ratio, reference.ratio.flatMap((w) => new Array<number>(T).fill(w)), 1e-6, 'ratio');
      // Row 0 (log w 0.6, A > 0) is clipped high, row 1 (log w −0.7, A < 0) clipped low, the others inside.
      assert.deepEqual(result.perToken.highClipped.map((row) => row[0]), [1, 0, 0, 0, 0]);
      assert.deepEqual(result.perToken.lowClipped.map((row) => row[0]), [0, 1, 0, 0, 0]);
      const gradient = tf.grad((logp: tf.Tensor) => computeGrpoLoss(inputs(logp), cfg).loss)(tf.tensor2d(LOGP, [B, T]));
      assertClose(gradient, centralDifferences(refLoss, LOGP, 1e-5), 1e-6, 'gradient');
    });
  }

  it('sequence_token (GSPO-token): the value of sequence, and the same gradient for per-rollout advantages', () => {
    const seq = computeGrpoLoss(inputs(tf.tensor2d(LOGP, [B, T])), config('grpo', { importanceSamplingLevel: 'sequence' }));
    const tok = computeGrpoLoss(inputs(tf.tensor2d(LOGP, [B, T])), config('grpo', { importanceSamplingLevel: 'sequence_token' }));
    assertClose(tok.loss, seq.loss.dataSync(), 1e-6, 'loss');
    assertClose(tok.perToken.ratio, seq.perToken.ratio, 1e-6, 'ratio');
    const grad = (level: 'sequence' | 'sequence_token') =>
      tf.grad((logp: tf.Tensor) => computeGrpoLoss(inputs(logp), config('grpo', { importanceSamplingLevel: level })).loss)(tf.tensor2d(LOGP, [B, T]));
    assertClose(grad('sequence_token'), grad('sequence').dataSync(), 1e-6, 'gradient');
  });

  it('sequence_token with per-token advantages: ∂ℓ_it/∂log π_it = −w_i·A_it where unclipped, only on its own token', () => {
    // One row, log-ratios [0.1, −0.1] → w = 1, A = [1, −2] per token; grpo: L = mean_t(−w·A_t) → ∂/∂log π_t = −A_t/2.
    const logp = tf.tensor2d([[0.1, -0.1]]);
    const hand: GrpoLossInputs = { policyLogProbs: logp, responseMask: tf.tensor2d([[1, 1]]), advantages: tf.tensor2d([[1, -2]]), oldLogProbs: tf.tensor2d([[0, 0]]) };
    const gradient = tf.grad((x: tf.Tensor) => computeGrpoLoss({ ...hand, policyLogProbs: x as tf.Tensor2D }, { lossType: 'grpo', epsilonLow: 0.2, beta: 0, importanceSamplingLevel: 'sequence_token' }).loss)(logp);
    assertClose(gradient, [[-0.5, 1]], 1e-6, 'GSPO-token gradient');
    // Sequence level spreads the summed advantage over both tokens: ∂/∂log π_t = −(1/2)·(1/2)·Σ_t A_t·w = 0.25.
    const sequence = tf.grad((x: tf.Tensor) => computeGrpoLoss({ ...hand, policyLogProbs: x as tf.Tensor2D }, { lossType: 'grpo', epsilonLow: 0.2, beta: 0, importanceSamplingLevel: 'sequence' }).loss)(logp);
    assertClose(sequence, [[0.25, 0.25]], 1e-6, 'GSPO gradient');
  });

  it('token level is unchanged: equals the clipped per-token reference', () => {
    const result = computeGrpoLoss(inputs(tf.tensor2d(LOGP, [B, T])), config('bnpo', { importanceSamplingLevel: 'token', beta: 0 }));
    const reference = refClipLoss(rows(ADVANTAGES, 1), rows(LOGP, T), OLD, EPS_LOW, EPS_HIGH).loss;
    assertClose(result.loss, [refAggregate(reference, MASK, 'bnpo', AGGREGATION)], 1e-6);
  });

  it('computeSequenceLogRatio and computeImportanceLogWeights match the reference; an empty row gives 0; no leaks', async () => {
    const logp = tf.tensor2d(LOGP, [B, T]);
    assertClose(computeSequenceLogRatio(logp, tf.tensor2d(OLD), tf.tensor2d(MASK)), refSequenceLogRatio(rows(LOGP, T), OLD, MASK), 1e-6);
    assertClose(computeSequenceLogRatio(logp, tf.tensor2d(OLD), tf.tensor2d(MASK)).dataSync()[2], 0, 0, 'empty row');
    const [old, mask] = [tf.tensor2d(OLD), tf.tensor2d(MASK)];
    await assertNoLeak(() => computeImportanceLogWeights('sequence_token', logp, old, mask, stopGradient));
    await assertNoLeak(() => computeHighEntropyMask(logp, mask, 0.3));
    assert.throws(() => computeImportanceLogWeights('seq' as 'sequence', logp, tf.tensor2d(OLD), tf.tensor2d(MASK), stopGradient), /token, sequence, sequence_token/);
  });
});

describeOnBackends('CISPO', () => {
  // log w = [ln 2, ln 0.5], A = [1, −1], log π = [−1, −2].
  const handLogp = () => tf.tensor2d([[-1], [-2]]);
  const handOld = () => tf.tensor2d([[-1 - Math.log(2)], [-2 - Math.log(0.5)]]);
  const handAdvantages = () => tf.tensor2d([[1], [-1]]);

  it('TRL: ŵ = min(w, ε_high); hand-computed loss, gradient and cispo_clip flag', () => {
    // ε_high = 1.5: row 0 ŵ = 1.5 → ℓ = −1.5·1·(−1) = 1.5, ∂ = −1.5 (flag: w > ε_high, A > 0);
    // row 1 ŵ = 0.5 (no lower bound) → ℓ = −0.5·(−1)·(−2) = −1, ∂ = 0.5.
    const loss = (x: tf.Tensor) => computeCispoLoss(handAdvantages(), x as tf.Tensor2D, tf.sub(x, handOld()) as tf.Tensor2D, { clip: 'trl', epsilonLow: 0.2, epsilonHigh: 1.5 }, stopGradient);
    const result = loss(handLogp());
    assertClose(result.loss, [[1.5], [-1]], 1e-6, 'loss');
    assertClose(result.highClipped, [[1], [0]], 0, 'high');
    assertClose(result.lowClipped, [[0], [0]], 0, 'low');
    assertClose(tf.grad((x: tf.Tensor) => tf.sum(loss(x).loss))(handLogp()), [[-1.5], [0.5]], 1e-6, 'gradient: the weight is a constant');
  });

  it('verl: ŵ = clip(w, 1 − ε_low, 1 + ε_high); hand-computed loss and gradient', () => {
    // Row 0 ŵ = 1.28 → ℓ = 1.28, ∂ = −1.28; row 1 ŵ = 0.8 → ℓ = −0.8·(−1)·(−2) = −1.6, ∂ = 0.8 (low flag).
    const loss = (x: tf.Tensor) => computeCispoLoss(handAdvantages(), x as tf.Tensor2D, tf.sub(x, handOld()) as tf.Tensor2D, { clip: 'verl', epsilonLow: 0.2, epsilonHigh: 0.28 }, stopGradient);
    assertClose(loss(handLogp()).loss, [[1.28], [-1.6]], 1e-6, 'loss');
    assertClose(loss(handLogp()).lowClipped, [[0], [1]], 0, 'low');
    assertClose(tf.grad((x: tf.Tensor) => tf.sum(loss(x).loss))(handLogp()), [[-1.28], [0.8]], 1e-6, 'gradient');
  });

  for (const clip of ['trl', 'verl'] as const) {
    it(`${clip}, dapo aggregation with β·k3 through computeGrpoLoss: matches the float64 reference in value and gradient`, () => {
      const epsHigh = clip === 'trl' ? 1.5 : EPS_HIGH;
      const cfg = config('dapo', { surrogate: 'cispo', cispoClip: clip, epsilonHigh: epsHigh });
      const weights = refCispoWeights(rows(LOGP, T), OLD, clip, EPS_LOW, epsHigh);
      const refLoss = (x: number[]) => {
        const logp = rows(x, T);
        // The weights stay those of LOGP: a constant in the gradient.
        const policy = logp.map((row, i) => row.map((l, t) => -weights[i][t] * ADVANTAGES[i] * l));
        return refAggregate(withKl(policy, logp), MASK, 'dapo', AGGREGATION);
      };
      const result = computeGrpoLoss(inputs(tf.tensor2d(LOGP, [B, T])), cfg);
      assertClose(result.loss, [refLoss(LOGP)], 1e-6, 'loss');
      const gradient = tf.grad((logp: tf.Tensor) => computeGrpoLoss(inputs(logp), cfg).loss)(tf.tensor2d(LOGP, [B, T]));
      assertClose(gradient, centralDifferences(refLoss, LOGP, 1e-5), 1e-6, 'gradient');
    });
  }

  it('refuses an unknown clip', () => {
    assert.throws(() => computeCispoLoss(handAdvantages(), handLogp(), handLogp(), { clip: 'x' as 'trl', epsilonLow: 0.2, epsilonHigh: 1 }, stopGradient), /trl, verl/);
  });
});

describeOnBackends('top_entropy_quantile', () => {
  const entropy = [[0.5, 2.0, 1.0], [3.0, 0.1, 9]];
  const mask = [[1, 1, 1], [1, 1, 0]];

  it('keeps the tokens at or above the (1 − ρ) quantile of the active entropies (hand-computed)', () => {
    // Active sorted: [0.1, 0.5, 1, 2, 3], n = 5; the masked 9 never counts.
    // ρ = 0.2 → p = 0.8·4 = 3.2 → τ = 2 + 0.2·1 = 2.2: only 3.0.  ρ = 0.5 → p = 2 → τ = 1: {1, 2, 3}.
    // ρ = 0.9 → p = 0.4 → τ = 0.1 + 0.4·0.4 = 0.26: all but 0.1.  ρ = 0 → τ = max = 3.  ρ = 1 → τ = min: all active.
    const cases: [number, Matrix][] = [
      [0.2, [[0, 0, 0], [1, 0, 0]]],
      [0.5, [[0, 1, 1], [1, 0, 0]]],
      [0.9, [[1, 1, 1], [1, 0, 0]]],
      [0, [[0, 0, 0], [1, 0, 0]]],
      [1, [[1, 1, 1], [1, 1, 0]]],
    ];
    for (const [rho, expected] of cases) {
      assertClose(computeHighEntropyMask(tf.tensor2d(entropy), tf.tensor2d(mask), rho), expected, 0, `rho ${rho}`);
    }
  });

  it('matches torch.quantile semantics on random entropies (float64 reference); an all-masked batch keeps nothing', () => {
    const values = rows(normals(95, B * T, 1.5).map((v) => Math.fround(Math.abs(v))), T);
    for (const rho of [0.05, 0.2, 0.37, 0.8]) {
      assertClose(computeHighEntropyMask(tf.tensor2d(values), tf.tensor2d(MASK), rho), refHighEntropyMask(values, MASK, rho), 0, `rho ${rho}`);
    }
    assertClose(computeHighEntropyMask(tf.tensor2d(values), tf.zeros([B, T]), 0.2), new Array<number>(B * T).fill(0), 0, 'empty');
  });

  it('masks the policy term only (the KL term and the normaliser keep every active token), with a gradient (TRL)', () => {
    const values = rows(normals(96, B * T, 1.5).map((v) => Math.fround(Math.abs(v))), T);
    const keep = refHighEntropyMask(values, MASK, 0.2);
    const cfg = config('dapo', { topEntropyQuantile: 0.2 });
    const refLoss = (x: number[]) => {
      const logp = rows(x, T);
      const policy = refClipLoss(rows(ADVANTAGES, 1), logp, OLD, EPS_LOW, EPS_HIGH).loss.map((row, i) => row.map((v, t) => v * keep[i][t]));
      return refAggregate(withKl(policy, logp), MASK, 'dapo', AGGREGATION);
    };
    const withEntropy = (logp: tf.Tensor) => inputs(logp, { entropy: tf.tensor2d(values) });
    assertClose(computeGrpoLoss(withEntropy(tf.tensor2d(LOGP, [B, T])), cfg).loss, [refLoss(LOGP)], 1e-6, 'loss');
    const gradient = tf.grad((logp: tf.Tensor) => computeGrpoLoss(withEntropy(logp), cfg).loss)(tf.tensor2d(LOGP, [B, T]));
    assertClose(gradient, centralDifferences(refLoss, LOGP, 1e-5), 1e-6, 'gradient');
  });

  it('passes no gradient into the entropy, and asks for it when ρ < 1', () => {
    const h = tf.tensor2d(entropy);
    assertClose(tf.grad((x: tf.Tensor) => tf.sum(tf.mul(computeHighEntropyMask(x as tf.Tensor2D, tf.tensor2d(mask), 0.5), x)))(h), [[0, 1, 1], [1, 0, 0]], 0, 'd/dH Σ keep·H = keep');
    assert.throws(() => computeGrpoLoss(inputs(tf.tensor2d(LOGP, [B, T])), config('dapo', { topEntropyQuantile: 0.5 })), /entropy is required/);
  });
});

describe('effectiveSampleSize', () => {
  it('(Σw)² / (n·Σw²): hand-computed, 1 on-policy, NaN with no tokens', () => {
    // [[1, 2], [1]]: Σw = 4, Σw² = 6, n = 3 → 16/18.
    assert.equal(effectiveSampleSize([[1, 2], [1]]), 16 / 18);
    assert.equal(effectiveSampleSize([[1, 1, 1], [1]]), 1);
    assert.equal(effectiveSampleSize([[5, 0, 0, 0]]), 0.25);
    assert.ok(Number.isNaN(effectiveSampleSize([[], []])));
    assert.equal(effectiveSampleSize([[0, 0]]), 0);
  });
});
