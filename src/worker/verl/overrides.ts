/**
 * A run config as verl's command line: `python3 -m verl.trainer.main_ppo key=value …` (Hydra overrides of verl's
 * ppo_trainer config). Pure: no file is read or written here, no vscode.
 *
 * Config names were read from volcengine/verl at commit b178a3cd56f58b2d502255daba591e92833930a7 (2026-01-29):
 * - verl/trainer/config/_generated_ppo_trainer.yaml: every key below, and verl's defaults quoted in the notes;
 * - verl/trainer/main_ppo.py and examples/grpo_trainer/run_qwen2-7b.sh: the entrypoint and the GRPO overrides;
 * - verl/trainer/ppo/core_algos.py: `compute_grpo_outcome_advantage` (epsilon fixed at 1e-6, torch.std, so the
 *   unbiased estimator), the registered policy-loss modes (vanilla, gspo, cispo, …: gspo is the per-token
 *   sequence-ratio variant), and the dual clip `clip_ratio_c` that the vanilla loss always applies;
 * - verl/workers/config/optimizer.py: lr_scheduler_type is "constant" or "cosine";
 * - verl/utils/tracking.py: the `file` logger writes `{"step", "data"}` lines to $VERL_FILE_LOGGER_PATH.
 *
 * Each of our fields either maps to verl's, is a local execution setting with no meaning on a cluster, or is
 * refused by name when its value asks for something verl does not do. A field at our default whose default verl
 * cannot reproduce exactly (advantage_eps) is not refused but reported as a note, shown in the reviewed command.
 */
import { RUN_CONFIG_SCHEMA, RunConfig } from '../../protocol';
import type { JsonSchema } from '../../protocol';

export const VERL_SOURCE_COMMIT = 'b178a3cd56f58b2d502255daba591e92833930a7';
export const VERL_ENTRYPOINT = 'python3 -m verl.trainer.main_ppo';

/** A Hydra override value: scalars, or a list (written `[a,b]`). `null` is Hydra's null. */
export type HydraValue = string | number | boolean | null | readonly (string | number)[];

export interface VerlOverride {
  key: string;
  value: HydraValue;
  /** Our field it comes from (`algorithm.epsilon`), or `launcher` for paths and cluster settings. */
  from: string;
}

/** Where the launched job reads and writes: paths as the cluster's workers see them (a shared filesystem). */
export interface VerlJobPaths {
  trainFile: string;
  valFile?: string;
  /** `trainer.rollout_data_dir`: `{step}.jsonl` of every training step's generations. */
  rolloutDataDir: string;
  /** `trainer.validation_data_dir`: `{step}.jsonl` of every validation's generations. */
  validationDataDir: string;
  /** `trainer.default_local_dir`: checkpoints. */
  checkpointDir: string;
  /** `custom_reward_function.path`: the Python reward file. */
  rewardFile: string;
}

export interface VerlClusterOptions {
  nodes: number;
  gpusPerNode: number;
  /** `actor_rollout_ref.rollout.name`: verl has no default (`???`). */
  rolloutEngine: 'vllm' | 'sglang';
  /** `actor_rollout_ref.rollout.tensor_model_parallel_size` (verl's default is 2). */
  rolloutTensorParallel: number;
}

export const DEFAULT_CLUSTER: VerlClusterOptions = { nodes: 1, gpusPerNode: 8, rolloutEngine: 'vllm', rolloutTensorParallel: 1 };

/** verl's `custom_reward_function.name` default: `compute_score(data_source, solution_str, ground_truth, extra_info)`. */
export const VERL_REWARD_FUNCTION = 'compute_score';

export interface VerlMapping {
  overrides: VerlOverride[];
  /** Where verl's behaviour differs from the run config's in ways the user should know before submitting. */
  notes: string[];
}

export class VerlMappingError extends Error {
  constructor(readonly problems: string[], source: string) {
    super(`${source}: cannot launch on verl:\n  - ${problems.join('\n  - ')}`);
    this.name = 'VerlMappingError';
  }
}

/** Our loss_type as verl's loss_agg_mode (docs/algorithms.md has the derivation). cispo also sets the loss mode. */
const LOSS_AGG_MODE: Record<RunConfig['algorithm']['loss_type'], string> = {
  grpo: 'seq-mean-token-mean',
  bnpo: 'token-mean',
  dapo: 'token-mean',
  dr_grpo: 'seq-mean-token-sum-norm',
  cispo: 'token-mean',
};

