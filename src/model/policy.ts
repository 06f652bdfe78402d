/**
 * A policy: a model (config + family + weights) and its tokenizer. Creating weights from scratch, filling them
 * from checkpoint tensors with checks that name the tensor, and exporting them back under the same names.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ModelConfig } from './config';
import { gpt2 } from './gpt2';
import { llama } from './llama';
import { CausalLM, ForwardInput, HeadInput, KVCache, ModelFamily, ParamSpec, partsHeadInput, releaseDerived, Weights } from './model';
import type { LoraAdapters } from './lora';
import { Random } from './random';
import { HostTensor, TensorMap } from './safetensors';
import { TextTokenizer } from './tokenizer';

export function familyOf(config: ModelConfig): ModelFamily {
  return config.family === 'gpt2' ? gpt2 : llama;
}

/** What a checkpoint's generation_config.json says (see readGenerationConfig); `raw` is written back on save. */
export interface GenerationConfig {
  eosTokenIds: number[];
  raw: Record<string, unknown>;
}

export class Policy implements CausalLM {
  readonly family: ModelFamily;
  /** LoRA adapters on the (then frozen) base weights; null for full fine-tuning or a base-model view. */
  private adapters: LoraAdapters | null = null;
  /** A view on another policy's base weights (withAdapters): dispose() leaves them to their owner. */
  private sharesBase = false;

  constructor(
    readonly config: ModelConfig,
    readonly tokenizer: TextTokenizer,
    readonly weights: Weights,
    /** False for a frozen copy (e.g. the GRPO reference model): its weights are not trainable variables. */
    readonly trainable: boolean,
    /** The checkpoint's generation_config.json, if it has one. */
    readonly generation: GenerationConfig | null = null,
  ) {
    this.family = familyOf(config);
  }

  /**
   * Tokens that end a completion: the tokenizer's EOS, config.json's `eos_token_id` and generation_config.json's
   * (each a number or a list). transformers' `generate` stops on the generation config's; the union also stops
   * checkpoints whose files disagree, which a completion running past its end would never want.
   */
  get stopTokenIds(): number[] {
    const eos = this.tokenizer.eosTokenId;
    return [...new Set([...(eos === null ? [] : [eos]), ...this.config.eosTokenIds, ...(this.generation?.eosTokenIds ?? [])])];
  }

  get padTokenId(): number {
    return this.tokenizer.padTokenId;
  }

  /** Logits [B·(T − logitsFrom), V] for one forward pass (see ModelFamily.forward). */
  logits(input: ForwardInput, cache: KVCache | null): tf.Tensor2D {
    return this.family.forward(this.weights, this.config, input, cache, this.adapters);
  }

  headInput(input: ForwardInput): HeadInput | null {
    return partsHeadInput(this.family, this.weights, this.config, input, this.adapters);
  }

  /** The LoRA adapters, when the policy trains through them. */
  get lora(): LoraAdapters | null {
    return this.adapters;
  }

  /**
   * Trains through `adapters` from now on: the base weights are frozen (no gradients, no optimizer state), and
   * trainedWeights()/variables() are the adapters'. Call before creating the PolicyTrainer.
   */
  attachAdapters(adapters: LoraAdapters): void {
    if (this.adapters) throw new Error('the policy already has LoRA adapters');
    for (const w of this.weights.values()) w.trainable = false;
    this.adapters = adapters;
  }

  /**
   * The same base weights (shared, not copied) with other adapters, or none: GRPO's reference model of a LoRA run
   * is the base with the adapters switched off, or a frozen copy of the adapter the run started from.
   */
  withAdapters(adapters: LoraAdapters | null): Policy {
    const view = new Policy(this.config, this.tokenizer, this.weights, false, this.generation);
    view.adapters = adapters;
    view.sharesBase = true;
    return view;
  }

  /** What trains, by checkpoint name: all weights, or the adapters' tensors under PEFT's names. */
  trainedWeights(): Weights {
    return this.adapters ? this.adapters.namedVariables() : this.weights;
  }

