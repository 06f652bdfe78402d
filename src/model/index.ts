/**
 * The language-model policy stack, as the GRPO trainer uses it. Select a tfjs backend first
 * (`selectBackend` from src/worker/backend; 'wasm' is the fast one on CPUs).
 *
 * ```ts
 * const policy = loadPolicy('tiny', { seed: 1 });           // or a checkpoint folder (config.json + safetensors)
 * const reference = policy.clone();                          // frozen copy for the KL term
 * const out = generate(policy, prompts, { maxNewTokens: 32, temperature: 1, seed: 7 });
 * const trainer = new PolicyTrainer(policy, { learningRate: 1e-3, maxGradNorm: 1 });
 * trainer.trainStep(microbatches, (logProbs, entropy, mask) => grpoLoss(...));
 * savePolicy(policy, dir); trainer.save(dir);
 * ```
 * Tensors returned by responseLogProbs belong to the caller (use tf.tidy); everything else cleans up after itself.
 */
export { loadPolicy, savePolicy } from './checkpoint';
export type { LoadOptions } from './checkpoint';
export { Policy } from './policy';
export { generate } from './sampling';
export type { FinishReason, SampleOptions, SampleResult } from './sampling';
export { responseLogProbs } from './logprobs';
export type { LogProbOptions, ResponseBatch, ResponseLogProbs } from './logprobs';
export { PolicyTrainer, sftLoss, sftStep } from './train';
export type { AdamOptions, LossFn, StepStats } from './train';
export { CharTokenizer, HfTokenizer, loadTokenizer } from './tokenizer';
export type { ChatMessage, TextTokenizer } from './tokenizer';
export { parseConfig, configToJson, parameterCount } from './config';
export type { ModelConfig, ModelFamilyName } from './config';
export { PRESET_NAMES, isPresetName } from './presets';
export type { PresetName } from './presets';
export { Random } from './random';
export type { RandomState } from './random';
