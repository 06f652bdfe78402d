import { strict as assert } from 'assert';
import { ModelConfig, parameterCount } from '../../../src/model/config';
import { preset } from '../../../src/model/presets';
import { checkModelFits, memoryLimitBytes, RowBudget, rowBytes, rowsThatFit, replicaBytes, RunShape, trainingBytes, WASM_TENSOR_BYTES } from '../../../src/worker/memoryBudget';

/** Qwen2.5-0.5B-Instruct's config.json, as parsed. */
const QWEN_0_5B: ModelConfig = {
  family: 'llama', modelType: 'qwen2', vocabSize: 151936, dModel: 896, nLayers: 24, nHeads: 14, nKvHeads: 2, headDim: 64,
  dFF: 4864, maxPositions: 32768, normEps: 1e-6, ropeTheta: 1e6, ropeScaling: null, tieEmbeddings: true, qkvBias: true,
  attnOutBias: false, mlpBias: false, eosTokenIds: [151645], bosTokenId: null,
};

/** GPT-2 small (124 M). */
const GPT2_124M: ModelConfig = {
  family: 'gpt2', modelType: 'gpt2', vocabSize: 50257, dModel: 768, nLayers: 12, nHeads: 12, nKvHeads: 12, headDim: 64, dFF: 3072,
  maxPositions: 1024, normEps: 1e-5, ropeTheta: 0, ropeScaling: null, tieEmbeddings: true, qkvBias: true,
  attnOutBias: true, mlpBias: true, eosTokenIds: [50256], bosTokenId: null,
};

function shape(model: ModelConfig, overrides: Partial<RunShape> = {}): RunShape {
  return { source: '/models/x', model, withReference: false, withWarmStart: false, microBatchTokens: 4 * 256, ...overrides };
}

