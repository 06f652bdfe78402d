/**
 * GRPO algorithm core: pure functions on tfjs tensors, no I/O, shared by the worker and the tests.
 *
 * CS336 GRPO assignment (seed 002), names and semantics as there:
 *   computeGroupNormalizedRewards, computeNaivePolicyGradientLoss, computeGrpoClipLoss, computePolicyGradientLoss,
 *   maskedMean, grpoMicrobatchLoss.
 * Beyond CS336 (TRL GRPOTrainer / verl core_algos variants, seed 001 process supervision, seed 004 Dr. GRPO):
 *   computeAsymmetricClipLoss (DAPO clip-higher), aggregateTokenLoss (grpo | bnpo | dapo | dr_grpo),
 *   computeK3KlPerToken, computeFullKlPerToken, computeEntropyFromLogits, computeGroupAdvantages (scale_rewards
 *   group | batch | none, unbiased or population std), combineWeightedRewards / scoreWithRewardFunctions,
 *   computeDiscountedReturns / computeProcessSupervisionAdvantages, and computeGrpoLoss, the config-driven entry
 *   point (computeGrpoLossTensors + readGrpoTokenDetails: the same without synchronous reads, as the trainer calls
 *   it), with stopGradient. Each carries its formula in its doc comment.
 */
export { computeGroupNormalizedRewards, computeGroupAdvantages, groupAdvantageValues, DEFAULT_ADVANTAGE_EPS } from './rewards';
export type { RewardOutput, RewardFunction, RewardScaling, GroupAdvantageOptions, GroupAdvantages, GroupAdvantageValues } from './rewards';
export {
  computeNaivePolicyGradientLoss,
  computeGrpoClipLoss,
  computePolicyGradientLoss,
  computeAsymmetricClipLoss,
  POLICY_GRADIENT_LOSS_TYPES,
} from './policyLoss';
export type { PolicyGradientLossType, ClippedSurrogate } from './policyLoss';
export { maskedMean, aggregateTokenLoss, LOSS_AGGREGATIONS, VERL_LOSS_AGG_MODES } from './aggregation';
export type { LossAggregation, AggregationOptions, TrlLossType, VerlLossAggMode } from './aggregation';
export { grpoMicrobatchLoss } from './microbatch';
export {
  computeK3KlPerToken,
  computeFullKlPerToken,
  computeEntropyFromLogits,
  computeKlPenaltyPerToken,
  klPenaltyValue,
  KL_PENALTIES,
  DEFAULT_KL_LOG_RATIO_CLAMP,
  DEFAULT_KL_VALUE_CLAMP,
} from './divergence';
export type { KlPenalty, KlClamps } from './divergence';
export { applyKlPenaltyToRewards, nextKlCoefficient } from './klControl';
export type { KlControlConfig, KlPenalisedRewards } from './klControl';
export { combineWeightedRewards, scoreWithRewardFunctions } from './multiReward';
export type { NamedRewardFunction, NamedRewards, CombinedRewards } from './multiReward';
export { computeDiscountedReturns, computeProcessSupervisionAdvantages } from './process';
export type { ProcessSupervisionOptions } from './process';
export { computeGrpoLoss, computeGrpoLossTensors, readGrpoTokenDetails, stopGradient } from './grpoLoss';
export type {
  KlEstimator,
  GrpoLossConfig,
  GrpoLossInputs,
  GrpoTokenDetails,
  GrpoTokenReport,
  GrpoLossResult,
  GrpoTokenTensors,
  GrpoLossTensors,
} from './grpoLoss';
export type { StdKind } from './statistics';
// Policy-term variants (issue 13 item 10): GSPO importance levels, CISPO, top-entropy tokens, ESS of the weights.
export { computeSequenceLogRatio, computeImportanceLogWeights, IMPORTANCE_SAMPLING_LEVELS } from './gspo';
export type { ImportanceSamplingLevel } from './gspo';
export { computeCispoLoss, CISPO_CLIPS } from './cispo';
export type { CispoClip } from './cispo';
export { computeHighEntropyMask } from './entropyMask';
export { effectiveSampleSize } from './importanceWeights';
export { computePolicySurrogate } from './variants';
export type { PolicySurrogate, PolicyVariantConfig, PolicyVariantInputs, PolicySurrogateResult } from './variants';
