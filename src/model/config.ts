/**
 * Model configuration: one normalised shape description for both families, read from a Hugging Face
 * `config.json` (GPT-2 or Llama / Qwen2 field names; transformers 4.x or 5.x) and written back in the 4.x dialect,
 * which both read. A field that changes the model's math and is not implemented here is refused by name rather than
 * ignored: the model would load and silently compute something else.
 */
import { parseRope, RopeScaling, ropeScalingToJson } from './rope';

export type { RopeScaling } from './rope';

export type ModelFamilyName = 'gpt2' | 'llama';

export interface ModelConfig {
  family: ModelFamilyName;
  /** `model_type` as written in config.json: 'gpt2', 'llama' or 'qwen2'. */
  modelType: string;
  vocabSize: number;
  dModel: number;
  nLayers: number;
  nHeads: number;
  /** Key/value heads (grouped-query attention); equals nHeads for multi-head attention. */
  nKvHeads: number;
  headDim: number;
  /** Width of the feed-forward hidden layer. */
  dFF: number;
  maxPositions: number;
  normEps: number;
  /** RoPE base (Llama family only). */
  ropeTheta: number;
  /** RoPE frequency scaling (`rope_scaling` / `rope_parameters`); null for plain RoPE and for GPT-2. */
  ropeScaling: RopeScaling | null;
  /** Whether the output head shares the token-embedding matrix. */
  tieEmbeddings: boolean;
  /** Biases on the q/k/v projections (GPT-2, Qwen2, or Llama with attention_bias). */
  qkvBias: boolean;
  /** Bias on the attention output projection (GPT-2's c_proj; Llama's o_proj with attention_bias; never Qwen2). */
  attnOutBias: boolean;
  /** Biases on the feed-forward projections (GPT-2; Llama's gate/up/down with mlp_bias; never Qwen2). */
  mlpBias: boolean;
  eosTokenIds: number[];
  bosTokenId: number | null;
}

type Json = Record<string, unknown>;

/** Parses a config.json object; every error names the file and the offending field. */
export function parseConfig(json: unknown, file = 'config.json'): ModelConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`${file}: expected a JSON object`);
  const raw = json as Json;
  const modelType = raw.model_type;
  if (modelType === 'gpt2') return parseGpt2(raw, file);
  if (modelType === 'llama' || modelType === 'qwen2') return parseLlama(raw, file, modelType);
  const archs = Array.isArray(raw.architectures) ? ` (architectures: ${raw.architectures.join(', ')})` : '';
  throw new Error(`${file}: unknown architecture: field 'model_type' is ${JSON.stringify(modelType)}${archs}; supported: gpt2, llama, qwen2`);
}

function parseGpt2(raw: Json, file: string): ModelConfig {
  const f = new FieldReader(raw, file);
  const dModel = f.int('n_embd');
  const nHeads = f.int('n_head');
  const activation = f.str('activation_function', 'gelu_new');
  if (activation !== 'gelu_new') throw new Error(`${file}: field 'activation_function' is '${activation}'; only 'gelu_new' is supported`);
  // GPT2Attention divides the scores by √head_dim only with scale_attn_weights, and by layer + 1 as well with
  // scale_attn_by_inverse_layer_idx (modeling_gpt2.py); only the first, default form is implemented.
  f.refuseUnless('scale_attn_weights', true, 'unscaled attention');
  f.refuseUnless('scale_attn_by_inverse_layer_idx', false, 'attention scaled by the layer index');
  return {
    family: 'gpt2',
    modelType: 'gpt2',
    vocabSize: f.int('vocab_size'),
    dModel,
    nLayers: f.int('n_layer'),
    nHeads,
    nKvHeads: nHeads,
    headDim: f.divides(dModel, nHeads, 'n_embd', 'n_head'),
    dFF: f.optionalInt('n_inner') ?? 4 * dModel,
    maxPositions: f.int('n_positions'),
    normEps: f.num('layer_norm_epsilon', 1e-5),
    ropeTheta: 0,
    ropeScaling: null,
    tieEmbeddings: f.bool('tie_word_embeddings', true),
    qkvBias: true,
    attnOutBias: true,
    mlpBias: true,
    eosTokenIds: f.tokenIds('eos_token_id'),
    bosTokenId: f.tokenIds('bos_token_id')[0] ?? null,
  };
}

