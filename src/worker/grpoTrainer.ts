/**
 * GRPO on a language model (seeds 001–003, TRL's GRPOTrainer loop). Per step:
 *   1. draw `prompts_per_step` prompts, repeat each G = `num_generations` times, sample completions with the KV
 *      cache, keeping each token's log-prob under the sampling policy (the "old" log-probs);
 *   2. score them with the reward functions; group-relative advantages (outcome or process supervision);
 *   3. reference log-probs when β > 0;
 *   4. μ = `num_iterations` optimizer steps over the rollouts, each accumulating gradients over micro-batches of
 *      the configured GRPO loss (clip / clip-higher, KL, loss_type aggregation), with global-norm clipping and Adam.
 * Everything a step produced goes into the step's metrics and rollout records, down to per-token ratios.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import {
  applyKlPenaltyToRewards,
  computeGrpoLossTensors,
  computeProcessSupervisionAdvantages,
  GrpoLossConfig,
  GrpoTokenTensors,
  groupAdvantageValues,
  nextKlCoefficient,
  readGrpoTokenDetails,
} from '../grpo';
import { std } from '../grpo/statistics';
import { generate, loadPolicy, Policy, PolicyTrainer, ResponseBatch, responseLogProbs, savePolicy, sftStep } from '../model';
import { addLora, attachAdapterFolder, readAdapters, saveAdapterFolder } from '../model/lora';
import { Random } from '../model/random';
import { tokenPieces } from '../model/tokenizer';
import { arrayAndDispose } from '../model/tensorIo';
import { GroupRecord, LanguageTaskConfig, LoraSpec, RolloutRecord, roundForRecord, RunConfig, TokenColumns } from '../protocol';
import { webgpuMaxBindingBytes } from './backend';
import { EvalResult, StepControl, StepResult, TrainingJob, WarmStartHooks } from './job';
import { EvalSample, successCheck, validationMetrics, validationTemperature } from './evaluation';
import { checkModelFits, memoryLimitBytes, MemoryPhase, rowsThatFit } from './memoryBudget';
import { referenceKeepsAdapter, runShapeOf } from './runShape';
import { inPhase } from './backendTrap';
import { fillFailedRewards, RewardFailure, RewardsCancelled, RewardScorer, ScoredBatch } from './rewardScorer';
import { RewardErrorLog } from './rewardErrors';
import { checkRounds, concatRows, keptGroups, pickRows } from './dynamicSampling';
import { advance, Buffered, loadBuffer, saveBuffer, sliceRows } from './generationBuffer';
import type { StepReward } from './tasks/rewards';
import { createTask } from './tasks/createTask';
import { Example, PromptTask } from './tasks/task';
import { PromptEncoder } from './promptEncoding';
import { exactKlPerToken } from './referenceKl';
import { policyLogprob } from '../protocol/tokenBlocks';
import { lossVariantConfig, sequenceClipMetrics, trainingRows, variantMetrics } from './lossVariants';
import { stepAdvantages } from './processSupervision';
import { distinctN, repeatedNgramShare } from './textMetrics';

/** Completions of one batch of prompts, as sampled. */
interface Rollouts {
  examples: Example[];
  promptIds: number[][];
  /** Sampled token ids, up to and including a stop token. */
  tokens: number[][];
  /** log-probs of the sampled tokens under the sampling policy (at the sampling temperature). */
  oldLogProbs: number[][];
  finishReasons: ('stop' | 'length')[];
  /** Decoded completions without the EOS token: what the rewards see. */
  texts: string[];
}

/** One generation: what a training step needs of it, kept between the steps it serves (steps_per_generation). */
interface Generation {
  rollouts: Rollouts;
  scored: ScoredBatch;
  /** What the advantages were computed from: the totals (NaN: failed), less the KL penalty under use_kl_in_reward. */
  rewards: number[];
  advantages: number[][];
  rewardMetrics: Record<string, number>;
  /** Dynamic sampling's metrics and dropped groups, when it is on. */
  filtered?: { metrics: Record<string, number>; dropped: GroupRecord[] };
  /** use_kl_in_reward: its metrics, and the batch KL that moves an adaptive kl_ctrl once the generation has trained. */
  klReward?: { metrics: Record<string, number>; currentKl: number };
  /** use_kl_in_reward with steps_per_generation 1: the reference's log-probs of these rollouts, reused by the KL loss term. */
  refLogProbs?: number[][];
}

/** Per-token values of the last optimisation pass, [rollout][token]. */
interface TokenTrace {
  ratio: number[][];
  lowClipped: number[][];
  highClipped: number[][];
  kl?: number[][];
  entropy: number[][];
}

const EVAL_BATCH = 64;

function now(): number {
  return performance.now();
}

const round = roundForRecord;

/** min / max that skip NaN (a micro-batch without tokens), as TRL's nanmin / nanmax. */
function nanMin(a: number, b: number): number {
  return Number.isNaN(a) ? b : Number.isNaN(b) ? a : Math.min(a, b);
}

function nanMax(a: number, b: number): number {
  return Number.isNaN(a) ? b : Number.isNaN(b) ? a : Math.max(a, b);
}

function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN;
}

/** A checkpoint's folder for the optimizer of a warm start a stop interrupted. */
const SFT_OPTIMIZER_DIR = 'sft';

/** The warm start in a checkpoint's job.json: SFT steps done and the last loss (null before the first). */
interface SftState {
  done: number;
  loss: number | null;
}

/** A checkpoint's job.json. */
interface JobState {
  cursor: { epoch: number; position: number };
  optimizerSteps: number;
  klCoefficient?: number;
  sft?: SftState;
}

/** Points of the SFT loss curve a warm start reports (`warm_start` events). */
export const WARM_START_POINTS = 200;

/** n of the logged seq-rep-n: Welleck et al. report seq-rep-4, and 4 tokens rarely repeat by chance in a short answer. */
export const REPETITION_NGRAM = 4;

/**
 * `completions/repetition`: the mean seq-rep-4 of the completions long enough to have a 4-gram (health.ts warns
 * when it climbs: a model looping on a phrase the reward likes). Absent when none is that long.
 */
export function repetitionMetric(completions: readonly (readonly number[])[]): Record<string, number> {
  const shares = completions.map((ids) => repeatedNgramShare(ids, REPETITION_NGRAM)).filter(Number.isFinite);
  return shares.length ? { 'completions/repetition': mean(shares) } : {};
}

/** Learning rate at an optimizer step: linear warm-up, then constant, linear or cosine decay to 0 at the end. */
export function learningRateAt(optimizerStep: number, totalSteps: number, peak: number, warmup: number, schedule: 'constant' | 'linear' | 'cosine'): number {
  if (warmup > 0 && optimizerStep < warmup) return (peak * (optimizerStep + 1)) / warmup;
  if (schedule === 'constant') return peak;
  const progress = Math.min(1, (optimizerStep - warmup) / Math.max(1, totalSteps - warmup));
  return schedule === 'linear' ? peak * (1 - progress) : peak * 0.5 * (1 + Math.cos(Math.PI * progress));
}

