/**
 * KL to the reference policy and entropy, per token. All are differentiable with respect to the policy's
 * log-probs or logits, so β·KL can sit inside the loss.
 */
import * as tf from '@tensorflow/tfjs-core';
import { assertRank, assertSameShape } from './checks';

/**
 * TRL's per-token KL estimator ("k3", Schulman): with d = log π_ref(o_t) − log π_θ(o_t),
 *
 *     k3_t = exp(d) − d − 1
 *
 * It needs only the sampled token's log-probs, is ≥ 0 for every sample, and is unbiased for KL(π_θ ‖ π_ref) when
 * the tokens are drawn from π_θ.
 */
export function computeK3KlPerToken(policyLogProbs: tf.Tensor2D, refLogProbs: tf.Tensor2D): tf.Tensor2D {
  assertRank('computeK3KlPerToken', 'policyLogProbs', policyLogProbs, 2);
  assertSameShape('computeK3KlPerToken', 'policyLogProbs', policyLogProbs, 'refLogProbs', refLogProbs);
  return tf.tidy(() => {
    const logRatio = tf.sub(refLogProbs, policyLogProbs);
    return tf.sub(tf.sub(tf.exp(logRatio), logRatio), 1) as tf.Tensor2D;
  });
}

/**
 * Log-probabilities are floored at −1e30 before they multiply a probability: a logit of −inf (a token masked out of
 * the vocabulary) has probability 0 and must contribute 0, not 0·(−inf) = NaN, in the value and in the gradient.
 * A floor, not a `where(p > 0, …)`: tfjs has no gradient for the comparison that would feed the `where`. For finite
 * logits the floor never binds (a log-softmax is ≥ min logit − max logit − log V); the one value it changes is a KL
 * that is truly +inf (the reference gives 0 probability to a token the policy can emit), reported as ~1e30.
 */
const LOG_PROB_FLOOR = -1e30;

function floored(logProbs: tf.Tensor): tf.Tensor {
  return tf.maximum(logProbs, LOG_PROB_FLOOR);
}

/**
 * Exact KL over the whole vocabulary from logits [B,T,V] (seed 001, "方式 2"), per token [B,T]:
 *
 *     KL_t(π_θ ‖ π_ref) = Σ_v π_θ(v) · (log π_θ(v) − log π_ref(v))
 *
 * with log π from a log-softmax (max-shifted, so no overflow and no +1e-10 fudge as in the seed). Tokens with
 * logit −inf in both policies contribute 0.
 */
export function computeFullKlPerToken(policyLogits: tf.Tensor3D, refLogits: tf.Tensor3D): tf.Tensor2D {
  assertRank('computeFullKlPerToken', 'policyLogits', policyLogits, 3);
  assertSameShape('computeFullKlPerToken', 'policyLogits', policyLogits, 'refLogits', refLogits);
  return tf.tidy(() => {
    const policyLogProbs = tf.logSoftmax(policyLogits);
    const logRatio = tf.sub(floored(policyLogProbs), floored(tf.logSoftmax(refLogits)));
    return tf.sum(tf.mul(tf.exp(policyLogProbs), logRatio), -1) as tf.Tensor2D;
  });
}

/**
 * Entropy of the softmax over the last axis, e.g. logits [B,T,V] → [B,T]:
 *
 *     H = −Σ_v π(v) · log π(v),   log π = log_softmax(logits)
 */
export function computeEntropyFromLogits(logits: tf.Tensor): tf.Tensor {
  if (logits.rank < 1) throw new Error('computeEntropyFromLogits: logits must have a vocabulary axis');
  return tf.tidy(() => {
    const logProbs = tf.logSoftmax(logits);
    return tf.neg(tf.sum(tf.mul(tf.exp(logProbs), floored(logProbs)), -1));
  });
}
