/**
 * Before a language-model run loads its weights: will the model fit the backend? A model too large for wasm aborts
 * deep inside a kernel ("memory access out of bounds"), and a tensor larger than a WebGPU adapter's largest storage
 * binding gives wrong numbers without any error (docs/gpu.md). Both are refused up front with the numbers and a fix.
 */
import { ModelConfig, parameterCount } from '../model/config';
import { headTile } from '../model/headLogProbs';

/**
 * float32 bytes a run keeps per parameter: the weights, the gradients being accumulated, one micro-batch's
 * gradients, and Adam's two moments.
 */
export const TRAINING_BYTES_PER_PARAMETER = 20;
/** The SFT warm start's optimizer (two more moments) exists next to the GRPO optimizer while it runs. */
export const WARM_START_BYTES_PER_PARAMETER = 8;
/** A frozen weight (a LoRA run's base): its float32 value only. */
export const FROZEN_BYTES_PER_PARAMETER = 4;
/** The frozen reference model (β > 0 or reference syncing) is one more float32 copy of the weights. */
export const REFERENCE_BYTES_PER_PARAMETER = 4;
/**
 * Float32 copies of a micro-batch's logits alive at once where all of them are computed (sampling's last column,
 * the exact KL's [rows, V]): logits, log-softmax, their gradients.
 */
const LOGITS_COPIES = 4;
/**
 * Float32 tiles of logits alive at once in the fused head's backward (headLogProbs.ts: logits, log-softmax, its
 * exp, the one-hot, the products, dz): scoring and training hold one tile of logits, not a micro-batch's.
 */
const HEAD_TILE_COPIES = 8;
/** A block of the head read from a tied table: its slice and that slice's transpose. */
const HEAD_BLOCK_COPIES = 2;

/**
 * Bytes of the logits a scoring or training pass holds for `tokens` response tokens: one tile of the fused head
 * (headLogProbs.ts) and the block of the head it reads, or every token's logits when the exact KL needs them.
 */
export function logitBytes(model: ModelConfig, tokens: number, fullLogits: boolean): number {
  if (fullLogits) return LOGITS_COPIES * tokens * model.vocabSize * 4;
  const tile = headTile(model.vocabSize, tokens, model.dModel);
  return 4 * (HEAD_TILE_COPIES * tile.tileElements + HEAD_BLOCK_COPIES * tile.blockElements);
}

/**
 * The [d, V] transposes of a tied head alive at the peak. Sampling caches the policy's (Policy.releaseCaches frees it
 * before each update: the fused head reads the table itself); the exact KL's full logits go through the
 * transpose in the training step too, and full fine-tuning's reference model has its own.
 */