/** Attaches `model.lora`'s adapters (fresh, or from its adapter folder) to the policy; a line for the log. */
function attachLora(policy: Policy, spec: LoraSpec, seed: number): string {
  const adapters = spec.adapter_path !== undefined ? attachAdapterFolder(policy, spec.adapter_path, spec.lora_dropout) : addLora(policy, spec, seed);
  const trainable = policy.trainableParameterCount();
  const all = policy.parameterCount();
  // PEFT's print_trainable_parameters line, which users compare with.
  return `LoRA r=${adapters.settings.r} alpha=${adapters.settings.lora_alpha} on ${adapters.modules.size} modules` +
    `${spec.adapter_path !== undefined ? ` from ${spec.adapter_path}` : ''}: trainable params: ${trainable.toLocaleString('en-US')} || ` +
    `all params: ${all.toLocaleString('en-US')} || trainable%: ${(100 * trainable / all).toFixed(4)}`;
}

/** `sampling.stop_token_ids` must name tokens of the model's vocabulary. */
function checkStopTokens(ids: number[], vocabSize: number): void {
  const outside = ids.find((id) => id >= vocabSize);
  if (outside !== undefined) throw new Error(`sampling.stop_token_ids: ${outside} is not a token id of this model (vocabulary size ${vocabSize})`);
}

export class GrpoTrainer implements TrainingJob {
  private trainer: PolicyTrainer;
  private optimizerSteps = 0;
  /** The generation later steps will train on (steps_per_generation > 1), checkpointed with the step. */
  private buffer: Buffered<Generation> | undefined;

  /** verl kl_ctrl's current coefficient of the in-reward KL (use_kl_in_reward); checkpointed. */
  private klCoefficient: number;

  /** Optimizer steps skipped in a row for a non-finite loss or gradient norm (issue 13 item 3). */
  private consecutiveSkips = 0;

  /**
   * The SFT warm start's progress (checkpointed): steps done, the last loss, and its optimizer while steps remain
   * after a stop (a fresh one is made at its first step).
   */
  private warm: { done: number; loss: number; optimizer?: PolicyTrainer } = { done: 0, loss: Number.NaN };

  private readonly prompts: PromptEncoder;
  /** Tokens that end a completion: the model's EOS tokens and `sampling.stop_token_ids`. */
  private readonly stopTokenIds: number[];
  /** Where a phase split to fit memory says so (once per phase and row count). */
  private readonly splitsLogged = new Set<string>();

  private constructor(
    private readonly config: RunConfig,
    private readonly policy: Policy,
    private reference: Policy | undefined,
    private readonly task: PromptTask,
    prompts: PromptEncoder,
    private readonly rewards: RewardScorer,
    private readonly rng: Random,
    private readonly rewardErrors: RewardErrorLog,
    /** A stop request: abandons reward calls in flight (training and validation alike). */
    private readonly stopRequested: () => boolean,
    private readonly log: (message: string, level?: 'info' | 'warning') => void = () => undefined,
  ) {
    this.trainer = this.newOptimizer();
    this.klCoefficient = config.algorithm.kl_ctrl.kl_coef;
    this.prompts = prompts;
    this.stopTokenIds = [...new Set([...policy.stopTokenIds, ...config.sampling.stop_token_ids])];
  }

  /** Loads the policy and the task, resolves the rewards (paths in `config` are absolute by now). */
  static async create(
    config: RunConfig,
    task: LanguageTaskConfig,
    rng: Random,
    onRewardError: (failure: RewardFailure & { step: number }) => void,
    log: (message: string, level?: 'info' | 'warning') => void = () => undefined,
    shouldStop: () => boolean = () => false,
  ): Promise<GrpoTrainer> {
    if (!config.model) throw new Error('model: required for language tasks');
    const { optimization, sampling } = config;
    // train.ts resolves "auto" to true or false before the job starts (cpuParallelism.ts).
    const dataParallel = optimization.data_parallel === true;
    checkModelFits(tf.getBackend(), runShapeOf(config, dataParallel), webgpuMaxBindingBytes());
    const policy = loadPolicy(config.model.name_or_path, { seed: config.seed });
    try {
      if (config.model.lora) log(attachLora(policy, config.model.lora, config.seed));
      checkStopTokens(sampling.stop_token_ids, policy.config.vocabSize);
      const prompts = new PromptEncoder(policy.tokenizer);
      const fitted = prompts.fit(await createTask(config, task), {
        maxPositions: policy.config.maxPositions,
        maxCompletionLength: sampling.max_completion_length,
        maxPromptLength: sampling.max_prompt_length,
        seed: config.seed,
      });
      if (fitted.message) log(fitted.message, fitted.task.evalSet().length === 0 ? 'warning' : 'info');
      const rewards = await RewardScorer.load(config.rewards, fitted.task.defaultRewards, process.cwd(), { maxCompletionLength: sampling.max_completion_length });
      const errors = new RewardErrorLog(onRewardError, (message) => log(message, 'warning'));
      const trainer = new GrpoTrainer(config, policy, undefined, fitted.task, prompts, rewards, rng, errors, shouldStop, log);
      try {
        if (dataParallel) await trainer.trainer.enableDataParallel();
      } catch (err) {
        rewards.dispose();
        throw err;
      }
      return trainer;
    } catch (err) {
      policy.dispose();
      throw err;
    }
  }

  get parameterCount(): number {
    return this.policy.parameterCount();
  }

  /**
   * The SFT warm start, or the rest of one a stop interrupted (a checkpoint restored its step, optimizer and data
   * order, so the continued warm start equals an uninterrupted one). A stop keeps its optimizer for the checkpoint.
   */
  async warmStart({ log, shouldStop, progress, between }: WarmStartHooks): Promise<Record<string, number> | undefined> {
    const { steps } = this.config.sft;
    this.ensureReference();
    if (steps === 0) return undefined;
    const started = now();
    const first = this.warm.done + 1;
    if (first > 1 && first <= steps) log(`sft continues at step ${first}/${steps} (its optimizer state and data order restored)`);
    // Up to about 200 points of the loss curve, whatever the warm start's length.
    const progressEvery = Math.max(1, Math.ceil(steps / WARM_START_POINTS));
    for (let i = first; i <= steps; i++) {
      await yieldToEventLoop();
      // A pause holds here, between two SFT steps, not after the whole warm start (minutes on a CPU).
      await between(i - 1);
      if (shouldStop()) {
        log(`sft stopped at step ${i - 1}/${steps}: resuming the run continues the warm start at step ${i}`);
        return this.warmStartMetrics(started);
      }
      const sft = (this.warm.optimizer ??= this.newSftOptimizer());
      const examples = this.nextSftExamples();
      const eos = this.policy.tokenizer.eosTokenId;
      const batch: ResponseBatch = {
        promptIds: examples.map((e) => this.prompts.encode(e).ids),
        responseIds: examples.map((e) => [...this.policy.tokenizer.encode(e.completion ?? '', { addSpecialTokens: false }), ...(eos === null ? [] : [eos])]),
      };
      const stats = await sftStep(sft, batch, this.rowsThatFit('training', batch.promptIds, longest(batch.responseIds), examples.length));
      this.warm.loss = stats.loss;
      this.countSkip(stats.skipped, `sft step ${i}`);
      this.warm.done = i;
      if (i % 25 === 0 || i === steps) log(`sft step ${i}/${steps}: loss ${stats.loss.toFixed(4)}`);
      if (i % progressEvery === 0 || i === steps) progress(i, steps, stats.loss);
    }
    this.warm.optimizer?.dispose();
    this.warm.optimizer = undefined;
    // The reference model is the policy GRPO starts from: the warm-started one.
    this.reference?.copyWeightsFrom(this.policy);
    this.trainer.weightsChanged();
    return this.warmStartMetrics(started);
  }

