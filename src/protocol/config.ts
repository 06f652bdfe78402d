/**
 * The run config: its TypeScript type and its JSON Schema, side by side so they change together. The schema is
 * what VS Code offers as completion and hover docs (it is written to dist/run-config.schema.json at build time and
 * contributed through `jsonValidation`), and what both the host and the worker validate against.
 * Field names follow TRL's GRPOConfig where one exists.
 */
import { JsonSchema, parseJsonText, SchemaError, validate } from './schema';

export type BackendName = 'auto' | 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';
export const BACKEND_NAMES: readonly BackendName[] = ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'];
/** optimization.data_parallel: the replicas (true), the thread pool (false), or whichever applies ("auto"). */
export type DataParallelSetting = boolean | 'auto';
export const DATA_PARALLEL_SETTINGS: readonly DataParallelSetting[] = [true, false, 'auto'];

/** Seed 000: a policy of logits over a few words, rewarded for choosing a vowel-initial word. */
export interface BanditTaskConfig {
  type: 'bandit';
  words: string[];
}

export type ArithmeticOperation = '+' | '-' | '*';

/** Generated arithmetic problems ("37+45=" → "82"), the built-in demo. */
export interface ArithmeticTaskConfig {
  type: 'arithmetic';
  min_operand: number;
  max_operand: number;
  operations: ArithmeticOperation[];
  num_train: number;
  num_eval: number;
  /** SFT data only: the fraction of carrying sums whose reference answer forgets the carry. */
  teacher_error_rate: number;
}

/** GSM8K JSONL files (`question`, `answer` with the gold number after `####`). */
export interface Gsm8kTaskConfig {
  type: 'gsm8k';
  train_file: string;
  eval_file: string;
  prompt_template: string;
  max_train: number;
  max_eval: number;
}

/**
 * Any prompt dataset, as TRL takes one: rows with a `prompt` (text or chat messages) or `messages` column, an
 * optional `answer` (else `solution` or `ground_truth`) and `completion`, and any other columns, which reach reward
 * functions as fields of `example`. JSONL, JSON, CSV or Parquet, told apart by the file's extension.
 */
export interface PromptsTaskConfig {
  type: 'prompts';
  train_file: string;
  /** Validation rows; without it, `eval_split` of the training file is held out. */
  eval_file?: string;
  /** Held out of train_file when there is no eval_file: a fraction (< 1) or a count of rows (datasets' `test_size`); 0: none. Default 0.1. */
  eval_split?: number;
  /** Seed of the held-out split; default: the run's seed. */
  split_seed?: number;
  /** JSON files only: the key of the top-level object that holds the rows (datasets' `field`). */
  field?: string;
  max_train: number;
  max_eval: number;
}

export type TaskConfig = BanditTaskConfig | ArithmeticTaskConfig | Gsm8kTaskConfig | PromptsTaskConfig;
export type LanguageTaskConfig = ArithmeticTaskConfig | Gsm8kTaskConfig | PromptsTaskConfig;

/** The built-in rewards a language task uses when the config lists none (the prompts task has none: list yours). */
export const TASK_DEFAULT_REWARDS: Record<LanguageTaskConfig['type'], readonly string[]> = {
  arithmetic: ['arithmetic_answer'],
  gsm8k: ['r1_zero'],
  prompts: [],
};

/**
 * Dataset file extensions the prompts task reads, by format; the text formats may also be gzip-compressed (`.gz`
 * after the extension), as Hugging Face `datasets` reads them.
 */
export const DATASET_FORMATS = { '.jsonl': 'jsonl', '.json': 'json', '.csv': 'csv', '.parquet': 'parquet' } as const;
export type DatasetFormat = (typeof DATASET_FORMATS)[keyof typeof DATASET_FORMATS];

/** The format of a dataset file and whether it is gzip-compressed, or undefined for an extension it does not read. */
export function datasetFormatOf(file: string): { format: DatasetFormat; gzip: boolean } | undefined {
  const lower = file.toLowerCase();
  const gzip = lower.endsWith('.gz');
  const name = gzip ? lower.slice(0, -3) : lower;
  for (const [extension, format] of Object.entries(DATASET_FORMATS)) {
    // Parquet pages are compressed inside the file: a gzipped Parquet file is not something writers produce.
    if (name.endsWith(extension) && !(gzip && format === 'parquet')) return { format, gzip };
  }
  return undefined;
}

export const DATASET_EXTENSIONS_TEXT = '.jsonl, .json, .csv (each optionally .gz) or .parquet';

export interface ModelSpec {
  /** A built-in preset ('tiny', 'small', 'base') or a checkpoint folder (config.json + safetensors + tokenizer). */
  name_or_path: string;
  /** Train LoRA adapters on the frozen model instead of all its weights (PEFT's LoraConfig names). */
  lora?: LoraSpec;
}

/**
 * PEFT `LoraConfig` fields (TRL `peft_config`, verl `lora_rank` / `lora_alpha` / `target_modules`). Unset fields take
 * PEFT's defaults, or with `adapter_path` the adapter's own adapter_config.json.
 */
export interface LoraSpec {
  /** Start from this PEFT adapter folder (adapter_config.json + adapter_model.safetensors), as verl's `lora_adapter_path`. */
  adapter_path?: string;
  r?: number;
  lora_alpha?: number;
  lora_dropout?: number;
  target_modules?: string[] | string;
  init_lora_weights?: boolean | 'gaussian';
  use_rslora?: boolean;
  fan_in_fan_out?: boolean;
}

/** A built-in reward by name, or a user module; weighted into the total reward. */
export interface RewardSpec {
  name: string;
  /** JS file exporting `(prompt, completion, example) => number | {reward, …}`; absent for built-in rewards. */
  module?: string;
  weight: number;
  /** Parameters of a parameterised built-in reward (`soft_overlong_punishment`: `soft_punish_cache`, `max_completion_len`). */
  params?: Record<string, number>;
  /** Per-call limit of a module's function, in seconds (default 10): past it the sample fails and the run goes on. */
  timeout_s?: number;
}

