/**
 * The configurable GRPO objective the trainer calls once per micro-batch: clipped surrogate (symmetric or DAPO
 * clip-higher) + β·KL to the reference (k3 or exact), aggregated by a TRL `loss_type`, with TRL's metrics and the
 * per-token values the inspector shows.
 */
import * as tf from '@tensorflow/tfjs-core';
import { aggregateTokenLoss, LossAggregation } from './aggregation';
import { assertAdvantageShape, assertNonNegativeFinite, assertRank, assertSameShape, required, shapeText } from './checks';
import { computeEntropyFromLogits, computeFullKlPerToken, computeKlPenaltyPerToken, KL_PENALTIES, KlClamps, KlPenalty } from './divergence';
import { computePolicySurrogate, PolicyVariantConfig } from './variants';

/**
 * A sampled-token estimator (computeKlPenaltyPerToken: `k3` TRL's, `kl`/`abs`/`mse`/`low_var_kl`/`k1+`/`k3+` verl's)
 * or `full`: exact KL over the vocabulary from logits.
 */
export type KlEstimator = KlPenalty | 'full';

/**
 * Everything a run config decides; the trainer passes it through unchanged. The policy-term variants (GSPO's
 * importance level, CISPO, top-entropy tokens) are PolicyVariantConfig's, see variants.ts.
 */
export interface GrpoLossConfig extends Omit<PolicyVariantConfig, 'epsilonLow' | 'epsilonHigh'> {
  lossType: LossAggregation;
  /** ε_low: ratios below 1 − ε_low stop pushing a negative-advantage token down (TRL `epsilon`). */
  epsilonLow: number;
  /** ε_high (TRL `epsilon_high`, DAPO uses 0.28); defaults to epsilonLow, i.e. symmetric GRPO-Clip. */
  epsilonHigh?: number;
  /**
   * Dual clip c > 1 (verl `clip_ratio_c`, TRL `delta` — the same bound, see computeAsymmetricClipLoss): for A < 0
   * the per-token loss is at most −A·c. Undefined: off (TRL's default).
   */
  dualClipRatio?: number;
  /** KL weight β; 0 leaves the KL out of the loss (and needs no reference model). */
  beta: number;
  /** Default `'k3'`. */
  klEstimator?: KlEstimator;
  /** Clamp of |log π_ref − log π_θ| in k3 / low_var_kl (verl: 20); 0 = none. Default 20. */
  klLogRatioClamp?: number;
  /** Clamp of the low_var_kl / k3+ value (verl: 10); 0 = none. Default 10. */
  klValueClamp?: number;
  /** dr_grpo's constant divisor (TRL `max_completion_length`); seq-mean-token-sum-norm's default divisor. */
  maxCompletionLength?: number;
  /** verl `loss_scale_factor` for seq-mean-token-sum-norm (default maxCompletionLength). */
  lossScaleFactor?: number;
  /** Micro-batches per optimizer step; default 1. */
  gradientAccumulationSteps?: number;
}

/** One micro-batch: B rollouts, T response tokens, V vocabulary entries. */
export interface GrpoLossInputs {
  /** log π_θ of the sampled tokens [B,T]; gradients flow through it. */
  policyLogProbs: tf.Tensor2D;
  /** 1 on response tokens, 0 on padding [B,T]. */
  responseMask: tf.Tensor2D;
  /** [B,1] per rollout or [B,T] per token (process supervision). */
  advantages: tf.Tensor2D;
  /**
   * log π_old [B,T] from the policy that sampled the rollouts. Omitted, the current log-probs are used as a
   * constant (TRL with num_iterations = 1): ρ = 1 in value and the gradient is that of −A·log π_θ.
   */
  oldLogProbs?: tf.Tensor2D;
  /** log π_ref of the sampled tokens [B,T], for the k3 KL. */
  refLogProbs?: tf.Tensor2D;
  /** Policy logits [B,T,V] of the same forward pass as policyLogProbs: full KL, and the `entropy` metric. */
  policyLogits?: tf.Tensor3D;
  /** Reference logits [B,T,V], for the full KL. */
  refLogits?: tf.Tensor3D;
  /** dapo: active tokens in the whole optimizer step (all micro-batches). */
  numItemsInBatch?: number;
  /** Per-token policy entropy [B,T], for `topEntropyQuantile` (the trainer's forward pass gives it). */
  entropy?: tf.Tensor2D;
}