  warmStartPending(): boolean {
    return this.warm.done < this.config.sft.steps;
  }

  private warmStartMetrics(started: number): Record<string, number> {
    return { 'sft/loss': this.warm.loss, 'sft/steps': this.warm.done, 'time/sft': (now() - started) / 1000 };
  }

  /** One SFT step's examples: the same draw on every run with this seed (a resume replays the draws done). */
  private nextSftExamples(): Example[] {
    const examples = this.task.nextSft(this.config.sft.batch_size).filter((e) => e.completion !== undefined);
    if (examples.length === 0) throw new Error(`sft: task "${this.task.name}" has no reference completions to warm-start on`);
    return examples;
  }

  private newSftOptimizer(): PolicyTrainer {
    return new PolicyTrainer(this.policy, {
      learningRate: this.config.sft.learning_rate,
      maxGradNorm: this.config.optimization.max_grad_norm,
      gradientCheckpointing: this.config.optimization.gradient_checkpointing,
    });
  }

  async step(step: number, control: StepControl): Promise<StepResult | undefined> {
    const { algorithm, optimization } = this.config;
    this.ensureReference();
    const boundary = { rng: this.rng.getState(), cursor: this.task.cursor() };
    const rollBack = () => {
      this.rng.setState(boundary.rng);
      this.task.restoreCursor(boundary.cursor);
      this.trainer.clearGradients();
      return undefined;
    };
    const timings: Record<string, number> = {};
    // steps_per_generation (generationBuffer.ts): a buffered generation serves this step, or a new one is made.
    const buffered = this.buffer ?? (await this.generate(step, control, timings));
    if (!buffered) return rollBack();
    const fresh = buffered !== this.buffer;
    const { rollouts, scored, advantages, filtered } = this.slice(buffered);

    let t = now();
    // use_kl_in_reward needs the reference on the whole generation (in generate()); the KL loss term on this slice.
    // use_kl_in_reward already scored this generation with the reference: not a second pass over the same rows.
    const cachedRef = fresh ? buffered.generation.refLogProbs : undefined;
    const refLogProbs = algorithm.beta > 0 || this.config.algorithm.ref_model_sync_steps > 0
      ? (cachedRef ?? (await inPhase(`reference log-probs (step ${step})`, () => this.referenceLogProbs(rollouts))))
      : undefined;
    timings['time/reference'] = (now() - t) / 1000;
    if (control.shouldStop()) return rollBack();

    t = now();
    const update = await inPhase(`training (step ${step})`, () => this.optimize(rollouts, advantages, refLogProbs, () => control.shouldStop()));
    if (!update) return rollBack();
    timings['time/train'] = (now() - t) / 1000;
    this.buffer = advance(buffered, optimization.steps_per_generation);

    if (algorithm.ref_model_sync_steps > 0 && step % algorithm.ref_model_sync_steps === 0) this.reference?.copyWeightsFrom(this.policy);
    // verl updates kl_ctrl once per step, after the penalty was applied with the old coefficient.
    const klReward = fresh ? buffered.generation.klReward : undefined;
    if (klReward) this.klCoefficient = nextKlCoefficient(algorithm.kl_ctrl, this.klCoefficient, klReward.currentKl, buffered.generation.rewards.length);

    const tokenCount = rollouts.tokens.reduce((n, r) => n + r.length, 0);
    const metrics: Record<string, number> = {
      ...update.metrics,
      ...timings,
      'tokens_per_second/train': (tokenCount * algorithm.num_iterations) / timings['time/train'],
    };
    // What describes the generation is logged once, at the step that made it (TRL logs rewards at generation).
    if (fresh) {
      const generated = buffered.generation;
      const all = generated.rollouts.tokens.reduce((n, r) => n + r.length, 0);
      Object.assign(metrics, generated.rewardMetrics, generated.klReward?.metrics, generated.scored.metrics, this.completionMetrics(generated.rollouts));
      metrics['tokens_per_second/sample'] = all / timings['time/sample'];
      // The mean over the samples that were scored, before any KL penalty: a failed sample has no reward.
      const scoredTotals = generated.scored.totals.filter(Number.isFinite);
      metrics.reward = mean(scoredTotals);
      if (generated.klReward) {
        // use_kl_in_reward: `reward` / `reward_std` stay the reward functions' scores (verl critic/score/*); the
        // penalised rewards the advantages used are their own metric (verl critic/rewards/mean).
        metrics.reward_std = std(scoredTotals, 'unbiased');
        metrics['reward/kl_penalised'] = mean(generated.rewards.filter(Number.isFinite));
      }
      // Samples whose reward failed (a count; logged at every generation so its chart shows the zeros too).
      metrics['rewards/failed'] = generated.scored.totals.filter(Number.isNaN).length;
      if (filtered) Object.assign(metrics, filtered.metrics);
    }
    if (optimization.steps_per_generation > 1) metrics['generation/slice'] = buffered.next;
    // Records keep the raw score (NaN for a failed sample), not the KL-penalised reward the advantages came from.
    const groups = this.groupRecords(rollouts, scored, advantages, refLogProbs, update.trace);
    return { metrics, groups: fresh && filtered ? [...groups, ...filtered.dropped] : groups };
  }

  /**
   * Samples, scores (with dynamic sampling when on) and computes the advantages of one generation, as slice 0 of a
   * buffer. undefined: stopped (the caller rolls the RNG and the data cursor back).
   */
  private async generate(step: number, control: StepControl, timings: Record<string, number>): Promise<Buffered<Generation> | undefined> {
    const { algorithm, optimization } = this.config;
    let t = now();
    const prompts = this.task.nextTrain(optimization.prompts_per_step);
    let rollouts = await inPhase(`sampling (step ${step})`, () => this.sample(prompts.flatMap((e) => new Array<Example>(algorithm.num_generations).fill(e)), {
      temperature: this.config.sampling.temperature,
      rng: this.rng,
    }));
    timings['time/sample'] = (now() - t) / 1000;
    if (control.shouldStop()) return undefined;

    t = now();
    // A stop abandons the reward calls at once, whatever the reward code is doing, and the whole step with them.
    const first = await this.score(rollouts, step, () => control.shouldStop() || this.stopRequested());
    if (!first) return undefined;
    let scored = first;
    const filtered = algorithm.filter_groups.enable ? await this.filterGroups(step, rollouts, scored, control) : undefined;
    if (filtered === null) return undefined;
    if (filtered) ({ rollouts, scored } = filtered);
    // verl use_kl_in_reward: the reference's log-probs are needed before the advantages.
    const earlyRefLogProbs = algorithm.use_kl_in_reward ? await inPhase(`reference log-probs (step ${step})`, () => this.referenceLogProbs(rollouts)) : undefined;
    const klReward = this.klInReward(scored.totals, rollouts, earlyRefLogProbs);
    // Failed samples stay NaN: the group statistics leave them out and give them advantage 0 (issue 13 item 2).
    const rewards = klReward?.rewards ?? scored.totals;
    const { advantages, metrics: rewardMetrics } = await this.advantages(rewards, rollouts.tokens, scored.totals.map(Number.isNaN), { texts: rollouts.texts, steps: scored.steps });
    timings['time/reward'] = (now() - t) / 1000;

    const kept = filtered && { metrics: filtered.metrics, dropped: filtered.dropped };
    const kl = klReward && { metrics: klReward.metrics, currentKl: klReward.currentKl };
    // Kept for the step's KL loss term only when that step trains on the whole generation (no slices to pick from).
    const refLogProbs = optimization.steps_per_generation === 1 ? earlyRefLogProbs : undefined;
    return { generation: { rollouts, scored, rewards, advantages, rewardMetrics, filtered: kept, klReward: kl, refLogProbs }, next: 0 };
  }