/** TRL `loss_type`; `cispo` is CISPO's surrogate with dapo's aggregation (as TRL). */
export type LossType = 'grpo' | 'bnpo' | 'dapo' | 'dr_grpo' | 'cispo';

export type StdEstimator = 'unbiased' | 'population';

export interface AlgorithmConfig {
  /** G: completions sampled per prompt. */
  num_generations: number;
  /** Added to the std before dividing (CS336 `advantage_eps`). */
  advantage_eps: number;
  /** Divide advantages by the reward std of the group, of the whole batch, or not at all (Dr. GRPO). */
  scale_rewards: 'group' | 'batch' | 'none';
  /** Std with n−1 (torch.std, CS336) or n (np.std, seed 000) in the denominator. */
  std_estimator: StdEstimator;
  loss_type: LossType;
  /** verl `loss_agg_mode`; when set it replaces loss_type's aggregation (docs/algorithms.md has the mapping). */
  loss_agg_mode?: 'token-mean' | 'seq-mean-token-sum' | 'seq-mean-token-mean' | 'seq-mean-token-sum-norm';
  /** verl `loss_scale_factor`: divisor of seq-mean-token-sum-norm (default max_completion_length). */
  loss_scale_factor?: number;
  /** ε (ε_low): the clip range below 1. */
  epsilon: number;
  /** ε_high (DAPO clip-higher); defaults to epsilon. */
  epsilon_high?: number;
  /** Dual clip c (verl `clip_ratio_c`): for A < 0 the per-token loss is at most −A·c. Unset: off (TRL). */
  clip_ratio_c?: number;
  /** TRL two-sided clipping `delta`: the same bound as clip_ratio_c (one implementation); needs δ ≥ 1 + ε_high. */
  delta?: number;
  /** verl `use_kl_in_reward`: subtract β_ctrl · Σ_t KL_t (estimator `kl_penalty`) from each reward before the advantages. */
  use_kl_in_reward: boolean;
  /** verl `algorithm.kl_penalty`: the estimator of the in-reward KL. */
  kl_penalty: 'kl' | 'k1' | 'abs' | 'mse' | 'k2' | 'low_var_kl' | 'k3' | 'k1+' | 'k3+';
  /** verl `algorithm.kl_ctrl`: the in-reward KL coefficient, fixed or adaptive. */
  kl_ctrl: { type: 'fixed' | 'adaptive'; kl_coef: number; target_kl: number; horizon: number };
  /** KL weight β; 0: no reference model. */
  beta: number;
  kl_estimator: 'k3' | 'full' | 'kl' | 'k1' | 'abs' | 'mse' | 'k2' | 'low_var_kl' | 'k1+' | 'k3+';
  /** |log π_ref − log π_θ| clamp of k3 / low_var_kl (verl: 20); 0: none. */
  kl_log_ratio_clamp: number;
  /** Clamp of the low_var_kl / k3+ value (verl: 10); 0: none. */
  kl_value_clamp: number;
  /** μ: optimisation passes over each batch of rollouts. */
  num_iterations: number;
  /** Outcome: one reward per completion; process: per-token rewards, discounted returns normalised per position. */
  /**
   * outcome: one reward per completion; process: DeepSeekMath §4.1.3 step rewards (`{steps: [{end, reward}]}`);
   * discounted_returns: seed 001's per-position normalised discounted returns of the outcome reward.
   */
  supervision: 'outcome' | 'process' | 'discounted_returns';
  /** Discount γ of supervision 'discounted_returns'. */
  gamma: number;
  /** Copy the policy into the reference model every `ref_model_sync_steps` steps (0: never; seed 001 refreshes). */
  ref_model_sync_steps: number;
  /** TRL: per-token ratios (GRPO), the length-normalised sequence ratio (GSPO) or GSPO-token. Default 'token'. */
  importance_sampling_level: 'token' | 'sequence' | 'sequence_token';
  /** CISPO's weight clip: TRL's min(w, epsilon_high) or verl's clip(w, 1 − epsilon, 1 + epsilon_high). Default 'trl'. */
  cispo_clip: 'trl' | 'verl';
  /** DAPO / TRL: completions cut at max_completion_length leave the loss. Default false. */
  mask_truncated_completions: boolean;
  /** TRL: only the top ρ quantile of tokens by entropy of each micro-batch keep a policy loss. Default 1 (all). */
  top_entropy_quantile: number;
  /** verl `algorithm.filter_groups` (DAPO dynamic sampling) on the total reward; default off, no rounds limit. */
  filter_groups: { enable: boolean; max_num_gen_batches: number };
}

export interface OptimizationConfig {
  optimizer: 'sgd' | 'adam';
  learning_rate: number;
  max_steps: number;
  /** Prompts per step; each is sampled num_generations times. */
  prompts_per_step: number;
  /** Rollouts per forward/backward pass; gradients accumulate over the batch. */
  micro_batch_size: number;
  max_grad_norm: number;
  /** A NaN/±Inf loss or gradient norm skips the optimizer step; this many skips in a row fail the run. */
  max_consecutive_skipped_steps: number;
  weight_decay: number;
  adam_beta1: number;
  adam_beta2: number;
  warmup_steps: number;
  lr_scheduler_type: 'constant' | 'linear' | 'cosine';
  /**
   * Split each micro-batch's gradient between two threads (two wasm instances) instead of a thread pool in one.
   * "auto" (default): data-parallel where it applies (src/worker/cpuParallelism.ts), else the pool.
   */
  data_parallel: DataParallelSetting;
  gradient_checkpointing: boolean;
  /** TRL `steps_per_generation` (in training steps): one generation of prompts_per_step groups serves this many steps. Default 1. */
  steps_per_generation: number;
  /**
   * Tensor memory a run may use, MiB (0: the backend's own limit: 2 GiB on wasm, the free RAM on CPU backends).
   * Sampling, scoring and micro-batches are split to fit it; a single row that does not fit is refused.
   */
  memory_limit_mb: number;
}

