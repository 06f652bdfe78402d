/**
 * A policy: a model (config + family + weights) and its tokenizer. Creating weights from scratch, filling them
 * from checkpoint tensors with checks that name the tensor, and exporting them back under the same names.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ModelConfig } from './config';
import { gpt2 } from './gpt2';
import { llama } from './llama';
import { CausalLM, ForwardInput, KVCache, ModelFamily, ParamSpec, releaseDerived, Weights } from './model';
import { Random } from './random';
import { TensorMap } from './safetensors';
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
    return this.family.forward(this.weights, this.config, input, cache);
  }

  /** Trainable variables in a fixed order (the checkpoint order), for gradients and the optimizer. */
  variables(): tf.Variable[] {
    return [...this.weights.values()];
  }

  /** An independent copy of the weights; `trainable: false` gives the frozen reference model of GRPO. */
  clone(options: { trainable?: boolean } = {}): Policy {
    const trainable = options.trainable ?? false;
    const copy: Weights = new Map();
    for (const [name, w] of this.weights) copy.set(name, tf.variable(w, trainable, `${name}#${nextCloneId++}`));
    return new Policy(this.config, this.tokenizer, copy, trainable, this.generation);
  }

  /** Copies another policy's weights into this one (e.g. refreshing the reference model). */
  copyWeightsFrom(other: Policy): void {
    for (const [name, w] of this.weights) w.assign(other.weights.get(name)!);
  }

  parameterCount(): number {
    let n = 0;
    for (const w of this.weights.values()) n += w.size;
    return n;
  }

  dispose(): void {
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

/** Weights from checkpoint tensors. A missing tensor or a wrong shape is an error naming the tensor and `source`. */
export function weightsFromTensors(config: ModelConfig, tensors: TensorMap, source: string): Weights {
  const id = nextModelId++;
  const weights: Weights = new Map();
  try {
    for (const spec of familyOf(config).parameterSpecs(config)) {
      const found = [spec.name, ...(spec.aliases ?? [])].map((n) => tensors.get(n)).find((t) => t !== undefined);
      if (!found) throw new Error(`${source}: missing tensor '${spec.name}' (shape [${spec.shape}])`);
      if (found.shape.length !== spec.shape.length || found.shape.some((s, i) => s !== spec.shape[i])) {
        throw new Error(`${source}: tensor '${spec.name}' has shape [${found.shape}], config.json implies [${spec.shape}]`);
      }
      weights.set(spec.name, tf.tidy(() => variable(toComputeLayout(found.data, spec), spec, true, id)));
    }
  } catch (err) {
    for (const w of weights.values()) w.dispose();
    throw err;
  }
  return weights;
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