/** Per-token values [B][T] for the inspector; flags are 0/1. */
export interface GrpoTokenDetails {
  ratio: number[][];
  lowClipped: number[][];
  highClipped: number[][];
  /** Per-token loss before aggregation, KL term included. */
  loss: number[][];
  /** Present when the KL was computed. */
  kl?: number[][];
  /** Present when policyLogits were given. */
  entropy?: number[][];
}

/** TRL's metrics and the inspector's per-token values of one micro-batch, as plain numbers. */
export interface GrpoTokenReport {
  /**
   * Means over the active tokens (TRL's): `clip_ratio/low_mean`, `clip_ratio/high_mean`, `clip_ratio/region_mean`,
   * and `kl`, `entropy` when computed; TRL's `clip_ratio/low_min` / `clip_ratio/high_max` (min / max over sequences
   * of the per-sequence fraction); verl's `ppo_kl` (mean log π_old − log π_θ) and, with a dual clip,
   * `clip_ratio/lower_dual` (verl `pg_clipfrac_lower`).
   */
  metrics: Record<string, number>;
  perToken: GrpoTokenDetails;
}

export interface GrpoLossResult extends GrpoTokenReport {
  /** Differentiable scalar: w.r.t. policyLogProbs, and policyLogits when the full KL is used. */
  loss: tf.Scalar;
}

/** The per-token values of GrpoTokenDetails as [B,T] tensors, with the response mask their means are taken over. */
export type GrpoTokenTensors = {
  responseMask: tf.Tensor2D;
  ratio: tf.Tensor2D;
  lowClipped: tf.Tensor2D;
  highClipped: tf.Tensor2D;
  loss: tf.Tensor2D;
  kl?: tf.Tensor2D;
  /** Present with a dual clip: 1 where it bounded the loss. */
  dualClipped?: tf.Tensor2D;
  entropy?: tf.Tensor2D;
};

export interface GrpoLossTensors {
  /** Differentiable scalar: w.r.t. policyLogProbs, and policyLogits when the full KL is used. */
  loss: tf.Scalar;
  /**
   * Kept (`tf.keep`): they outlive an enclosing `tf.tidy` or `tf.variableGrads`. The caller reads them after the
   * gradient step (`readGrpoTokenDetails`) and disposes them (`tf.dispose(tokens)`).
   */
  tokens: GrpoTokenTensors;
}

/**
 * GRPO loss for one micro-batch, every choice taken from `config`:
 *
 *     ρ_it = exp(log π_θ − log π_old)
 *     ℓ_it = −min(ρ_it A_it, clip(ρ_it, 1 − ε_low, 1 + ε_high) A_it) + β · KL_it
 *     KL_it = exp(d) − d − 1, d = log π_ref − log π_θ              (k3)
 *           = Σ_v π_θ(v) (log π_θ(v) − log π_ref(v))               (full)
 *     L = aggregateTokenLoss(ℓ, m, lossType)                        (grpo | bnpo | dapo | dr_grpo)
 *
 * The KL is computed when β ≠ 0 (its inputs are then required) or when its inputs are given (reported only).
 * Metrics and per-token values are read back synchronously, so this suits backends that can (cpu, wasm,
 * tensorflow); everything returned besides `loss` is plain JS, so calling this inside `tf.variableGrads` leaks
 * nothing and the caller only disposes `loss`. Where reads must be asynchronous (webgpu), use
 * computeGrpoLossTensors and readGrpoTokenDetails.
 */
export function computeGrpoLoss(inputs: GrpoLossInputs, config: GrpoLossConfig): GrpoLossResult {
  const { loss, tokens } = computeGrpoLossTensors(inputs, config);
  try {
    return { loss, ...describeTokens(tokens, (tensor) => tensor.dataSync()) };
  } finally {
    tf.dispose(tokens);
  }
}

/**
 * computeGrpoLoss without reading anything back: the loss and the per-token tensors, which the caller reads once
 * the gradient step is done (`await readGrpoTokenDetails(tokens)`, then `tf.dispose(tokens)`).
 */