export interface SamplingConfig {
  max_completion_length: number;
  /** Leave out prompts longer than this many tokens (TRL `max_prompt_length`); unset: refuse a run whose prompts do not fit. */
  max_prompt_length?: number;
  temperature: number;
  top_p: number;
  top_k: number;
  /** Texts that end a completion (besides the EOS token). */
  stop: string[];
  /** Token ids that end a completion besides the model's EOS tokens (vLLM `stop_token_ids`). */
  stop_token_ids: number[];
}

/** A validation sample passes when reward `reward` (a name from `rewards`) is at least `threshold`. */
export interface SuccessCriterion {
  reward: string;
  threshold: number;
}

export interface EvaluationConfig {
  /** Validate every N steps (and before the first); 0: never. */
  eval_steps: number;
  /** Greedy decoding for validation, else sampled at the training temperature. Default: greedy when n is 1. */
  greedy?: boolean;
  /** Samples per validation prompt: mean@n, best@k and pass@k over them (verl's val-core). */
  n: number;
  /** What counts as a pass: eval/accuracy and eval/pass@k. Default: the task's own check (arithmetic, gsm8k). */
  success?: SuccessCriterion;
}

/** Supervised warm start on the task's reference completions, before GRPO (CS336's SFT stage). */
export interface SftConfig {
  steps: number;
  learning_rate: number;
  batch_size: number;
}

export interface CheckpointingConfig {
  /** Write checkpoints/step-N every N steps (and at the end or on stop); 0: only at the end. */
  save_steps: number;
  /** Keep the newest N checkpoints; 0: keep all. */
  save_total_limit: number;
}

export interface RunConfig {
  name: string;
  description?: string;
  seed: number;
  backend: BackendName;
  model?: ModelSpec;
  task: TaskConfig;
  rewards: RewardSpec[];
  algorithm: AlgorithmConfig;
  optimization: OptimizationConfig;
  sampling: SamplingConfig;
  evaluation: EvaluationConfig;
  sft: SftConfig;
  checkpointing: CheckpointingConfig;
}

const number = (description: string, extra: Partial<JsonSchema> = {}): JsonSchema => ({ type: 'number', description, ...extra });
const integer = (description: string, extra: Partial<JsonSchema> = {}): JsonSchema => ({ type: 'integer', description, ...extra });

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

const arithmeticTaskSchema: JsonSchema = {
  type: 'object',
  description: 'Generated arithmetic problems with verifiable answers ("37+45=" → "82").',
  properties: {
    type: { const: 'arithmetic', description: 'Task kind.' },
    min_operand: integer('Smallest operand.', { minimum: 0, default: 0 }),
    max_operand: integer('Largest operand.', { minimum: 0, default: 99 }),
    operations: { type: 'array', items: { enum: ['+', '-', '*'] }, minItems: 1, uniqueItems: true, default: ['+'], description: 'Operations to draw from.' },
    num_train: integer('Distinct training problems.', { minimum: 1, default: 5000 }),
    num_eval: integer('Held-out validation problems.', { minimum: 1, default: 64 }),
    teacher_error_rate: number('Warm-start data only: the fraction of sums with a carry whose reference answer forgets it — an imperfect teacher the SFT model imitates and GRPO\'s verifiable reward then corrects (0: a perfect teacher).', { minimum: 0, maximum: 1, default: 0 }),
  },
  required: ['type'],
  additionalProperties: false,
};

const gsm8kTaskSchema: JsonSchema = {
  type: 'object',
  description: 'GSM8K grade-school math from JSONL files.',
  properties: {
    type: { const: 'gsm8k', description: 'Task kind.' },
    train_file: { type: 'string', minLength: 1, description: 'Training JSONL (relative to this config file).' },
    eval_file: { type: 'string', minLength: 1, description: 'Validation JSONL (relative to this config file).' },
    prompt_template: { type: 'string', minLength: 1, default: 'r1_zero', description: '`r1_zero`, `question_answer`, or a template containing `{question}`.' },
    max_train: integer('Use at most this many training lines (0: all).', { minimum: 0, default: 0 }),
    max_eval: integer('Use at most this many validation lines (0: all).', { minimum: 0, default: 200 }),
  },
  required: ['type', 'train_file', 'eval_file'],
  additionalProperties: false,
};

