/**
 * Policies from and to checkpoint folders laid out like Hugging Face's: `config.json`, `model.safetensors` (or
 * shards with `model.safetensors.index.json`) and the tokenizer files.
 */
import * as fs from 'fs';
import * as path from 'path';
import { configToJson, ModelConfig, parseConfig } from './config';
import { GenerationConfig, initWeights, Policy, weightsFromTensors, weightsToTensors } from './policy';
import { isPresetName, preset, PRESET_NAMES } from './presets';
import { readCheckpointTensors, writeSafetensors } from './safetensors';
import { loadTokenizer } from './tokenizer';
import { ADAPTER_CONFIG, attachAdapterFolder, isAdapterFolder } from './lora';

const GENERATION_CONFIG = 'generation_config.json';

export interface LoadOptions {
  /** Seed of the random initialisation of a preset. Default 0. */
  seed?: number;
  /** For a PEFT adapter folder: the base model, instead of adapter_config.json's `base_model_name_or_path`. */
  base?: string;
}

/**
 * A built-in preset ('tiny', 'small', 'base'; randomly initialised), a checkpoint folder, or a PEFT adapter folder
 * (adapter_config.json + adapter_model.safetensors, e.g. a LoRA run's checkpoint): its base model with the
 * adapters attached.
 */
export function loadPolicy(source: string, options: LoadOptions = {}): Policy {
  if (isLoraFolder(source)) {
    const policy = loadPolicy(adapterBase(source, options.base), { seed: options.seed });
    try {
      attachAdapterFolder(policy, source);
    } catch (err) {
      policy.dispose();
      throw err;
    }
    return policy;
  }
  if (isPresetName(source)) {
    const { config, tokenizer } = preset(source);
    return new Policy(config, tokenizer, initWeights(config, options.seed ?? 0), true);
  }
  const config = readModelConfig(source);
  const tokenizer = loadTokenizer(source);
  const generation = readGenerationConfig(source);
  const single = path.join(source, 'model.safetensors');
  const weightsFile = fs.existsSync(single) ? single : path.join(source, 'model.safetensors.index.json');
  const weights = weightsFromTensors(config, readCheckpointTensors(source), weightsFile);
  return new Policy(config, tokenizer, weights, true, generation);
}

/**
 * `generation_config.json`, the defaults transformers' `generate` uses: its `eos_token_id` (a number or a list;
 * chat models list their end-of-turn token there) ends a completion. Null when the folder has none.
 */
export function readGenerationConfig(dir: string): GenerationConfig | null {
  const file = path.join(dir, GENERATION_CONFIG);
  if (!fs.existsSync(file)) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: not valid JSON (${(err as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${file}: expected a JSON object`);
  const eos = (raw as Record<string, unknown>).eos_token_id;
  const ids = eos === undefined || eos === null ? [] : Array.isArray(eos) ? eos : [eos];
  if (!ids.every((id) => typeof id === 'number' && Number.isInteger(id) && id >= 0)) {
    throw new Error(`${file}: field 'eos_token_id' must be a token id or a list of them, got ${JSON.stringify(eos)}`);
  }
  return { eosTokenIds: ids as number[], raw: raw as Record<string, unknown> };
}

/** A PEFT adapter folder without a model of its own (adapter_config.json, no config.json). */
function isLoraFolder(source: string): boolean {
  return isAdapterFolder(source) && !fs.existsSync(path.join(source, 'config.json'));
}

/**
 * The base model of an adapter folder: `base` when given, else adapter_config.json's base_model_name_or_path (a
 * path relative to the adapter folder, an absolute one, or a preset). A Hub model id cannot be fetched here.
 */
export function adapterBase(adapterDir: string, base?: string): string {
  if (base !== undefined) return base;
  const file = path.join(adapterDir, ADAPTER_CONFIG);
  const named = (JSON.parse(fs.readFileSync(file, 'utf8')) as { base_model_name_or_path?: unknown }).base_model_name_or_path;
  if (typeof named !== 'string' || named === '') throw new Error(`${file}: no base_model_name_or_path; name the base model (--base)`);
  if (isPresetName(named)) return named;
  // PEFT writes the string given to from_pretrained: relative to where that process ran, or to the adapter.
  const resolved = [path.resolve(adapterDir, named), path.resolve(named)].find((candidate) => fs.existsSync(path.join(candidate, 'config.json')));
  if (!resolved) {
    throw new Error(`${file}: base_model_name_or_path "${named}" is no model folder here (models are not downloaded); name the base model's folder (--base)`);
  }
  return resolved;
}

/** The architecture of a preset, a checkpoint folder (its config.json) or an adapter folder's base, without loading any weights. */
export function readModelConfig(source: string): ModelConfig {
  if (isPresetName(source)) return preset(source).config;
  if (isLoraFolder(source)) return readModelConfig(adapterBase(source));
  if (!fs.existsSync(source) || !fs.statSync(source).isDirectory()) {
    throw new Error(`'${source}' is neither a preset (${PRESET_NAMES.join(', ')}) nor a checkpoint folder`);
  }
  const configFile = path.join(source, 'config.json');
  if (!fs.existsSync(configFile)) throw new Error(`${source}: no config.json`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(configFile, 'utf8'));
  } catch (err) {
    throw new Error(`${configFile}: not valid JSON (${(err as Error).message})`);
  }
  return parseConfig(raw, configFile);
}

/** Writes config.json, model.safetensors (float32, HF names), generation_config.json (when read) and the tokenizer files. */
export async function savePolicy(policy: Policy, dir: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(configToJson(policy.config), null, 2));
  writeSafetensors(path.join(dir, 'model.safetensors'), await weightsToTensors(policy.config, policy.weights));
  if (policy.generation) fs.writeFileSync(path.join(dir, GENERATION_CONFIG), JSON.stringify(policy.generation.raw, null, 2));
  policy.tokenizer.save(dir);
}
