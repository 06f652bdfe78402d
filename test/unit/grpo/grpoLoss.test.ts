import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import {
  computeGrpoLoss,
  computeGrpoLossTensors,
  GrpoLossConfig,
  GrpoLossInputs,
  GrpoTokenTensors,
  grpoMicrobatchLoss,
  LossAggregation,
  readGrpoTokenDetails,
  stopGradient,
} from '../../../src/grpo';
import {
  assertClose,
  assertNoLeak,
  centralDifferences,
  describeOnBackends,
  logRatiosAwayFromKinks,
  normals,
  rows,
} from './helpers';
import { Matrix, refAggregate, refClipLoss, refEntropy, refFullKl, refK3, refLogSoftmax } from './reference';

const [B, T, V] = [4, 5, 6];
const [EPS_LOW, EPS_HIGH, BETA] = [0.2, 0.28, 0.04];
const MASK: Matrix = [
  [1, 1, 1, 1, 1],
  [1, 1, 1, 0, 0],
  [1, 1, 1, 1, 0],
  [1, 0, 0, 0, 0],
];
const ACTIVE = 13;
const OLD = rows(normals(71, B * T, 1, -2), T);
const LOGP = logRatiosAwayFromKinks(72, B * T, EPS_LOW, EPS_HIGH).map((r, i) => Math.fround(r + OLD.flat()[i]));
const REF = rows(normals(73, B * T, 0.3, -2), T);
const ADVANTAGES = rows(normals(74, B), 1);
const AGGREGATION = { steps: 2, maxLength: 8, items: 2 * ACTIVE };
const LOSS_TYPES: LossAggregation[] = ['grpo', 'bnpo', 'dapo', 'dr_grpo'];

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

function inputs(logp: tf.Tensor, overrides: Partial<GrpoLossInputs> = {}): GrpoLossInputs {
  return {
    policyLogProbs: logp as tf.Tensor2D,
    responseMask: tf.tensor2d(MASK),
    advantages: tf.tensor2d(ADVANTAGES),
    oldLogProbs: tf.tensor2d(OLD),
    refLogProbs: tf.tensor2d(REF),
    numItemsInBatch: AGGREGATION.items,
    ...overrides,
  };
}

/** The float64 objective: clipped surrogate + β·k3, aggregated by lossType. */
function refPerToken(logp: Matrix, advantages: Matrix = ADVANTAGES): Matrix {
  const surrogate = refClipLoss(advantages, logp, OLD, EPS_LOW, EPS_HIGH).loss;
  const kl = refK3(logp, REF);
  return surrogate.map((row, i) => row.map((v, t) => v + BETA * kl[i][t]));
}

function refLoss(lossType: LossAggregation, logp: number[]): number {
  return refAggregate(refPerToken(rows(logp, T)), MASK, lossType, AGGREGATION);
}

function refMaskedBatchMean(values: Matrix): number {
  return values.flat().reduce((a, v, i) => a + v * MASK.flat()[i], 0) / ACTIVE;
}

describeOnBackends('stopGradient', () => {
  it('keeps the value and passes no gradient back', () => {
    const x = tf.tensor2d(LOGP, [B, T]);
    assertClose(stopGradient(x), LOGP, 0, 'value');
    assertClose(tf.grad((y: tf.Tensor) => tf.sum(stopGradient(y)))(x), new Array<number>(B * T).fill(0), 0, 'gradient of the constant');
    // d/dy Σ y·sg(y) = sg(y): the constant factor, not 2y.
    assertClose(tf.grad((y: tf.Tensor) => tf.sum(tf.mul(y, stopGradient(y))))(x), LOGP, 0, 'gradient through the other factor');
  });

  it('leaks no tensors, alone or under a gradient', async () => {
    const x = tf.tensor2d(LOGP, [B, T]);
    await assertNoLeak(() => stopGradient(x));
    await assertNoLeak(() => tf.grad((y: tf.Tensor) => tf.sum(tf.mul(y, stopGradient(y))))(x));
  });
});

