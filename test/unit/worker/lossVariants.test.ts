import * as assert from 'assert';
import { validateRunConfig, SchemaError } from '../../../src/protocol';
import { lossVariantConfig, sequenceClipMetrics, trainingRows, variantMetrics } from '../../../src/worker/lossVariants';

const language = { name: 'x', model: { name_or_path: 'tiny' }, task: { type: 'arithmetic' } };

function algorithm(fields: Record<string, unknown>) {
  return validateRunConfig({ ...language, algorithm: fields }).algorithm;
}

describe('policy-loss variants in the run config', () => {
  it('defaults: token level, TRL cispo clip, no truncation mask, every token by entropy', () => {
    const a = algorithm({});
    assert.deepStrictEqual(
      [a.importance_sampling_level, a.cispo_clip, a.mask_truncated_completions, a.top_entropy_quantile],
      ['token', 'trl', false, 1],
    );
    assert.deepStrictEqual(lossVariantConfig(a), { lossType: 'grpo', surrogate: 'clip', importanceSamplingLevel: 'token', cispoClip: 'trl', topEntropyQuantile: 1 });
  });

  it('loss_type cispo: the CISPO surrogate with dapo aggregation (TRL); TRL\'s clip needs epsilon_high', () => {
    assert.deepStrictEqual(lossVariantConfig(algorithm({ loss_type: 'cispo', epsilon_high: 5, importance_sampling_level: 'sequence' })), {
      lossType: 'dapo', surrogate: 'cispo', importanceSamplingLevel: 'sequence', cispoClip: 'trl', topEntropyQuantile: 1,
    });
    assert.throws(() => algorithm({ loss_type: 'cispo' }), (err: unknown) => err instanceof SchemaError && /epsilon_high/.test(err.message));
    assert.strictEqual(algorithm({ loss_type: 'cispo', cispo_clip: 'verl' }).cispo_clip, 'verl');
  });

  it('refuses out-of-range and unknown values', () => {
    assert.throws(() => algorithm({ top_entropy_quantile: 1.5 }), /top_entropy_quantile/);
    assert.throws(() => algorithm({ importance_sampling_level: 'seq' }), /importance_sampling_level/);
  });
});

describe('trainingRows (mask_truncated_completions)', () => {
  it('drops only completions cut at the length limit, and only when asked', () => {
    assert.deepStrictEqual(trainingRows(['stop', 'length', 'stop', 'length'], true), [1, 0, 1, 0]);
    assert.deepStrictEqual(trainingRows(['stop', 'length'], false), [1, 1]);
  });
});

describe('variantMetrics', () => {
  it('ESS over the rows that trained, the masked count, and cispo_clip_ratio under CISPO', () => {
    const a = algorithm({ loss_type: 'cispo', epsilon_high: 5, mask_truncated_completions: true });
    // Rows 0 and 2 train: weights [1, 2] and [1] → (4)² / (3·6) = 0.8889; row 1 (weight 100) is out.
    const out = variantMetrics(a, [[1, 2], [100], [1]], [1, 0, 1], { 'clip_ratio/high_mean': 0.25 });
    assert.deepStrictEqual(out, { 'importance_weights/ess': 16 / 18, 'completions/masked_truncated': 1, cispo_clip_ratio: 0.25 });
    assert.deepStrictEqual(variantMetrics(algorithm({}), [[1, 1]], [1], {}), { 'importance_weights/ess': 1 });
  });
});

describe('sequenceClipMetrics (GSPO: TRL counts sequences)', () => {
  it('per sequence at sequence level, nothing at the others', () => {
    // Rows of 3, 1 and 0 tokens: the first clipped low (all its tokens), the second high, the third empty.
    const trace = { lowClipped: [[1, 1, 1], [0], []], highClipped: [[0, 0, 0], [1], []] };
    // Token-weighted these would be 3/4 and 1/4; per sequence 1/3 and 1/3.
    assert.deepStrictEqual(sequenceClipMetrics(algorithm({ importance_sampling_level: 'sequence' }), trace), {
      'clip_ratio/low_mean': 1 / 3, 'clip_ratio/high_mean': 1 / 3, 'clip_ratio/region_mean': 2 / 3,
    });
    assert.deepStrictEqual(sequenceClipMetrics(algorithm({ importance_sampling_level: 'sequence_token' }), trace), {});
    assert.deepStrictEqual(sequenceClipMetrics(algorithm({}), trace), {});
  });
});