/** KL estimators verl's kl_loss_type / kl_penalty know under the same name and meaning. */
const VERL_KL_TYPES = new Set(['kl', 'k1', 'abs', 'mse', 'k2', 'low_var_kl', 'k1+', 'k3+']);

/** The schema default of a dotted field (`algorithm.advantage_eps`), or undefined where there is none. */
function schemaDefault(field: string): unknown {
  let schema: JsonSchema | undefined = RUN_CONFIG_SCHEMA;
  for (const part of field.split('.')) schema = schema?.properties?.[part];
  return schema?.default;
}

function valueAt(config: RunConfig, field: string): unknown {
  let value: unknown = config;
  for (const part of field.split('.')) value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[part] : undefined;
  return value;
}

/** Collects overrides and problems while one mapper walks the config. */
class MappingBuilder {
  readonly overrides: VerlOverride[] = [];
  readonly problems: string[] = [];
  readonly notes: string[] = [];

  constructor(private readonly config: RunConfig) {}

  set(key: string, value: HydraValue, from: string): void {
    this.overrides.push({ key, value, from });
  }

  refuse(field: string, reason: string): void {
    this.problems.push(`${field}: ${reason}`);
  }

  /** Refuses a field verl has no counterpart for when it is set to anything but our default (which verl matches). */
  refuseUnlessDefault(field: string, reason: string): void {
    const value = valueAt(this.config, field);
    if (value === undefined || JSON.stringify(value) === JSON.stringify(schemaDefault(field))) return;
    this.refuse(field, `${JSON.stringify(value)} — ${reason}`);
  }
}

export function verlOverrides(config: RunConfig, paths: VerlJobPaths, cluster: VerlClusterOptions = DEFAULT_CLUSTER, source = config.name): VerlMapping {
  const b = new MappingBuilder(config);
  mapTrainer(config, paths, cluster, b);
  mapData(config, paths, b);
  mapModel(config, b);
  mapRewards(config, paths, b);
  mapAdvantages(config, b);
  mapPolicyLoss(config, b);
  mapKl(config, b);
  mapOptimizer(config, b);
  mapSampling(config, cluster, b);
  mapEvaluation(config, paths, b);
  mapUnsupported(config, b);
  if (b.problems.length > 0) throw new VerlMappingError(b.problems, source);
  return { overrides: b.overrides, notes: b.notes };
}

function mapTrainer(config: RunConfig, paths: VerlJobPaths, cluster: VerlClusterOptions, b: MappingBuilder): void {
  b.set('algorithm.adv_estimator', 'grpo', 'launcher');
  b.set('trainer.project_name', 'grpo-studio', 'launcher');
  b.set('trainer.experiment_name', config.name, 'name');
  // console for Ray's job log (the output channel), file for the metrics the run reader follows.
  b.set('trainer.logger', ['console', 'file'], 'launcher');
  b.set('trainer.rollout_data_dir', paths.rolloutDataDir, 'launcher');
  b.set('trainer.validation_data_dir', paths.validationDataDir, 'launcher');
  b.set('trainer.default_local_dir', paths.checkpointDir, 'launcher');
  b.set('trainer.nnodes', cluster.nodes, 'launcher');
  b.set('trainer.n_gpus_per_node', cluster.gpusPerNode, 'launcher');
  // GRPO has no critic to warm up.
  b.set('trainer.critic_warmup', 0, 'launcher');
  const { steps_per_generation: perGeneration, max_steps: maxSteps } = config.optimization;
  // verl counts a step per generation batch; ours counts optimizer steps, steps_per_generation of them per batch.
  if (maxSteps % perGeneration !== 0) {
    b.refuse('optimization.max_steps', `${maxSteps} is not a whole number of generations of ${perGeneration} steps (verl's trainer.total_training_steps counts generation batches)`);
  }
  b.set('trainer.total_training_steps', Math.ceil(maxSteps / perGeneration), 'optimization.max_steps');
  b.set('trainer.save_freq', config.checkpointing.save_steps > 0 ? config.checkpointing.save_steps : -1, 'checkpointing.save_steps');
  if (config.checkpointing.save_steps === 0) b.notes.push('checkpointing.save_steps 0: verl (save_freq -1) writes no checkpoint, not even at the end');
  b.set('trainer.max_actor_ckpt_to_keep', config.checkpointing.save_total_limit > 0 ? config.checkpointing.save_total_limit : null, 'checkpointing.save_total_limit');
}

