/**
 * What every model family provides, and the family-independent parts of a forward pass: the batch layout
 * (left-padded prompts, so new tokens of all rows share one column), the attention mask, the KV cache, and the
 * weights (HF tensor names; values in compute layout).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ModelConfig } from './config';
import { CacheSlot, LayerCache } from './layers';
import { Block, checkpointed } from './checkpointing';
import type { LoraAdapters } from './lora';

/** How a parameter is initialised when a model is created from scratch. */
export type ParamInit = { kind: 'normal'; std: number } | { kind: 'zeros' } | { kind: 'ones' };

export interface ParamSpec {
  /** Tensor name in the HF checkpoint. */
  name: string;
  /** Shape as stored in the checkpoint. */
  shape: number[];
  /** nn.Linear stores [out, in]; weights are kept as [in, out] so a projection is x·W without a transpose. */
  transposed: boolean;
  init: ParamInit;
  /** Other names the tensor has in some published checkpoints (e.g. GPT-2 without the `transformer.` prefix). */
  aliases?: string[];
}

/** Model weights by HF tensor name, in compute layout (see ParamSpec.transposed). */
export type Weights = Map<string, tf.Variable>;

export interface ForwardInput {
  batch: number;
  /** Tokens in this call (the new ones when a cache holds the earlier ones). */
  length: number;
  /** Token ids [B, T], int32. */
  ids: tf.Tensor2D;
  /** Absolute position of every token, row-major [B·T]. */
  positions: Int32Array;
  /** Additive attention mask [B, 1, T, 1, S]: 0 where a query may attend a key, a large negative number elsewhere. */
  attentionBias: tf.Tensor;
  /** Logits are computed for columns logitsFrom … T−1 only. */
  logitsFrom: number;
  /** Turns LoRA dropout on in a training forward (see LoraAdapters.delta): masks are drawn from this seed. */
  dropoutSeed?: string;
  /**
   * Under a gradient tape, keep only each block's input and recompute its activations in the backward pass
   * (checkpointing.ts): transformers' `gradient_checkpointing`.
   */
  checkpointBlocks?: boolean;
}

/**
 * Per-layer keys/values of the tokens seen so far; entries live outside tidy scopes until disposeCache. `capacity`:
 * the tokens per row it is expected to hold (prompt and completion), so that it need not grow (layers.ts).
 */
export interface KVCache {
  layers: (LayerCache | null)[];
  capacity: number;
}

export function cacheSlot(cache: KVCache | null, layer: number): CacheSlot | null {
  return cache ? { past: cache.layers[layer], capacity: cache.capacity } : null;
}

/** What scoring and sampling need from a model: its shape, the padding token and a forward pass. */
export interface CausalLM {
  readonly config: ModelConfig;
  readonly padTokenId: number;
  /** Logits [B·(T − logitsFrom), V] (see ModelFamily.forward). */
  logits(input: ForwardInput, cache: KVCache | null): tf.Tensor2D;
  /**
   * The same forward stopped before the output head: the last hidden states and the head as a plain product, so
   * that scoring can fuse the head with the log-softmax (headLogProbs.ts) and never hold all the logits.
   * Null when the head is more than a product (an adapter or a bias on lm_head).
   */
  headInput?(input: ForwardInput): HeadInput | null;
}

/**
 * An output head that is a plain product, logits = hidden · W: W [d, V] itself (`matrix`), or the token-embedding
 * table E [V, d] = Wᵀ that a tied head shares (`table`), which the fused head reads a block at a time so that W
 * never has to exist whole.
 */
export type HeadWeight = { matrix: tf.Tensor2D; table?: undefined } | { table: tf.Tensor2D; matrix?: undefined };

/** The last hidden states [N, d] (after the final norm) and the output head, with logits = hidden · W. */
export interface HeadInput {
  hidden: tf.Tensor2D;
  head: HeadWeight;
}

/** A family's forward pass in two parts: the blocks with the final norm, and the output head. */
export interface ModelParts {
  /** Hidden states [B·(T − logitsFrom), d] after the final norm. */
  trunk(weights: Weights, config: ModelConfig, input: ForwardInput, cache: KVCache | null, adapters?: LoraAdapters | null): tf.Tensor2D;
  /** The output head: a plain product (`weight`, null when an adapter or a bias makes it more), and how to apply it. */
  outputHead(weights: Weights, config: ModelConfig, input: ForwardInput, adapters?: LoraAdapters | null): OutputHead;
}

