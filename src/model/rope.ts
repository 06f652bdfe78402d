/**
 * Rotary position embedding parameters as Hugging Face transformers reads and computes them: which config fields
 * hold them (4.x `rope_theta` + `rope_scaling`, 5.x `rope_parameters`), and the inverse frequencies of the
 * 'default', 'linear' and 'llama3' RoPE types, written from huggingface/transformers
 * src/transformers/modeling_rope_utils.py (`_compute_linear_scaling_rope_parameters`, `_compute_llama3_parameters`,
 * `RotaryEmbeddingConfigMixin.convert_rope_params_to_dict` / `standardize_rope_params`) and the models'
 * `compute_default_rope_parameters`. All three leave cos/sin unscaled (attention_factor 1). Other types (dynamic,
 * yarn, longrope, …) are refused by name.
 */

/** RoPE frequency scaling; absent (null) for the original RoPE. */
export type RopeScaling =
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number };

type Json = Record<string, unknown>;

/** transformers' `default_theta`, used when neither the rope dict nor the config names a base. */
const DEFAULT_THETA = 10000;
/** The per-layer-type keys of a 5.x `rope_parameters` that holds one dict per attention kind. */
const LAYER_TYPES = new Set(['full_attention', 'sliding_attention', 'chunked_attention', 'linear_attention']);

/** The RoPE base and scaling of a Llama-family config.json; errors name the file and the field. */
export function parseRope(raw: Json, file: string, maxPositions: number): { theta: number; scaling: RopeScaling | null } {
  const { params, field } = ropeDict(raw, file);
  const theta = ropeTheta(raw, params, field, file);
  checkFullRotation(raw, params, field, file);
  const typeKey = params.rope_type !== undefined ? 'rope_type' : params.type !== undefined ? 'type' : null;
  const type = typeKey ? params[typeKey] : 'default';
  const num = (name: string) => positive(params[name], `${field}.${name}`, file);
  switch (type) {
    case 'default':
      return { theta, scaling: null };
    case 'linear':
      return { theta, scaling: { type: 'linear', factor: num('factor') } };
    case 'llama3': {
      const lowFreqFactor = num('low_freq_factor');
      const highFreqFactor = num('high_freq_factor');
      if (highFreqFactor <= lowFreqFactor) {
        throw new Error(`${file}: field '${field}.high_freq_factor' (${highFreqFactor}) must be greater than '${field}.low_freq_factor' (${lowFreqFactor})`);
      }
      // 5.x `standardize_rope_params`: a top-level original_max_position_embeddings wins over the rope dict's, and
      // max_position_embeddings stands in when neither has one (4.x required the rope dict's).
      const originalMaxPositions = optionalPositive(raw.original_max_position_embeddings, 'original_max_position_embeddings', file) ??
        optionalPositive(params.original_max_position_embeddings, `${field}.original_max_position_embeddings`, file) ?? maxPositions;
      return { theta, scaling: { type: 'llama3', factor: num('factor'), lowFreqFactor, highFreqFactor, originalMaxPositions } };
    }
    default:
      throw new Error(`${file}: field '${field}.${typeKey}' is ${JSON.stringify(type)}; only 'default', 'linear' and 'llama3' RoPE are supported`);
  }
}

/** The rope dict and the field it came from, as 5.x picks it: `rope_scaling or rope_parameters`. */
function ropeDict(raw: Json, file: string): { params: Json; field: string } {
  const legacy = raw.rope_scaling;
  const hasLegacy = legacy !== undefined && legacy !== null && !(isObject(legacy) && Object.keys(legacy).length === 0);
  const field = hasLegacy || raw.rope_parameters === undefined || raw.rope_parameters === null ? 'rope_scaling' : 'rope_parameters';
  const value = raw[field] ?? {};
  if (!isObject(value)) throw new Error(`${file}: field '${field}' must be an object, got ${JSON.stringify(value)}`);
  const keys = Object.keys(value);
  // One dict per attention kind (5.x): only full attention is implemented, and parseConfig refuses other layers.
  if (keys.length > 0 && keys.every((k) => LAYER_TYPES.has(k))) {
    const full = value.full_attention;
    if (!isObject(full)) throw new Error(`${file}: field '${field}' has no 'full_attention' entry (keys: ${keys.join(', ')})`);
    return { params: full, field: `${field}.full_attention` };
  }
  return { params: value, field };
}

