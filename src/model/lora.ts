/**
 * LoRA (Hu et al. 2021, "Low-Rank Adaptation of Large Language Models") with PEFT's semantics and file format, so an
 * adapter trained here loads with `PeftModel.from_pretrained` and one trained with PEFT starts a run here.
 *
 * A targeted projection y = x·W + b gains y += s · dropout(x)·A·B, where A [in, r] and B [r, out] are the adapter
 * (PEFT stores lora_A.weight [r, in] and lora_B.weight [out, r], the nn.Linear layout; we keep them transposed, as
 * the base weights, so the product is two plain matMuls) and s = lora_alpha / r (lora_alpha / √r with rsLoRA).
 * The base weights are frozen: only A and B train. Semantics from PEFT v0.13–0.17 `tuners/lora/layer.py`
 * (`update_layer`, `reset_lora_parameters`, `get_delta_weight`), `tuners/tuners_utils.py`
 * (`check_target_module_exists`, `_maybe_include_all_linear_layers`) and `utils/constants.py`
 * (`TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING`).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { inTrainingForward } from './checkpointing';
import { matMul } from './kernels';
import { ParamSpec, Weights } from './model';
import { ModelConfig } from './config';
import { familyOf, Policy } from './policy';
import { Random } from './random';
import { HostTensor, readSafetensors, TensorMap, writeSafetensors } from './safetensors';

/** `LoraConfig` fields we support, under PEFT's names (snake_case in files and run configs). */
export interface LoraSettings {
  /** Rank r of A and B. */
  r: number;
  /** Scale numerator: the adapter's output is multiplied by lora_alpha / r (or / √r with use_rslora). */
  lora_alpha: number;
  /** Dropout probability on the adapter's input, in training forwards only. */
  lora_dropout: number;
  /**
   * Which projections get an adapter. A list matches a module name exactly or by suffix after a dot (`c_proj` hits
   * GPT-2's `attn.c_proj` and `mlp.c_proj`); a string is a regular expression the whole module name must match;
   * `"all-linear"` is every linear layer except the output head. Absent: PEFT's default for the model type.
   */
  target_modules: string[] | string | null;
  /** true: A Kaiming-uniform (a = √5), B zero; "gaussian": A normal(0, 1/r), B zero; false: B random too (a non-identity start, for tests). */
  init_lora_weights: boolean | 'gaussian';
  /** Rank-stabilised scaling lora_alpha / √r (Kalajdzievski 2023). */
  use_rslora: boolean;
  /** The base layer stores its weight [in, out] (GPT-2's Conv1D); set for such models whatever the input says, as PEFT does. */
  fan_in_fan_out: boolean;
}

export const DEFAULT_LORA_SETTINGS: LoraSettings = {
  r: 8,
  lora_alpha: 8,
  lora_dropout: 0,
  target_modules: null,
  init_lora_weights: true,
  use_rslora: false,
  fan_in_fan_out: false,
};

/** PEFT's TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING for the model types this stack runs. */
const DEFAULT_TARGETS: Record<string, string[]> = {
  gpt2: ['c_attn'],
  llama: ['q_proj', 'v_proj'],
  qwen2: ['q_proj', 'v_proj'],
  mistral: ['q_proj', 'v_proj'],
};

/** A projection of the base model that an adapter can wrap. */
export interface LinearModule {
  /** Module path as in the HF model (`transformer.h.0.attn.c_attn`, `model.layers.3.mlp.down_proj`). */
  name: string;
  inFeatures: number;
  outFeatures: number;
  /** GPT-2's Conv1D: the checkpoint stores the weight [in, out] (PEFT's fan_in_fan_out layers). */
  conv1d: boolean;
  /** The model's output layer (`lm_head`), which `all-linear` leaves out. */
  outputLayer: boolean;
}

/** Every 2-D projection weight of a model (`lookupTables`, the embeddings, excluded: they are no linear layers). */
export function linearModules(specs: ParamSpec[], lookupTables: string[]): LinearModule[] {
  return specs
    .filter((s) => s.name.endsWith('.weight') && s.shape.length === 2 && !lookupTables.includes(s.name))
    .map((s) => {
      const name = s.name.slice(0, -'.weight'.length);
      // nn.Linear stores [out, in] (transposed to compute layout here); Conv1D stores [in, out].
      const [inFeatures, outFeatures] = s.transposed ? [s.shape[1], s.shape[0]] : [s.shape[0], s.shape[1]];
      return { name, inFeatures, outFeatures, conv1d: !s.transposed, outputLayer: name === 'lm_head' };
    });
}

