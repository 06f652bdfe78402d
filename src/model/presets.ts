/**
 * Built-in model shapes. `tiny` is the embedded demo's policy (Llama-style, character tokenizer, ~0.45 M
 * parameters); `small` and `base` are the benchmark's reference shapes (GPT-2-style, vocabulary 64).
 */
import { ModelConfig } from './config';
import { CharTokenizer } from './tokenizer';

export type PresetName = 'tiny' | 'small' | 'base';
export const PRESET_NAMES: readonly PresetName[] = ['tiny', 'small', 'base'];

/** Digits, operators, letters and the punctuation of arithmetic / GSM8K-style prompts and R1-style tags. */
const DEMO_ALPHABET = ' \n0123456789+-*/=()<>?:;.,!$%\'"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_#&';
/** 62 symbols + <pad> + <eos> = vocabulary 64, the benchmark's reference size. */
const BENCH_ALPHABET = ' \n0123456789+-*/=()<>?:.,abcdefghijklmnopqrstuvwxyzABCDEFGHIJK';

export interface Preset {
  config: ModelConfig;
  tokenizer: CharTokenizer;
}

export function isPresetName(name: string): name is PresetName {
  return (PRESET_NAMES as readonly string[]).includes(name);
}

export function preset(name: PresetName): Preset {
  if (name === 'tiny') {
    const tokenizer = new CharTokenizer(DEMO_ALPHABET);
    return {
      tokenizer,
      config: {
        family: 'llama', modelType: 'llama', vocabSize: tokenizer.vocabSize, dModel: 96, nLayers: 4, nHeads: 4, nKvHeads: 2,
        headDim: 24, dFF: 256, maxPositions: 512, normEps: 1e-6, ropeTheta: 10000, ropeScaling: null, tieEmbeddings: true,
        qkvBias: false, attnOutBias: false, mlpBias: false, eosTokenIds: [tokenizer.eosTokenId], bosTokenId: null,
      },
    };
  }
  const tokenizer = new CharTokenizer(BENCH_ALPHABET);
  const dModel = name === 'small' ? 128 : 256;
  return {
    tokenizer,
    config: {
      family: 'gpt2', modelType: 'gpt2', vocabSize: tokenizer.vocabSize, dModel, nLayers: name === 'small' ? 4 : 6, nHeads: 4,
      nKvHeads: 4, headDim: dModel / 4, dFF: 4 * dModel, maxPositions: 256, normEps: 1e-5, ropeTheta: 0, ropeScaling: null,
      tieEmbeddings: true, qkvBias: true, attnOutBias: true, mlpBias: true, eosTokenIds: [tokenizer.eosTokenId], bosTokenId: null,
    },
  };
}