const promptsTaskSchema: JsonSchema = {
  type: 'object',
  description: 'Your own prompt dataset, as TRL takes one: rows with `prompt` (text, or a list of `{role, content}` messages) or `messages` (chat), optional `answer` (else `solution` or `ground_truth`), optional `completion` (SFT warm start), optional `id`; every other column reaches reward functions as a field of `example`. JSONL, JSON (an array of row objects, or an object of column arrays), CSV or Parquet (snappy, gzip, zstd, brotli, lz4), by extension; the text formats may be gzipped (`.jsonl.gz`).',
  properties: {
    type: { const: 'prompts', description: 'Task kind.' },
    train_file: { type: 'string', minLength: 1, description: `Training rows: ${DATASET_EXTENSIONS_TEXT} (relative to this config file).` },
    eval_file: { type: 'string', minLength: 1, description: 'Validation rows, same formats (relative to this config file). Without it, `eval_split` of train_file is held out.' },
    eval_split: number('Without eval_file: rows of train_file held out for validation, as datasets\' `train_test_split(test_size)`: a fraction below 1 (rounded up) or a whole count; 0: no validation. Chosen at random with `split_seed`, disjoint from the training rows. Default 0.1.', { minimum: 0 }),
    split_seed: integer('Seed of the held-out split (default: the run\'s `seed`). Keep it fixed to compare runs with different seeds on the same validation rows.', { minimum: 0, maximum: 4294967295 }),
    field: { type: 'string', minLength: 1, description: 'JSON files only: the key of the top-level object that holds the rows (datasets\' `field`), e.g. `"data"`.' },
    max_train: integer('Use at most this many training rows, the first in file order (0: all).', { minimum: 0, default: 0 }),
    max_eval: integer('Use at most this many validation rows (0: all).', { minimum: 0, default: 200 }),
  },
  required: ['type', 'train_file'],
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
    seed: integer('Seed of every random draw (NumPy-compatible MT19937).', { minimum: 0, maximum: 4294967295, default: 42 }),
    backend: { enum: BACKEND_NAMES, default: 'auto', description: 'TensorFlow.js backend: `auto` tries tensorflow (tfjs-node-gpu, tfjs-node) → webgpu (Dawn on a hardware Vulkan adapter) → wasm → cpu; a named one that cannot load stops the run with the reason.' },
    model: {
      type: 'object',
      description: 'The policy. Required for language tasks (arithmetic, gsm8k, prompts).',
      properties: {
        name_or_path: { type: 'string', minLength: 1, description: 'A preset (`tiny`, `small`, `base`) or a checkpoint folder (relative to this config file).' },
        lora: {
          type: 'object',
          description: 'Train LoRA adapters (PEFT LoraConfig names and meanings) on the frozen model instead of all its weights: about a third of full fine-tuning\'s memory, so larger models fit. Checkpoints are PEFT adapter folders (`PeftModel.from_pretrained` loads them); the reference model is the base with the adapters off. Unset fields take PEFT\'s defaults, or with `adapter_path` the adapter\'s.',
          properties: {
            adapter_path: { type: 'string', minLength: 1, description: 'Start from this PEFT adapter folder (adapter_config.json + adapter_model.safetensors; relative to this config file), as verl\'s `lora_adapter_path`. Its adapter_config.json sets r, lora_alpha and target_modules; a frozen copy of it is the reference model (KL is measured against where the run started).' },
            r: integer('LoRA rank (PEFT default 8).', { minimum: 1 }),
            lora_alpha: number('Scale numerator: the adapter\'s output is multiplied by lora_alpha / r (PEFT default 8).', { exclusiveMinimum: 0 }),
            lora_dropout: number('Dropout on the adapter\'s input in training forwards (PEFT default 0). Masks are seeded by the run seed, step and micro-batch, so resumed runs match.', { minimum: 0, exclusiveMaximum: 1 }),
            target_modules: {
              oneOf: [{ type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 }, { type: 'string', minLength: 1 }],
              description: 'Module names matched exactly or by suffix (`c_proj` hits GPT-2\'s attention and MLP projections; `["q_proj", "v_proj"]`), a regular expression the whole module name must match, or `"all-linear"` (every linear layer except the output head). Unset: PEFT\'s default for the model type (gpt2: c_attn; llama, qwen2: q_proj, v_proj).',
            },
            init_lora_weights: { oneOf: [{ type: 'boolean' }, { const: 'gaussian' }], description: 'true (PEFT default): A Kaiming-uniform, B zero, so training starts at the base model; "gaussian": A normal(0, 1/r), B zero; false: B random too (the adapter changes the model from step 0).' },
            use_rslora: { type: 'boolean', description: 'Rank-stabilised LoRA: scale by lora_alpha / √r instead of lora_alpha / r.' },
            fan_in_fan_out: { type: 'boolean', description: 'The base layer stores its weight [in, out] (GPT-2\'s Conv1D). Set from the model\'s layers whatever is given, as PEFT does; written to adapter_config.json.' },
          },
          additionalProperties: false,
        },
      },
      required: ['name_or_path'],
      additionalProperties: false,
    },
    task: { oneOf: [banditTaskSchema, arithmeticTaskSchema, gsm8kTaskSchema, promptsTaskSchema], description: 'What the policy is trained to do.' },
    rewards: {
      type: 'array',
      default: [],
      description: 'Reward functions, weighted and summed (TRL `reward_funcs` / `reward_weights`). Empty: the task\'s defaults (arithmetic: `arithmetic_answer`, gsm8k: `r1_zero`; the prompts task has none).',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string', minLength: 1, pattern: '^[A-Za-z0-9_.-]+$', description: 'A built-in reward (`arithmetic_answer`, `integer_format`, `r1_zero`, `r1_zero_format`, `gsm8k_answer`, `soft_overlong_punishment` with `params`) or the name a module is reported under (`rewards/<name>/mean`).' },
          module: { type: 'string', minLength: 1, description: 'A JS file exporting `(prompt, completion, example) => number | {reward, …}` (relative to this config file). `example` has `id`, `prompt`, `answer`, `messages` (chat rows), `completion` (where the row has one) and every other column of the dataset row.' },
          weight: number('Weight of this reward in the total.', { default: 1 }),
          params: {
            type: 'object',
            description: 'Parameters of a parameterised built-in reward: `soft_overlong_punishment` (DAPO Eq. 13, TRL `get_soft_overlong_punishment`) is 0 up to L_max − L_cache tokens, then falls linearly to −1 at L_max, and is −1 beyond.',
            properties: {
              soft_punish_cache: integer('soft_overlong_punishment: L_cache, the length of the soft zone before the limit (required).', { minimum: 1 }),
              max_completion_len: integer('soft_overlong_punishment: L_max (default: sampling.max_completion_length).', { minimum: 1 }),
            },
            additionalProperties: false,
          },
          timeout_s: number('Time limit of one call of a `module`\'s function, in seconds. A call past it (or one that crashes its thread) fails that sample, not the run; modules run in a pool of threads off the training thread.', { exclusiveMinimum: 0, maximum: 86400, default: 10 }),
        },
        required: ['name'],
        additionalProperties: false,
      },
    },
    algorithm: {
      type: 'object',
      description: 'GRPO settings (TRL names).',
      properties: {
        num_generations: integer('G: completions per prompt. At least 2: the group std needs two samples.', { minimum: 2, default: 8 }),
        // Keep equal to DEFAULT_ADVANTAGE_EPS in src/grpo/rewards.ts (TRL's 1e-4; a unit test checks they agree).
        advantage_eps: number('Added to the reward std before dividing: A = (r − mean) / (std + advantage_eps). Default 1e-4, TRL\'s.', { minimum: 0, default: 1e-4 }),
        scale_rewards: { enum: ['group', 'batch', 'none'], default: 'group', description: 'Divide advantages by the group std, the batch std, or not at all (Dr. GRPO).' },
        std_estimator: { enum: ['unbiased', 'population'], default: 'unbiased', description: '`unbiased` (n−1, torch.std) or `population` (n, np.std as in seed 000).' },
        loss_type: { enum: ['grpo', 'bnpo', 'dapo', 'dr_grpo', 'cispo'], default: 'grpo', description: 'Loss aggregation: per-sequence mean (grpo), token mean (bnpo, dapo), sum over a constant length (dr_grpo); `cispo` (MiniMax-M1, TRL and verl `cispo`): the clipped importance weight as a constant times −A·log π, so clipped tokens keep a gradient, aggregated as dapo. With `cispo_clip` "trl", `epsilon_high` is the weight\'s upper bound ε_max (TRL recommends 5).' },
        loss_agg_mode: { enum: ['token-mean', 'seq-mean-token-sum', 'seq-mean-token-mean', 'seq-mean-token-sum-norm'], description: 'verl loss_agg_mode; when set it is used instead of loss_type (token-mean = bnpo; seq-mean-token-mean = grpo without empty rows; seq-mean-token-sum-norm = dr_grpo without 1/B). Per micro-batch, × 1/micro-batches, as verl\'s FSDP actor. See docs/algorithms.md.' },
        loss_scale_factor: number('verl loss_scale_factor: the divisor of seq-mean-token-sum-norm. Default: sampling.max_completion_length (verl: the padded response length).', { exclusiveMinimum: 0 }),
        epsilon: number('Clip range ε (ε_low): ratios are clipped to [1 − ε, 1 + ε_high].', { minimum: 0, default: 0.2 }),
        epsilon_high: number('Upper clip range ε_high (DAPO clip-higher uses 0.28). Default: epsilon.', { minimum: 0 }),
        clip_ratio_c: number('Dual clip c (verl clip_ratio_c, whose default is 3): for a negative advantage the per-token loss is bounded by −A·c. Unset: off, as TRL. Same as delta.', { exclusiveMinimum: 1 }),
        delta: number('TRL two-sided clipping δ (INTELLECT-2): the ratio is capped at δ; the same bound as clip_ratio_c (set one of them). Must be ≥ 1 + epsilon_high. Unset: off.', { exclusiveMinimum: 1 }),
        beta: number('KL weight β (0: no reference model, as TRL\'s default).', { minimum: 0, default: 0 }),
        use_kl_in_reward: { type: 'boolean', default: false, description: 'verl use_kl_in_reward: each reward becomes r − β·Σ_t KL_t (sampling policy vs reference, estimator kl_penalty) before the group advantages; β from kl_ctrl. Needs the reference model. Independent of beta (the KL loss term).' },
        kl_penalty: { enum: ['kl', 'k1', 'abs', 'mse', 'k2', 'low_var_kl', 'k3', 'k1+', 'k3+'], default: 'kl', description: 'verl algorithm.kl_penalty: the per-token KL estimator of use_kl_in_reward (k3 is TRL\'s here, low_var_kl verl\'s k3).' },
        kl_ctrl: {
          type: 'object',
          description: 'verl algorithm.kl_ctrl: the coefficient of use_kl_in_reward.',
          properties: {
            type: { enum: ['fixed', 'adaptive'], default: 'fixed', description: '`fixed`: kl_coef throughout; `adaptive`: β ← β·(1 + clip(KL/target_kl − 1, ±0.2)·batch/horizon) each step (Ziegler et al.).' },
            kl_coef: number('Initial (or fixed) coefficient.', { minimum: 0, default: 0.001 }),
            target_kl: number('Adaptive: target KL per token.', { exclusiveMinimum: 0, default: 0.1 }),
            horizon: integer('Adaptive: samples over which β changes by at most ±20 %.', { minimum: 1, default: 10000 }),
          },
          additionalProperties: false,
        },
        kl_estimator: { enum: ['k3', 'full', 'kl', 'k1', 'abs', 'mse', 'k2', 'low_var_kl', 'k1+', 'k3+'], default: 'k3', description: '`k3`: per sampled token, exp(ref − logp) − (ref − logp) − 1 (TRL); `full`: exact KL over the vocabulary; verl `kl_loss_type`s: `kl`/`k1` logp − ref, `abs`, `mse`/`k2` ½(logp − ref)², `low_var_kl` (verl\'s k3, value clamped), `k1+`/`k3+` the value of kl/low_var_kl with the gradient of k2. Our `k3` is TRL\'s, not verl\'s alias of low_var_kl. docs/algorithms.md.' },
        kl_log_ratio_clamp: number('k3 / low_var_kl: the log-ratio ref − logp is clamped to ±this before the exp (verl: 20; exp(100) overflows float32). 0: no clamp.', { minimum: 0, default: 20 }),
        kl_value_clamp: number('low_var_kl / k3+: the estimate is clamped to ±this (verl: 10). 0: no clamp.', { minimum: 0, default: 10 }),
        num_iterations: integer('μ: optimisation passes over each batch of rollouts.', { minimum: 1, default: 1 }),
        supervision: { enum: ['outcome', 'process', 'discounted_returns'], default: 'outcome', description: '`outcome`: one advantage per completion. `process` (DeepSeekMath §4.1.3): reward functions may return `{steps: [{end, reward}, …]}` with `end` a character offset in the completion; every step reward of a group is normalised together (mean and std over all steps of its G completions), and a token\'s advantage is the sum of the normalised rewards of the steps that end at or after it (a plain number counts as one step over the whole completion). `discounted_returns` (seed 001): the outcome reward on the last token, discounted returns (γ = `gamma`) normalised across the group at each position.' },
        gamma: number('Discount γ of supervision "discounted_returns".', { minimum: 0, maximum: 1, default: 1 }),
        ref_model_sync_steps: integer('Copy the policy into the reference model every N steps (0: never).', { minimum: 0, default: 0 }),
        importance_sampling_level: { enum: ['token', 'sequence', 'sequence_token'], default: 'token', description: 'TRL `importance_sampling_level`. `token`: one ratio per token (GRPO). `sequence`: GSPO, the ratio of a completion is exp(mean over its tokens of log π_θ − log π_old), clipped per sequence (the GSPO paper pairs it with loss_type "grpo"). `sequence_token`: GSPO-token (TRL experimental, verl `gspo`): the sequence ratio\'s value with a per-token gradient.' },
        cispo_clip: { enum: ['trl', 'verl'], default: 'trl', description: 'loss_type "cispo" only: `trl` clips the weight to at most `epsilon_high` (no lower bound); `verl` clips it to [1 − epsilon, 1 + epsilon_high] after clamping the log-ratio at ±20.' },
        mask_truncated_completions: { type: 'boolean', default: false, description: 'TRL / DAPO: completions cut at `max_completion_length` (no stop token) leave the loss, its normaliser and the KL; they still count in their group\'s advantages.' },
        filter_groups: {
          type: 'object',
          description: 'DAPO dynamic sampling (verl `algorithm.filter_groups`): groups whose total rewards all tie (advantage 0, no signal) are dropped and further rounds of `prompts_per_step` prompts are sampled until `prompts_per_step` groups with differing rewards are gathered (extra ones are discarded, as verl). Logged: `num_gen_batches` (rounds) and `dynamic_sampling/dropped_groups`; dropped groups are stored in the rollouts marked `dropped`.',
          properties: {
            enable: { type: 'boolean', default: false, description: 'Turn dynamic sampling on.' },
            max_num_gen_batches: integer('Fail the run after this many rounds without a full batch (0: no limit), as verl.', { minimum: 0, default: 0 }),
          },
          additionalProperties: false,
        },
        top_entropy_quantile: number('TRL `top_entropy_quantile` ρ ("Beyond the 80/20 Rule"): only tokens whose entropy is at least the (1 − ρ) quantile of each micro-batch\'s active tokens keep a policy loss (the KL term keeps all). 1: all tokens; the paper uses 0.2.', { minimum: 0, maximum: 1, default: 1 }),
      },
      additionalProperties: false,
    },
    optimization: {
      type: 'object',
      description: 'Optimiser settings (the bandit uses optimizer, learning_rate, max_steps and the Adam betas only).',
      properties: {
        optimizer: { enum: ['sgd', 'adam'], default: 'adam', description: 'Plain gradient descent or Adam(W).' },
        learning_rate: number('Peak step size.', { exclusiveMinimum: 0, default: 1e-3 }),
        max_steps: integer('GRPO steps to run.', { minimum: 1, default: 50 }),
        prompts_per_step: integer('Prompts per step; each is sampled num_generations times.', { minimum: 1, default: 4 }),
        micro_batch_size: integer('Rollouts per forward/backward pass; gradients accumulate over the step\'s batch.', { minimum: 1, default: 16 }),
        max_grad_norm: number('Clip gradients to this global L2 norm (0: no clipping).', { minimum: 0, default: 1 }),
        max_consecutive_skipped_steps: integer('An optimizer step whose loss or gradient norm is NaN or ±Inf is skipped (weights unchanged, a warning event, metric train/skipped_steps); this many skips in a row fail the run.', { minimum: 1, default: 3 }),
        weight_decay: number('Decoupled weight decay (AdamW).', { minimum: 0, default: 0 }),
        adam_beta1: number('Adam β1.', { minimum: 0, maximum: 1, default: 0.9 }),
        adam_beta2: number('Adam β2.', { minimum: 0, maximum: 1, default: 0.999 }),
        warmup_steps: integer('Linear warm-up steps.', { minimum: 0, default: 0 }),
        lr_scheduler_type: { enum: ['constant', 'linear', 'cosine'], default: 'constant', description: 'Learning-rate decay after warm-up.' },
        steps_per_generation: integer('TRL `steps_per_generation`: one generation of `prompts_per_step` prompts serves this many training steps, each on the next 1/N of its groups (later ones off-policy: π_old is the policy that sampled). Advantages are computed over the whole generation. Counted in training steps here; TRL counts micro-batches (TRL\'s value = this × its gradient_accumulation_steps). `prompts_per_step` must split into N equal parts. Reward and completion metrics are logged at the step that generated.', { minimum: 1, default: 1 }),
        gradient_checkpointing: { type: 'boolean', default: false, description: 'Language models: keep only each transformer block\'s input during the training forward and recompute the block in the backward pass (transformers\' gradient_checkpointing, verl\'s enable_gradient_checkpointing). Activation memory of one block instead of all of them, for about one more forward pass per micro-batch; gradients unchanged.' },
        data_parallel: { enum: DATA_PARALLEL_SETTINGS, default: 'auto', description: 'Language models on wasm: true computes half of each micro-batch\'s gradient on a second thread with its own single-threaded wasm instance; false runs the matrix products on a thread pool inside one instance. Same gradients up to float rounding. The pool is several times slower while another CPU-bound process runs (5× on 2 cores), the replicas about 1.3×; the replicas train faster when idle too, but sample on one thread (README, Benchmarks). "auto" (default): data-parallel on wasm when the replica\'s second copy of the weights fits and the exact KL is not needed, else the pool; the run\'s device string says which ran and why. true with the exact KL (kl_estimator "full", beta > 0) is an error; ignored on webgpu.' },
        memory_limit_mb: integer('Tensor memory the run may use, in MiB; 0: the backend\'s own limit (2 GiB on wasm, the free RAM on CPU backends). Sampling, reference log-probs and micro-batches are split into fewer rows to fit it (same results up to float rounding); a single completion that does not fit is refused with the numbers.', { minimum: 0, default: 0 }),
      },
      additionalProperties: false,
    },
    sampling: {
      type: 'object',
      description: 'Generation settings.',
      properties: {
        max_completion_length: integer('Most new tokens per completion.', { minimum: 1, default: 64 }),
        max_prompt_length: integer('Leave out prompts longer than this many tokens, with a logged count (TRL `max_prompt_length`). Prompts are never cut: cutting from the left drops the BOS token and the chat header. Unset: a run whose longest prompt + `max_completion_length` exceeds the model\'s `max_position_embeddings` is refused with the numbers.', { minimum: 1 }),
        temperature: number('Sampling temperature (> 0).', { exclusiveMinimum: 0, default: 1 }),
        top_p: number('Nucleus sampling mass (1: off).', { exclusiveMinimum: 0, maximum: 1, default: 1 }),
        top_k: integer('Keep the k most likely tokens (0: off).', { minimum: 0, default: 0 }),
        stop: { type: 'array', items: { type: 'string', minLength: 1 }, default: [], description: 'Texts that end a completion, besides the EOS token.' },
        stop_token_ids: { type: 'array', items: { type: 'integer', minimum: 0 }, uniqueItems: true, default: [], description: 'Token ids that end a completion besides the model\'s EOS tokens (tokenizer, config.json and generation_config.json `eos_token_id`), as vLLM\'s `stop_token_ids`. E.g. TinyStories models end a story with `<s>` (id 1).' },
      },
      additionalProperties: false,
    },
    evaluation: {
      type: 'object',
      description: 'Validation on the task\'s held-out prompts: eval/reward, eval/rewards/<name>/mean, eval/accuracy (the pass rate), and with n > 1 verl\'s eval/reward/mean@n, eval/reward/best@k and eval/pass@k.',
      properties: {
        eval_steps: integer('Validate before training and every N steps (0: never).', { minimum: 0, default: 10 }),
        greedy: { type: 'boolean', description: 'Greedy decoding (else sampled at the training temperature). Default: greedy when `n` is 1, sampled when n > 1 (n greedy samples would be identical, so greedy with n > 1 is refused).' },
        n: integer('Samples per validation prompt (verl\'s `val_kwargs.n`): reported as eval/reward/mean@n, eval/reward/std@n, eval/reward/best@k and eval/pass@k for k = 1, 2, 4, …, n. Validation costs n times as much.', { minimum: 1, default: 1 }),
        success: {
          type: 'object',
          description: 'When a validation sample passes: reward `reward` ≥ `threshold`. Gives eval/accuracy (the pass rate) and eval/pass@k. Default: the task\'s own check (arithmetic: the exact answer; gsm8k: the gold number); the prompts task reports no pass rate without it.',
          properties: {
            reward: { type: 'string', minLength: 1, description: 'Name of one of the run\'s rewards (as in `rewards`, or a task default such as `arithmetic_answer`).' },
            threshold: number('A sample passes when that reward is at least this.'),
          },
          required: ['reward', 'threshold'],
          additionalProperties: false,
        },
      },
      additionalProperties: false,
    },
    sft: {
      type: 'object',
      description: 'Supervised warm start on the task\'s reference completions before GRPO.',
      properties: {
        steps: integer('SFT steps (0: none).', { minimum: 0, default: 0 }),
        learning_rate: number('SFT learning rate.', { exclusiveMinimum: 0, default: 3e-3 }),
        batch_size: integer('Examples per SFT step.', { minimum: 1, default: 32 }),
      },
      additionalProperties: false,
    },
    checkpointing: {
      type: 'object',
      description: 'Checkpoints under checkpoints/step-N (weights, optimizer, RNG and data cursor): resume starts from the newest.',
      properties: {
        save_steps: integer('Write a checkpoint every N steps (0: only at the end or on stop).', { minimum: 0, default: 25 }),
        save_total_limit: integer('Keep the newest N checkpoints (0: all).', { minimum: 0, default: 2 }),
      },
      additionalProperties: false,
    },
  },
  required: ['name', 'task'],
  additionalProperties: false,
};