describeOnBackends('computeGrpoLoss', () => {
  it("equals grpoMicrobatchLoss('grpo_clip') for lossType grpo, symmetric ε and β = 0", () => {
    const logp = tf.tensor2d(LOGP, [B, T]);
    const { loss } = computeGrpoLoss(inputs(logp), config('grpo', { epsilonHigh: undefined, beta: 0, gradientAccumulationSteps: 3 }));
    const cs336 = grpoMicrobatchLoss(logp, tf.tensor2d(MASK), 3, 'grpo_clip', undefined, tf.tensor2d(ADVANTAGES), tf.tensor2d(OLD), EPS_LOW);
    assertClose(loss, cs336.loss.dataSync(), 1e-6);
  });

  for (const lossType of LOSS_TYPES) {
    it(`${lossType} with clip-higher and β·k3: matches the float64 reference in value and gradient`, () => {
      const { loss } = computeGrpoLoss(inputs(tf.tensor2d(LOGP, [B, T])), config(lossType));
      assertClose(loss, [refLoss(lossType, LOGP)], 1e-6, 'loss');
      const gradient = tf.grad((logp: tf.Tensor) => computeGrpoLoss(inputs(logp), config(lossType)).loss)(
        tf.tensor2d(LOGP, [B, T]),
      );
      assertClose(gradient, centralDifferences((x) => refLoss(lossType, x), LOGP, 1e-5), 1e-6, 'gradient');
    });
  }

  it('reports TRL metrics and per-token values for the inspector', () => {
    const { metrics, perToken } = computeGrpoLoss(inputs(tf.tensor2d(LOGP, [B, T])), config('bnpo'));
    const reference = refClipLoss(ADVANTAGES, rows(LOGP, T), OLD, EPS_LOW, EPS_HIGH);
    const region = reference.low.map((row, i) => row.map((v, t) => v + reference.high[i][t]));
    const kl = refK3(rows(LOGP, T), REF);
    assert.deepEqual(Object.keys(metrics).sort(), ['clip_ratio/high_max', 'clip_ratio/high_mean', 'clip_ratio/low_mean', 'clip_ratio/low_min', 'clip_ratio/region_mean', 'kl', 'ppo_kl']);
    // verl's ppo_kl: masked mean of log π_old − log π_θ.
    assertClose(metrics.ppo_kl, refMaskedBatchMean(rows(LOGP, T).map((row, i) => row.map((l, t) => OLD[i][t] - l))), 1e-6, 'ppo_kl');
    assertClose(metrics['clip_ratio/low_mean'], refMaskedBatchMean(reference.low), 1e-7, 'low');
    assertClose(metrics['clip_ratio/high_mean'], refMaskedBatchMean(reference.high), 1e-7, 'high');
    assertClose(metrics['clip_ratio/region_mean'], refMaskedBatchMean(region), 1e-7, 'region');
    assert.ok(metrics['clip_ratio/low_mean'] > 0 && metrics['clip_ratio/high_mean'] > 0, 'the data clips on both sides');
    assertClose(metrics.kl, refMaskedBatchMean(kl), 1e-6, 'kl');
    assertClose(perToken.ratio, reference.ratio, 1e-5, 'ratio');
    assertClose(perToken.lowClipped, reference.low, 0, 'lowClipped');
    assertClose(perToken.highClipped, reference.high, 0, 'highClipped');
    assertClose(perToken.kl as Matrix, kl, 1e-6, 'kl per token');
    assertClose(perToken.loss, refPerToken(rows(LOGP, T)), 1e-5, 'loss per token');
    assert.equal(perToken.ratio.length, B);
    assert.equal(perToken.ratio[0].length, T);
    assert.equal(perToken.entropy, undefined);
  });

  it('computeGrpoLossTensors + readGrpoTokenDetails: the same loss, metrics and per-token values, read after the gradient step', async () => {
    const held = inputs(tf.tensor2d(LOGP, [B, T]), { policyLogits: tf.randomNormal([B, T, V], 0, 1, 'float32', 5) as tf.Tensor3D });
    const logp = tf.variable(held.policyLogProbs);
    for (const overrides of [{}, { oldLogProbs: undefined }]) {
      const sync = computeGrpoLoss({ ...held, ...overrides }, config('dapo'));
      const syncGradient = tf.grad((x: tf.Tensor) => computeGrpoLoss({ ...held, ...overrides, policyLogProbs: x as tf.Tensor2D }, config('dapo')).loss)(logp);
      const before = tf.memory().numTensors;
      let tokens: GrpoTokenTensors | undefined;
      const { value, grads } = tf.variableGrads(() => {
        const result = computeGrpoLossTensors({ ...held, ...overrides, policyLogProbs: logp }, config('dapo'));
        tokens = result.tokens;
        return result.loss;
      }, [logp]);
      assertClose(value, sync.loss.dataSync(), 0, 'loss');
      assertClose(grads[logp.name], syncGradient.dataSync(), 0, 'gradient');
      tf.dispose([value, grads]);
      // The per-token tensors outlived variableGrads' scope: read them, then free them.
      const report = await readGrpoTokenDetails(tokens!);
      tf.dispose(tokens);
      assert.equal(tf.memory().numTensors, before, 'tensors leaked');
      assert.deepEqual(report, { metrics: sync.metrics, perToken: sync.perToken });
      assert.deepEqual(Object.keys(report.metrics).sort(), ['clip_ratio/high_max', 'clip_ratio/high_mean', 'clip_ratio/low_mean', 'clip_ratio/low_min', 'clip_ratio/region_mean', 'entropy', 'kl', 'ppo_kl']);
    }
    logp.dispose();
  });

  it('takes per-token [B,T] advantages (process supervision)', () => {
    const advantages = rows(normals(75, B * T), T);
    const { loss } = computeGrpoLoss(inputs(tf.tensor2d(LOGP, [B, T]), { advantages: tf.tensor2d(advantages) }), config('grpo'));
    assertClose(loss, [refAggregate(refPerToken(rows(LOGP, T), advantages), MASK, 'grpo', AGGREGATION)], 1e-6);
  });

  it('with the full KL, is differentiable end to end through logits → log-softmax → sampled-token log-probs', () => {
    const logits = normals(76, B * T * V, 1.5);
    const refLogits = normals(77, B * T * V, 1.5);
    const tokens = normals(78, B * T).map((v) => Math.floor(Math.abs(v * 1000)) % V);
    const split = (flat: number[]) => rows(flat, T * V).map((row) => rows(row, V));
    const referenceLoss = (x: number[]) => {
      const logp = rows(rows(x, V).map((row, i) => refLogSoftmax(row)[tokens[i]]), T);
      const kl = refFullKl(split(x), split(refLogits));
      const surrogate = refClipLoss(ADVANTAGES, logp, OLD, EPS_LOW, EPS_HIGH).loss;
      return refAggregate(surrogate.map((row, i) => row.map((v, t) => v + BETA * kl[i][t])), MASK, 'dr_grpo', AGGREGATION);
    };
    const lossFromLogits = (x: tf.Tensor) => {
      const policyLogits = x as tf.Tensor3D;
      const logp = tf.sum(tf.mul(tf.logSoftmax(policyLogits), tf.oneHot(tf.tensor2d(tokens, [B, T], 'int32'), V)), -1);
      return computeGrpoLoss(
        inputs(logp, { policyLogits, refLogits: tf.tensor3d(refLogits, [B, T, V]), refLogProbs: undefined }),
        config('dr_grpo', { klEstimator: 'full' }),
      );
    };
    const result = lossFromLogits(tf.tensor3d(logits, [B, T, V]));
    assertClose(result.loss, [referenceLoss(logits)], 1e-6, 'loss');
    assertClose(result.metrics.kl, refMaskedBatchMean(refFullKl(split(logits), split(refLogits))), 1e-6, 'kl');
    assertClose(result.metrics.entropy, refMaskedBatchMean(rows(rows(logits, V).map(refEntropy), T)), 1e-6, 'entropy');
    const gradient = tf.grad((x: tf.Tensor) => lossFromLogits(x).loss)(tf.tensor3d(logits, [B, T, V]));
    assertClose(gradient, centralDifferences(referenceLoss, logits, 1e-5), 1e-6, 'gradient');
  });

  it('reports the KL without adding it when β = 0, and needs no reference then', () => {
    const logp = tf.tensor2d(LOGP, [B, T]);
    const withRef = computeGrpoLoss(inputs(logp), config('grpo', { beta: 0 }));
    const withoutRef = computeGrpoLoss(inputs(logp, { refLogProbs: undefined }), config('grpo', { beta: 0 }));
    assertClose(withRef.loss, withoutRef.loss.dataSync(), 0);
    assertClose(withRef.metrics.kl, refMaskedBatchMean(refK3(rows(LOGP, T), REF)), 1e-6);
    assert.equal(withoutRef.metrics.kl, undefined);
    assert.equal(withoutRef.perToken.kl, undefined);
  });

  it('uses the current log-probs as a constant π_old when oldLogProbs is omitted (ratio 1, gradient of −A·log π)', () => {
    const noOld = (logp: tf.Tensor) =>
      computeGrpoLoss(inputs(logp, { oldLogProbs: undefined }), config('bnpo', { beta: 0 }));
    const result = noOld(tf.tensor2d(LOGP, [B, T]));
    assertClose(result.perToken.ratio, rows(Array<number>(B * T).fill(1), T), 0);
    assertClose(result.loss, [-refAggregate(rows(ADVANTAGES.flatMap(([a]) => Array<number>(T).fill(a)), T), MASK, 'bnpo', AGGREGATION)], 1e-6);
    const gradient = tf.grad((logp: tf.Tensor) => noOld(logp).loss)(tf.tensor2d(LOGP, [B, T]));
    const expected = MASK.flatMap((row, i) => row.map((m) => (-ADVANTAGES[i][0] * m) / ACTIVE / AGGREGATION.steps));
    assertClose(gradient, expected, 1e-6);
  });

  it('names what a chosen variant is missing, and rejects bad configs', () => {
    const logp = tf.tensor2d(LOGP, [B, T]);
    assert.throws(() => computeGrpoLoss(inputs(logp, { refLogProbs: undefined }), config('grpo')), /refLogProbs is required for the k3 KL when beta ≠ 0/);
    assert.throws(() => computeGrpoLoss(inputs(logp), config('grpo', { klEstimator: 'full' })), /policyLogits is required for the full KL when beta ≠ 0/);
    assert.throws(() => computeGrpoLoss(inputs(logp, { numItemsInBatch: undefined }), config('dapo')), /numItemsInBatch is required for lossType 'dapo'/);
    assert.throws(() => computeGrpoLoss(inputs(logp), config('dr_grpo', { maxCompletionLength: undefined })), /maxCompletionLength is required/);
    assert.throws(() => computeGrpoLoss(inputs(logp), config('grpo', { klEstimator: 'k4' as 'k3' })), /klEstimator must be one of kl, k1, abs, mse, k2, k3, low_var_kl, k1\+, k3\+, full/);
    assert.throws(() => computeGrpoLoss(inputs(logp), config('grpo', { beta: -1 })), /beta must be a finite number ≥ 0/);
    assert.throws(() => computeGrpoLoss(inputs(logp, { advantages: tf.zeros([B]) as unknown as tf.Tensor2D }), config('grpo')), /advantages must have rank 2/);
    assert.throws(
      () => computeGrpoLoss(inputs(logp, { policyLogits: tf.zeros([B, T + 1, V]) }), config('grpo')),
      /policyLogits \[4,6,6\] must be \[B,T,V\] with \[B,T\] = \[4,5\]/,
    );
  });

  it('leaks no tensors, alone or inside tf.valueAndGrad, the caller disposing only the loss', async () => {
    const held = inputs(tf.tensor2d(LOGP, [B, T]), { policyLogits: tf.randomNormal([B, T, V]) as tf.Tensor3D });
    await assertNoLeak(() => computeGrpoLoss(held, config('dapo')).loss);
    await assertNoLeak(() => computeGrpoLoss({ ...held, oldLogProbs: undefined }, config('grpo')).loss);
    await assertNoLeak(() => {
      const { value, grad } = tf.valueAndGrad((logp: tf.Tensor) => computeGrpoLoss({ ...held, policyLogProbs: logp as tf.Tensor2D }, config('bnpo')).loss)(held.policyLogProbs);
      return [value, grad];
    });
    await assertNoLeak(() => assert.throws(() => computeGrpoLoss({ ...held, oldLogProbs: undefined, refLogProbs: undefined }, config('grpo'))));
  });
});