export interface OutputHead {
  weight: HeadWeight | null;
  apply(hidden: tf.Tensor2D): tf.Tensor2D;
}

/** Logits of a family that is given as ModelParts: trunk, then head. */
export function partsForward(parts: ModelParts, weights: Weights, config: ModelConfig, input: ForwardInput, cache: KVCache | null, adapters?: LoraAdapters | null): tf.Tensor2D {
  return parts.outputHead(weights, config, input, adapters).apply(parts.trunk(weights, config, input, cache, adapters));
}

/** The trunk's output and the head's matrix, or null when the head is not a plain product. */
export function partsHeadInput(parts: ModelParts, weights: Weights, config: ModelConfig, input: ForwardInput, adapters?: LoraAdapters | null): HeadInput | null {
  const head = parts.outputHead(weights, config, input, adapters).weight;
  return head ? { hidden: parts.trunk(weights, config, input, null, adapters), head } : null;
}

/**
 * One transformer block, checkpointed when the input asks for it (and a tape records): `prefix` names the block's
 * tensors, whose trainable ones (weights, or LoRA adapters) the recomputed backward must reach; `captured` are the
 * other tensors the block reads (see checkpointed).
 */
export function runBlock(
  x: tf.Tensor2D, input: ForwardInput, weights: Weights, adapters: LoraAdapters | null | undefined, prefix: string, captured: tf.Tensor[], block: Block,
): tf.Tensor2D {
  if (!input.checkpointBlocks || !tapeIsRecording()) return block(x, captured);
  const trainables: tf.Tensor[] = [...weights].filter(([name, w]) => w.trainable && name.startsWith(prefix)).map(([, w]) => w);
  trainables.push(...(adapters?.trainablesUnder(prefix) ?? []));
  return checkpointed(x, trainables, captured, block);
}

export interface ModelFamily extends ModelParts {
  parameterSpecs(config: ModelConfig): ParamSpec[];
  /** The token-embedding tensor's name (a ParamSpec name), which a tied output head shares. */
  embeddingName: string;
  /** The embedding tables (token, and GPT-2's positions): looked up, not multiplied, so no LoRA target. */
  lookupTables: string[];
  /**
   * Whether a checkpoint tensor is a buffer some files carry that is no parameter (a causal mask, RoPE's inverse
   * frequencies): recomputed from the config, so skipped when loading.
   */
  isBuffer(name: string): boolean;
  /**
   * Logits [B·(T − logitsFrom), V]. With a cache, reads and extends it (cache tensors are kept; see KVCache).
   * `adapters` adds LoRA to the projections they target.
   */
  forward(weights: Weights, config: ModelConfig, input: ForwardInput, cache: KVCache | null, adapters?: LoraAdapters | null): tf.Tensor2D;
}

export function weight(weights: Weights, name: string): tf.Variable {
  const w = weights.get(name);
  if (!w) throw new Error(`model has no weight '${name}'`);
  return w;
}

/** Hidden states [B·T, d] → the columns from `logitsFrom` on, [B·(T − from), d]. */
export function selectColumns(hidden: tf.Tensor, input: ForwardInput): tf.Tensor2D {
  if (input.logitsFrom === 0) return hidden as tf.Tensor2D;
  const d = hidden.shape[1]!;
  const cube = tf.reshape(hidden, [input.batch, input.length, d]);
  const kept = tf.slice(cube, [0, input.logitsFrom, 0], [input.batch, input.length - input.logitsFrom, d]);
  return tf.reshape(kept, [input.batch * (input.length - input.logitsFrom), d]) as tf.Tensor2D;
}

const MASKED = -1e9;

/**
 * The attention mask for `length` new tokens after `past` cached ones. keyValid[b][s] says whether key s of row b
 * is a real token (false for left padding). Query t (absolute column past + t) sees keys s ≤ past + t.
 */
export function attentionBias(keyValid: boolean[][], past: number, length: number): tf.Tensor {
  const B = keyValid.length;
  const S = past + length;
  const bias = new Float32Array(B * length * S);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < length; t++) {
      for (let s = 0; s < S; s++) {
        if (s > past + t || !keyValid[b][s]) bias[(b * length + t) * S + s] = MASKED;
      }
    }
  }
  return tf.tensor(bias, [B, 1, length, 1, S]);
}

