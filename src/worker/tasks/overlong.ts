/**
 * DAPO's soft overlong punishment (arXiv 2503.14476, Eq. 13) as a built-in reward, with TRL's semantics
 * (`trl/rewards/other_rewards.py` get_soft_overlong_punishment, commit f2cd57710ae345ea6428ae95363267fcf38a3dc8):
 * with |y| the completion's token count (its stop token included, as TRL's completion_ids),
 *
 *     R(y) = 0                               |y| ≤ L_max − L_cache
 *          = ((L_max − L_cache) − |y|) / L_cache    L_max − L_cache < |y| ≤ L_max
 *          = −1                              L_max < |y|
 *
 * It only punishes length near the limit, never rewards brevity. Parameters (a reward's `params`):
 * `soft_punish_cache` L_cache (required), `max_completion_len` L_max (default: sampling.max_completion_length).
 */
import type { RewardFunction } from './rewards';

export interface OverlongParams {
  max_completion_len: number;
  soft_punish_cache: number;
}

/** R(|y|) for a completion of `length` tokens. */
export function softOverlongPunishment(length: number, { max_completion_len: max, soft_punish_cache: cache }: OverlongParams): number {
  if (length <= max - cache) return 0;
  if (length <= max) return (max - cache - length) / cache;
  return -1;
}

/** The reward function for a run: reads the token ids the trainer passes as `example.completion_ids`. */
export function softOverlongReward(params: Record<string, number>, context: { maxCompletionLength?: number }): RewardFunction {
  const resolved = overlongParams(params, context);
  return (_prompt, _completion, example) => {
    const ids = (example as { completion_ids?: unknown }).completion_ids;
    if (!Array.isArray(ids)) throw new Error('soft_overlong_punishment needs example.completion_ids (the completion\'s token ids)');
    return softOverlongPunishment(ids.length, resolved);
  };
}

function overlongParams(params: Record<string, number>, context: { maxCompletionLength?: number }): OverlongParams {
  const unknown = Object.keys(params).filter((key) => key !== 'max_completion_len' && key !== 'soft_punish_cache');
  if (unknown.length > 0) throw new Error(`soft_overlong_punishment: unknown params ${unknown.join(', ')} (max_completion_len, soft_punish_cache)`);
  const max = params.max_completion_len ?? context.maxCompletionLength;
  const cache = params.soft_punish_cache;
  if (max === undefined || !Number.isInteger(max) || max < 1) throw new Error(`soft_overlong_punishment: max_completion_len must be a positive integer, got ${max}`);
  // TRL documents cache 0 as "no soft zone" but then divides by it for |y| = L_max: require ≥ 1 instead.
  if (cache === undefined || !Number.isInteger(cache) || cache < 1 || cache > max) {
    throw new Error(`soft_overlong_punishment: params.soft_punish_cache must be an integer in [1, max_completion_len = ${max}], got ${cache}`);
  }
  return { max_completion_len: max, soft_punish_cache: cache };
}