  /** The groups of the buffer's next slice (all of them when steps_per_generation is 1). */
  private slice(buffered: Buffered<Generation>): Generation {
    const { generation, next } = buffered;
    const slices = this.config.optimization.steps_per_generation;
    if (slices === 1) return generation;
    const G = this.config.algorithm.num_generations;
    const rows = sliceRows(generation.rollouts.tokens.length / G, G, slices, next);
    return {
      ...generation,
      rollouts: pickRows(generation.rollouts, rows),
      scored: { ...pickRows(generation.scored, rows), byFunction: pickByFunction(generation.scored.byFunction, rows) },
      rewards: rows.map((i) => generation.rewards[i]),
      advantages: rows.map((i) => generation.advantages[i]),
    };
  }

  /**
   * Dynamic sampling (dynamicSampling.ts): keeps the groups whose rewards differ, samples and scores further rounds
   * of `prompts_per_step` prompts until that many are kept, and returns the first `prompts_per_step` kept groups,
   * the dropped ones as records marked `dropped` (advantage 0, never trained), and the metrics. null: stopped.
   */
  private async filterGroups(step: number, first: Rollouts, firstScored: ScoredBatch, control: StepControl): Promise<{ rollouts: Rollouts; scored: ScoredBatch; dropped: GroupRecord[]; metrics: Record<string, number> } | null> {
    const { algorithm, optimization } = this.config;
    const G = algorithm.num_generations;
    const wanted = optimization.prompts_per_step;
    const dropped: GroupRecord[] = [];
    let kept: { rollouts: Rollouts; scored: ScoredBatch } | undefined;
    let rollouts = first;
    let scored = firstScored;
    let rounds = 0;
    for (;;) {
      rounds++;
      const keep = keptGroups(scored.totals, G);
      const rows = (wantKept: boolean) => keep.flatMap((k, g) => (k === wantKept ? Array.from({ length: G }, (_, j) => g * G + j) : []));
      const round = { rollouts: pickRows(rollouts, rows(true)), scored: { ...pickRows(scored, rows(true)), byFunction: pickByFunction(scored.byFunction, rows(true)) } };
      kept = kept ? { rollouts: concatRows(kept.rollouts, round.rollouts), scored: { ...concatRows(kept.scored, round.scored), byFunction: concatByFunction(kept.scored.byFunction, round.scored.byFunction) } } : round;
      dropped.push(...this.droppedRecords(rollouts, scored, rows(false)));
      const count: number = kept.rollouts.tokens.length / G;
      if (count >= wanted) break;
      checkRounds(rounds, algorithm.filter_groups.max_num_gen_batches, count, wanted);
      if (control.shouldStop()) return null;
      const prompts = this.task.nextTrain(wanted);
      rollouts = await inPhase(`sampling (step ${step}, round ${rounds + 1})`, () => this.sample(prompts.flatMap((e) => new Array<Example>(G).fill(e)), { temperature: this.config.sampling.temperature, rng: this.rng }));
      if (control.shouldStop()) return null;
      const more = await this.score(rollouts, step, () => control.shouldStop() || this.stopRequested());
      if (!more) return null;
      scored = more;
    }
    // verl keeps the first train_batch_size groups (batch[:traj_bsz]); later kept groups are discarded.
    const firstWanted = Array.from({ length: wanted * G }, (_, i) => i);
    const batch = { rollouts: pickRows(kept.rollouts, firstWanted), scored: { ...pickRows(kept.scored, firstWanted), byFunction: pickByFunction(kept.scored.byFunction, firstWanted) } };
    // Reward metrics of the kept batch (the per-function extras are those of the first round only).
    batch.scored.metrics = { ...firstScored.metrics, ...this.rewards.metricsOf(batch.scored.byFunction) };
    return { ...batch, dropped, metrics: { num_gen_batches: rounds, 'dynamic_sampling/dropped_groups': dropped.length } };
  }

  private droppedRecords(rollouts: Rollouts, scored: ScoredBatch, rows: number[]): GroupRecord[] {
    const G = this.config.algorithm.num_generations;
    const groups: GroupRecord[] = [];
    for (let k = 0; k < rows.length; k += G) {
      const example = rollouts.examples[rows[k]];
      const members = rows.slice(k, k + G).map((i) => this.rolloutRecord(rollouts, i, scored, 0));
      groups.push({ prompt_id: example.id, prompt: example.prompt, ground_truth: example.answer, rollouts: members, dropped: true });
    }
    return groups;
  }

  /**
   * Validation: `evaluation.n` samples of each held-out prompt (greedy for one, else at the training temperature),
   * scored by the run's rewards; metrics in evaluation.ts, one eval record group per prompt with its n samples.
   */
  async evaluate(step: number, between?: () => Promise<void>): Promise<EvalResult | undefined> {
    const examples = this.task.evalSet();
    if (examples.length === 0) return undefined;
    const { evaluation, sampling } = this.config;
    const n = evaluation.n;
    const passes = successCheck(evaluation.success, this.task);
    // Its own stream, derived from the step: validation never shifts the training draws, and is repeatable.
    const rng = new Random((this.config.seed * 7919 + step) >>> 0);
    const temperature = validationTemperature(evaluation, sampling.temperature);
    const repeated = examples.flatMap((e) => new Array<Example>(n).fill(e));
    const samples: EvalSample[] = [];
    const records: RolloutRecord[] = [];
    const texts: string[] = [];
    const drift = { kl: 0, tokens: 0 };
    for (let start = 0; start < repeated.length; start += EVAL_BATCH) {
      if (start > 0 && between) {
        await between();
        if (this.stopRequested()) return undefined;
      }
      const rollouts = await this.sample(repeated.slice(start, start + EVAL_BATCH), { temperature, rng });
      const scored = await this.score(rollouts, step, this.stopRequested);
      // Stopped: no validation at this step (the step itself is complete and is kept).
      if (!scored) return undefined;
      // How far the policy has moved from its reference on these completions (the stories stay stories?).
      const kl = this.reference ? await exactKlPerToken(this.policy, this.reference, this.batchOf(rollouts, 0, rollouts.tokens.length), temperature || 1, this.klRows(rollouts)) : undefined;
      rollouts.examples.forEach((example, i) => {
        const rewards = Object.fromEntries(Object.entries(scored.byFunction).map(([name, values]) => [name, values[i]]));
        samples.push({ reward: scored.totals[i], rewards, passed: passes?.(rollouts.texts[i], example, rewards) });
        records.push(this.rolloutRecord(rollouts, i, scored, 0, kl ? { kl: kl[i] } : undefined));
        texts.push(rollouts.texts[i]);
        for (const value of kl?.[i] ?? []) drift.kl += value;
        drift.tokens += kl ? kl[i].length : 0;
      });
    }
    const groups: GroupRecord[] = examples.map((example, p) => ({
      prompt_id: example.id,
      prompt: this.prompts.asSeen(example).prompt,
      ground_truth: example.answer,
      rollouts: records.slice(p * n, (p + 1) * n),
    }));
    const metrics = validationMetrics(examples.map((_, p) => samples.slice(p * n, (p + 1) * n)));
    // Undefined (no completion of two words) is left out rather than logged as NaN.
    for (const n of [1, 2]) {
      const distinct = distinctN(texts, n);
      if (Number.isFinite(distinct)) metrics[`eval/distinct_${n}`] = distinct;
    }
    if (this.reference) metrics['eval/kl'] = drift.tokens > 0 ? drift.kl / drift.tokens : 0;
    return { metrics, groups };
  }