function mapData(config: RunConfig, paths: VerlJobPaths, b: MappingBuilder): void {
  b.set('data.train_files', paths.trainFile, 'task');
  // verl always builds a validation dataset (its default path is an example's): without held-out rows it gets the
  // training file, and validation is turned off (mapEvaluation).
  b.set('data.val_files', paths.valFile ?? paths.trainFile, 'task');
  b.set('data.train_batch_size', config.optimization.prompts_per_step, 'optimization.prompts_per_step');
  b.set('data.seed', config.seed, 'seed');
  const maxPrompt = config.sampling.max_prompt_length;
  if (maxPrompt === undefined) {
    b.refuse('sampling.max_prompt_length', 'verl needs a prompt budget in tokens (data.max_prompt_length, default 512) to size its rollout engine; set it');
  } else {
    b.set('data.max_prompt_length', maxPrompt, 'sampling.max_prompt_length');
    // Ours leaves longer prompts out; verl's filter_overlong_prompts does the same (truncation 'error' stays for any left).
    b.set('data.filter_overlong_prompts', true, 'sampling.max_prompt_length');
  }
  b.set('data.max_response_length', config.sampling.max_completion_length, 'sampling.max_completion_length');
}

function mapModel(config: RunConfig, b: MappingBuilder): void {
  const model = config.model;
  if (!model) {
    b.refuse('task', `"${config.task.type}" trains its own logits policy, not a language model verl can load`);
    return;
  }
  if (['tiny', 'small', 'base'].includes(model.name_or_path)) {
    b.refuse('model.name_or_path', `"${model.name_or_path}" is a GRPO Studio preset; verl loads a Hugging Face model id or a checkpoint folder the cluster can read`);
  }
  b.set('actor_rollout_ref.model.path', model.name_or_path, 'model.name_or_path');
  const lora = model.lora;
  if (!lora) return;
  // PEFT's defaults where unset: verl's own defaults differ (lora_alpha 16, all-linear).
  b.set('actor_rollout_ref.model.lora_rank', lora.r ?? 8, 'model.lora.r');
  b.set('actor_rollout_ref.model.lora_alpha', lora.lora_alpha ?? 8, 'model.lora.lora_alpha');
  if (lora.target_modules !== undefined) {
    b.set('actor_rollout_ref.model.target_modules', lora.target_modules, 'model.lora.target_modules');
  } else {
    b.notes.push('model.lora.target_modules unset: verl\'s default is "all-linear", not PEFT\'s per-model default');
  }
  if (lora.adapter_path !== undefined) b.set('actor_rollout_ref.model.lora_adapter_path', lora.adapter_path, 'model.lora.adapter_path');
  const unmapped = ['lora_dropout', 'init_lora_weights', 'use_rslora'] as const;
  for (const key of unmapped) if (lora[key] !== undefined) b.refuse(`model.lora.${key}`, 'verl\'s model config has no such LoRA setting');
}

function mapRewards(config: RunConfig, paths: VerlJobPaths, b: MappingBuilder): void {
  const python = config.rewards.filter((r) => r.module?.toLowerCase().endsWith('.py'));
  config.rewards.forEach((reward, i) => {
    const field = `rewards[${i}]`;
    if (reward.module === undefined) {
      b.refuse(`${field}.name`, `"${reward.name}" is a GRPO Studio built-in reward, which runs in JavaScript here; verl scores with a Python function: give a .py "module" defining compute_score(data_source, solution_str, ground_truth, extra_info)`);
    } else if (!reward.module.toLowerCase().endsWith('.py')) {
      b.refuse(`${field}.module`, `"${reward.module}" is a JavaScript reward; verl calls a Python function compute_score(data_source, solution_str, ground_truth, extra_info) inside its Ray workers, which cannot run JavaScript: give a .py file`);
    } else if (reward.weight !== 1 || reward.params !== undefined) {
      b.refuse(`${field}.weight`, 'verl takes one reward function, unweighted; combine rewards inside the Python file');
    }
  });
  if (config.rewards.length === 0) {
    b.refuse('rewards', 'verl needs a Python reward file: add {"name": "…", "module": "reward.py"} defining compute_score(data_source, solution_str, ground_truth, extra_info)');
  } else if (python.length > 1) {
    b.refuse('rewards', `${python.length} Python reward files; verl's custom_reward_function takes one`);
  }
  if (python.length === 1) {
    b.set('custom_reward_function.path', paths.rewardFile, `rewards[${config.rewards.indexOf(python[0])}].module`);
    b.set('custom_reward_function.name', VERL_REWARD_FUNCTION, 'launcher');
  }
}

