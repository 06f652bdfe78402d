/**
 * GSPO (Group Sequence Policy Optimization, arXiv 2507.18071): the importance weight of a completion is its
 * length-normalised sequence likelihood ratio, so the clip acts on whole sequences, not on tokens. TRL spells it
 * `importance_sampling_level`:
 *
 *     token:           log w_it = log π_θ(o_it) − log π_old(o_it)                      (GRPO)
 *     sequence:        log w_i  = Σ_t m_it (log π_θ − log π_old) / max(Σ_t m_it, 1)       (GSPO)
 *     sequence_token:  log w_it = sg[log w_i] + log π_θ(o_it) − sg[log π_θ(o_it)]          (GSPO-token)
 *
 * From TRL `trl/trainer/grpo_trainer.py` `_compute_loss` (token, sequence) and
 * `trl/experimental/gspo_token/grpo_trainer.py` (sequence_token), commit f2cd57710ae345ea6428ae95363267fcf38a3dc8.
 * GSPO-token has the value of the sequence weight and a per-token gradient; it is what verl's `gspo` policy loss
 * computes (`verl/trainer/ppo/core_algos.py` compute_policy_loss_gspo, commit b178a3cd), which additionally clamps
 * the log weight at 10 — TRL does not, and neither does this.
 */
import * as tf from '@tensorflow/tfjs-core';
import { assertRank, assertSameShape } from './checks';

/** TRL `importance_sampling_level`. */
export type ImportanceSamplingLevel = 'token' | 'sequence' | 'sequence_token';

export const IMPORTANCE_SAMPLING_LEVELS: readonly ImportanceSamplingLevel[] = ['token', 'sequence', 'sequence_token'];

/** log w_i [B,1]: the mean per-token log-ratio over each row's active tokens (0 for an empty row: TRL's clamp). */
export function computeSequenceLogRatio(policyLogProbs: tf.Tensor2D, oldLogProbs: tf.Tensor2D, responseMask: tf.Tensor2D): tf.Tensor2D {
  const fn = 'computeSequenceLogRatio';
  assertRank(fn, 'policyLogProbs', policyLogProbs, 2);
  assertSameShape(fn, 'policyLogProbs', policyLogProbs, 'oldLogProbs', oldLogProbs);
  assertSameShape(fn, 'policyLogProbs', policyLogProbs, 'responseMask', responseMask);
  return tf.tidy(() => {
    const mask = tf.cast(responseMask, 'float32');
    const summed = tf.sum(tf.mul(tf.sub(policyLogProbs, oldLogProbs), mask), 1, true);
    return tf.div(summed, tf.maximum(tf.sum(mask, 1, true), 1)) as tf.Tensor2D;
  });
}

/**
 * The log importance weight of every token [B,T] at the given level; at `sequence` level every token of a row
 * carries its row's log w_i (TRL keeps it [B,1] and broadcasts: same values, same gradient). `stopGradient` is
 * grpoLoss's (passed in, so this module does not import the loss it serves).
 */
export function computeImportanceLogWeights(
  level: ImportanceSamplingLevel,
  policyLogProbs: tf.Tensor2D,
  oldLogProbs: tf.Tensor2D,
  responseMask: tf.Tensor2D,
  stopGradient: <T extends tf.Tensor>(x: T) => T,
): tf.Tensor2D {
  const fn = 'computeImportanceLogWeights';
  assertRank(fn, 'policyLogProbs', policyLogProbs, 2);
  assertSameShape(fn, 'policyLogProbs', policyLogProbs, 'oldLogProbs', oldLogProbs);
  return tf.tidy(() => {
    switch (level) {
      case 'token':
        return tf.sub(policyLogProbs, oldLogProbs) as tf.Tensor2D;
      case 'sequence': {
        const sequence = computeSequenceLogRatio(policyLogProbs, oldLogProbs, responseMask);
        return tf.add(tf.zerosLike(policyLogProbs), sequence) as tf.Tensor2D;
      }
      case 'sequence_token': {
        const sequence = stopGradient(computeSequenceLogRatio(policyLogProbs, oldLogProbs, responseMask));
        return tf.add(tf.sub(policyLogProbs, stopGradient(policyLogProbs)), sequence) as tf.Tensor2D;
      }
      default:
        throw new Error(`${fn}: level must be one of ${IMPORTANCE_SAMPLING_LEVELS.join(', ')}, got '${String(level)}'`);
    }
  });
}