/**
 * clip_ratio_c and delta are one bound under two names: both set must agree, and TRL's delta only equals the dual
 * clip when δ ≥ 1 + ε_high (below it, TRL's cap would also bind positive advantages inside the clip range).
 */
function dualClipProblems(algorithm: AlgorithmConfig): string[] {
  const { clip_ratio_c: c, delta, epsilon, epsilon_high } = algorithm;
  const problems: string[] = [];
  if (c !== undefined && delta !== undefined && c !== delta) {
    problems.push(`algorithm.delta: ${delta} and algorithm.clip_ratio_c: ${c} are the same bound (TRL's and verl's name); set one`);
  }
  const upper = 1 + (epsilon_high ?? epsilon);
  if (delta !== undefined && delta < upper) problems.push(`algorithm.delta: ${delta} must be ≥ 1 + epsilon_high (${upper})`);
  return problems;
}

/** Checks across fields that a JSON Schema of this subset cannot express. */
function crossFieldProblems(config: RunConfig): string[] {
  const problems: string[] = [];
  const language = config.task.type !== 'bandit';
  if (language && !config.model) problems.push(`model: required for task "${config.task.type}" (a preset such as "tiny", or a checkpoint folder)`);
  if (!language && config.model) problems.push('model: the bandit task has its own policy (logits over its words); remove "model"');
  if (config.task.type === 'arithmetic' && config.task.min_operand > config.task.max_operand) {
    problems.push(`task.min_operand: ${config.task.min_operand} is larger than task.max_operand (${config.task.max_operand})`);
  }
  if (language && config.optimization.optimizer === 'sgd') {
    problems.push('optimization.optimizer: language models train with Adam(W) ("adam"); "sgd" is for the bandit');
  }
  // "auto" falls back to the thread pool there (cpuParallelism.ts); only an explicit true is refused.
  if (language && config.optimization.data_parallel === true && config.algorithm.kl_estimator === 'full' && (config.algorithm.beta > 0 || config.algorithm.ref_model_sync_steps > 0)) {
    problems.push('optimization.data_parallel: the threads exchange per-token values only, and the exact KL needs the full logits; use kl_estimator "k3" or turn data_parallel off');
  }
  problems.push(...loraProblems(config));
  if (config.optimization.prompts_per_step % config.optimization.steps_per_generation !== 0) {
    problems.push(`optimization.steps_per_generation: ${config.optimization.prompts_per_step} prompts per step do not split into ${config.optimization.steps_per_generation} equal slices of groups`);
  }
  if (config.algorithm.loss_type === 'cispo' && config.algorithm.cispo_clip === 'trl' && config.algorithm.epsilon_high === undefined) {
    problems.push('algorithm.epsilon_high: loss_type "cispo" with cispo_clip "trl" clips the weight at epsilon_high itself (ScaleRL\'s ε_max, TRL recommends 5); set it, or cispo_clip "verl" for [1 − epsilon, 1 + epsilon_high]');
  }
  problems.push(...dualClipProblems(config.algorithm));
  if (config.algorithm.loss_type === 'cispo' && (config.algorithm.clip_ratio_c !== undefined || config.algorithm.delta !== undefined)) {
    problems.push('algorithm.clip_ratio_c: loss_type "cispo" has no clipped ratio to bound (its weight is a constant); leave clip_ratio_c and delta unset');
  }
  if (config.algorithm.supervision !== 'outcome' && config.algorithm.scale_rewards === 'batch') {
    problems.push('algorithm.scale_rewards: process supervision normalises per group (and position); use "group" or "none"');
  }
  const names = new Set<string>();
  config.rewards.forEach((reward, i) => {
    if (names.has(reward.name)) problems.push(`rewards[${i}].name: "${reward.name}" is used twice`);
    names.add(reward.name);
  });
  if (config.task.type === 'prompts') problems.push(...promptsTaskProblems(config.task, config.rewards));
  problems.push(...evaluationProblems(config));
  return problems;
}