/** PEFT `check_target_module_exists`: a string is a full-match regex, a list matches exactly or as a dotted suffix. */
export function matchesTarget(target: string[] | string, moduleName: string): boolean {
  if (typeof target === 'string') return new RegExp(`^(?:${target})$`).test(moduleName);
  return target.some((t) => moduleName === t || moduleName.endsWith('.' + t));
}

/**
 * The modules `settings.target_modules` selects, in model order; an error naming `field` when it selects none or
 * names a module that does not exist (PEFT raises "Target modules … not found in the base model").
 */
export function selectTargets(modules: LinearModule[], target: string[] | string | null, modelType: string, field: string): LinearModule[] {
  if (target === null) {
    const defaults = DEFAULT_TARGETS[modelType];
    if (!defaults) throw new Error(`${field}: PEFT has no default target modules for model type "${modelType}"; list them, or use "all-linear"`);
    target = defaults;
  }
  if (target === 'all-linear') return modules.filter((m) => !m.outputLayer);
  const chosen = modules.filter((m) => matchesTarget(target!, m.name));
  if (Array.isArray(target)) {
    const unmatched = target.filter((t) => !modules.some((m) => matchesTarget([t], m.name)));
    if (unmatched.length > 0) {
      const known = [...new Set(modules.map((m) => m.name.split('.').pop()!))].join(', ');
      throw new Error(`${field}: ${unmatched.map((t) => `"${t}"`).join(', ')} matches no linear layer of this ${modelType} model (its layers end in: ${known})`);
    }
  }
  if (chosen.length === 0) throw new Error(`${field}: "${String(target)}" matches no linear layer of this ${modelType} model`);
  return chosen;
}

/**
 * The settings as a model of this shape uses them, and the modules they adapt. `fan_in_fan_out` follows the layers,
 * as PEFT sets it (with a warning) when it meets GPT-2's Conv1D; errors name `field`.
 */
export function planLora(
  settings: LoraSettings, modules: LinearModule[], modelType: string, field: string,
): { settings: LoraSettings; targets: LinearModule[] } {
  if (!Number.isInteger(settings.r) || settings.r < 1) throw new Error(`${field}.r: must be a positive integer, got ${settings.r}`);
  if (!(settings.lora_alpha > 0)) throw new Error(`${field}.lora_alpha: must be positive, got ${settings.lora_alpha}`);
  if (!(settings.lora_dropout >= 0 && settings.lora_dropout < 1)) throw new Error(`${field}.lora_dropout: must be in [0, 1), got ${settings.lora_dropout}`);
  const targets = selectTargets(modules, settings.target_modules, modelType, `${field}.target_modules`);
  const tooNarrow = targets.find((t) => settings.r > Math.min(t.inFeatures, t.outFeatures));
  if (tooNarrow) {
    throw new Error(`${field}.r: ${settings.r} exceeds the width of '${tooNarrow.name}' (${tooNarrow.inFeatures} → ${tooNarrow.outFeatures}); a rank that high is no low-rank adapter`);
  }
  const kinds = new Set(targets.map((t) => t.conv1d));
  if (kinds.size > 1) throw new Error(`${field}.target_modules: mixes Conv1D and Linear layers, which need different fan_in_fan_out`);
  return { settings: { ...settings, fan_in_fan_out: targets[0].conv1d }, targets };
}

/** Parameters of rank-r adapters on `targets`: r·(in + out) each. */
export function loraParameterCount(targets: LinearModule[], r: number): number {
  return targets.reduce((n, t) => n + r * (t.inFeatures + t.outFeatures), 0);
}

/** lora_alpha / r, or lora_alpha / √r with rsLoRA (PEFT `update_layer`). */
export function loraScaling(settings: Pick<LoraSettings, 'r' | 'lora_alpha' | 'use_rslora'>): number {
  return settings.use_rslora ? settings.lora_alpha / Math.sqrt(settings.r) : settings.lora_alpha / settings.r;
}