  async saveCheckpoint(dir: string): Promise<void> {
    const lora = this.policy.lora;
    // A LoRA run's checkpoint holds the adapters as a PEFT adapter folder (the base never changes).
    const base = this.config.model!.name_or_path;
    if (lora) await saveAdapterFolder(lora, path.join(dir, 'policy'), base);
    else await savePolicy(this.policy, path.join(dir, 'policy'));
    if (this.reference?.lora) await saveAdapterFolder(this.reference.lora, path.join(dir, 'reference'), base);
    else if (this.reference && !lora) await savePolicy(this.reference, path.join(dir, 'reference'));
    await this.trainer.save(dir);
    if (this.warm.optimizer) {
      fs.mkdirSync(path.join(dir, SFT_OPTIMIZER_DIR));
      await this.warm.optimizer.save(path.join(dir, SFT_OPTIMIZER_DIR));
    }
    const sft: SftState = { done: this.warm.done, loss: Number.isFinite(this.warm.loss) ? this.warm.loss : null };
    const job: JobState = { cursor: this.task.cursor(), optimizerSteps: this.optimizerSteps, klCoefficient: this.klCoefficient, sft };
    fs.writeFileSync(path.join(dir, 'job.json'), JSON.stringify(job, null, 2));
    saveBuffer(dir, this.buffer);
  }

  async loadCheckpoint(dir: string): Promise<void> {
    const restore = (target: Policy, folder: string) => {
      if (target.lora) {
        const adapters = readAdapters(this.policy, path.join(dir, folder), false);
        try {
          target.lora.copyFrom(adapters);
        } finally {
          adapters.dispose();
        }
        return;
      }
      const loaded = loadPolicy(path.join(dir, folder));
      try {
        target.copyWeightsFrom(loaded);
      } finally {
        loaded.dispose();
      }
    };
    restore(this.policy, 'policy');
    if (fs.existsSync(path.join(dir, 'reference'))) {
      this.ensureReference();
      if (this.reference) restore(this.reference, 'reference');
    }
    this.trainer.load(dir);
    this.trainer.weightsChanged();
    const job = JSON.parse(fs.readFileSync(path.join(dir, 'job.json'), 'utf8')) as JobState;
    this.restoreWarmStart(dir, job.sft, job.optimizerSteps);
    this.task.restoreCursor(job.cursor);
    this.optimizerSteps = job.optimizerSteps;
    this.buffer = loadBuffer<Generation>(dir);
    if (job.klCoefficient !== undefined) this.klCoefficient = job.klCoefficient;
  }

  /**
   * A warm start a stop interrupted: its optimizer, and its data stream fast-forwarded by the draws done (drawn from
   * the start of the task's SFT stream, before the training cursor is restored: gsm8k's warm start draws from that
   * cursor). Checkpoints from before SFT was checkpointed have no `sft`: their warm start counts as done.
   */
  private restoreWarmStart(dir: string, sft: SftState | undefined, optimizerSteps: number): void {
    const steps = this.config.sft.steps;
    this.warm = { done: sft ? Math.min(sft.done, steps) : steps, loss: sft?.loss ?? Number.NaN };
    if (!sft && steps > 0 && optimizerSteps === 0) {
      this.log('this step-0 checkpoint predates warm-start resume: whether its SFT warm start finished is not recorded, so GRPO starts from it as it is (start the run again for a whole warm start)', 'warning');
    }
    if (!this.warmStartPending()) return;
    for (let i = 0; i < this.warm.done; i++) this.nextSftExamples();
    const saved = path.join(dir, SFT_OPTIMIZER_DIR);
    if (!fs.existsSync(saved)) return; // stopped before its first step
    this.warm.optimizer = this.newSftOptimizer();
    this.warm.optimizer.load(saved);
  }

  stopThreads(): void {
    this.trainer.stopDataParallel();
  }

  dispose(): void {
    this.warm.optimizer?.dispose();
    this.rewards.dispose();
    this.trainer.dispose();
    this.reference?.dispose();
    this.policy.dispose();
  }

  private newOptimizer(): PolicyTrainer {
    const o = this.config.optimization;
    return new PolicyTrainer(this.policy, {
      learningRate: o.learning_rate,
      beta1: o.adam_beta1,
      beta2: o.adam_beta2,
      weightDecay: o.weight_decay,
      maxGradNorm: o.max_grad_norm,
      dropoutSeed: this.config.seed,
      gradientCheckpointing: o.gradient_checkpointing,
    });
  }

  /**
   * The frozen reference model exists when β > 0 or it is refreshed (its KL is then reported). With LoRA it shares
   * the frozen base: the adapters switched off, or a frozen copy of the adapter the run started from (TRL keeps
   * the starting adapter as its reference too), so no second copy of the weights exists.
   */
  private ensureReference(): void {
    const { beta, ref_model_sync_steps, use_kl_in_reward } = this.config.algorithm;
    if (this.reference || !(beta > 0 || ref_model_sync_steps > 0 || use_kl_in_reward)) return;
    const lora = this.policy.lora;
    if (!lora) this.reference = this.policy.clone({ trainable: false });
    else this.reference = this.policy.withAdapters(referenceKeepsAdapter(this.config) ? lora.clone(false) : null);
  }

