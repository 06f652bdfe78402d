/**
 * Model configuration: one normalised shape description for both families, read from a Hugging Face
 * `config.json` (GPT-2 or Llama / Qwen2 field names) and written back in the same dialect.
 */

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
  /** Whether the output head shares the token-embedding matrix. */
  tieEmbeddings: boolean;
  /** Biases on the q/k/v projections (Qwen2, or Llama with attention_bias). */
  qkvBias: boolean;
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
    tieEmbeddings: f.bool('tie_word_embeddings', true),
    qkvBias: true,
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
  if (raw.rope_scaling !== undefined && raw.rope_scaling !== null) {
    throw new Error(`${file}: field 'rope_scaling' is set (${JSON.stringify(raw.rope_scaling)}); scaled RoPE is not supported`);
  }
  return {
    family: 'llama',
    modelType,
    vocabSize: f.int('vocab_size'),
    dModel,
    nLayers: f.int('num_hidden_layers'),
    nHeads,
    nKvHeads,
    headDim: f.optionalInt('head_dim') ?? f.divides(dModel, nHeads, 'hidden_size', 'num_attention_heads'),
    dFF: f.int('intermediate_size'),
    maxPositions: f.int('max_position_embeddings'),
    normEps: f.num('rms_norm_eps', 1e-6),
    ropeTheta: f.num('rope_theta', 10000),
    tieEmbeddings: f.bool('tie_word_embeddings', modelType === 'qwen2'),
    // Qwen2 always has q/k/v biases; Llama only with attention_bias.
    qkvBias: modelType === 'qwen2' ? true : f.bool('attention_bias', false),
    eosTokenIds: f.tokenIds('eos_token_id'),
    bosTokenId: f.tokenIds('bos_token_id')[0] ?? null,
  };
}

/** Writes the config back in the Hugging Face dialect of its family, so transformers can load the folder too. */
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
    hidden_act: 'silu',
    tie_word_embeddings: c.tieEmbeddings,
    ...(c.modelType === 'llama' ? { attention_bias: c.qkvBias } : {}),
    bos_token_id: c.bosTokenId,
    eos_token_id: eos,
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
  const attn = c.dModel * (qDim + 2 * kvDim) + qDim * c.dModel + (c.qkvBias ? qDim + 2 * kvDim : 0);
  const layer = 2 * c.dModel + attn + 3 * c.dModel * c.dFF;
  return embed + head + c.nLayers * layer + c.dModel;
}

class FieldReader {
  constructor(private readonly raw: Json, private readonly file: string) {}

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