/** One adapted projection: A [in, r] and B [r, out] in compute layout. */
export interface LoraModule {
  module: LinearModule;
  A: tf.Variable;
  B: tf.Variable;
}

const PEFT_PREFIX = 'base_model.model.';

/** PEFT's tensor names of a module's adapter (`save_pretrained` drops the adapter name "default"). */
export function peftTensorNames(moduleName: string): { A: string; B: string } {
  return { A: `${PEFT_PREFIX}${moduleName}.lora_A.weight`, B: `${PEFT_PREFIX}${moduleName}.lora_B.weight` };
}

let nextAdapterId = 0;

/** A set of LoRA adapters over one base model. */
export class LoraAdapters {
  readonly scaling: number;

  constructor(
    readonly settings: LoraSettings,
    readonly modules: Map<string, LoraModule>,
    /** False for a frozen copy (the reference of a run that starts from an adapter): no dropout, no training. */
    readonly trainable: boolean,
  ) {
    this.scaling = loraScaling(settings);
  }

  /**
   * Fresh adapters on `targets` (PEFT `reset_lora_parameters`): A Kaiming-uniform with a = √5, i.e.
   * U(−1/√in, 1/√in), or normal(0, 1/r) for "gaussian"; B zero, so the adapted model starts equal to the base.
   * With init_lora_weights false, B keeps nn.Linear's default U(−1/√r, 1/√r) as in PEFT.
   */
  static create(settings: LoraSettings, targets: LinearModule[], seed: number): LoraAdapters {
    const rng = new Random(seed);
    const id = nextAdapterId++;
    const modules = new Map<string, LoraModule>();
    const { r } = settings;
    for (const module of targets) {
      const a = new Float32Array(module.inFeatures * r);
      const b = new Float32Array(r * module.outFeatures);
      if (settings.init_lora_weights === 'gaussian') for (let i = 0; i < a.length; i++) a[i] = rng.normal() / r;
      else fillUniform(a, 1 / Math.sqrt(module.inFeatures), rng);
      if (settings.init_lora_weights === false) fillUniform(b, 1 / Math.sqrt(r), rng);
      modules.set(module.name, {
        module,
        A: tf.variable(tf.tensor2d(a, [module.inFeatures, r]), true, `${module.name}.lora_A@${id}`),
        B: tf.variable(tf.tensor2d(b, [r, module.outFeatures]), true, `${module.name}.lora_B@${id}`),
      });
    }
    return new LoraAdapters(settings, modules, true);
  }

  /**
   * Adapters from tensors under PEFT's names (adapter_model.safetensors). Every tensor is accounted for: a missing
   * one, a wrong shape, or one that adapts no module of `targets` is an error naming the tensor and `source`.
   */
  static fromTensors(settings: LoraSettings, targets: LinearModule[], tensors: TensorMap, source: string, trainable: boolean): LoraAdapters {
    const id = nextAdapterId++;
    const modules = new Map<string, LoraModule>();
    const used = new Set<string>();
    const take = (name: string, shape: number[]): HostTensor => {
      const t = tensors.get(name);
      if (!t) throw new Error(`${source}: missing tensor '${name}' (shape [${shape}]), which adapter_config.json's target_modules implies`);
      if (t.shape.length !== 2 || t.shape[0] !== shape[0] || t.shape[1] !== shape[1]) {
        throw new Error(`${source}: tensor '${name}' has shape [${t.shape}], expected [${shape}] (r = ${settings.r})`);
      }
      used.add(name);
      return t;
    };
    try {
      for (const module of targets) {
        const names = peftTensorNames(module.name);
        // PEFT layout → compute layout: lora_A.weight [r, in] → A [in, r]; lora_B.weight [out, r] → B [r, out].
        const a = take(names.A, [settings.r, module.inFeatures]);
        const b = take(names.B, [module.outFeatures, settings.r]);
        modules.set(module.name, {
          module,
          A: tf.tidy(() => tf.variable(tf.transpose(tf.tensor2d(a.data, [settings.r, module.inFeatures])), trainable, `${module.name}.lora_A@${id}`)),
          B: tf.tidy(() => tf.variable(tf.transpose(tf.tensor2d(b.data, [module.outFeatures, settings.r])), trainable, `${module.name}.lora_B@${id}`)),
        });
      }
    } catch (err) {
      for (const m of modules.values()) tf.dispose([m.A, m.B]);
      throw err;
    }
    const left = [...tensors.keys()].filter((n) => !used.has(n));
    if (left.length > 0) {
      for (const m of modules.values()) tf.dispose([m.A, m.B]);
      const shown = left.slice(0, 6).map((n) => `'${n}'`).join(', ') + (left.length > 6 ? ` and ${left.length - 6} more` : '');
      throw new Error(`${source}: ${left.length === 1 ? 'tensor' : `${left.length} tensors`} ${shown} ${left.length === 1 ? 'adapts' : 'adapt'} no target module of adapter_config.json, and loading would ignore ${left.length === 1 ? 'it' : 'them'}`);
    }
    return new LoraAdapters(settings, modules, trainable);
  }

