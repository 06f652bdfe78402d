import { strict as assert } from 'assert';
import * as grpo from '../../../src/grpo';

/** Contractual: other modules and outside checks import these names with these parameter lists. */
const CS336_ARITY: Record<string, number> = {
  computeGroupNormalizedRewards: 6,
  computeNaivePolicyGradientLoss: 2,
  computeGrpoClipLoss: 4,
  computePolicyGradientLoss: 6,
  maskedMean: 3,
  grpoMicrobatchLoss: 8,
};

const BEYOND_CS336 = [
  'computeGroupAdvantages',
  'groupAdvantageValues',
  'DEFAULT_ADVANTAGE_EPS',
  'combineWeightedRewards',
  'scoreWithRewardFunctions',
  'computeAsymmetricClipLoss',
  'POLICY_GRADIENT_LOSS_TYPES',
  'aggregateTokenLoss',
  'LOSS_AGGREGATIONS',
  'VERL_LOSS_AGG_MODES',
  'computeK3KlPerToken',
  'computeFullKlPerToken',
  'computeKlPenaltyPerToken',
  'klPenaltyValue',
  'applyKlPenaltyToRewards',
  'nextKlCoefficient',
  'KL_PENALTIES',
  'DEFAULT_KL_LOG_RATIO_CLAMP',
  'DEFAULT_KL_VALUE_CLAMP',
  'computeEntropyFromLogits',
  'computeDiscountedReturns',
  'computeProcessSupervisionAdvantages',
  'computeGrpoLoss',
  'computeGrpoLossTensors',
  'readGrpoTokenDetails',
  'stopGradient',
  // Policy-term variants (issue 13 item 10).
  'computeSequenceLogRatio',
  'computeImportanceLogWeights',
  'IMPORTANCE_SAMPLING_LEVELS',
  'computeCispoLoss',
  'CISPO_CLIPS',
  'computeHighEntropyMask',
  'effectiveSampleSize',
  'computePolicySurrogate',
];

describe('src/grpo public API', () => {
  it('exports the six CS336 functions with their parameter lists', () => {
    const api = grpo as unknown as Record<string, unknown>;
    for (const [name, arity] of Object.entries(CS336_ARITY)) {
      assert.equal(typeof api[name], 'function', name);
      assert.equal((api[name] as (...args: unknown[]) => unknown).length, arity, `${name} parameters`);
    }
  });

  it('exports nothing beyond the CS336 six and the documented extras', () => {
    assert.deepEqual(Object.keys(grpo).sort(), [...Object.keys(CS336_ARITY), ...BEYOND_CS336].sort());
  });
});