export function computeGrpoLossTensors(inputs: GrpoLossInputs, config: GrpoLossConfig): GrpoLossTensors {
  const fn = 'computeGrpoLoss';
  const { policyLogProbs, responseMask, advantages } = inputs;
  const { lossType, epsilonLow, epsilonHigh = epsilonLow, beta, klEstimator = 'k3' } = config;
  assertRank(fn, 'policyLogProbs', policyLogProbs, 2);
  assertSameShape(fn, 'policyLogProbs', policyLogProbs, 'responseMask', responseMask);
  assertAdvantageShape(fn, 'advantages', advantages, policyLogProbs);
  assertNonNegativeFinite(fn, 'beta', beta);
  if (klEstimator !== 'full' && !KL_PENALTIES.includes(klEstimator)) {
    throw new Error(`${fn}: klEstimator must be one of ${[...KL_PENALTIES, 'full'].join(', ')}, got '${klEstimator}'`);
  }
  if (inputs.policyLogits !== undefined) assertLogitsMatch(fn, 'policyLogits', inputs.policyLogits, policyLogProbs);
  if (inputs.refLogits !== undefined) assertLogitsMatch(fn, 'refLogits', inputs.refLogits, policyLogProbs);

  const { loss, tokens } = tf.tidy(() => {
    // Without π_old, the current log-probs as a constant: ρ = 1 in value, the gradient that of −A·log π_θ.
    const oldLogProbs = inputs.oldLogProbs ?? stopGradient(policyLogProbs);
    const surrogate = computePolicySurrogate(
      { advantages, policyLogProbs, oldLogProbs, responseMask, entropy: inputs.entropy },
      { ...config, epsilonLow, epsilonHigh },
      stopGradient,
    );
    const kl = klPerToken(inputs, beta, klEstimator, { logRatioClamp: config.klLogRatioClamp, valueClamp: config.klValueClamp });
    const tokenLoss = kl === undefined || beta === 0 ? surrogate.loss : tf.add(surrogate.loss, tf.mul(kl, beta));
    const loss = aggregateTokenLoss(tokenLoss as tf.Tensor2D, responseMask, lossType, {
      gradientAccumulationSteps: config.gradientAccumulationSteps,
      maxCompletionLength: config.maxCompletionLength,
      numItemsInBatch: inputs.numItemsInBatch,
      lossScaleFactor: config.lossScaleFactor,
    });
    const entropy = inputs.policyLogits === undefined ? undefined : computeEntropyFromLogits(inputs.policyLogits);
    const { ratio, lowClipped, highClipped } = surrogate;
    const tokens: GrpoTokenTensors = { responseMask: tf.clone(responseMask), ratio, lowClipped, highClipped, loss: tokenLoss as tf.Tensor2D };
    if (kl !== undefined) tokens.kl = kl;
    if (surrogate.dualClipped !== undefined) tokens.dualClipped = surrogate.dualClipped;
    if (entropy !== undefined) tokens.entropy = entropy as tf.Tensor2D;
    return { loss, tokens };
  });
  for (const tensor of Object.values(tokens)) tf.keep(tensor);
  return { loss, tokens };
}

/** Reads the per-token tensors of computeGrpoLossTensors (asynchronously: any backend) into metrics and rows. */
export async function readGrpoTokenDetails(tokens: GrpoTokenTensors): Promise<GrpoTokenReport> {
  const tensors = Object.values(tokens) as tf.Tensor[];
  const values = await Promise.all(tensors.map((tensor) => tensor.data()));
  return describeTokens(tokens, (tensor) => values[tensors.indexOf(tensor)]);
}

/**
 * `x` as a constant: the same values, and no gradient flows back to `x` (tfjs has no stop_gradient). A custom
 * gradient of zero does it without reading the values back to the host.
 */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  const constant = tf.customGrad((input: tf.Tensor | tf.GradSaveFunc) => ({
    value: tf.clone(input as tf.Tensor),
    gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
  }));
  return constant(x) as T;
}

function assertLogitsMatch(fn: string, name: string, logits: tf.Tensor, logProbs: tf.Tensor2D): void {
  assertRank(fn, name, logits, 3);
  if (logits.shape[0] !== logProbs.shape[0] || logits.shape[1] !== logProbs.shape[1]) {
    throw new Error(`${fn}: ${name} ${shapeText(logits.shape)} must be [B,T,V] with [B,T] = ${shapeText(logProbs.shape)}`);
  }
}