function tiedHeadBytes(shape: RunShape, logits: number): number {
  const { model } = shape;
  if (!model.tieEmbeddings) return logits;
  const head = model.vocabSize * model.dModel * 4;
  const inTraining = shape.fullLogits ? (shape.lora || !shape.withReference ? 1 : 2) : 0;
  return Math.max(head, inTraining * head + logits);
}
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
  /** The training step needs the micro-batch's full logits (algorithm.kl_estimator "full"), not the fused head's chunk. */
  fullLogits?: boolean;
  /**
   * model.lora: the base weights are frozen (4 bytes per parameter, no gradients, no Adam state) and only the
   * adapters' parameters train; the reference is the base with the adapters off (no copy), or with a frozen copy
   * of the adapter the run started from.
   */
  lora?: { trainableParameters: number; referenceAdapter: boolean };
  /** optimization.data_parallel: a replica in a second wasm instance holds the weights once more. */
  dataParallel?: boolean;
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(bytes < 2 ** 30 ? 2 : 1)} GiB`;
}

/**
 * Estimated peak bytes: weights, gradients and optimizer state per parameter, and the larger of what sampling adds
 * (a tied head's cached transpose) and what the training step adds (a micro-batch's logits: see tiedHeadBytes).
 */
export function trainingBytes(shape: RunShape): number {
  const { model, lora } = shape;
  const transient = tiedHeadBytes(shape, logitBytes(model, shape.microBatchTokens, shape.fullLogits ?? false));
  if (lora) {
    // One frozen base, shared by the policy and its reference.
    const trained = TRAINING_BYTES_PER_PARAMETER + (shape.withWarmStart ? WARM_START_BYTES_PER_PARAMETER : 0) +
      (shape.withReference && lora.referenceAdapter ? REFERENCE_BYTES_PER_PARAMETER : 0);
    return parameterCount(model) * FROZEN_BYTES_PER_PARAMETER + lora.trainableParameters * trained + transient;
  }
  const perParameter = TRAINING_BYTES_PER_PARAMETER + (shape.withWarmStart ? WARM_START_BYTES_PER_PARAMETER : 0) +
    (shape.withReference ? REFERENCE_BYTES_PER_PARAMETER : 0);
  return parameterCount(model) * perParameter + transient;
}

/**
 * The data-parallel replica's instance: the weights (all of them, or the frozen base and the adapters), its
 * gradients of what trains and half a micro-batch's logits (it never samples, so it caches no head transpose, but
 * the exact KL's full logits go through one). Zero without data parallelism.
 */
export function replicaBytes(shape: RunShape): number {
  if (!shape.dataParallel) return 0;
  const { model, lora } = shape;
  const trained = lora ? lora.trainableParameters : parameterCount(model);
  const head = model.tieEmbeddings && shape.fullLogits ? model.vocabSize * model.dModel * 4 : 0;
  const logits = logitBytes(model, Math.ceil(shape.microBatchTokens / 2), shape.fullLogits ?? false);
  return parameterCount(model) * FROZEN_BYTES_PER_PARAMETER + trained * (lora ? 2 * 4 : 4) + head + logits;
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
      const state = shape.lora
        ? `the frozen weights, the adapters' gradients and Adam's moments${shape.withWarmStart ? ' (twice during the SFT warm start)' : ''}`
        : `weights, gradients, Adam's moments${shape.withWarmStart ? ' (twice during the SFT warm start)' : ''}${shape.withReference ? ', the reference model' : ''}`;
      throw new Error(
        `model.name_or_path: ${shape.source} has ${millions}; training it needs about ${gib(bytes)} (${state} ` +
          `and a micro-batch's logits, in float32), more than the ${gib(WASM_TENSOR_BYTES)} the wasm backend holds. Run it on a GPU ` +
          'backend ("backend": "webgpu" or "tensorflow"; "GRPO: Check GPU Setup" says what loads here), or pick a smaller model ' +
          `or a smaller optimization.micro_batch_size${shape.lora ? '' : ', or train LoRA adapters ("model": {"lora": {"r": 16}})'}.`,
      );
    }
    const replica = replicaBytes(shape);
    if (replica > WASM_TENSOR_BYTES) {
      throw new Error(
        `optimization.data_parallel: the replica's wasm instance would need about ${gib(replica)} (a second copy of ${shape.source}'s ` +
          `${millions}), more than the ${gib(WASM_TENSOR_BYTES)} it holds; turn data_parallel off.`,
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

/**
 * Float32 copies of one block of attention scores alive at once outside a tape: the scores, the masked scores, and
 * the softmax (wasm runs it as one kernel; the cpu backend's max / exp / sum / divide hold two more).
 */
const SCORE_COPIES = 5;
/** Query positions per attention block outside a tape (layers.ts ATTENTION_QUERY_BLOCK). */
const QUERY_BLOCK = 128;
/**
 * Float32 activations per token and layer that a forward keeps (the norms, q / k / v and their rotations, the
 * attention output, the MLP's gate, up and product): a generous count in units of the widths involved.
 */
function activationFloatsPerToken(model: ModelConfig): number {
  const qDim = model.nHeads * model.headDim;
  const kvDim = model.nKvHeads * model.headDim;
  return 8 * model.dModel + 4 * qDim + 4 * kvDim + 4 * model.dFF;
}
/**
 * The count above against tfjs's own: peaks measured with tf.profile on stories260K (prompts of 600 tokens, 64 new)
 * were up to 1.37× it (scoring 48 MiB a row, training 834 MiB a row); the margin covers that.
 */
const SAFETY = 1.5;
/** Under a gradient tape every intermediate is kept for the backward pass, and the backward makes as many again. */
const TAPE_FACTOR = 2;

/** A phase of a step that runs the model over rows of tokens. */
export type MemoryPhase = 'sampling' | 'scoring' | 'training';

export interface RowShape {
  /** Padded prompt width of the batch. */
  promptTokens: number;
  /** Completion tokens per row (sampling: the most it may generate). */
  completionTokens: number;
  /** Scoring or training needs the full logits (the exact KL): counted per row instead of the fused head's chunk. */
  fullLogits?: boolean;
  /** Training with gradient checkpointing: each block's input is kept, and one block's tape at a time. */
  checkpointed?: boolean;
}

/**
 * Estimated bytes one row adds to a phase's peak. Sampling: the prefill over the prompt (attention in blocks of
 * queries, one block's scores at a time) and the KV cache over prompt and completion; scoring: the teacher-forced
 * forward with the logits of the completion; training: the same under a tape, every layer's scores kept.
 */
export function rowBytes(model: ModelConfig, phase: MemoryPhase, shape: RowShape): number {
  const keys = shape.promptTokens + shape.completionTokens;
  const queries = phase === 'sampling' ? shape.promptTokens : keys - 1;
  const perLayer = queries * activationFloatsPerToken(model);
  const activations = model.nLayers * perLayer;
  const mask = queries * keys;
  // Scoring and training without the exact KL hold one chunk of logits whatever the rows (headChunkBytes).
  const logitRows = phase === 'sampling' ? 1 : shape.fullLogits ? shape.completionTokens : 0;
  const logits = LOGITS_COPIES * logitRows * model.vocabSize;
  const cache = phase === 'sampling' ? 2 * model.nLayers * keys * model.nKvHeads * model.headDim : 0;
  if (phase === 'training') {
    const layerScores = SCORE_COPIES * model.nHeads * queries * keys;
    // Checkpointed: every block's input [queries, d] stays, and one block's tape (its activations and scores) at a time.
    const tape = shape.checkpointed
      ? model.nLayers * queries * model.dModel + TAPE_FACTOR * (perLayer + layerScores)
      : TAPE_FACTOR * (activations + model.nLayers * layerScores);
    return Math.ceil(SAFETY * 4 * (tape + mask + logits));
  }
  const block = SCORE_COPIES * model.nHeads * Math.min(queries, QUERY_BLOCK) * keys;
  return Math.ceil(SAFETY * 4 * (activations + block + mask + logits + cache));
}

/** The tensor memory a phase may use: the configured limit, else the backend's own; Infinity when unknown. */
export function memoryLimitBytes(backend: string, limitMb: number, freeRamBytes: number): number {
  if (limitMb > 0) return limitMb * 2 ** 20;
  if (backend === 'wasm') return WASM_TENSOR_BYTES;
  // tfjs-node and the cpu backend allocate from the process's RAM; a GPU's memory is not known from here.
  if (backend === 'cpu' || backend === 'tensorflow') return freeRamBytes;
  return Number.POSITIVE_INFINITY;
}

export interface RowBudget {
  phase: MemoryPhase;
  model: ModelConfig;
  shape: RowShape;
  /** Rows the phase would run at once unsplit. */
  rows: number;
  /** memoryLimitBytes, and the tensor bytes already in use (weights, optimizer state, gradients). */
  limitBytes: number;
  inUseBytes: number;
  /** Where the limit comes from, for the message: "optimization.memory_limit_mb" or "the wasm backend". */
  limitSource: string;
}

function mib(bytes: number): string {
  return `${Math.ceil(bytes / 2 ** 20)} MiB`;
}

/** The fused head's tile of logits (scoring and training without the exact KL): the same for one row or many. */
function headChunkBytes(budget: RowBudget): number {
  if (budget.phase === 'sampling' || budget.shape.fullLogits) return 0;
  return Math.ceil(SAFETY * logitBytes(budget.model, budget.rows * budget.shape.completionTokens, false));
}

/**
 * How many rows of the phase run at once: all of them when they fit in what is left of the limit, else as many as
 * fit. Throws with the numbers when not even one row fits: splitting cannot help, only shorter rows or more memory.
 */
export function rowsThatFit(budget: RowBudget): number {
  const perRow = rowBytes(budget.model, budget.phase, budget.shape);
  const head = headChunkBytes(budget);
  const left = budget.limitBytes - budget.inUseBytes;
  const fit = Math.floor((left - head) / perRow);
  if (fit >= 1) return Math.min(budget.rows, fit);
  const { promptTokens, completionTokens } = budget.shape;
  const headNote = head > 0 ? ` (and ${mib(head)} for one tile of the output head's logits)` : '';
  const checkpointing = budget.phase === 'training' && !budget.shape.checkpointed ? 'turn on optimization.gradient_checkpointing, ' : '';
  throw new Error(
    `out of memory for ${budget.phase}: one row of ${promptTokens} prompt + ${completionTokens} completion tokens needs about ` +
      `${mib(perRow)}${headNote}, and ${mib(Math.max(0, left))} of the ${mib(budget.limitBytes)} limit (${budget.limitSource}) are left ` +
      `(${mib(budget.inUseBytes)} hold the model and its training state). Lower sampling.max_prompt_length or ` +
      `sampling.max_completion_length, raise optimization.memory_limit_mb, ${checkpointing}or use a backend with more memory.`,
  );
}