function mapAdvantages(config: RunConfig, b: MappingBuilder): void {
  const a = config.algorithm;
  b.set('actor_rollout_ref.rollout.n', a.num_generations, 'algorithm.num_generations');
  if (a.scale_rewards === 'batch') b.refuse('algorithm.scale_rewards', '"batch": verl\'s GRPO divides by the group std or not at all (norm_adv_by_std_in_grpo); use "group" or "none"');
  b.set('algorithm.norm_adv_by_std_in_grpo', a.scale_rewards === 'group', 'algorithm.scale_rewards');
  if (a.std_estimator !== 'unbiased') b.refuse('algorithm.std_estimator', `"${a.std_estimator}": verl's GRPO uses torch.std (unbiased, n − 1)`);
  if (a.advantage_eps === schemaDefault('algorithm.advantage_eps')) {
    b.notes.push(`algorithm.advantage_eps ${a.advantage_eps}: verl's GRPO adds a fixed 1e-6 to the std`);
  } else if (a.advantage_eps !== 1e-6) {
    b.refuse('algorithm.advantage_eps', `${a.advantage_eps}: verl's GRPO adds a fixed 1e-6 to the std (compute_grpo_outcome_advantage)`);
  }
  if (a.supervision !== 'outcome') b.refuse('algorithm.supervision', `"${a.supervision}": verl's GRPO estimator takes one outcome score per response`);
  b.refuseUnlessDefault('algorithm.gamma', 'only used by supervision "discounted_returns", which verl\'s GRPO lacks');
  b.set('algorithm.use_kl_in_reward', a.use_kl_in_reward, 'algorithm.use_kl_in_reward');
  if (a.use_kl_in_reward) {
    b.set('algorithm.kl_penalty', a.kl_penalty, 'algorithm.kl_penalty');
    b.set('algorithm.kl_ctrl.type', a.kl_ctrl.type, 'algorithm.kl_ctrl.type');
    b.set('algorithm.kl_ctrl.kl_coef', a.kl_ctrl.kl_coef, 'algorithm.kl_ctrl.kl_coef');
    b.set('algorithm.kl_ctrl.target_kl', a.kl_ctrl.target_kl, 'algorithm.kl_ctrl.target_kl');
    b.set('algorithm.kl_ctrl.horizon', a.kl_ctrl.horizon, 'algorithm.kl_ctrl.horizon');
  }
  if (a.filter_groups.enable) b.refuse('algorithm.filter_groups.enable', 'DAPO dynamic sampling lives in verl\'s recipe/dapo trainer, not in verl.trainer.main_ppo');
}

