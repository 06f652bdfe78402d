/**
 * From per-token values to one number: CS336's masked mean, and the loss aggregation modes of TRL `loss_type` /
 * verl `loss_agg_mode`, which differ in how much each token and each sequence weighs.
 */
import * as tf from '@tensorflow/tfjs-core';
import { assertPositiveInteger, assertSameShape, required } from './checks';

/**
 * CS336 `masked_mean`: `sum(x·m, dim) / sum(m, dim)`, over every element when `dim` is undefined. Negative `dim`
 * counts from the end, as in torch. A slice whose mask is all zero gives NaN (0/0), as the reference does; NaN in
 * `tensor` propagates even where masked (NaN·0 = NaN), also as the reference does.
 */
export function maskedMean(tensor: tf.Tensor, mask: tf.Tensor, dim?: number): tf.Tensor {
  assertSameShape('maskedMean', 'tensor', tensor, 'mask', mask);
  const axis = dim === undefined ? undefined : resolveAxis('maskedMean', dim, tensor.rank);
  return tf.tidy(() => {
    const weights = tf.cast(mask, 'float32');
    return tf.div(tf.sum(tf.mul(tf.cast(tensor, 'float32'), weights), axis), tf.sum(weights, axis));
  });
}

function resolveAxis(fn: string, dim: number, rank: number): number {
  if (!Number.isInteger(dim) || dim < -rank || dim >= rank) {
    throw new Error(`${fn}: dim ${dim} is out of range for a tensor of rank ${rank} (allowed ${-rank}…${rank - 1})`);
  }
  return dim < 0 ? dim + rank : dim;
}

/**
 * TRL `loss_type` names (grpo, bnpo, dapo, dr_grpo) and verl `loss_agg_mode` names (token-mean, seq-mean-token-sum,
 * seq-mean-token-mean, seq-mean-token-sum-norm). They are not aliases: see aggregateTokenLoss and docs/algorithms.md.
 */
export type LossAggregation = TrlLossType | VerlLossAggMode;
export type TrlLossType = 'grpo' | 'bnpo' | 'dapo' | 'dr_grpo';
export type VerlLossAggMode = 'token-mean' | 'seq-mean-token-sum' | 'seq-mean-token-mean' | 'seq-mean-token-sum-norm';

export const VERL_LOSS_AGG_MODES: readonly VerlLossAggMode[] = ['token-mean', 'seq-mean-token-sum', 'seq-mean-token-mean', 'seq-mean-token-sum-norm'];

export const LOSS_AGGREGATIONS: readonly LossAggregation[] = ['grpo', 'bnpo', 'dapo', 'dr_grpo', ...VERL_LOSS_AGG_MODES];

export interface AggregationOptions {
  /** Micro-batches per optimizer step; grpo, bnpo and dr_grpo divide by it so the summed gradients average. */
  gradientAccumulationSteps?: number;
  /** dr_grpo's constant divisor L (TRL `max_completion_length`); required for dr_grpo. */
  maxCompletionLength?: number;
  /** dapo's divisor: active tokens in the whole optimizer step, all micro-batches together; required for dapo. */
  numItemsInBatch?: number;
  /**
   * verl `loss_scale_factor`, the divisor of seq-mean-token-sum-norm; verl's default is the padded response length,
   * i.e. the rollout's max response length: here maxCompletionLength when given, else the width T of the tensor.
   */
  lossScaleFactor?: number;
}

/**
 * Reduces a per-token loss ℓ [B,T] with mask m [B,T] (n_i = Σ_t m_it active tokens of rollout i, S = gradient
 * accumulation steps):
 *
 *     grpo:     (1/B) Σ_i [ Σ_t ℓ_it m_it / max(n_i, 1) ] / S     every sequence weighs the same
 *     bnpo:     Σ_it ℓ_it m_it / max(Σ_i n_i, 1) / S              every token of the micro-batch weighs the same
 *     dapo:     Σ_it ℓ_it m_it / N                                N = active tokens of the whole step (numItemsInBatch)
 *     dr_grpo:  Σ_it ℓ_it m_it / (B · L) / S                       L = maxCompletionLength, a constant: no length bias
 *
 * The max(·, 1) is TRL's clamp: an empty rollout contributes 0 instead of NaN.
 *
 * verl `agg_loss` as its default (legacy FSDP) actor calls it: per micro-batch with the micro-batch's own counts,
 * then × 1/S (`loss_scale_factor = 1 / gradient_accumulation` in dp_actor.py; verl/trainer/ppo/core_algos.py and
 * verl/workers/actor/dp_actor.py @ b178a3cd56f58b2d502255daba591e92833930a7). With K = rows that have a token:
 *
 *     token-mean:               Σ_it ℓ m / Σ_it m / S                             (= bnpo)
 *     seq-mean-token-sum:       Σ_{i: n_i>0} Σ_t ℓ m / K / S
 *     seq-mean-token-mean:      Σ_{i: n_i>0} (Σ_t ℓ m / n_i) / K / S               (grpo, but empty rows not counted)
 *     seq-mean-token-sum-norm:  Σ_it ℓ m / F / S,  F = lossScaleFactor ?? maxCompletionLength ?? T
 *                                                                                 (dr_grpo without its 1/B)
 * A micro-batch with no token gives 0 (verl: 0/0), as TRL's clamps do.
 */