function parseLlama(raw: Json, file: string, modelType: 'llama' | 'qwen2'): ModelConfig {
  const f = new FieldReader(raw, file);
  const dModel = f.int('hidden_size');
  const nHeads = f.int('num_attention_heads');
  const nKvHeads = f.optionalInt('num_key_value_heads') ?? nHeads;
  if (nHeads % nKvHeads !== 0) {
    throw new Error(`${file}: field 'num_key_value_heads' (${nKvHeads}) must divide 'num_attention_heads' (${nHeads})`);
  }
  const activation = f.str('hidden_act', 'silu');
  if (activation !== 'silu') throw new Error(`${file}: field 'hidden_act' is '${activation}'; only 'silu' is supported`);
  const nLayers = f.int('num_hidden_layers');
  const maxPositions = f.int('max_position_embeddings');
  const headDim = f.optionalInt('head_dim') ?? f.divides(dModel, nHeads, 'hidden_size', 'num_attention_heads');
  if (headDim % 2 !== 0) throw new Error(`${file}: field 'head_dim' (${headDim}) must be even: RoPE rotates pairs of dimensions`);
  if (modelType === 'qwen2') checkNoSlidingWindow(f, raw, nLayers);
  // Gemma-2-style soft-capping is no part of LlamaForCausalLM / Qwen2ForCausalLM: a config carrying it belongs to
  // another model, whose logits these families would not reproduce.
  for (const name of ['attn_logit_softcapping', 'final_logit_softcapping']) f.refuseUnless(name, null, 'logit soft-capping');
  // pretraining_tp is accepted whatever its value: transformers ≤ 4.4x only split the same projections into that many
  // slices and summed them (a different summation order, the same function), and later versions ignore it.
  const rope = parseRope(raw, file, maxPositions);
  // Llama's attention_bias puts biases on q, k, v and o_proj, mlp_bias on gate, up and down (modeling_llama.py);
  // Qwen2 always has q/k/v biases and never the others, whatever such fields say (modeling_qwen2.py).
  const attentionBias = modelType === 'llama' && f.bool('attention_bias', false);
  return {
    family: 'llama',
    modelType,
    vocabSize: f.int('vocab_size'),
    dModel,
    nLayers,
    nHeads,
    nKvHeads,
    headDim,
    dFF: f.int('intermediate_size'),
    maxPositions,
    normEps: f.num('rms_norm_eps', 1e-6),
    ropeTheta: rope.theta,
    ropeScaling: rope.scaling,
    // LlamaConfig and Qwen2Config both default to an untied head (Qwen2.5's small models say true explicitly).
    tieEmbeddings: f.bool('tie_word_embeddings', false),
    qkvBias: modelType === 'qwen2' || attentionBias,
    attnOutBias: attentionBias,
    mlpBias: modelType === 'llama' && f.bool('mlp_bias', false),
    eosTokenIds: f.tokenIds('eos_token_id'),
    bosTokenId: f.tokenIds('bos_token_id')[0] ?? null,
  };
}

/**
 * Qwen2's sliding-window attention is not implemented. Qwen2Config slides layers i ≥ max_window_layers when
 * use_sliding_window is true and sliding_window is set (4.x `Qwen2Attention`; 5.x writes the result to `layer_types`),
 * so a config that turns it on but slides no layer is still plain attention.
 */
function checkNoSlidingWindow(f: FieldReader, raw: Json, nLayers: number): void {
  const layerTypes = raw.layer_types;
  if (layerTypes !== undefined && layerTypes !== null) {
    if (!Array.isArray(layerTypes)) throw new Error(`${f.file}: field 'layer_types' must be a list, got ${JSON.stringify(layerTypes)}`);
    const sliding = layerTypes.findIndex((t) => t !== 'full_attention');
    if (sliding >= 0) {
      throw new Error(`${f.file}: field 'layer_types[${sliding}]' is ${JSON.stringify(layerTypes[sliding])}; only 'full_attention' is supported (sliding-window attention is not implemented)`);
    }
  }
  if (!f.bool('use_sliding_window', false) || raw.sliding_window === null) return;
  // max_window_layers may be 0 (every layer slides); 28 is Qwen2Config's default.
  const firstSliding = raw.max_window_layers === 0 ? 0 : f.optionalInt('max_window_layers') ?? 28;
  if (firstSliding < nLayers) {
    const layers = firstSliding === nLayers - 1 ? `layer ${firstSliding}` : `layers ${firstSliding}–${nLayers - 1}`;
    throw new Error(
      `${f.file}: field 'use_sliding_window' is true (${layers} would attend within 'sliding_window'); ` +
        'sliding-window attention is not supported: set it to false to use full attention',
    );
  }
}

/**
 * Writes the config back in the Hugging Face dialect of its family, so transformers can load the folder too: the
 * 4.x field names (`rope_theta`, `rope_scaling`, `torch_dtype`), which 5.x reads as well. Everything parseConfig
 * reads is written, so parseConfig(configToJson(c)) equals c.
 */