  /** The trainable tensors by PEFT name (A before B, modules in model order): the optimizer's parameters. */
  namedVariables(): Weights {
    const out: Weights = new Map();
    for (const [name, m] of this.modules) {
      const names = peftTensorNames(name);
      out.set(names.A, m.A);
      out.set(names.B, m.B);
    }
    return out;
  }

  /** Whether `moduleName` has an adapter. */
  hasModule(moduleName: string): boolean {
    return this.modules.has(moduleName);
  }

  /** The trainable A and B of the modules whose names start with `prefix`: one block's, for gradient checkpointing. */
  trainablesUnder(prefix: string): tf.Variable[] {
    if (!this.trainable) return [];
    return [...this.modules].filter(([name]) => name.startsWith(prefix)).flatMap(([, m]) => [m.A, m.B]);
  }

  parameterCount(): number {
    let n = 0;
    for (const m of this.modules.values()) n += m.A.size + m.B.size;
    return n;
  }

  /**
   * The adapter's contribution s·dropout(x)·A·B [N, out] (or its output columns [from, to)), or null when `moduleName`
   * has no adapter. `dropoutSeed` turns dropout on (training forwards of trainable adapters): the same seed and
   * module give the same mask, so a resumed run redraws exactly the masks it would have drawn, and GPT-2's fused
   * q/k/v projection, evaluated per column block, sees one mask as PEFT's single call does.
   */
  delta(moduleName: string, x: tf.Tensor, columns?: [number, number], dropoutSeed?: string): tf.Tensor2D | null {
    const m = this.modules.get(moduleName);
    if (!m) return null;
    const rate = this.settings.lora_dropout;
    const input = rate > 0 && this.trainable && dropoutSeed !== undefined && inTrainingForward() ? tf.dropout(x, rate, undefined, `${dropoutSeed}/${moduleName}`) : x;
    const down = matMul(input as tf.Tensor2D, m.A);
    const B = columns ? tf.slice(m.B, [0, columns[0]], [this.settings.r, columns[1] - columns[0]]) : m.B;
    return tf.mul(matMul(down, B as tf.Tensor2D), this.scaling) as tf.Tensor2D;
  }

  /** Adapters with the same settings and a copy of the values; `trainable: false` gives a frozen reference copy. */
  clone(trainable: boolean): LoraAdapters {
    const id = nextAdapterId++;
    const modules = new Map<string, LoraModule>();
    for (const [name, m] of this.modules) {
      modules.set(name, { module: m.module, A: tf.variable(m.A, trainable, `${name}.lora_A@${id}`), B: tf.variable(m.B, trainable, `${name}.lora_B@${id}`) });
    }
    return new LoraAdapters(this.settings, modules, trainable);
  }

  copyFrom(other: LoraAdapters): void {
    for (const [name, m] of this.modules) {
      const o = other.modules.get(name);
      if (!o) throw new Error(`adapter copy: the source has no adapter on '${name}'`);
      m.A.assign(o.A);
      m.B.assign(o.B);
    }
  }

  /** PEFT's tensors: names `base_model.model.<module>.lora_A.weight` / `lora_B.weight`, nn.Linear layout, float32. */
  async toTensors(): Promise<TensorMap> {
    const out: TensorMap = new Map();
    for (const [name, m] of this.modules) {
      const names = peftTensorNames(name);
      out.set(names.A, await hostTranspose(m.A));
      out.set(names.B, await hostTranspose(m.B));
    }
    return out;
  }