  private async sample(examples: Example[], options: { temperature: number; rng: Random }): Promise<Rollouts> {
    const { sampling } = this.config;
    const promptIds = examples.map((e) => this.prompts.encode(e).ids);
    const maxRows = this.rowsThatFit('sampling', promptIds, sampling.max_completion_length, promptIds.length);
    const out = await generate(this.policy, promptIds, {
      maxRows,
      replica: this.trainer.samplingReplica(),
      maxNewTokens: sampling.max_completion_length,
      temperature: options.temperature,
      topP: sampling.top_p,
      topK: sampling.top_k,
      stopTokenIds: this.stopTokenIds,
      stopStrings: sampling.stop.length ? sampling.stop : undefined,
      rng: options.rng,
    });
    // What the rewards see: the completion without the token that stopped it (a stop string stays, as TRL keeps it).
    const texts = out.tokens.map((ids) => {
      const stopped = ids.length > 0 && this.stopTokenIds.includes(ids[ids.length - 1]);
      return this.policy.tokenizer.decode(stopped ? ids.slice(0, -1) : ids, { skipSpecialTokens: true });
    });
    const seen = examples.map((e) => this.prompts.asSeen(e));
    return { examples: seen, promptIds, tokens: out.tokens, oldLogProbs: out.logProbs, finishReasons: out.finishReasons, texts };
  }

  /** [B][T] advantages: one per completion (outcome) or per token (process supervision, reward on the last token). */
  private async advantages(rewards: number[], tokens: number[][], failed: boolean[], scored: { texts: string[]; steps: StepReward[][] }): Promise<{ advantages: number[][]; metrics: Record<string, number> }> {
    const { algorithm } = this.config;
    const groupSize = algorithm.num_generations;
    // Float64 on the host, NaN-aware, exact ties (issue 13 items 1–2): nothing here depends on the backend.
    const outcome = groupAdvantageValues(rewards, groupSize, {
      scaleRewards: algorithm.scale_rewards,
      stdKind: algorithm.std_estimator,
      advantageEps: algorithm.advantage_eps,
    });
    const perRollout = outcome.advantages;
    if (algorithm.supervision === 'outcome') {
      return { advantages: tokens.map((row, i) => new Array<number>(row.length).fill(perRollout[i])), metrics: outcome.metrics };
    }
    if (algorithm.supervision === 'process') {
      // DeepSeekMath §4.1.3: step rewards normalised over the group's steps, summed over the steps at or after a token.
      const options = { advantageEps: algorithm.advantage_eps, stdKind: algorithm.std_estimator, normalizeByStd: algorithm.scale_rewards !== 'none' };
      return { advantages: stepAdvantages(this.policy.tokenizer, tokens, scored.texts, scored.steps, groupSize, options, failed), metrics: outcome.metrics };
    }
    // 'discounted_returns' (seed 001): the outcome reward on the last token, discounted returns normalised per position.
    const width = Math.max(...tokens.map((r) => r.length));
    // Process supervision still takes a stand-in for a failed reward (its group's mean of the scored ones).
    const filled = fillFailedRewards(rewards, groupSize);
    const tokenRewards = tokens.map((row, i) => Array.from({ length: width }, (_, t) => (t === row.length - 1 ? filled[i] : 0)));
    const mask = tokens.map((row) => Array.from({ length: width }, (_, t) => (t < row.length ? 1 : 0)));
    const perToken = await arrayAndDispose(tf.tidy(() =>
      computeProcessSupervisionAdvantages(tf.tensor2d(tokenRewards), tf.tensor2d(mask), groupSize, {
        gamma: algorithm.gamma,
        advantageEps: algorithm.advantage_eps,
        stdKind: algorithm.std_estimator,
        normalizeByStd: algorithm.scale_rewards !== 'none',
      }),
    ));
    // A failed sample (its reward filled with the group mean) must get no gradient at any position.
    return { advantages: tokens.map((row, i) => (failed[i] ? new Array<number>(row.length).fill(0) : perToken[i].slice(0, row.length))), metrics: outcome.metrics };
  }

  private async referenceLogProbs(rollouts: Rollouts): Promise<number[][] | undefined> {
    const reference = this.reference;
    if (!reference) return undefined;
    const size = this.rowsThatFit('scoring', rollouts.promptIds, longest(rollouts.tokens), this.config.optimization.micro_batch_size);
    const out: number[][] = [];
    for (let start = 0; start < rollouts.tokens.length; start += size) {
      const batch = this.batchOf(rollouts, start, start + size);
      const values = await arrayAndDispose(tf.tidy(() => responseLogProbs(reference, batch, { temperature: this.config.sampling.temperature }).logProbs));
      out.push(...values.map((row, i) => row.slice(0, batch.responseIds[i].length)));
    }
    return out;
  }

  /** The frozen reference's logits [B, R, V] for the exact KL; computed inside the policy's tape, never trained. */
  private referenceLogits(batch: ResponseBatch): tf.Tensor3D | undefined {
    if (!this.reference) return undefined;
    const out = responseLogProbs(this.reference, batch, { temperature: this.config.sampling.temperature, withLogits: true });
    return out.logits ?? undefined;
  }

  private batchOf(rollouts: Rollouts, start: number, end: number): ResponseBatch {
    return { promptIds: rollouts.promptIds.slice(start, end), responseIds: rollouts.tokens.slice(start, end) };
  }

