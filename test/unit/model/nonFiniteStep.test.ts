/**
 * Issue 13 item 3: nothing non-finite reaches the weights. A reward of 1e39 (Inf in float32) fed straight in as an
 * advantage — past any refusal of such rewards upstream — makes the GRPO loss and every gradient non-finite; the
 * optimizer step must be skipped with the weights and Adam's state unchanged, on the single-threaded and the
 * data-parallel path alike.
 */
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { computeGrpoLossTensors } from '../../../src/grpo';
import { loadPolicy, PolicyTrainer, sftLoss } from '../../../src/model';
import { LossFn, nonFiniteReason } from '../../../src/model/train';
import { useWasm, writeCheckpoint } from './helpers';

const batch = { promptIds: [[1, 2, 3], [4, 5], [6, 7]], responseIds: [[8, 9], [10, 11, 12], [13]] };

/** The trainer's GRPO loss with one advantage per row (as the trainer pads it). */
function grpoLossWith(advantages: number[]): LossFn {
  return (logProbs, _entropy, mask) => {
    const { loss, tokens } = computeGrpoLossTensors(
      { policyLogProbs: logProbs, responseMask: mask, advantages: tf.tensor2d(advantages, [advantages.length, 1]) },
      { lossType: 'grpo', epsilonLow: 0.2, beta: 0 },
    );
    tf.dispose(tokens);
    return loss;
  };
}

function weightValues(trainer: PolicyTrainer): number[] {
  return trainer.policy.variables().flatMap((v) => Array.from(v.dataSync()));
}

describe('a non-finite loss or gradient skips the optimizer step', () => {
  before(useWasm);

  it('reports which value was not finite', () => {
    assert.strictEqual(nonFiniteReason(1, 2), undefined);
    assert.strictEqual(nonFiniteReason(undefined, 2), undefined);
    assert.strictEqual(nonFiniteReason(Number.NaN, 2), 'non-finite loss NaN');
    assert.strictEqual(nonFiniteReason(1, Infinity), 'non-finite grad_norm Infinity');
    assert.strictEqual(nonFiniteReason(-Infinity, Number.NaN), 'non-finite loss -Infinity and grad_norm NaN');
  });

  for (const parallel of [false, true]) {
    it(`advantage 1e39: step skipped, weights and Adam state unchanged and finite (${parallel ? 'data-parallel' : 'single thread'})`, async function () {
      this.timeout(60000);
      const policy = loadPolicy(writeCheckpoint('qwen2', 41));
      const trainer = new PolicyTrainer(policy, { learningRate: 1e-2, maxGradNorm: 1 });
      try {
        if (parallel) await trainer.enableDataParallel();
        // One good step first, so the Adam moments are non-zero and a polluted update would show.
        const good = await trainer.trainStep([batch], grpoLossWith([1, -0.5, -0.5]));
        assert.strictEqual(good.skipped, undefined);
        const before = weightValues(trainer);
        const tensorsBefore = tf.memory().numTensors;
        // Before the guard: loss ±Inf/NaN, grad_norm NaN, and after the step every parameter NaN.
        const bad = await trainer.trainStep([batch], grpoLossWith([1e39, -1e39, 0]));
        assert.ok(!Number.isFinite(bad.loss) || !Number.isFinite(bad.gradNorm), `loss ${bad.loss}, grad_norm ${bad.gradNorm}`);
        assert.match(bad.skipped ?? '', /non-finite/);
        assert.strictEqual(bad.step, 1, 'a skipped step is not an Adam step');
        assert.strictEqual(tf.memory().numTensors, tensorsBefore, 'the dropped gradients are freed');
        const after = weightValues(trainer);
        assert.ok(after.every(Number.isFinite));
        assert.deepStrictEqual(after, before);
        // Training goes on from the same state: the next good step is Adam's step 2 and moves the weights.
        const next = await trainer.trainStep([batch], sftLoss);
        assert.strictEqual(next.step, 2);
        assert.ok(weightValues(trainer).every(Number.isFinite));
      } finally {
        trainer.dispose();
        policy.dispose();
      }
    });
  }
});