/** The base: the rope dict's `rope_theta` (5.x), else the top-level one (4.x), else 10000; both must agree. */
function ropeTheta(raw: Json, params: Json, field: string, file: string): number {
  const inner = params.rope_theta;
  const outer = raw.rope_theta;
  const has = (v: unknown) => v !== undefined && v !== null;
  if (has(inner) && has(outer) && inner !== outer) {
    // 5.x would take the rope dict's and 4.x the top-level one: which the model was trained with is unknowable.
    throw new Error(`${file}: fields '${field}.rope_theta' (${JSON.stringify(inner)}) and 'rope_theta' (${JSON.stringify(outer)}) disagree`);
  }
  if (has(inner)) return positive(inner, `${field}.rope_theta`, file);
  return has(outer) ? positive(outer, 'rope_theta', file) : DEFAULT_THETA;
}

/** LlamaAttention and Qwen2Attention rotate whole heads: a partial rotation belongs to another model. */
function checkFullRotation(raw: Json, params: Json, field: string, file: string): void {
  for (const [value, name] of [[params.partial_rotary_factor, `${field}.partial_rotary_factor`], [raw.partial_rotary_factor, 'partial_rotary_factor']]) {
    if (value !== undefined && value !== null && value !== 1) {
      throw new Error(`${file}: field '${name}' is ${JSON.stringify(value)}; only RoPE over the whole head (1) is supported`);
    }
  }
}

/** Writes a scaling back as a 4.x `rope_scaling` dict (5.x reads it too). */
export function ropeScalingToJson(s: RopeScaling): Json {
  if (s.type === 'linear') return { rope_type: 'linear', factor: s.factor };
  return {
    rope_type: 'llama3', factor: s.factor, low_freq_factor: s.lowFreqFactor, high_freq_factor: s.highFreqFactor,
    original_max_position_embeddings: s.originalMaxPositions,
  };
}

/**
 * Inverse frequencies θ^(−2i/d), i < d/2, with the config's scaling. transformers keeps them in a float32 tensor (the
 * default ones rounded to float32 before llama3 rescales them); here they are computed in float64 and rounded where
 * transformers holds float32. That leaves them within a few float32 ulps of transformers' on the CPU (checked against
 * PyTorch: ≤ 2 ulps default, ≤ 7 in llama3's smoothed band), no farther than transformers' CPU and GPU values are
 * from each other: torch's float32 pow is not correctly rounded either.
 */
export function inverseFrequencies(headDim: number, theta: number, scaling: RopeScaling | null): Float32Array {
  const inv = new Float32Array(headDim / 2);
  for (let i = 0; i < inv.length; i++) inv[i] = 1 / Math.pow(theta, (2 * i) / headDim);
  if (scaling?.type === 'linear') {
    // "applying scaling to the inverse frequencies is equivalent" to dividing the positions by the factor.
    for (let i = 0; i < inv.length; i++) inv[i] = inv[i] / scaling.factor;
  } else if (scaling?.type === 'llama3') {
    for (let i = 0; i < inv.length; i++) inv[i] = llama3Frequency(inv[i], scaling);
  }
  return inv;
}

/**
 * Llama 3.1's frequency-dependent scaling (`_compute_llama3_parameters`): wavelengths shorter than
 * original/high_freq_factor are kept, those longer than original/low_freq_factor are divided by the factor, and
 * the band between interpolates smoothly between the two.
 */
function llama3Frequency(inv: number, s: Extract<RopeScaling, { type: 'llama3' }>): number {
  const lowFreqWavelen = s.originalMaxPositions / s.lowFreqFactor;
  const highFreqWavelen = s.originalMaxPositions / s.highFreqFactor;
  const wavelen = (2 * Math.PI) / inv;
  if (wavelen < highFreqWavelen) return inv;
  if (wavelen > lowFreqWavelen) return inv / s.factor;
  const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
  return ((1 - smooth) * inv) / s.factor + smooth * inv;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function positive(v: unknown, name: string, file: string): number {
  if (v === undefined || v === null) throw new Error(`${file}: missing field '${name}'`);
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new Error(`${file}: field '${name}' must be a positive number, got ${JSON.stringify(v)}`);
  }
  return v;
}

function optionalPositive(v: unknown, name: string, file: string): number | undefined {
  return v === undefined || v === null ? undefined : positive(v, name, file);
}