  /**
   * W + s·A·B per adapted module, in compute layout [in, out], as new tensors (caller disposes). In the
   * checkpoint's layout this is PEFT's `get_delta_weight`: s·(B·A) for nn.Linear, its transpose for Conv1D
   * (fan_in_fan_out) — both are s·A·B here, where every weight is kept [in, out].
   */
  mergedInto(base: Weights): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    for (const [name, m] of this.modules) {
      const weightName = `${name}.weight`;
      const w = base.get(weightName);
      if (!w) throw new Error(`merge: the base model has no weight '${weightName}'`);
      out.set(weightName, tf.tidy(() => tf.add(w, tf.mul(tf.matMul(m.A, m.B), this.scaling))));
    }
    return out;
  }

  dispose(): void {
    for (const m of this.modules.values()) tf.dispose([m.A, m.B]);
    this.modules.clear();
  }
}

function fillUniform(data: Float32Array, bound: number, rng: Random): void {
  for (let i = 0; i < data.length; i++) data[i] = (2 * rng.random() - 1) * bound;
}

async function hostTranspose(t: tf.Tensor): Promise<HostTensor> {
  const transposed = tf.transpose(t);
  try {
    return { shape: transposed.shape, data: Float32Array.from((await transposed.data()) as Float32Array) };
  } finally {
    transposed.dispose();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Adapter folders, as PEFT's save_pretrained writes them.

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

/** adapter_config.json for these settings, with the keys PEFT's LoraConfig writes for a LoRA-only adapter. */
export function adapterConfigJson(settings: LoraSettings, targets: LinearModule[], baseModel: string): Record<string, unknown> {
  // As PEFT writes it: a list as the set it was given, a regex as given, "all-linear" as the modules it chose (full
  // names); with no targets given, the model type's defaults.
  const given = settings.target_modules;
  const targetModules = typeof given === 'string'
    ? (given === 'all-linear' ? targets.map((t) => t.name) : given)
    : [...new Set(given ?? targets.map((t) => t.name.split('.').pop()!))].sort();
  return {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: baseModel,
    bias: 'none',
    fan_in_fan_out: settings.fan_in_fan_out,
    inference_mode: true,
    init_lora_weights: settings.init_lora_weights,
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: settings.lora_alpha,
    lora_dropout: settings.lora_dropout,
    modules_to_save: null,
    peft_type: 'LORA',
    r: settings.r,
    rank_pattern: {},
    revision: null,
    target_modules: targetModules,
    task_type: 'CAUSAL_LM',
    use_dora: false,
    use_rslora: settings.use_rslora,
  };
}

/** Writes adapter_config.json and adapter_model.safetensors into `dir` (created). */
export async function saveAdapterFolder(adapters: LoraAdapters, dir: string, baseModel: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const targets = [...adapters.modules.values()].map((m) => m.module);
  writeSafetensors(path.join(dir, ADAPTER_WEIGHTS), await adapters.toTensors());
  fs.writeFileSync(path.join(dir, ADAPTER_CONFIG), JSON.stringify(adapterConfigJson(adapters.settings, targets, baseModel), null, 2) + '\n');
}

/** Whether `dir` holds a PEFT adapter (its adapter_config.json). */
export function isAdapterFolder(dir: string): boolean {
  return fs.existsSync(path.join(dir, ADAPTER_CONFIG));
}

/**
 * Keys of adapter_config.json whose non-default values change what the adapter computes in ways this
 * implementation does not reproduce: refused by name rather than silently ignored.
 */
const UNSUPPORTED: [key: string, isDefault: (v: unknown) => boolean, why: string][] = [
  ['use_dora', (v) => v === false || v === undefined || v === null, 'DoRA adapters are not supported'],
  ['bias', (v) => v === 'none' || v === undefined, 'trained biases ("bias" other than "none") are not supported'],
  ['modules_to_save', (v) => v === null || v === undefined || (Array.isArray(v) && v.length === 0), 'fully trained extra modules ("modules_to_save") are not supported'],
  ['rank_pattern', (v) => v === undefined || v === null || (typeof v === 'object' && Object.keys(v as object).length === 0), 'per-module ranks ("rank_pattern") are not supported'],
  ['alpha_pattern', (v) => v === undefined || v === null || (typeof v === 'object' && Object.keys(v as object).length === 0), 'per-module alphas ("alpha_pattern") are not supported'],
  ['layers_to_transform', (v) => v === null || v === undefined, 'adapters on some layers only ("layers_to_transform") are not supported'],
  ['use_qalora', (v) => v === false || v === undefined || v === null, 'QALoRA is not supported'],
  ['lora_bias', (v) => v === false || v === undefined || v === null, 'lora_bias is not supported'],
  ['exclude_modules', (v) => v === null || v === undefined || (Array.isArray(v) && v.length === 0), 'exclude_modules is not supported: list the target modules instead'],
  ['target_parameters', (v) => v === null || v === undefined, 'adapters on parameters ("target_parameters") are not supported'],
  ['trainable_token_indices', (v) => v === null || v === undefined, 'trainable tokens ("trainable_token_indices") are not supported'],
  ['layer_replication', (v) => v === null || v === undefined, 'layer_replication is not supported'],
  ['use_bdlora', (v) => v === null || v === undefined || v === false, 'BD-LoRA is not supported'],
];

/** The LoRA settings an adapter folder's adapter_config.json describes; errors name the file and the key. */
export function readAdapterSettings(dir: string): LoraSettings {
  const file = path.join(dir, ADAPTER_CONFIG);
  if (!fs.existsSync(file)) {
    // The likely slip: a LoRA run's folder or one of its checkpoints instead of the adapter inside it.
    const hint = fs.existsSync(path.join(dir, 'policy', ADAPTER_CONFIG)) ? `; the adapter is ${path.join(dir, 'policy')}`
      : fs.existsSync(path.join(dir, 'checkpoints')) ? '; a LoRA run\'s adapters are its checkpoints/step-N/policy folders (or `grpo-studio export <run> --out DIR`)' : '';
    throw new Error(`${dir}: no ${ADAPTER_CONFIG} (not a PEFT adapter folder)${hint}`);
  }
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`${file}: not valid JSON (${(err as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${file}: expected a JSON object`);
  if (raw.peft_type !== 'LORA') throw new Error(`${file}: peft_type is ${JSON.stringify(raw.peft_type)}; only LoRA adapters ("LORA") are supported`);
  for (const [key, isDefault, why] of UNSUPPORTED) {
    if (!isDefault(raw[key])) throw new Error(`${file}: ${key} = ${JSON.stringify(raw[key])}: ${why}`);
  }
  const number = (key: string, integer: boolean): number => {
    const v = raw[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v)) || v <= 0) {
      throw new Error(`${file}: ${key} must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(v)}`);
    }
    return v;
  };
  const targets = raw.target_modules;
  if (!(typeof targets === 'string' || (Array.isArray(targets) && targets.every((t) => typeof t === 'string')))) {
    throw new Error(`${file}: target_modules must be a list of module names or a regular expression, got ${JSON.stringify(targets)}`);
  }
  const dropout = raw.lora_dropout ?? 0;
  if (typeof dropout !== 'number' || dropout < 0 || dropout >= 1) throw new Error(`${file}: lora_dropout must be in [0, 1), got ${JSON.stringify(dropout)}`);
  const init = raw.init_lora_weights ?? true;
  return {
    r: number('r', true),
    lora_alpha: number('lora_alpha', false),
    lora_dropout: dropout,
    target_modules: targets as string[] | string,
    // How the adapter was initialised no longer matters once its values are loaded.
    init_lora_weights: init === 'gaussian' || typeof init === 'boolean' ? init : true,
    use_rslora: raw.use_rslora === true,
    fan_in_fan_out: raw.fan_in_fan_out === true,
  };
}

