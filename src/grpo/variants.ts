/**
 * The policy term of the loss as the config chooses it: the importance level (GRPO's per-token ratio, GSPO's
 * sequence ratio), the surrogate (clipped ratio, or CISPO's clipped constant weight), and the high-entropy token
 * mask. computeGrpoLossTensors calls this once; each variant lives in its own module (gspo.ts, cispo.ts,
 * entropyMask.ts) with its upstream source.
 */
import * as tf from '@tensorflow/tfjs-core';
import { CispoClip, computeCispoLoss } from './cispo';
import { computeHighEntropyMask } from './entropyMask';
import { computeImportanceLogWeights, ImportanceSamplingLevel } from './gspo';
import { ClippedSurrogate, computeAsymmetricClipLoss } from './policyLoss';

/** TRL `loss_type: "cispo"` replaces the clipped surrogate; the rest are the PPO-style clipped surrogate. */
export type PolicySurrogate = 'clip' | 'cispo';

export interface PolicyVariantConfig {
  epsilonLow: number;
  epsilonHigh: number;
  /** Default `'token'`. */
  importanceSamplingLevel?: ImportanceSamplingLevel;
  /** Default `'clip'`. */
  surrogate?: PolicySurrogate;
  /** CISPO's clip bounds; default `'trl'`. */
  cispoClip?: CispoClip;
  /** TRL `top_entropy_quantile` ρ; 1 or undefined keeps every token. Needs the per-token entropies. */
  topEntropyQuantile?: number;
  /** Dual clip c (verl `clip_ratio_c`, TRL `delta`): for A < 0 the token loss is bounded by −A·c; clip surrogates only. */
  dualClipRatio?: number;
}

export interface PolicyVariantInputs {
  advantages: tf.Tensor2D;
  policyLogProbs: tf.Tensor2D;
  oldLogProbs: tf.Tensor2D;
  responseMask: tf.Tensor2D;
  /** Per-token entropy of the policy [B,T], for topEntropyQuantile. */
  entropy?: tf.Tensor2D;
}

/** The per-token policy term and its flags; `entropyMask` is there when the quantile dropped tokens. */
export type PolicySurrogateResult = ClippedSurrogate & { entropyMask?: tf.Tensor2D; [key: string]: tf.Tensor2D | undefined };


/**
 * ℓ_it of the chosen variant (before the KL term and aggregation), times the high-entropy keep mask when
 * topEntropyQuantile < 1 (TRL masks the policy term only).
 */
export function computePolicySurrogate(
  inputs: PolicyVariantInputs,
  config: PolicyVariantConfig,
  stopGradient: <T extends tf.Tensor>(x: T) => T,
): PolicySurrogateResult {
  const { advantages, policyLogProbs, oldLogProbs, responseMask } = inputs;
  const { epsilonLow, epsilonHigh, importanceSamplingLevel = 'token', surrogate = 'clip', topEntropyQuantile = 1 } = config;
  if (surrogate !== 'clip' && surrogate !== 'cispo') throw new Error(`computePolicySurrogate: surrogate must be 'clip' or 'cispo', got '${String(surrogate)}'`);
  // CISPO has no clipped ratio in its objective (the weight is detached), so a bound on it has nothing to bound.
  if (surrogate === 'cispo' && config.dualClipRatio !== undefined) throw new Error('computePolicySurrogate: dualClipRatio (clip_ratio_c / delta) does not apply to CISPO');
  return tf.tidy((): PolicySurrogateResult => {
    let result: ClippedSurrogate;
    if (surrogate === 'cispo') {
      const logWeights = computeImportanceLogWeights(importanceSamplingLevel, policyLogProbs, oldLogProbs, responseMask, stopGradient);
      result = computeCispoLoss(advantages, policyLogProbs, logWeights, { clip: config.cispoClip ?? 'trl', epsilonLow, epsilonHigh }, stopGradient);
    } else if (importanceSamplingLevel === 'token') {
      // The original call, unchanged: token-level GRPO stays bit-identical.
      result = computeAsymmetricClipLoss(advantages, policyLogProbs, oldLogProbs, epsilonLow, epsilonHigh, config.dualClipRatio);
    } else {
      const logWeights = computeImportanceLogWeights(importanceSamplingLevel, policyLogProbs, oldLogProbs, responseMask, stopGradient);
      result = computeAsymmetricClipLoss(advantages, logWeights, tf.zerosLike(logWeights), epsilonLow, epsilonHigh, config.dualClipRatio);
    }
    if (topEntropyQuantile >= 1) return { ...result };
    if (inputs.entropy === undefined) throw new Error('computePolicySurrogate: entropy is required for topEntropyQuantile < 1');
    const entropyMask = computeHighEntropyMask(inputs.entropy, responseMask, topEntropyQuantile);
    return { ...result, loss: tf.mul(result.loss, entropyMask) as tf.Tensor2D, entropyMask };
  });
}