export function emptyCache(nLayers: number, capacity = 0): KVCache {
  return { layers: new Array<LayerCache | null>(nLayers).fill(null), capacity };
}

export function disposeCache(cache: KVCache): void {
  for (const layer of cache.layers) if (layer) tf.dispose([layer.k, layer.v]);
  cache.layers.fill(null);
}

/** Stores a layer's new cache entry outside the current tidy scope and frees the entry it replaces. */
export function updateCache(cache: KVCache | null, layer: number, entry: LayerCache | null): void {
  if (!cache || !entry) return;
  const old = cache.layers[layer];
  cache.layers[layer] = { k: tf.keep(entry.k), v: tf.keep(entry.v), length: entry.length };
  // Appended in place, the entry holds the same tensors.
  if (old) tf.dispose([old.k, old.v].filter((t) => t !== entry.k && t !== entry.v));
}

/** The engine's own test for "a gradient tape is recording" (not in tfjs-core's public typings). */
export function tapeIsRecording(): boolean {
  return (tf.engine() as unknown as { isTapeOn(): boolean }).isTapeOn();
}

/** Per weight: derived tensors by key, valid while the weight keeps the data they were computed from. */
const derivedWeights = new Map<tf.Variable, { dataId: object; byKey: Map<string, tf.Tensor> }>();
/** Tensors derived from a frozen weight (a LoRA base's slices, its tied head's transpose): no gradient reaches them. */
const frozenDerived = new WeakSet<tf.Tensor>();

/** A weight no gradient is taken of: a frozen variable (a LoRA run's base, a reference model) or a tensor derived from one. */
export function isFrozenWeight(t: tf.Tensor): boolean {
  return t instanceof tf.Variable ? !t.trainable : frozenDerived.has(t);
}

/**
 * A tensor computed from a weight alone (its transpose, a slice). Outside a gradient tape it is cached until the
 * weight's values change (an optimizer step gives the variable new data), so sampling and scoring do not redo it
 * at every forward; under a tape it is recomputed, so that gradients reach the weight — unless the weight is frozen
 * (a LoRA run's base, a reference model), which needs no gradient.
 */
export function derivedWeight<T extends tf.Tensor>(weight: tf.Variable, key: string, derive: (w: tf.Variable) => T): T {
  if (tapeIsRecording() && weight.trainable) return derive(weight);
  let entry = derivedWeights.get(weight);
  if (entry?.dataId !== weight.dataId) {
    if (entry) releaseDerived(weight);
    releaseDisposedWeights();
    entry = { dataId: weight.dataId, byKey: new Map() };
    derivedWeights.set(weight, entry);
  }
  let derived = entry.byKey.get(key) as T | undefined;
  if (!derived) {
    derived = tf.keep(tf.tidy(() => derive(weight)));
    entry.byKey.set(key, derived);
    if (!weight.trainable) frozenDerived.add(derived);
  }
  return derived;
}

/**
 * The tied output head: the embedding table [V, d] transposed to [d, V]. Transposing it on every forward costs
 * V·d copies per decoded token (150 M floats for Qwen2.5's vocabulary).
 */
export function tiedHead(table: tf.Variable): tf.Tensor2D {
  const head = derivedWeight(table, 'transpose', (t) => tf.transpose(t) as tf.Tensor2D);
  transposes.set(head, table);
  return head;
}

/** Derived transposes by the weight they transpose: a backward pass that needs Wᵀ of such a W uses the original. */
const transposes = new WeakMap<tf.Tensor, tf.Variable>();

/** The tensor `w` is the transpose of, when known (the tied head's table), else undefined. */
export function transposeSource(w: tf.Tensor): tf.Tensor | undefined {
  const source = transposes.get(w);
  return source && !source.isDisposed ? source : undefined;
}

/** Weights freed without releaseDerived (e.g. by tf.disposeVariables at the end of a run) free their entries here. */
function releaseDisposedWeights(): void {
  for (const weight of [...derivedWeights.keys()]) if (weight.isDisposed) releaseDerived(weight);
}

/** Frees what was derived from a weight that is being disposed. */
export function releaseDerived(weight: tf.Variable): void {
  for (const t of derivedWeights.get(weight)?.byKey.values() ?? []) t.dispose();
  derivedWeights.delete(weight);
}