/** Per-token KL when β needs it or its inputs are given; undefined otherwise. */
function klPerToken(inputs: GrpoLossInputs, beta: number, estimator: KlEstimator, clamps: KlClamps): tf.Tensor2D | undefined {
  const fn = 'computeGrpoLoss';
  const forBeta = `for the ${estimator} KL when beta ≠ 0`;
  if (estimator !== 'full') {
    if (beta === 0 && inputs.refLogProbs === undefined) return undefined;
    return computeKlPenaltyPerToken(inputs.policyLogProbs, required(fn, 'refLogProbs', forBeta, inputs.refLogProbs), estimator, clamps);
  }
  if (beta === 0 && (inputs.policyLogits === undefined || inputs.refLogits === undefined)) return undefined;
  return computeFullKlPerToken(
    required(fn, 'policyLogits', forBeta, inputs.policyLogits),
    required(fn, 'refLogits', forBeta, inputs.refLogits),
  );
}

/** TRL's masked batch means over the active tokens, and the per-token rows, from the tensors' values. */
function describeTokens(tokens: GrpoTokenTensors, valuesOf: (tensor: tf.Tensor) => ArrayLike<number>): GrpoTokenReport {
  const [batch, width] = tokens.responseMask.shape;
  const mask = valuesOf(tokens.responseMask);
  const low = valuesOf(tokens.lowClipped);
  const high = valuesOf(tokens.highClipped);
  const region = Array.from(low, (flag, i) => Math.max(flag, high[i]));
  const metrics: Record<string, number> = {
    'clip_ratio/low_mean': maskedBatchMean(low, mask),
    'clip_ratio/high_mean': maskedBatchMean(high, mask),
    'clip_ratio/region_mean': maskedBatchMean(region, mask),
    // TRL: the smallest / largest per-sequence clip fraction (sequences without tokens left out, nanmin / nanmax).
    'clip_ratio/low_min': extremeRowMean(low, mask, width, Math.min),
    'clip_ratio/high_max': extremeRowMean(high, mask, width, Math.max),
    // verl `actor/ppo_kl`: masked mean of log π_old − log π_θ (compute_policy_loss_vanilla, core_algos.py @ b178a3c).
    ppo_kl: maskedBatchMean(Array.from(valuesOf(tokens.ratio), (ratio) => -Math.log(ratio)), mask),
  };
  const perToken: GrpoTokenDetails = {
    ratio: toRows(valuesOf(tokens.ratio), batch, width),
    lowClipped: toRows(low, batch, width),
    highClipped: toRows(high, batch, width),
    loss: toRows(valuesOf(tokens.loss), batch, width),
  };
  if (tokens.dualClipped !== undefined) metrics['clip_ratio/lower_dual'] = maskedBatchMean(valuesOf(tokens.dualClipped), mask);
  if (tokens.kl !== undefined) {
    const kl = valuesOf(tokens.kl);
    metrics.kl = maskedBatchMean(kl, mask);
    perToken.kl = toRows(kl, batch, width);
  }
  if (tokens.entropy !== undefined) {
    const entropy = valuesOf(tokens.entropy);
    metrics.entropy = maskedBatchMean(entropy, mask);
    perToken.entropy = toRows(entropy, batch, width);
  }
  return { metrics, perToken };
}

/** Σ x·m / Σ m over every token (NaN when no token is active, as TRL before its nanmean). */
function maskedBatchMean(values: ArrayLike<number>, mask: ArrayLike<number>): number {
  let total = 0;
  let count = 0;
  for (let i = 0; i < values.length; i++) {
    total += values[i] * mask[i];
    count += mask[i];
  }
  return total / count;
}

/** The min (or max) over rows of the row's masked mean; rows without active tokens are skipped; NaN if none. */
function extremeRowMean(values: ArrayLike<number>, mask: ArrayLike<number>, width: number, pick: (a: number, b: number) => number): number {
  let result = Number.NaN;
  for (let start = 0; start < values.length; start += width) {
    let total = 0;
    let count = 0;
    for (let i = start; i < start + width; i++) {
      total += values[i] * mask[i];
      count += mask[i];
    }
    if (count > 0) result = Number.isNaN(result) ? total / count : pick(result, total / count);
  }
  return result;
}

function toRows(values: ArrayLike<number>, batch: number, tokens: number): number[][] {
  return Array.from({ length: batch }, (_, row) => Array.from({ length: tokens }, (_, t) => values[row * tokens + t]));
}