/** adapter_model.safetensors of a folder (PEFT's older adapter_model.bin is a pickle: refused with the fix). */
export function readAdapterTensors(dir: string): { tensors: TensorMap; file: string } {
  const file = path.join(dir, ADAPTER_WEIGHTS);
  if (!fs.existsSync(file)) {
    const bin = path.join(dir, 'adapter_model.bin');
    if (fs.existsSync(bin)) throw new Error(`${bin}: a PyTorch pickle; save the adapter with safe_serialization=True (PEFT's default) to get ${ADAPTER_WEIGHTS}`);
    throw new Error(`${dir}: no ${ADAPTER_WEIGHTS}`);
  }
  return { tensors: readSafetensors(file), file };
}

// ---------------------------------------------------------------------------------------------------------------
// Policies with adapters.

/** The linear layers of a model that adapters may target. */
export function modelLinearModules(config: ModelConfig): LinearModule[] {
  const family = familyOf(config);
  return linearModules(family.parameterSpecs(config), family.lookupTables);
}

/**
 * What `settings` (over PEFT's defaults) or the adapter folder `adapterPath` adapts in a model of this config, without
 * loading anything but adapter_config.json: the run's checks before it starts. `lora_dropout` given with an
 * adapter overrides the adapter's (a training-time choice).
 */