  /**
   * μ optimizer steps over the rollouts, each accumulating micro-batch gradients of the GRPO loss. Returns undefined
   * (nothing changed) when `shouldStop` turns true before the first optimizer step.
   */
  private async optimize(
    rollouts: Rollouts,
    advantages: number[][],
    refLogProbs: number[][] | undefined,
    shouldStop: () => boolean,
  ): Promise<{ metrics: Record<string, number>; trace: TokenTrace } | undefined> {
    const { algorithm, optimization, sampling } = this.config;
    // The exact KL needs both models' logits over the vocabulary; without a reference there is no KL at all.
    const fullKl = algorithm.kl_estimator === 'full' && this.reference !== undefined;
    const size = this.rowsThatFit('training', rollouts.promptIds, longest(rollouts.tokens), optimization.micro_batch_size, fullKl);
    const B = rollouts.tokens.length;
    const microbatches = Math.ceil(B / size);
    const trains = trainingRows(rollouts.finishReasons, algorithm.mask_truncated_completions);
    const activeTokens = rollouts.tokens.reduce((n, r, i) => n + r.length * trains[i], 0);
    const lossConfig: GrpoLossConfig = {
      ...lossVariantConfig(algorithm),
      lossScaleFactor: algorithm.loss_scale_factor,
      epsilonLow: algorithm.epsilon,
      epsilonHigh: algorithm.epsilon_high ?? algorithm.epsilon,
      beta: algorithm.beta,
      // verl clip_ratio_c or TRL delta: the same bound (validated to agree when both are set).
      dualClipRatio: algorithm.clip_ratio_c ?? algorithm.delta,
      klEstimator: algorithm.kl_estimator,
      klLogRatioClamp: algorithm.kl_log_ratio_clamp,
      klValueClamp: algorithm.kl_value_clamp,
      maxCompletionLength: sampling.max_completion_length,
      gradientAccumulationSteps: microbatches,
    };
    const trace: TokenTrace = { ratio: [], lowClipped: [], highClipped: [], entropy: [], kl: refLogProbs ? [] : undefined };
    const losses: number[] = [];
    const weighted: Record<string, number> = {};
    const extremes: Record<string, (a: number, b: number) => number> = { 'clip_ratio/low_min': nanMin, 'clip_ratio/high_max': nanMax };
    const extremeValues: Record<string, number> = {};
    let gradNorm = 0;
    let learningRate = 0;
    let skippedSteps = 0;
    for (let iteration = 0; iteration < algorithm.num_iterations; iteration++) {
      // The inspector shows the last pass: its ratios are the ones the final update clipped.
      const lastPass = iteration === algorithm.num_iterations - 1;
      let stepLoss = 0;
      for (let start = 0; start < B; start += size) {
        await yieldToEventLoop();
        if (iteration === 0 && shouldStop()) return undefined;
        const end = Math.min(B, start + size);
        const batch = this.batchOf(rollouts, start, end);
        const rows = { advantages: advantages.slice(start, end), old: rollouts.oldLogProbs.slice(start, end), ref: refLogProbs?.slice(start, end), trains: trains.slice(start, end) };
        // The loss runs inside tf.variableGrads, where nothing can be awaited: its per-token tensors are kept and
        // read once the micro-batch's gradient is done.
        const kept: { tokens: GrpoTokenTensors; entropy?: tf.Tensor2D }[] = [];
        try {
          stepLoss += await this.trainer.accumulate(
            batch,
            (logProbs, entropy, mask, logits) => {
              const [rowsInBatch, width] = logProbs.shape;
              const pad = (m: number[][]) => tf.tensor2d(m.map((r) => [...r, ...new Array<number>(width - r.length).fill(0)]), [rowsInBatch, width]);
              const result = computeGrpoLossTensors(
                {
                  policyLogProbs: logProbs,
                  // mask_truncated_completions: a truncated rollout's row of the mask is zero, as TRL's completion_mask.
                  responseMask: rows.trains.includes(0) ? tf.mul(mask, tf.tensor2d(rows.trains, [rowsInBatch, 1])) as tf.Tensor2D : mask,
                  advantages: pad(rows.advantages),
                  oldLogProbs: pad(rows.old),
                  refLogProbs: rows.ref ? pad(rows.ref) : undefined,
                  policyLogits: logits ?? undefined,
                  refLogits: fullKl ? this.referenceLogits(batch) : undefined,
                  // TRL clamps num_items_in_batch at 1: a step whose every completion was truncated trains nothing.
                  numItemsInBatch: Math.max(1, activeTokens),
                  entropy: entropy ?? undefined,
                },
                lossConfig,
              );
              kept.push({ tokens: result.tokens, entropy: entropy ? tf.keep(tf.clone(entropy)) : undefined });
              // grpo and dr_grpo average over the micro-batch's rows and divide by the number of micro-batches: a
              // short last micro-batch would weigh its rows more. Rescaled, every rollout weighs 1/B.
              const perSequence = lossConfig.lossType === 'grpo' || lossConfig.lossType === 'dr_grpo';
              return perSequence && rowsInBatch * microbatches !== B ? tf.mul(result.loss, (rowsInBatch * microbatches) / B) as tf.Scalar : result.loss;
            },
            { temperature: sampling.temperature, withEntropy: true, withLogits: fullKl },
          );
          if (lastPass) {
            const [{ tokens, entropy }] = kept;
            const [details, entropyRows] = await Promise.all([readGrpoTokenDetails(tokens), entropy ? (entropy.array() as Promise<number[][]>) : null]);
            const tokensHere = rows.old.reduce((n, r, i) => n + r.length * rows.trains[i], 0);
            for (const [key, value] of Object.entries(details.metrics)) {
              // TRL's min / max over sequences: the extreme over micro-batches, not a token-weighted mean.
              if (key in extremes) extremeValues[key] = extremes[key](extremeValues[key] ?? value, value);
              else if (tokensHere > 0) weighted[key] = (weighted[key] ?? 0) + value * tokensHere;
            }
            this.appendTrace(trace, details.perToken, entropyRows, rows.old);
          }
        } finally {
          tf.dispose(kept);
        }
      }
      learningRate = this.learningRate();
      this.trainer.setLearningRate(learningRate);
      const stats = await this.trainer.step({ loss: stepLoss });
      if (stats.skipped) skippedSteps++;
      this.countSkip(stats.skipped, `optimizer step ${this.optimizerSteps + 1}`);
      this.optimizerSteps++;
      gradNorm = stats.gradNorm;
      losses.push(stepLoss);
    }
    const metrics: Record<string, number> = { loss: mean(losses), grad_norm: gradNorm, learning_rate: learningRate, 'train/skipped_steps': skippedSteps };
    for (const [key, value] of Object.entries(weighted)) metrics[key] = value / activeTokens;
    // TRL zeroes a masked (truncated) completion's mask before its entropy metric: only the rows that train count.
    const trainedEntropy = trace.entropy.filter((_, i) => trains[i] > 0).flat();
    if (trainedEntropy.length > 0) metrics.entropy = mean(trainedEntropy);
    Object.assign(metrics, variantMetrics(algorithm, trace.ratio, trains, metrics), sequenceClipMetrics(algorithm, trace));
    // No active sequence (e.g. every completion masked as truncated): there is no min or max to log.
    for (const [key, value] of Object.entries(extremeValues)) if (!Number.isNaN(value)) metrics[key] = value;
    return { metrics, trace };
  }

  /**
   * verl apply_kl_penalty: rewards minus β·Σ_t KL_t of the sampled tokens (sampling policy vs reference), with
   * verl's metrics `reward_kl_penalty` (its actor/reward_kl_penalty: current_kl) and `reward_kl_penalty_coeff`.
   */
  private klInReward(totals: number[], rollouts: Rollouts, refLogProbs: number[][] | undefined) {
    const { algorithm } = this.config;
    if (!algorithm.use_kl_in_reward || !refLogProbs) return undefined;
    const clamps = { logRatioClamp: algorithm.kl_log_ratio_clamp, valueClamp: algorithm.kl_value_clamp };
    const beta = this.klCoefficient;
    const penalised = applyKlPenaltyToRewards(totals, rollouts.oldLogProbs, refLogProbs, beta, algorithm.kl_penalty, clamps);
    return { ...penalised, metrics: { reward_kl_penalty: penalised.currentKl, reward_kl_penalty_coeff: beta } };
  }

  /**
   * Counts a skipped optimizer step (a warning event says why) and fails the run after
   * `optimization.max_consecutive_skipped_steps` in a row: by then the cause is not one bad batch, and a run that
   * keeps skipping would end "completed" without having trained.
   */
  private countSkip(reason: string | undefined, where: string): void {
    if (!reason) {
      this.consecutiveSkips = 0;
      return;
    }
    this.consecutiveSkips++;
    const limit = this.config.optimization.max_consecutive_skipped_steps;
    this.log(`${where} skipped (${reason}): weights and optimizer state unchanged [${this.consecutiveSkips}/${limit} in a row]`, 'warning');
    if (this.consecutiveSkips >= limit) {
      throw new Error(
        `${limit} consecutive optimizer steps skipped, the last at ${where}: ${reason}. Check the rewards (a huge or ` +
          'non-finite reward), the learning rate and the KL settings (optimization.max_consecutive_skipped_steps)',
      );
    }
  }

