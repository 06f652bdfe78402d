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

const GENERATION_CONFIG = 'generation_config.json';

export interface LoadOptions {
  /** Seed of the random initialisation of a preset. Default 0. */
  seed?: number;
}

/** A built-in preset ('tiny', 'small', 'base'; randomly initialised) or a checkpoint folder. */
export function loadPolicy(source: string, options: LoadOptions = {}): Policy {
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

/** The architecture of a preset or of a checkpoint folder (its config.json), without loading any weights. */
export function readModelConfig(source: string): ModelConfig {
  if (isPresetName(source)) return preset(source).config;
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