export function resolveLora(
  config: ModelConfig, spec: Partial<LoraSettings> & { adapter_path?: string }, field = 'model.lora',
): { settings: LoraSettings; targets: LinearModule[] } {
  const { adapter_path: adapterPath, ...given } = spec;
  if (adapterPath === undefined) return planLora({ ...DEFAULT_LORA_SETTINGS, ...given }, modelLinearModules(config), config.modelType, field);
  const saved = readAdapterSettings(adapterPath);
  const settings = given.lora_dropout === undefined ? saved : { ...saved, lora_dropout: given.lora_dropout };
  try {
    return planLora(settings, modelLinearModules(config), config.modelType, path.join(adapterPath, ADAPTER_CONFIG));
  } catch (err) {
    // An adapter saved for another model names modules this one lacks (more layers, another family).
    throw new Error(`${(err as Error).message}. Does the adapter belong to this base model (${config.modelType}, ${config.nLayers} layers, width ${config.dModel})?`);
  }
}

/**
 * Fresh adapters (`settings` over PEFT's defaults) attached to `policy`, whose base weights freeze. Errors name
 * `field` (the run config's `model.lora`).
 */
export function addLora(policy: Policy, settings: Partial<LoraSettings>, seed: number, field = 'model.lora'): LoraAdapters {
  const plan = planLora({ ...DEFAULT_LORA_SETTINGS, ...settings }, modelLinearModules(policy.config), policy.config.modelType, field);
  const adapters = LoraAdapters.create(plan.settings, plan.targets, seed);
  policy.attachAdapters(adapters);
  return adapters;
}

/**
 * An adapter folder's adapters for `policy`'s model (not attached); `trainable` false for a frozen reference copy.
 * `loraDropout` replaces the adapter's dropout (a training-time choice).
 */
export function readAdapters(policy: Policy, dir: string, trainable: boolean, loraDropout?: number): LoraAdapters {
  const plan = resolveLora(policy.config, { adapter_path: dir, lora_dropout: loraDropout });
  const { tensors, file: weightsFile } = readAdapterTensors(dir);
  return LoraAdapters.fromTensors(plan.settings, plan.targets, tensors, weightsFile, trainable);
}

/** Attaches the adapter saved in `dir` to `policy`, to train on from there (a run that starts from an adapter). */
export function attachAdapterFolder(policy: Policy, dir: string, loraDropout?: number): LoraAdapters {
  const adapters = readAdapters(policy, dir, true, loraDropout);
  policy.attachAdapters(adapters);
  return adapters;
}

/** A new policy whose weights are `policy`'s with its adapters merged in (W + s·A·B); the input is unchanged. */
export function mergedPolicy(policy: Policy): Policy {
  const adapters = policy.lora;
  if (!adapters) throw new Error('merge: the policy has no LoRA adapters');
  const merged = adapters.mergedInto(policy.weights);
  const weights: Weights = new Map();
  let id = 0;
  for (const [name, w] of policy.weights) {
    const value = merged.get(name);
    weights.set(name, tf.variable(value ?? w, true, `${name}#merged${nextAdapterId}.${id++}`));
    value?.dispose();
  }
  nextAdapterId++;
  return new Policy(policy.config, policy.tokenizer, weights, true, policy.generation);
}