function mapPolicyLoss(config: RunConfig, b: MappingBuilder): void {
  const a = config.algorithm;
  b.set('actor_rollout_ref.actor.clip_ratio_low', a.epsilon, 'algorithm.epsilon');
  b.set('actor_rollout_ref.actor.clip_ratio_high', a.epsilon_high ?? a.epsilon, a.epsilon_high === undefined ? 'algorithm.epsilon' : 'algorithm.epsilon_high');
  const dualClip = a.clip_ratio_c ?? a.delta;
  if (dualClip !== undefined) {
    b.set('actor_rollout_ref.actor.clip_ratio_c', dualClip, a.clip_ratio_c !== undefined ? 'algorithm.clip_ratio_c' : 'algorithm.delta');
  } else if (a.loss_type !== 'cispo') {
    b.notes.push('algorithm.clip_ratio_c unset (off here): verl\'s loss always applies its dual clip, at its default c = 3');
  }
  b.set('actor_rollout_ref.actor.loss_agg_mode', a.loss_agg_mode ?? LOSS_AGG_MODE[a.loss_type], a.loss_agg_mode !== undefined ? 'algorithm.loss_agg_mode' : 'algorithm.loss_type');
  if (a.loss_scale_factor !== undefined) b.set('actor_rollout_ref.actor.loss_scale_factor', a.loss_scale_factor, 'algorithm.loss_scale_factor');
  const mode = policyLossMode(config, b);
  if (mode !== undefined) b.set('actor_rollout_ref.actor.policy_loss.loss_mode', mode, mode === 'cispo' ? 'algorithm.loss_type' : 'algorithm.importance_sampling_level');
  b.set('actor_rollout_ref.actor.ppo_epochs', a.num_iterations, 'algorithm.num_iterations');
  if (a.mask_truncated_completions) b.refuse('algorithm.mask_truncated_completions', 'verl\'s main_ppo keeps truncated responses in the loss');
  if (a.top_entropy_quantile !== 1) b.refuse('algorithm.top_entropy_quantile', `${a.top_entropy_quantile}: verl's policy loss has no entropy-quantile token mask`);
}

/** verl's policy_loss.loss_mode for our loss_type and importance_sampling_level (undefined: vanilla, verl's default). */
function policyLossMode(config: RunConfig, b: MappingBuilder): string | undefined {
  const a = config.algorithm;
  if (a.loss_type === 'cispo') {
    if (a.cispo_clip !== 'verl') b.refuse('algorithm.cispo_clip', '"trl" (weight ≤ epsilon_high): verl\'s cispo clips the weight to [1 − epsilon, 1 + epsilon_high]; use "verl"');
    if (a.importance_sampling_level !== 'token') b.refuse('algorithm.importance_sampling_level', `"${a.importance_sampling_level}" with loss_type "cispo": verl's cispo is per token`);
    return 'cispo';
  }
  if (a.importance_sampling_level === 'sequence') {
    b.refuse('algorithm.importance_sampling_level', '"sequence": verl\'s gspo is GSPO-token (the sequence ratio\'s value with per-token gradients); use "sequence_token"');
  }
  return a.importance_sampling_level === 'sequence_token' ? 'gspo' : undefined;
}

function mapKl(config: RunConfig, b: MappingBuilder): void {
  const a = config.algorithm;
  const useKlLoss = a.beta > 0;
  b.set('actor_rollout_ref.actor.use_kl_loss', useKlLoss, 'algorithm.beta');
  if (!useKlLoss) return;
  b.set('actor_rollout_ref.actor.kl_loss_coef', a.beta, 'algorithm.beta');
  if (!VERL_KL_TYPES.has(a.kl_estimator)) {
    const reason = a.kl_estimator === 'k3'
      ? '"k3" is TRL\'s unclamped k3; verl\'s k3 is low_var_kl (clamped to ±10): set kl_estimator "low_var_kl" to launch on verl'
      : `"${a.kl_estimator}": verl's kl_loss_type has no exact-KL estimator`;
    b.refuse('algorithm.kl_estimator', reason);
  } else {
    b.set('actor_rollout_ref.actor.kl_loss_type', a.kl_estimator, 'algorithm.kl_estimator');
  }
  b.refuseUnlessDefault('algorithm.kl_log_ratio_clamp', 'verl clamps the log-ratio at ±20, fixed');
  b.refuseUnlessDefault('algorithm.kl_value_clamp', 'verl clamps low_var_kl at ±10, fixed');
  if (a.ref_model_sync_steps > 0) b.refuse('algorithm.ref_model_sync_steps', 'verl\'s main_ppo keeps the reference model fixed');
}