  /** Trainable variables in a fixed order (the checkpoint order), for gradients and the optimizer. */
  variables(): tf.Variable[] {
    return [...this.trainedWeights().values()];
  }

  /** An independent copy of the weights; `trainable: false` gives the frozen reference model of GRPO. */
  clone(options: { trainable?: boolean } = {}): Policy {
    if (this.adapters) throw new Error('a LoRA policy is not cloned: its reference shares the base weights (withAdapters)');
    const trainable = options.trainable ?? false;
    const copy: Weights = new Map();
    for (const [name, w] of this.weights) copy.set(name, tf.variable(w, trainable, `${name}#${nextCloneId++}`));
    return new Policy(this.config, this.tokenizer, copy, trainable, this.generation);
  }

  /**
   * Copies another policy's trained weights into this one (refreshing the reference model, restoring a
   * checkpoint): all weights, or for a LoRA view the adapters' values.
   */
  copyWeightsFrom(other: Policy): void {
    if (this.sharesBase || this.adapters) {
      if (!this.adapters || !other.adapters) throw new Error('copyWeightsFrom: a base-model view has no weights of its own to copy into');
      this.adapters.copyFrom(other.adapters);
      return;
    }
    for (const [name, w] of this.weights) w.assign(other.weights.get(name)!);
  }

  /** All parameters: the base model's and the adapters'. */
  parameterCount(): number {
    let n = this.adapters?.parameterCount() ?? 0;
    for (const w of this.weights.values()) n += w.size;
    return n;
  }

  /**
   * Frees what was cached from the weights (a tied head's [d, V] transpose, which sampling keeps: 147 MiB for
   * GPT-2): the training step reads the table itself, and the next sampling pass rebuilds it.
   */
  releaseCaches(): void {
    for (const w of this.weights.values()) releaseDerived(w);
  }

  /** The parameters an optimizer updates (PEFT's "trainable params"). */
  trainableParameterCount(): number {
    return this.adapters?.parameterCount() ?? this.parameterCount();
  }

  dispose(): void {
    this.adapters?.dispose();
    this.adapters = null;
    if (this.sharesBase) return;
    for (const w of this.weights.values()) {
      releaseDerived(w);
      w.dispose();
    }
    this.weights.clear();
  }
}

let nextCloneId = 0;
let nextModelId = 0;

function variable(values: tf.Tensor, spec: ParamSpec, trainable: boolean, id: number): tf.Variable {
  // Variable names must be unique per process; several models (policy, reference, tests) coexist.
  return tf.variable(values, trainable, `${spec.name}@${id}`);
}

/** Fresh weights: normal(0, std) matrices, ones / zeros for norms and biases, drawn from a seeded NumPy-style RNG. */
export function initWeights(config: ModelConfig, seed: number): Weights {
  const rng = new Random(seed);
  const id = nextModelId++;
  const weights: Weights = new Map();
  for (const spec of familyOf(config).parameterSpecs(config)) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (spec.init.kind === 'ones') data.fill(1);
    if (spec.init.kind === 'normal') for (let i = 0; i < size; i++) data[i] = rng.normal() * spec.init.std;
    weights.set(spec.name, tf.tidy(() => variable(toComputeLayout(data, spec), spec, true, id)));
  }
  return weights;
}

/**
 * Weights from checkpoint tensors. Every tensor is accounted for: a missing tensor, a wrong shape, or a tensor the
 * model has no use for is an error naming the tensor and `source`; only known buffers are skipped.
 */
export function weightsFromTensors(config: ModelConfig, tensors: TensorMap, source: string): Weights {
  const family = familyOf(config);
  const found = findTensors(family.parameterSpecs(config), tensors, source);
  checkLeftovers(config, family, tensors, found, source);
  const id = nextModelId++;
  const weights: Weights = new Map();
  try {
    for (const { spec, tensor } of found) weights.set(spec.name, tf.tidy(() => variable(toComputeLayout(tensor.data, spec), spec, true, id)));
  } catch (err) {
    for (const w of weights.values()) w.dispose();
    throw err;
  }
  return weights;
}