export function configToJson(c: ModelConfig): Json {
  const eos = c.eosTokenIds.length === 1 ? c.eosTokenIds[0] : c.eosTokenIds;
  if (c.family === 'gpt2') {
    return {
      architectures: ['GPT2LMHeadModel'],
      model_type: 'gpt2',
      vocab_size: c.vocabSize,
      n_embd: c.dModel,
      n_layer: c.nLayers,
      n_head: c.nHeads,
      n_inner: c.dFF,
      n_positions: c.maxPositions,
      layer_norm_epsilon: c.normEps,
      activation_function: 'gelu_new',
      tie_word_embeddings: c.tieEmbeddings,
      bos_token_id: c.bosTokenId,
      eos_token_id: eos,
      // savePolicy writes float32 tensors.
      torch_dtype: 'float32',
    };
  }
  return {
    architectures: [c.modelType === 'qwen2' ? 'Qwen2ForCausalLM' : 'LlamaForCausalLM'],
    model_type: c.modelType,
    vocab_size: c.vocabSize,
    hidden_size: c.dModel,
    num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads,
    num_key_value_heads: c.nKvHeads,
    head_dim: c.headDim,
    intermediate_size: c.dFF,
    max_position_embeddings: c.maxPositions,
    rms_norm_eps: c.normEps,
    rope_theta: c.ropeTheta,
    rope_scaling: c.ropeScaling ? ropeScalingToJson(c.ropeScaling) : null,
    hidden_act: 'silu',
    tie_word_embeddings: c.tieEmbeddings,
    ...(c.modelType === 'llama' ? { attention_bias: c.attnOutBias, mlp_bias: c.mlpBias } : { use_sliding_window: false }),
    bos_token_id: c.bosTokenId,
    eos_token_id: eos,
    torch_dtype: 'float32',
  };
}

/** Number of parameters of a configuration (counting a tied head once). */
export function parameterCount(c: ModelConfig): number {
  const embed = c.vocabSize * c.dModel;
  const head = c.tieEmbeddings ? 0 : embed;
  if (c.family === 'gpt2') {
    const layer = 4 * c.dModel + (c.dModel * 3 * c.dModel + 3 * c.dModel) + (c.dModel * c.dModel + c.dModel) +
      (c.dModel * c.dFF + c.dFF) + (c.dFF * c.dModel + c.dModel);
    return embed + head + c.maxPositions * c.dModel + c.nLayers * layer + 2 * c.dModel;
  }
  const qDim = c.nHeads * c.headDim;
  const kvDim = c.nKvHeads * c.headDim;
  const attn = c.dModel * (qDim + 2 * kvDim) + qDim * c.dModel + (c.qkvBias ? qDim + 2 * kvDim : 0) + (c.attnOutBias ? c.dModel : 0);
  const mlp = 3 * c.dModel * c.dFF + (c.mlpBias ? 2 * c.dFF + c.dModel : 0);
  const layer = 2 * c.dModel + attn + mlp;
  return embed + head + c.nLayers * layer + c.dModel;
}

export class FieldReader {
  constructor(private readonly raw: Json, readonly file: string) {}

  /** Refuses a field that is present with another value than `supported` (absent or null counts as the default). */
  refuseUnless(name: string, supported: boolean | null, what: string): void {
    const v = this.raw[name];
    if (v === undefined || v === null || v === supported) return;
    throw new Error(`${this.file}: field '${name}' is ${JSON.stringify(v)}; ${what} is not supported`);
  }

  int(name: string): number {
    const v = this.raw[name];
    if (v === undefined) throw new Error(`${this.file}: missing field '${name}'`);
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new Error(`${this.file}: field '${name}' must be a positive integer, got ${JSON.stringify(v)}`);
    }
    return v;
  }

  optionalInt(name: string): number | undefined {
    return this.raw[name] === undefined || this.raw[name] === null ? undefined : this.int(name);
  }

  num(name: string, fallback: number): number {
    const v = this.raw[name] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new Error(`${this.file}: field '${name}' must be a positive number, got ${JSON.stringify(v)}`);
    }
    return v;
  }

  bool(name: string, fallback: boolean): boolean {
    const v = this.raw[name] ?? fallback;
    if (typeof v !== 'boolean') throw new Error(`${this.file}: field '${name}' must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  str(name: string, fallback: string): string {
    const v = this.raw[name] ?? fallback;
    if (typeof v !== 'string') throw new Error(`${this.file}: field '${name}' must be a string, got ${JSON.stringify(v)}`);
    return v;
  }

  /** A token id, a list of them, or null / absent (→ []). */
  tokenIds(name: string): number[] {
    const v = this.raw[name];
    if (v === undefined || v === null) return [];
    const list = Array.isArray(v) ? v : [v];
    if (!list.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0)) {
      throw new Error(`${this.file}: field '${name}' must be a token id or a list of them, got ${JSON.stringify(v)}`);
    }
    return list as number[];
  }

  divides(total: number, parts: number, totalName: string, partsName: string): number {
    if (total % parts !== 0) throw new Error(`${this.file}: field '${partsName}' (${parts}) must divide '${totalName}' (${total})`);
    return total / parts;
  }
}