  /**
   * Rows of a phase that run at once: `rows`, or fewer when the memory estimate of that many exceeds what the limit
   * leaves (optimization.memory_limit_mb, else the backend's); throws with the numbers when one row does not fit.
   */
  private rowsThatFit(phase: MemoryPhase, promptIds: number[][], completionTokens: number, rows: number, fullLogits = false): number {
    const limitMb = this.config.optimization.memory_limit_mb ?? 0;
    const backend = tf.getBackend();
    const checkpointed = phase === 'training' && this.config.optimization.gradient_checkpointing;
    const fit = rowsThatFit({
      phase,
      model: this.policy.config,
      shape: { promptTokens: longest(promptIds), completionTokens, fullLogits, checkpointed },
      rows,
      limitBytes: memoryLimitBytes(backend, limitMb, os.freemem()),
      inUseBytes: tf.memory().numBytes,
      limitSource: limitMb > 0 ? 'optimization.memory_limit_mb' : `the ${backend} backend`,
    });
    const key = `${phase} ${rows} ${fit}`;
    if (fit < rows && !this.splitsLogged.has(key)) {
      this.splitsLogged.add(key);
      this.log(`memory: ${phase} runs ${fit} of ${rows} rows at a time (prompts of up to ${longest(promptIds)} tokens + ${completionTokens}) to stay within the memory limit`);
    }
    return fit;
  }

  /**
   * Rows per chunk of validation's exact KL: the policy and the reference score each chunk at once, so a chunk of
   * n completions is 2n scoring rows.
   */
  private klRows(rollouts: Rollouts): number {
    const rows = this.rowsThatFit('scoring', rollouts.promptIds, longest(rollouts.tokens), 2 * rollouts.tokens.length, true);
    return Math.max(1, Math.floor(rows / 2));
  }

  private learningRate(): number {
    const o = this.config.optimization;
    const total = o.max_steps * this.config.algorithm.num_iterations;
    return learningRateAt(this.optimizerSteps, total, o.learning_rate, o.warmup_steps, o.lr_scheduler_type);
  }

  private appendTrace(trace: TokenTrace, perToken: { ratio: number[][]; lowClipped: number[][]; highClipped: number[][]; kl?: number[][] }, entropy: number[][] | null, rows: number[][]): void {
    const entropyRows = entropy ?? rows.map((r) => r.map(() => Number.NaN));
    rows.forEach((row, i) => {
      const n = row.length;
      trace.ratio.push(perToken.ratio[i].slice(0, n));
      trace.lowClipped.push(perToken.lowClipped[i].slice(0, n));
      trace.highClipped.push(perToken.highClipped[i].slice(0, n));
      trace.kl?.push((perToken.kl?.[i] ?? []).slice(0, n));
      trace.entropy.push(entropyRows[i].slice(0, n));
    });
  }

  private completionMetrics(rollouts: Rollouts): Record<string, number> {
    const lengths = rollouts.tokens.map((r) => r.length);
    const terminated = lengths.filter((_, i) => rollouts.finishReasons[i] === 'stop');
    return {
      'completions/mean_length': mean(lengths),
      'completions/min_length': Math.min(...lengths),
      'completions/max_length': Math.max(...lengths),
      'completions/clipped_ratio': 1 - terminated.length / lengths.length,
      'completions/mean_terminated_length': terminated.length ? mean(terminated) : 0,
      ...repetitionMetric(rollouts.tokens),
    };
  }

  private rewardsOf(byFunction: Record<string, number[]>, i: number): Record<string, number> {
    return Object.fromEntries(Object.entries(byFunction).map(([name, values]) => [name, round(values[i])]));
  }

  /** Scores a batch; undefined when a stop abandoned it. Failures beyond the first few are counted, not logged. */
  private async score(rollouts: Rollouts, step: number, shouldStop: () => boolean): Promise<ScoredBatch | undefined> {
    try {
      return await this.rewards.score(rollouts.texts, rollouts.examples, (failure) => this.rewardErrors.report({ ...failure, step }), { completionIds: rollouts.tokens, shouldStop });
    } catch (err) {
      if (err instanceof RewardsCancelled) return undefined;
      throw err;
    } finally {
      this.rewardErrors.flush(step);
    }
  }

  /** Rollout `i`'s record: its true reward (NaN, stored null, where it failed, with the reason). */
  private rolloutRecord(rollouts: Rollouts, i: number, scored: ScoredBatch, advantage: number, tokens?: Partial<TokenColumns>): RolloutRecord {
    const ids = rollouts.tokens[i];
    const error = scored.errors[i];
    return {
      completion: rollouts.texts[i],
      reward: round(scored.totals[i]),
      rewards: this.rewardsOf(scored.byFunction, i),
      // `!= null`: a buffered generation read back from its checkpoint (generation.json) holds null for "no error".
      ...(error != null ? { error } : {}),
      advantage: round(advantage),
      finish_reason: rollouts.finishReasons[i],
      // Per-token columns unrounded (the tensors' float32 values): the sink stores them compactly and exactly, and
      // rounds them as records show them for the observers (src/protocol/tokenBlocks.ts).
      tokens: {
        text: tokenPieces(this.policy.tokenizer, ids, rollouts.promptIds[i]),
        logprob: rollouts.oldLogProbs[i],
        ...tokens,
      },
    };
  }

  private groupRecords(
    rollouts: Rollouts,
    scored: ScoredBatch,
    advantages: number[][],
    refLogProbs: number[][] | undefined,
    trace: TokenTrace,
  ): GroupRecord[] {
    const G = this.config.algorithm.num_generations;
    const groups: GroupRecord[] = [];
    for (let start = 0; start < rollouts.examples.length; start += G) {
      const example = rollouts.examples[start];
      const members: RolloutRecord[] = [];
      for (let i = start; i < start + G; i++) {
        const old = rollouts.oldLogProbs[i];
        members.push(
          this.rolloutRecord(rollouts, i, scored, mean(advantages[i]), {
            // The policy's log-prob after the last pass: old + log ρ (the token block's reader recomputes it so).
            logprob: old.map((lp, t) => policyLogprob(lp, trace.ratio[i][t])),
            old_logprob: old,
            ref_logprob: refLogProbs?.[i],
            advantage: advantages[i],
            ratio: trace.ratio[i],
            clipped_low: trace.lowClipped[i].map((v) => v > 0),
            clipped_high: trace.highClipped[i].map((v) => v > 0),
            kl: trace.kl?.[i],
            entropy: trace.entropy[i],
          }),
        );
      }
      groups.push({ prompt_id: example.id, prompt: example.prompt, ground_truth: example.answer, rollouts: members });
    }
    return groups;
  }
}

/** Length of the longest row (0 for none). */
function longest(rows: number[][]): number {
  return rows.reduce((n, r) => Math.max(n, r.length), 0);
}

/**
 * Lets the event loop run (a Stop or Pause arriving over IPC, a SIGINT). On wasm every await inside a step settles
 * as a microtask, so without this a stop is only seen once the whole warm start or step is over.
 */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function pickByFunction(byFunction: Record<string, number[]>, rows: number[]): Record<string, number[]> {
  return Object.fromEntries(Object.entries(byFunction).map(([name, values]) => [name, rows.map((i) => values[i])]));
}

function concatByFunction(a: Record<string, number[]>, b: Record<string, number[]>): Record<string, number[]> {
  return Object.fromEntries(Object.entries(a).map(([name, values]) => [name, [...values, ...b[name]]]));
}
