/**
 * A language-model run's shape for the memory estimates (memoryBudget.ts), read from its config: the trainer checks
 * it before loading the weights, and `optimization.data_parallel: "auto"` before the backend starts (the replica's
 * second copy of the weights must fit; cpuParallelism.ts).
 */
import { readModelConfig } from '../model';
import { loraParameterCount, resolveLora } from '../model/lora';
import { RunConfig } from '../protocol';
import { RunShape } from './memoryBudget';

/**
 * Whether a LoRA run's reference keeps adapters of its own (a frozen copy): when the run starts from an adapter
 * folder, or when the SFT warm start trains the adapters first. Otherwise the reference is the base model.
 */
export function referenceKeepsAdapter(config: RunConfig): boolean {
  return config.model?.lora?.adapter_path !== undefined || config.sft.steps > 0;
}

/** The shape of a language-model run (paths in `config` resolved); throws for a bandit config or an unreadable model. */
export function runShapeOf(config: RunConfig, dataParallel: boolean): RunShape {
  if (!config.model) throw new Error('model: required for language tasks');
  const { algorithm, optimization, sampling } = config;
  const model = readModelConfig(config.model.name_or_path);
  const lora = config.model.lora ? resolveLora(model, config.model.lora) : undefined;
  return {
    source: config.model.name_or_path,
    model,
    withReference: algorithm.beta > 0 || algorithm.ref_model_sync_steps > 0 || algorithm.use_kl_in_reward,
    withWarmStart: config.sft.steps > 0,
    microBatchTokens: optimization.micro_batch_size * sampling.max_completion_length,
    fullLogits: exactKl(config),
    lora: lora && { trainableParameters: loraParameterCount(lora.targets, lora.settings.r), referenceAdapter: referenceKeepsAdapter(config) },
    dataParallel,
  };
}

/** The training step needs the full logits: the exact KL (kl_estimator "full") with a reference in the loss. */
export function exactKl(config: RunConfig): boolean {
  const { algorithm } = config;
  return algorithm.kl_estimator === 'full' && (algorithm.beta > 0 || algorithm.ref_model_sync_steps > 0);
}