export function aggregateTokenLoss(
  perTokenLoss: tf.Tensor2D,
  responseMask: tf.Tensor2D,
  lossType: LossAggregation,
  options: AggregationOptions = {},
): tf.Scalar {
  const fn = 'aggregateTokenLoss';
  assertSameShape(fn, 'perTokenLoss', perTokenLoss, 'responseMask', responseMask);
  const steps = options.gradientAccumulationSteps ?? 1;
  assertPositiveInteger(fn, 'gradientAccumulationSteps', steps);
  const divisor = aggregationDivisor(fn, lossType, options);
  return tf.tidy(() => {
    const mask = tf.cast(responseMask, 'float32');
    const masked = tf.mul(perTokenLoss, mask);
    switch (lossType) {
      case 'grpo':
        return tf.div(tf.mean(tf.div(tf.sum(masked, 1), tf.maximum(tf.sum(mask, 1), 1))), steps) as tf.Scalar;
      case 'bnpo':
        return tf.div(tf.div(tf.sum(masked), tf.maximum(tf.sum(mask), 1)), steps) as tf.Scalar;
      case 'dapo':
        return tf.div(tf.sum(masked), divisor) as tf.Scalar;
      case 'dr_grpo':
        return tf.div(tf.sum(masked), divisor * perTokenLoss.shape[0] * steps) as tf.Scalar;
      case 'token-mean':
        return tf.div(tf.div(tf.sum(masked), tf.maximum(tf.sum(mask), 1)), steps) as tf.Scalar;
      case 'seq-mean-token-sum':
      case 'seq-mean-token-mean': {
        const counts = tf.sum(mask, 1);
        const sums = tf.sum(masked, 1);
        // verl divides by n_i + 1e-8; max(n_i, 1) gives the same for n_i ≥ 1 and 0 for the empty rows it skips.
        const rows = lossType === 'seq-mean-token-sum' ? sums : tf.div(sums, tf.maximum(counts, 1));
        const nonEmpty = tf.maximum(tf.sum(tf.cast(tf.greater(counts, 0), 'float32')), 1);
        return tf.div(tf.div(tf.sum(rows), nonEmpty), steps) as tf.Scalar;
      }
      case 'seq-mean-token-sum-norm':
        return tf.div(tf.sum(masked), (options.lossScaleFactor ?? options.maxCompletionLength ?? perTokenLoss.shape[1]) * steps) as tf.Scalar;
    }
  });
}

/** The constant divisor dapo and dr_grpo need, checked up front so a bad config fails before any math. */
function aggregationDivisor(fn: string, lossType: LossAggregation, options: AggregationOptions): number {
  switch (lossType) {
    case 'grpo':
    case 'bnpo':
    case 'token-mean':
    case 'seq-mean-token-sum':
    case 'seq-mean-token-mean':
      return 1;
    case 'seq-mean-token-sum-norm':
      if (options.lossScaleFactor !== undefined && !(options.lossScaleFactor > 0 && Number.isFinite(options.lossScaleFactor))) {
        throw new Error(`${fn}: lossScaleFactor must be a finite number > 0, got ${options.lossScaleFactor}`);
      }
      return 1;
    case 'dapo': {
      const items = required(fn, 'numItemsInBatch', "for lossType 'dapo'", options.numItemsInBatch);
      assertPositiveInteger(fn, 'numItemsInBatch', items);
      return items;
    }
    case 'dr_grpo': {
      const length = required(fn, 'maxCompletionLength', "for lossType 'dr_grpo'", options.maxCompletionLength);
      assertPositiveInteger(fn, 'maxCompletionLength', length);
      return length;
    }
    default:
      throw new Error(`${fn}: lossType must be one of ${LOSS_AGGREGATIONS.join(', ')}, got '${lossType}'`);
  }
}