/** LoRA settings that cannot go together with the rest of the run. */
function loraProblems(config: RunConfig): string[] {
  const lora = config.model?.lora;
  if (!lora) return [];
  const problems: string[] = [];
  if (config.algorithm.ref_model_sync_steps > 0) {
    problems.push('algorithm.ref_model_sync_steps: not with model.lora: the reference is the base model with the adapters off (or the starting adapter), which syncing would replace with a full copy; set it to 0');
  }
  if (lora.adapter_path !== undefined) {
    // The adapter's adapter_config.json defines them; a second, different value would be silently ignored.
    for (const key of ['r', 'lora_alpha', 'target_modules', 'init_lora_weights', 'use_rslora'] as const) {
      if (lora[key] !== undefined) problems.push(`model.lora.${key}: set by the adapter at model.lora.adapter_path (its adapter_config.json); remove it here`);
    }
  }
  return problems;
}

function promptsTaskProblems(task: PromptsTaskConfig, rewards: RewardSpec[]): string[] {
  const problems: string[] = [];
  if (rewards.length === 0) problems.push('rewards: the prompts task has no default reward; list at least one (a built-in name, or a "module" of your own)');
  for (const field of ['train_file', 'eval_file'] as const) {
    const file = task[field];
    if (file !== undefined && !datasetFormatOf(file)) problems.push(`task.${field}: "${file}" must end in ${DATASET_EXTENSIONS_TEXT}`);
  }
  if (task.eval_file !== undefined && task.eval_split !== undefined) problems.push('task.eval_split: there is a task.eval_file to validate on; remove one of them');
  if (task.eval_file !== undefined && task.split_seed !== undefined) problems.push('task.split_seed: only for a held-out split (there is a task.eval_file)');
  if (task.eval_split !== undefined && task.eval_split >= 1 && !Number.isInteger(task.eval_split)) {
    problems.push(`task.eval_split: ${task.eval_split} is neither a fraction below 1 nor a whole number of rows`);
  }
  if (task.field !== undefined) {
    const notJson = [task.train_file, task.eval_file].filter((f): f is string => f !== undefined && datasetFormatOf(f)?.format !== 'json');
    if (notJson.length > 0) problems.push(`task.field: only for .json files (${notJson.map((f) => `"${f}"`).join(', ')} is not one)`);
  }
  return problems;
}

