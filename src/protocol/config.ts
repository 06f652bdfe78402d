/**
 * The run config: its TypeScript type and its JSON Schema, side by side so they change together. The schema is
 * what VS Code offers as completion and hover docs (it is written to dist/run-config.schema.json at build time and
 * contributed through `jsonValidation`), and what both the host and the worker validate against.
 * Field names follow TRL's GRPOConfig where one exists.
 */
import { JsonSchema, parseJsonText, validate } from './schema';

export type BackendName = 'auto' | 'tensorflow' | 'wasm' | 'cpu';
export const BACKEND_NAMES: readonly BackendName[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

/** Seed 000: a policy of logits over a few words, rewarded for choosing a vowel-initial word. */
export interface BanditTaskConfig {
  type: 'bandit';
  words: string[];
}

export type TaskConfig = BanditTaskConfig;

export interface AlgorithmConfig {
  /** G: completions sampled per prompt. */
  num_generations: number;
  /** Added to the group std before dividing (CS336 `advantage_eps`). */
  advantage_eps: number;
  /** Divide advantages by the reward std of the group, of the whole batch, or not at all (Dr. GRPO). */
  scale_rewards: 'group' | 'batch' | 'none';
  /** Std with n−1 (torch.std, CS336) or n (np.std, seed 000) in the denominator. */
  std_estimator: 'unbiased' | 'population';
}

export interface OptimizationConfig {
  optimizer: 'sgd' | 'adam';
  learning_rate: number;
  max_steps: number;
}

export interface RunConfig {
  name: string;
  description?: string;
  seed: number;
  backend: BackendName;
  task: TaskConfig;
  algorithm: AlgorithmConfig;
  optimization: OptimizationConfig;
}

const banditTaskSchema: JsonSchema = {
  type: 'object',
  description: 'Seed 000: a policy of logits over `words`; reward 1 for a word that starts with a vowel.',
  properties: {
    type: { const: 'bandit', description: 'Task kind.' },
    words: {
      type: 'array',
      items: { type: 'string', minLength: 1 },
      minItems: 2,
      default: ['apple', 'banana', 'cherry', 'date', 'elderberry'],
      description: 'The actions the policy chooses between.',
    },
  },
  required: ['type'],
  additionalProperties: false,
};

export const RUN_CONFIG_SCHEMA: JsonSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://grpo-studio.dev/schemas/run-config.json',
  title: 'GRPO Studio run config',
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1, pattern: '^[A-Za-z0-9._-]+$', description: 'Run name: letters, digits, `.`, `_`, `-`; part of the run folder name.' },
    description: { type: 'string', description: 'What this run is for (shown when picking a config).' },
    seed: { type: 'integer', minimum: 0, maximum: 4294967295, default: 42, description: 'Seed of every random draw (NumPy-compatible MT19937).' },
    backend: { enum: BACKEND_NAMES, default: 'auto', description: 'TensorFlow.js backend: `auto` tries tensorflow → wasm → cpu.' },
    task: { oneOf: [banditTaskSchema], description: 'What the policy is trained to do.' },
    algorithm: {
      type: 'object',
      description: 'GRPO settings (TRL names).',
      properties: {
        num_generations: { type: 'integer', minimum: 2, default: 8, description: 'G: completions per prompt. At least 2: the group std needs two samples.' },
        advantage_eps: { type: 'number', minimum: 0, default: 1e-6, description: 'Added to the std before dividing.' },
        scale_rewards: { enum: ['group', 'batch', 'none'], default: 'group', description: 'Divide advantages by the group std, the batch std, or not at all (Dr. GRPO).' },
        std_estimator: { enum: ['unbiased', 'population'], default: 'unbiased', description: '`unbiased` (n−1, torch.std) or `population` (n, np.std as in seed 000).' },
      },
      additionalProperties: false,
    },
    optimization: {
      type: 'object',
      description: 'Optimiser settings.',
      properties: {
        optimizer: { enum: ['sgd', 'adam'], default: 'adam', description: 'Plain gradient descent or Adam.' },
        learning_rate: { type: 'number', exclusiveMinimum: 0, default: 1e-3, description: 'Step size.' },
        max_steps: { type: 'integer', minimum: 1, default: 50, description: 'Optimisation steps to run.' },
      },
      additionalProperties: false,
    },
  },
  required: ['name', 'task'],
  additionalProperties: false,
};

/** Validates a parsed config (unknown fields and wrong types are errors naming the field); fills defaults. */
export function validateRunConfig(raw: unknown, source = 'run config'): RunConfig {
  return validate<RunConfig>(raw, RUN_CONFIG_SCHEMA, source);
}

/** Parses and validates the text of a run-config file; errors name the file and the line or field. */
export function parseRunConfig(text: string, source: string): RunConfig {
  return validateRunConfig(parseJsonText(text, source), source);
}
