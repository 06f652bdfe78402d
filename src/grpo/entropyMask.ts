/**
 * TRL `top_entropy_quantile` ("Beyond the 80/20 Rule", arXiv 2506.01939): only the highest-entropy tokens of a
 * batch — the forks where the policy decides — keep a policy-gradient loss. From TRL
 * `trl/trainer/grpo_trainer.py` `get_high_entropy_mask` and `_compute_loss`, commit
 * f2cd57710ae345ea6428ae95363267fcf38a3dc8:
 *
 *     τ = quantile(H over the active tokens of the batch, 1 − ρ)      torch.quantile, linear interpolation
 *     keep_it = m_it ∧ H_it ≥ τ
 *
 * TRL multiplies only the policy term by the mask (the KL term and the loss normaliser still use every active
 * token), and takes the batch as the micro-batch of one forward pass (gathered across processes); so does the
 * trainer here. ρ = 1 keeps every token; ρ = 0 keeps the maximum-entropy token(s) only; a batch with no active
 * token keeps none.
 */
import * as tf from '@tensorflow/tfjs-core';
import { assertSameShape } from './checks';

/**
 * The keep mask [B,T] (float 0/1) of the tokens whose entropy is at least the (1 − ρ) quantile of the active
 * tokens' entropies. Computed on the device (a sort by top-k, the two quantile neighbours gathered by index), so
 * nothing is read back; wrapped in a zero-gradient custom op because tfjs has no gradient for top-k or the
 * comparison, and the mask is a constant of the loss (TRL's is a boolean tensor).
 */
export function computeHighEntropyMask(entropy: tf.Tensor2D, responseMask: tf.Tensor2D, quantile: number): tf.Tensor2D {
  const fn = 'computeHighEntropyMask';
  assertSameShape(fn, 'entropy', entropy, 'responseMask', responseMask);
  if (!(quantile >= 0 && quantile <= 1)) throw new Error(`${fn}: quantile must be in [0, 1], got ${quantile}`);
  const masked = tf.customGrad((h: tf.Tensor | tf.GradSaveFunc, m: tf.Tensor | tf.GradSaveFunc) => ({
    value: keepMask(h as tf.Tensor2D, m as tf.Tensor2D, 1 - quantile),
    gradFunc: (dy: tf.Tensor) => [tf.zerosLike(dy), tf.zerosLike(dy)],
  }));
  return masked(entropy, responseMask) as tf.Tensor2D;
}

function keepMask(entropy: tf.Tensor2D, responseMask: tf.Tensor2D, q: number): tf.Tensor2D {
  return tf.tidy(() => {
    const mask = tf.cast(responseMask, 'float32');
    const size = entropy.size;
    if (size === 0) return tf.zerosLike(mask);
    // Entropies are ≥ 0: a negative sentinel sorts inactive tokens after every active one (TRL's pad_value trick).
    const flat = tf.reshape(tf.where(tf.greater(mask, 0), entropy, tf.fill(entropy.shape, -1e9)), [size]);
    const descending = tf.topk(flat, size, true).values;
    const count = tf.sum(mask);
    // Ascending position p = q·(n − 1) lies between lo = ⌊p⌋ and hi = ⌈p⌉; ascending index j is descending n − 1 − j.
    const position = tf.mul(tf.maximum(tf.sub(count, 1), 0), q);
    const lo = tf.floor(position);
    const hi = tf.ceil(position);
    const at = (ascending: tf.Tensor) => tf.gather(descending, tf.cast(tf.maximum(tf.sub(tf.sub(count, 1), ascending), 0), 'int32'));
    const low = at(lo);
    const threshold = tf.add(low, tf.mul(tf.sub(at(hi), low), tf.sub(position, lo)));
    const keep = tf.logicalAnd(tf.greaterEqual(entropy, threshold), tf.greater(mask, 0));
    return tf.cast(keep, 'float32') as tf.Tensor2D;
  });
}