function mapOptimizer(config: RunConfig, b: MappingBuilder): void {
  const o = config.optimization;
  const optim = 'actor_rollout_ref.actor.optim';
  b.set(`${optim}.lr`, o.learning_rate, 'optimization.learning_rate');
  b.set(`${optim}.weight_decay`, o.weight_decay, 'optimization.weight_decay');
  b.set(`${optim}.betas`, [o.adam_beta1, o.adam_beta2], 'optimization.adam_beta1');
  b.set(`${optim}.lr_warmup_steps`, o.warmup_steps, 'optimization.warmup_steps');
  if (o.lr_scheduler_type === 'linear') b.refuse('optimization.lr_scheduler_type', '"linear": verl\'s actor optimizer schedules "constant" or "cosine"');
  else b.set(`${optim}.lr_scheduler_type`, o.lr_scheduler_type, 'optimization.lr_scheduler_type');
  if (o.max_grad_norm === 0) b.refuse('optimization.max_grad_norm', '0 (no clipping): verl always clips the actor\'s gradient norm (optim.clip_grad); give a norm');
  else b.set(`${optim}.clip_grad`, o.max_grad_norm, 'optimization.max_grad_norm');
  // A generation of prompts_per_step groups is split into steps_per_generation optimizer steps: verl's mini-batches.
  b.set('actor_rollout_ref.actor.ppo_mini_batch_size', o.prompts_per_step / o.steps_per_generation, 'optimization.steps_per_generation');
  b.set('actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu', o.micro_batch_size, 'optimization.micro_batch_size');
  b.set('actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu', o.micro_batch_size, 'optimization.micro_batch_size');
  if (config.algorithm.beta > 0) b.set('actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu', o.micro_batch_size, 'optimization.micro_batch_size');
  b.refuseUnlessDefault('optimization.max_consecutive_skipped_steps', 'verl does not skip non-finite optimizer steps by count');
}

function mapSampling(config: RunConfig, cluster: VerlClusterOptions, b: MappingBuilder): void {
  const s = config.sampling;
  const rollout = 'actor_rollout_ref.rollout';
  b.set(`${rollout}.name`, cluster.rolloutEngine, 'launcher');
  b.set(`${rollout}.tensor_model_parallel_size`, cluster.rolloutTensorParallel, 'launcher');
  b.set(`${rollout}.temperature`, s.temperature, 'sampling.temperature');
  b.set(`${rollout}.top_p`, s.top_p, 'sampling.top_p');
  // vLLM's "off" is −1; ours is 0.
  b.set(`${rollout}.top_k`, s.top_k > 0 ? s.top_k : -1, 'sampling.top_k');
  if (s.stop.length > 0) b.refuse('sampling.stop', 'verl\'s rollout config has no stop strings (responses end at the EOS token)');
  if (s.stop_token_ids.length > 0) b.refuse('sampling.stop_token_ids', 'verl\'s rollout config has no extra stop tokens (it uses the model\'s EOS tokens)');
}

function mapEvaluation(config: RunConfig, paths: VerlJobPaths, b: MappingBuilder): void {
  const e = config.evaluation;
  const validate = e.eval_steps > 0 && paths.valFile !== undefined;
  if (e.eval_steps > 0 && !validate) b.notes.push(`evaluation.eval_steps ${e.eval_steps}: the task holds out no validation rows, so the job does not validate`);
  b.set('trainer.test_freq', validate ? e.eval_steps : -1, 'evaluation.eval_steps');
  b.set('trainer.val_before_train', validate, 'evaluation.eval_steps');
  const greedy = e.greedy ?? e.n === 1;
  const val = 'actor_rollout_ref.rollout.val_kwargs';
  b.set(`${val}.n`, e.n, 'evaluation.n');
  b.set(`${val}.do_sample`, !greedy, 'evaluation.greedy');
  b.set(`${val}.temperature`, greedy ? 0 : config.sampling.temperature, 'evaluation.greedy');
  b.set(`${val}.top_p`, config.sampling.top_p, 'sampling.top_p');
  b.set(`${val}.top_k`, config.sampling.top_k > 0 ? config.sampling.top_k : -1, 'sampling.top_k');
  if (e.success !== undefined) b.refuse('evaluation.success', 'verl reports the reward function\'s score (and its extra keys) for validation; return an "acc" key from compute_score instead');
}

/** Sections verl's main_ppo has no counterpart for; local execution settings are ignored, not refused. */
function mapUnsupported(config: RunConfig, b: MappingBuilder): void {
  if (config.sft.steps > 0) b.refuse('sft.steps', `${config.sft.steps}: verl's SFT is a separate trainer (verl.trainer.fsdp_sft_trainer); warm-start there and launch GRPO from its checkpoint`);
  if (config.task.type === 'arithmetic' && config.task.teacher_error_rate > 0) {
    b.refuse('task.teacher_error_rate', 'only shapes SFT reference answers, which verl\'s GRPO does not use');
  }
}
