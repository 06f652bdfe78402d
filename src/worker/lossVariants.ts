/**
 * From the run config's policy-loss variants (issue 13 item 10) to what the loss and the trainer loop need: the
 * loss config's variant fields, which rollouts train (mask_truncated_completions), and the metrics the variants add.
 * Kept out of grpoTrainer.ts so the loop changes by a few calls.
 */
import { effectiveSampleSize, GrpoLossConfig } from '../grpo';
import { AlgorithmConfig } from '../protocol';

/** The variant fields of GrpoLossConfig. `cispo` is TRL's: its surrogate, aggregated like dapo (global token count). */
export function lossVariantConfig(algorithm: AlgorithmConfig): Pick<GrpoLossConfig, 'lossType' | 'surrogate' | 'importanceSamplingLevel' | 'cispoClip' | 'topEntropyQuantile'> {
  const lossType = algorithm.loss_type;
  return {
    // verl's loss_agg_mode, when set, overrides the aggregation TRL's loss_type implies (cispo's is dapo's).
    lossType: algorithm.loss_agg_mode ?? (lossType === 'cispo' ? 'dapo' : lossType),
    surrogate: lossType === 'cispo' ? 'cispo' : 'clip',
    importanceSamplingLevel: algorithm.importance_sampling_level,
    cispoClip: algorithm.cispo_clip,
    topEntropyQuantile: algorithm.top_entropy_quantile,
  };
}

/**
 * 1 for a rollout that trains, 0 for one cut at the length limit when mask_truncated_completions is on (TRL zeroes
 * its completion mask: it leaves the loss, the loss normaliser and the KL; `trl/trainer/grpo_trainer.py`
 * _generate_and_score_completions, commit f2cd57710ae345ea6428ae95363267fcf38a3dc8). A completion that ended on a
 * stop token or stop string is not truncated.
 */
export function trainingRows(finishReasons: readonly ('stop' | 'length')[], maskTruncated: boolean): number[] {
  return finishReasons.map((reason) => (maskTruncated && reason === 'length' ? 0 : 1));
}

/**
 * Metrics the variants add, from the last pass's per-token ratios of the rows that trained:
 * `importance_weights/ess` (importanceWeights.ts), `completions/masked_truncated` (rollouts left out of the loss),
 * and TRL's `cispo_clip_ratio` (= our clip_ratio/high_mean under CISPO).
 */
export function variantMetrics(algorithm: AlgorithmConfig, ratios: readonly number[][], rows: readonly number[], metrics: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  const trained = ratios.filter((_, i) => rows[i] > 0);
  const ess = effectiveSampleSize(trained);
  if (Number.isFinite(ess)) out['importance_weights/ess'] = ess;
  if (algorithm.mask_truncated_completions) out['completions/masked_truncated'] = rows.filter((r) => r === 0).length;
  if (algorithm.loss_type === 'cispo' && metrics['clip_ratio/high_mean'] !== undefined) out.cispo_clip_ratio = metrics['clip_ratio/high_mean'];
  return out;
}

/**
 * GSPO (`importance_sampling_level: "sequence"`): TRL's clip metrics count sequences, not tokens — its weights are
 * [B,1] and `global_masked_mean` then divides by B (`trl/trainer/grpo_trainer.py` _compute_loss, commit
 * f2cd57710ae345ea6428ae95363267fcf38a3dc8). Every token of a row carries the row's flag, so a row's first token
 * says it; an empty row (or one masked out) has weight exp(0) = 1 and is not clipped. {} at the other levels.
 */
export function sequenceClipMetrics(algorithm: AlgorithmConfig, trace: { lowClipped: number[][]; highClipped: number[][] }): Record<string, number> {
  if (algorithm.importance_sampling_level !== 'sequence' || algorithm.loss_type === 'cispo' || trace.lowClipped.length === 0) return {};
  const rows = trace.lowClipped.length;
  const low = trace.lowClipped.map((row) => row[0] ?? 0);
  const high = trace.highClipped.map((row) => row[0] ?? 0);
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  return {
    'clip_ratio/low_mean': sum(low) / rows,
    'clip_ratio/high_mean': sum(high) / rows,
    'clip_ratio/region_mean': sum(low.map((l, i) => Math.max(l, high[i]))) / rows,
  };
}
