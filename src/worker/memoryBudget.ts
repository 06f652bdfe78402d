/**
 * Before a language-model run loads its weights: will the model fit the backend? A model too large for wasm aborts
 * deep inside a kernel ("memory access out of bounds"), and a tensor larger than a WebGPU adapter's largest storage
 * binding gives wrong numbers without any error (docs/gpu.md). Both are refused up front with the numbers and a fix.
 */
import { ModelConfig, parameterCount } from '../model/config';

/**
 * float32 bytes a run keeps per parameter: the weights, the gradients being accumulated, one micro-batch's
 * gradients, and Adam's two moments.
 */
export const TRAINING_BYTES_PER_PARAMETER = 20;
/** The SFT warm start's optimizer (two more moments) exists next to the GRPO optimizer while it runs. */
export const WARM_START_BYTES_PER_PARAMETER = 8;
/** The frozen reference model (β > 0 or reference syncing) is one more float32 copy of the weights. */
export const REFERENCE_BYTES_PER_PARAMETER = 4;
/** Float32 copies of a micro-batch's logits alive at once in a training step (logits, log-softmax, their gradients). */
const LOGITS_COPIES = 4;
/**
 * What tfjs-backend-wasm can hold. Its heap may grow to 4 GiB, but the 124 M GPT-2 (about 2.5 GB of weights,
 * gradients and Adam state) aborts in its first backward pass; 2 GiB is the size that trains.
 */
export const WASM_TENSOR_BYTES = 2 ** 31;

export interface RunShape {
  /** model.name_or_path, for the message. */
  source: string;
  model: ModelConfig;
  withReference: boolean;
  /** sft.steps > 0: the warm start's optimizer coexists with the GRPO one. */
  withWarmStart: boolean;
  /** Rows × completion tokens of one micro-batch: its logits are the largest activation. */
  microBatchTokens: number;
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(bytes < 2 ** 30 ? 2 : 1)} GiB`;
}

/**
 * Estimated peak bytes: weights, gradients and optimizer state per parameter, the cached transpose of a tied head
 * (one per model), and a micro-batch's logits in the training step.
 */
export function trainingBytes(shape: RunShape): number {
  const { model } = shape;
  const perParameter = TRAINING_BYTES_PER_PARAMETER + (shape.withWarmStart ? WARM_START_BYTES_PER_PARAMETER : 0) +
    (shape.withReference ? REFERENCE_BYTES_PER_PARAMETER : 0);
  const tiedHeads = model.tieEmbeddings ? model.vocabSize * model.dModel * 4 * (shape.withReference ? 2 : 1) : 0;
  const logits = LOGITS_COPIES * shape.microBatchTokens * model.vocabSize * 4;
  return parameterCount(model) * perParameter + tiedHeads + logits;
}

/**
 * Throws when the run cannot fit: on wasm when its state exceeds what the backend holds; on webgpu when one tensor
 * (the embedding table, or a micro-batch's logits) is larger than the adapter binds (`maxBindingBytes`).
 */
export function checkModelFits(backend: string, shape: RunShape, maxBindingBytes: number | null): void {
  const parameters = parameterCount(shape.model);
  const millions = `${(parameters / 1e6).toFixed(1)} M parameters`;
  if (backend === 'wasm') {
    const bytes = trainingBytes(shape);
    if (bytes > WASM_TENSOR_BYTES) {
      throw new Error(
        `model.name_or_path: ${shape.source} has ${millions}; training it needs about ${gib(bytes)} (weights, gradients, ` +
          `Adam's moments${shape.withWarmStart ? ' (twice during the SFT warm start)' : ''}${shape.withReference ? ', the reference model' : ''} ` +
          `and a micro-batch's logits, in float32), more than the ${gib(WASM_TENSOR_BYTES)} the wasm backend holds. Run it on a GPU ` +
          'backend ("backend": "webgpu" or "tensorflow"; "GRPO: Check GPU Setup" says what loads here), or pick a smaller model ' +
          'or a smaller optimization.micro_batch_size.',
      );
    }
  }
  if (backend === 'webgpu' && maxBindingBytes !== null) {
    const table = shape.model.vocabSize * shape.model.dModel * 4;
    const logits = shape.microBatchTokens * shape.model.vocabSize * 4;
    if (table > maxBindingBytes) {
      throw new Error(
        `model.name_or_path: ${shape.source}'s embedding table (${shape.model.vocabSize} × ${shape.model.dModel}, ${gib(table)}) is larger ` +
          `than the ${gib(maxBindingBytes)} this WebGPU adapter binds at once; tfjs would compute wrong values without an error. ` +
          'Use a GPU whose adapter allows larger storage buffers, or another backend.',
      );
    }
    if (logits > maxBindingBytes) {
      throw new Error(
        `optimization.micro_batch_size: a micro-batch's logits (${shape.microBatchTokens} tokens × ${shape.model.vocabSize}, ${gib(logits)}) are ` +
          `larger than the ${gib(maxBindingBytes)} this WebGPU adapter binds at once; lower micro_batch_size or sampling.max_completion_length.`,
      );
    }
  }
}