function evaluationProblems(config: RunConfig): string[] {
  const problems: string[] = [];
  const { greedy, n, success } = config.evaluation;
  if (greedy === true && n > 1) {
    problems.push(`evaluation.greedy: greedy decoding would give ${n} identical samples per prompt; with evaluation.n > 1 set greedy to false or leave it out (then validation samples at sampling.temperature)`);
  }
  if (success === undefined) return problems;
  if (config.task.type === 'bandit') {
    problems.push('evaluation.success: the bandit task has no validation');
    return problems;
  }
  const rewardNames = config.rewards.length > 0 ? config.rewards.map((r) => r.name) : TASK_DEFAULT_REWARDS[config.task.type];
  if (!rewardNames.includes(success.reward)) {
    problems.push(`evaluation.success.reward: "${success.reward}" is not one of the run's rewards (${rewardNames.map((r) => `"${r}"`).join(', ') || 'none'})`);
  }
  return problems;
}

/** Validates a parsed config (unknown fields and wrong types are errors naming the field); fills defaults. */
export function validateRunConfig(raw: unknown, source = 'run config'): RunConfig {
  const config = validate<RunConfig>(raw, RUN_CONFIG_SCHEMA, source);
  const problems = crossFieldProblems(config);
  if (problems.length > 0) throw new SchemaError(problems, source);
  return config;
}

/** Parses and validates the text of a run-config file; errors name the file and the line or field. */
export function parseRunConfig(text: string, source: string): RunConfig {
  return validateRunConfig(parseJsonText(text, source), source);
}