interface FoundTensor {
  spec: ParamSpec;
  /** The name it has in the checkpoint (the spec's or an alias). */
  storedAs: string;
  tensor: HostTensor;
}

function findTensors(specs: ParamSpec[], tensors: TensorMap, source: string): FoundTensor[] {
  return specs.map((spec) => {
    const storedAs = [spec.name, ...(spec.aliases ?? [])].find((n) => tensors.has(n));
    if (storedAs === undefined) throw new Error(`${source}: missing tensor '${spec.name}' (shape [${spec.shape}])`);
    const tensor = tensors.get(storedAs)!;
    if (!sameShape(tensor.shape, spec.shape)) {
      throw new Error(`${source}: tensor '${storedAs}' has shape [${tensor.shape}], config.json implies [${spec.shape}]`);
    }
    return { spec, storedAs, tensor };
  });
}

/**
 * Tensors no parameter took. Buffers are skipped. A tied model's `lm_head.weight` is accepted as the redundant copy
 * some files carry when it equals the embedding; when it differs the checkpoint is ambiguous: transformers 4.x ties
 * the head and ignores it, 5.x (`PreTrainedModel.tie_weights`) unties the two with a warning. Anything else would be
 * silently dropped, so it is refused.
 */
function checkLeftovers(config: ModelConfig, family: ModelFamily, tensors: TensorMap, found: FoundTensor[], source: string): void {
  const used = new Set(found.map((f) => f.storedAs));
  let left = [...tensors.keys()].filter((n) => !used.has(n) && !family.isBuffer(n));
  if (config.tieEmbeddings && left.includes(HEAD)) {
    const embedding = found.find((f) => f.spec.name === family.embeddingName)!;
    const head = tensors.get(HEAD)!;
    if (!sameShape(head.shape, embedding.tensor.shape) || !head.data.every((v, i) => Object.is(v, embedding.tensor.data[i]))) {
      throw new Error(
        `${source}: tensor '${HEAD}' differs from '${embedding.storedAs}', which config.json ties the output head to ` +
          `('tie_word_embeddings'); transformers 4.x would ignore '${HEAD}' and 5.x would untie the two, so the head is ambiguous: ` +
          `set 'tie_word_embeddings' to false to use '${HEAD}', or delete the tensor to use the embedding`,
      );
    }
    left = left.filter((n) => n !== HEAD);
  }
  if (left.length === 0) return;
  const shown = left.slice(0, 8).map((n) => `'${n}'`).join(', ') + (left.length > 8 ? ` and ${left.length - 8} more` : '');
  const what = left.length === 1 ? `unknown tensor ${shown}` : `${left.length} unknown tensors ${shown}`;
  throw new Error(`${source}: ${what}: not a parameter of the ${config.modelType} model config.json describes, and loading would ignore it`);
}

const HEAD = 'lm_head.weight';

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}

/** Weights → checkpoint tensors under their HF names and shapes (read with `await data()`: any backend). */
export async function weightsToTensors(config: ModelConfig, weights: Weights): Promise<TensorMap> {
  const out: TensorMap = new Map();
  for (const spec of familyOf(config).parameterSpecs(config)) {
    const w = weights.get(spec.name)!;
    const layout = spec.transposed ? tf.transpose(w) : w;
    try {
      out.set(spec.name, { shape: spec.shape, data: Float32Array.from((await layout.data()) as Float32Array) });
    } finally {
      if (layout !== w) layout.dispose();
    }
  }
  return out;
}

function toComputeLayout(data: Float32Array, spec: ParamSpec): tf.Tensor {
  const t = tf.tensor(data, spec.shape, 'float32');
  return spec.transposed ? tf.transpose(t) : t;
}
