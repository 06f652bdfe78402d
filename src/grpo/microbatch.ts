/**
 * CS336 `grpo_microbatch_train_step`, as a loss function: tfjs takes gradients with `tf.grad` / `tf.variableGrads`
 * around a function that returns the loss, so the caller differentiates this instead of it calling backward().
 */
import * as tf from '@tensorflow/tfjs-core';
import { maskedMean } from './aggregation';
import { assertPositiveInteger, assertRank, assertSameShape } from './checks';
import { computePolicyGradientLoss, PolicyGradientLossType } from './policyLoss';

/**
 * Per-token loss of `lossType` → masked mean over each rollout's response tokens → mean over the batch → divided
 * by `gradientAccumulationSteps`:
 *
 *     L = (1/S) · (1/B) Σ_i [ Σ_t ℓ_it m_it / Σ_t m_it ]
 *
 * Differentiable with respect to `policyLogProbs`. A rollout with an all-zero mask makes the loss NaN, as
 * `masked_mean` does in the reference; `aggregateTokenLoss` with 'grpo' is the TRL variant that counts it as 0.
 * metadata is that of `computePolicyGradientLoss` (tensors the caller disposes).
 */
export function grpoMicrobatchLoss(
  policyLogProbs: tf.Tensor2D,
  responseMask: tf.Tensor2D,
  gradientAccumulationSteps: number,
  lossType: PolicyGradientLossType,
  rawRewards?: tf.Tensor2D,
  advantages?: tf.Tensor2D,
  oldLogProbs?: tf.Tensor2D,
  cliprange?: number,
): { loss: tf.Scalar; metadata: Record<string, tf.Tensor> } {
  const fn = 'grpoMicrobatchLoss';
  assertRank(fn, 'policyLogProbs', policyLogProbs, 2);
  assertSameShape(fn, 'policyLogProbs', policyLogProbs, 'responseMask', responseMask);
  assertPositiveInteger(fn, 'gradientAccumulationSteps', gradientAccumulationSteps);
  return tf.tidy(() => {
    const { loss: perTokenLoss, metadata } = computePolicyGradientLoss(
      policyLogProbs,
      lossType,
      rawRewards,
      advantages,
      oldLogProbs,
      cliprange,
    );
    const perRollout = maskedMean(perTokenLoss, responseMask, -1);
    const loss = tf.div(tf.mean(perRollout), gradientAccumulationSteps) as tf.Scalar;
    return { loss, metadata };
  });
}