describe('will the model fit the backend', () => {
  it('counts 20 bytes per parameter, 8 more during a warm start, 4 more with a reference, the tied heads and the logits', () => {
    const n = parameterCount(QWEN_0_5B);
    assert.ok(n > 490e6 && n < 500e6, `Qwen2.5-0.5B has ${n} parameters`);
    const head = 151936 * 896 * 4;
    const full = 4 * 1024 * 151936 * 4;
    // The fused head holds a tile of 1024 rows × 4096 ids in 8 copies and a 4096 × 896 block of the table twice; the
    // exact KL all 1024 rows' logits in 4. Sampling's cached transpose of the tied head (544 MB) is larger than the tile.
    const tile = 4 * (8 * 1024 * 4096 + 2 * 4096 * 896);
    assert.ok(tile < head);
    assert.strictEqual(trainingBytes(shape(QWEN_0_5B)), 20 * n + head);
    assert.strictEqual(trainingBytes(shape(QWEN_0_5B, { fullLogits: true })), 20 * n + head + full);
    assert.strictEqual(trainingBytes(shape(QWEN_0_5B, { withWarmStart: true })), 28 * n + head);
    // The reference scores through the fused head (no transpose of its own), except for the exact KL's logits.
    assert.strictEqual(trainingBytes(shape(QWEN_0_5B, { withReference: true })), 24 * n + head);
    assert.strictEqual(trainingBytes(shape(QWEN_0_5B, { withReference: true, fullLogits: true })), 24 * n + 2 * head + full);
    assert.strictEqual(trainingBytes(shape({ ...QWEN_0_5B, tieEmbeddings: false })), 20 * parameterCount({ ...QWEN_0_5B, tieEmbeddings: false }) + tile);
  });

  it("counts a Llama's o_proj and MLP biases (attention_bias, mlp_bias) in the estimate", () => {
    const plain: ModelConfig = { ...QWEN_0_5B, modelType: 'llama', qkvBias: false };
    const biased: ModelConfig = { ...plain, qkvBias: true, attnOutBias: true, mlpBias: true };
    const qkv = 14 * 64 + 2 * 2 * 64;
    const perLayer = qkv + 896 + (2 * 4864 + 896);
    assert.strictEqual(parameterCount(biased) - parameterCount(plain), 24 * perLayer);
    assert.strictEqual(trainingBytes(shape(biased)) - trainingBytes(shape(plain)), 20 * 24 * perLayer);
  });

  it('refuses Qwen2.5-0.5B and the 124 M GPT-2 on wasm, naming the field, the size and the fix', () => {
    assert.throws(() => checkModelFits('wasm', shape(QWEN_0_5B), null), (err: Error) => {
      assert.match(err.message, /^model\.name_or_path: \/models\/x has 494\.0 M parameters; training it needs about 9\.7 GiB/);
      assert.match(err.message, /more than the 2\.0 GiB the wasm backend holds/);
      assert.match(err.message, /"backend": "webgpu" or "tensorflow"/);
      return true;
    });
    assert.throws(() => checkModelFits('wasm', shape(GPT2_124M, { withReference: true, withWarmStart: true }), null), /\(twice during the SFT warm start\), the reference model/);
    assert.ok(trainingBytes(shape(GPT2_124M)) > WASM_TENSOR_BYTES);
  });

  it('LoRA: the frozen base at 4 bytes per parameter, 20 per adapter parameter, one shared reference and head; the 124 M GPT-2 fits on wasm', () => {
    const n = parameterCount(GPT2_124M);
    // r = 16 on c_attn, attn.c_proj, c_fc, mlp.c_proj of 12 layers: r·(in + out) each.
    const adapters = 12 * 16 * ((768 + 2304) + (768 + 768) + (768 + 3072) + (3072 + 768));
    // Sampling's cached transpose of the tied head; the update releases it (its 256 × 5461 tiles are smaller).
    const head = 50257 * 768 * 4;
    assert.ok(4 * (8 * 256 * 5461 + 2 * 5461 * 768) < head);
    const lora = { trainableParameters: adapters, referenceAdapter: false };
    const fresh = shape(GPT2_124M, { microBatchTokens: 256, withReference: true, lora });
    assert.strictEqual(trainingBytes(fresh), 4 * n + 20 * adapters + head, 'the reference is the base with the adapters off: no copy');
    assert.strictEqual(trainingBytes({ ...fresh, lora: { ...lora, referenceAdapter: true } }), 4 * n + 24 * adapters + head, 'a frozen copy of the starting adapter');
    assert.strictEqual(trainingBytes({ ...fresh, withWarmStart: true }), 4 * n + 28 * adapters + head);
    checkModelFits('wasm', fresh, null);
    const full = trainingBytes(shape(GPT2_124M, { microBatchTokens: 256, withReference: true }));
    assert.ok(trainingBytes(fresh) < full / 3, `LoRA ${trainingBytes(fresh)} vs full ${full}`);
    // Qwen2.5-0.5B's frozen weights alone are 2 GB: refused with the LoRA wording (no "train LoRA adapters" advice).
    assert.throws(() => checkModelFits('wasm', shape(QWEN_0_5B, { lora }), null), (err: Error) => /the frozen weights, the adapters' gradients/.test(err.message) && !/train LoRA adapters/.test(err.message));
    assert.throws(() => checkModelFits('wasm', shape(GPT2_124M), null), /or train LoRA adapters \("model": \{"lora": \{"r": 16\}\}\)/);
  });

  it('data parallelism: the replica\'s instance holds the weights once more and must fit too', () => {
    const lora = { trainableParameters: 1000, referenceAdapter: false };
    const n = parameterCount(GPT2_124M);
    const replica = replicaBytes(shape(GPT2_124M, { microBatchTokens: 256, lora, dataParallel: true }));
    // It never samples, so no cached head transpose: half the micro-batch (128 rows) × 5461 ids per tile.
    assert.strictEqual(replica, 4 * n + 8 * 1000 + 4 * (8 * 128 * 5461 + 2 * 5461 * 768));
    assert.strictEqual(replicaBytes(shape(GPT2_124M, { lora })), 0, 'no replica without data_parallel');
    checkModelFits('wasm', shape(GPT2_124M, { microBatchTokens: 256, lora, dataParallel: true }), null);
  });

  it('lets the presets train on wasm, and anything on the backends without a limit here', () => {
    for (const name of ['tiny', 'small', 'base'] as const) checkModelFits('wasm', shape(preset(name).config, { withReference: true, withWarmStart: true }), null);
    checkModelFits('cpu', shape(QWEN_0_5B), null);
    checkModelFits('tensorflow', shape(QWEN_0_5B), null);
    checkModelFits('webgpu', shape(QWEN_0_5B), null);
  });

  it('on webgpu, refuses an embedding table or a micro-batch of logits larger than the adapter binds', () => {
    const llvmpipe = 128 * 2 ** 20;
    assert.throws(() => checkModelFits('webgpu', shape(GPT2_124M), llvmpipe), /model\.name_or_path: \/models\/x's embedding table \(50257 × 768, 0\.14 GiB\) is larger than the 0\.13 GiB/);
    const h100 = 4 * 2 ** 30;
    checkModelFits('webgpu', shape(QWEN_0_5B), h100);
    assert.throws(() => checkModelFits('webgpu', shape(QWEN_0_5B, { microBatchTokens: 16 * 1024 }), h100), /optimization\.micro_batch_size: a micro-batch's logits \(16384 tokens × 151936, 9\.3 GiB\)/);
  });
});

/** stories260K's config.json with max_position_embeddings 1024 (the issue's GSM8K prompts of up to 596 tokens). */
const STORIES_260K: ModelConfig = {
  family: 'llama', modelType: 'llama', vocabSize: 512, dModel: 64, nLayers: 5, nHeads: 8, nKvHeads: 4, headDim: 8, dFF: 172,
  maxPositions: 1024, normEps: 1e-5, ropeTheta: 10000, ropeScaling: null, tieEmbeddings: true, qkvBias: false,
  attnOutBias: false, mlpBias: false, eosTokenIds: [2], bosTokenId: 1,
};
const MiB = 2 ** 20;

describe('rows per phase (rowBytes, rowsThatFit)', () => {
  const long = { promptTokens: 600, completionTokens: 64 };
  const budget = (overrides: Partial<RowBudget>): RowBudget => ({
    phase: 'training', model: STORIES_260K, shape: long, rows: 16, limitBytes: WASM_TENSOR_BYTES, inUseBytes: 0, limitSource: 'the wasm backend', ...overrides,
  });

  it('covers the peaks tf.profile measured on stories260K at 600 + 64 tokens (scoring 48 MiB a row, training 834 MiB)', () => {
    assert.ok(rowBytes(STORIES_260K, 'scoring', long) >= 48 * MiB);
    assert.ok(rowBytes(STORIES_260K, 'training', long) >= 834 * MiB);
    // Not absurdly above them either: the margin is 1.5× the count.
    assert.ok(rowBytes(STORIES_260K, 'training', long) < 2 * 834 * MiB);
  });

  it('grows with the prompt: quadratically under a tape, about linearly outside one (attention in blocks)', () => {
    const at = (phase: 'sampling' | 'training', promptTokens: number) => rowBytes(STORIES_260K, phase, { promptTokens, completionTokens: 64 });
    assert.ok(at('training', 1200) / at('training', 600) > 3.5);
    assert.ok(at('sampling', 1200) / at('sampling', 600) < 2.5);
  });

  it('all rows when they fit, else as many as fit in what the limit leaves', () => {
    assert.strictEqual(rowsThatFit(budget({ phase: 'sampling', rows: 32 })), 32);
    const perRow = rowBytes(STORIES_260K, 'training', long);
    assert.strictEqual(rowsThatFit(budget({ rows: 16 })), Math.floor(WASM_TENSOR_BYTES / perRow));
    assert.strictEqual(rowsThatFit(budget({ rows: 16, limitBytes: 3.5 * perRow })), 3);
    assert.strictEqual(rowsThatFit(budget({ rows: 16, limitBytes: 3.5 * perRow + 100 * MiB, inUseBytes: 100 * MiB })), 3);
  });

  it('gradient checkpointing keeps each block\'s input and one block\'s tape; the exact KL adds every row\'s logits', () => {
    const plain = rowBytes(STORIES_260K, 'training', long);
    const checkpointed = rowBytes(STORIES_260K, 'training', { ...long, checkpointed: true });
    // stories260K has 5 blocks: about one block's tape instead of five.
    assert.ok(checkpointed < 0.3 * plain && checkpointed > 0.15 * plain, `${checkpointed} vs ${plain}`);
    const full = rowBytes(STORIES_260K, 'training', { ...long, fullLogits: true });
    assert.ok(Math.abs(full - plain - 1.5 * 4 * 4 * 64 * 512) <= 1, 'four float32 copies of 64 × 512 logits, with the 1.5 margin');
    assert.strictEqual(rowBytes(STORIES_260K, 'sampling', { ...long, fullLogits: true }), rowBytes(STORIES_260K, 'sampling', long));
    // The advice names gradient checkpointing where it helps: training without it.
    const refusal = (overrides: Partial<RowBudget>) => {
      try {
        rowsThatFit(budget({ limitBytes: 100 * MiB, ...overrides }));
      } catch (err) {
        return (err as Error).message;
      }
      throw new Error('expected a refusal');
    };
    assert.match(refusal({}), /turn on optimization\.gradient_checkpointing/);
    assert.doesNotMatch(refusal({ shape: { ...long, checkpointed: true }, limitBytes: 30 * MiB }), /gradient_checkpointing/);
    assert.doesNotMatch(refusal({ phase: 'scoring', limitBytes: 10 * MiB }), /gradient_checkpointing/);
  });

  it('refuses with the numbers when not one row fits', () => {
    const perRow = rowBytes(STORIES_260K, 'training', long);
    assert.throws(
      () => rowsThatFit(budget({ limitBytes: 1024 * MiB, inUseBytes: 300 * MiB, limitSource: 'optimization.memory_limit_mb' })),
      (err: Error) => {
        assert.match(err.message, /^out of memory for training: one row of 600 prompt \+ 64 completion tokens needs about (\d+) MiB \(and 25 MiB for one tile of the output head's logits\), and 724 MiB of the 1024 MiB limit \(optimization.memory_limit_mb\) are left \(300 MiB hold/);
        assert.strictEqual(Number(/about (\d+) MiB/.exec(err.message)?.[1]), Math.ceil(perRow / MiB));
        return true;
      },
    );
  });

  it('the limit: the configured MiB, else 2 GiB on wasm, the free RAM on CPU backends, unknown on webgpu', () => {
    assert.strictEqual(memoryLimitBytes('wasm', 300, 8e9), 300 * MiB);
    assert.strictEqual(memoryLimitBytes('wasm', 0, 8e9), WASM_TENSOR_BYTES);
    assert.strictEqual(memoryLimitBytes('cpu', 0, 8e9), 8e9);
    assert.strictEqual(memoryLimitBytes('tensorflow', 0, 8e9), 8e9);
    assert.strictEqual(memoryLimitBytes('webgpu', 0, 8e9), Number.POSITIVE_INFINITY);
  });
});
