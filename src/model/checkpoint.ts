/**
 * Policies from and to checkpoint folders laid out like Hugging Face's: `config.json`, `model.safetensors` (or
 * shards with `model.safetensors.index.json`) and the tokenizer files.
 */
import * as fs from 'fs';
import * as path from 'path';
import { configToJson, ModelConfig, parseConfig } from './config';
import { initWeights, Policy, weightsFromTensors, weightsToTensors } from './policy';
import { isPresetName, preset, PRESET_NAMES } from './presets';
import { readCheckpointTensors, writeSafetensors } from './safetensors';
import { loadTokenizer } from './tokenizer';

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
  const single = path.join(source, 'model.safetensors');
  const weightsFile = fs.existsSync(single) ? single : path.join(source, 'model.safetensors.index.json');
  const weights = weightsFromTensors(config, readCheckpointTensors(source), weightsFile);
  return new Policy(config, tokenizer, weights, true);
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

/** Writes config.json, model.safetensors (float32, HF names) and the tokenizer files. */
export async function savePolicy(policy: Policy, dir: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(configToJson(policy.config), null, 2));
  writeSafetensors(path.join(dir, 'model.safetensors'), await weightsToTensors(policy.config, policy.weights));
  policy.tokenizer.save(dir);
}
