/**
 * The language-model policy stack, as the GRPO trainer uses it. Select a tfjs backend first
 * (`selectBackend` from src/worker/backend; 'wasm' is the fast one on CPUs).
 *
 * ```ts
 * const policy = loadPolicy('tiny', { seed: 1 });   // a preset, or a checkpoint folder (config.json + safetensors)
 * const reference = policy.clone();                  // frozen copy for the KL term (refresh: copyWeightsFrom)
 * const rng = new Random(seed);                      // the run's RNG; its state goes into checkpoints
 * const out = await generate(policy, promptIds, { maxNewTokens: 32, temperature: 1, rng });
 * // out.tokens, out.logProbs ("old" log-probs), out.finishReasons
 * const refLogProbs = tf.tidy(() => responseLogProbs(reference, { promptIds, responseIds: out.tokens }).logProbs);
 * const ref = await refLogProbs.array();            // then refLogProbs.dispose()
 * const trainer = new PolicyTrainer(policy, { learningRate: 1e-3, maxGradNorm: 1 });
 * await trainer.enableDataParallel();                // optional: second core computes half of each gradient
 * for (const mb of microbatches) await trainer.accumulate(mb, (logProbs, entropy, mask) => grpoLoss(...), { withEntropy: true });
 * await trainer.step();                              // clip, Adam, clear
 * await savePolicy(policy, dir); await trainer.save(dir);   // later: loadPolicy(dir); trainer.load(dir)
 * ```
 * Tensors returned by responseLogProbs belong to the caller (use tf.tidy); everything else cleans up after itself.
 * Whatever reads values back to the host is async (`await data()`), so the stack runs on every backend, webgpu
 * included (it cannot read synchronously under Node).
 * Warm start: `await sftStep(trainer, { promptIds, responseIds: answerIds })` (cross-entropy on the answer tokens).
 *
 * LoRA (PEFT semantics, lora.ts): `addLora(policy, { r: 16, lora_alpha: 32, target_modules: 'all-linear' }, seed)`
 * freezes the base weights; the PolicyTrainer created afterwards trains the adapters only, and
 * `policy.withAdapters(null)` is the reference model (the same weights, adapters off). `saveAdapterFolder` writes
 * what `PeftModel.from_pretrained` loads; `loadPolicy(adapterFolder)` loads base + adapter; `mergedPolicy` merges.
 */
export { loadPolicy, readModelConfig, savePolicy } from './checkpoint';
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
export { addLora, attachAdapterFolder, mergedPolicy, readAdapters, saveAdapterFolder, DEFAULT_LORA_SETTINGS } from './lora';
export type { LoraAdapters, LoraSettings } from './lora';
export type { RandomState } from './random';
