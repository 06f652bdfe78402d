/**
 * Training: gradients of a loss over per-token log-probs w.r.t. all policy weights, summed over microbatches
 * (gradient accumulation), clipped by global norm, applied with Adam (optionally AdamW's decoupled weight decay).
 * The optimizer state (moments and step count) can be saved and restored for exact resumption.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { adamUpdate, adamUpdateOnWasm, AdamHyperparameters, AdamStepScalars, globalNorm, globalNormOnWasm } from './adam';
import { onHostBackend, readAndDispose, readInPlace } from './tensorIo';
import { onWasmHeap } from './wasmHeap';
import { LogProbOptions, ResponseBatch, responseLogProbs } from './logprobs';
import { Weights } from './model';
import { GradientWorker } from './parallel';
import type { SamplingReplica } from './sampling';
import { Policy, weightsFromTensors, weightsToTensors } from './policy';
import { readSafetensors, TensorMap, writeSafetensors } from './safetensors';

/**
 * Loss of one microbatch from its per-token log-probs [B, R] (0 at padding), entropies [B, R] when requested (else
 * null) and the response mask [B, R]. Gradients are summed over the microbatches of a step, so a loss meant as a
 * batch mean must be normalised by the caller (e.g. divided by the number of microbatches).
 */
/**
 * A loss over per-token quantities of a microbatch. `logits` [B, R, V] are there when `withLogits` was asked for
 * (and not under data parallelism, which exchanges per-token values only).
 */
export type LossFn = (logProbs: tf.Tensor2D, entropy: tf.Tensor2D | null, responseMask: tf.Tensor2D, logits: tf.Tensor3D | null) => tf.Scalar;

export interface AdamOptions {
  learningRate: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** Decoupled weight decay (AdamW). Default 0. */
  weightDecay?: number;
  /** Clip the accumulated gradients to this global L2 norm; 0 or absent = no clipping. */
  maxGradNorm?: number;
  /**
   * Seed of LoRA dropout's masks (the run's seed). Each training forward draws from (seed, optimizer step,
   * micro-batch), so a resumed run draws the masks the uninterrupted one would have. Default 0.
   */
  dropoutSeed?: number;
  /**
   * Keep only each transformer block's input in a training forward and recompute the block in the backward pass
   * (transformers' `gradient_checkpointing`): activation memory of one block instead of all, for one more forward.
   * Default false.
   */
  gradientCheckpointing?: boolean;
}

export interface StepStats {
  /** Global L2 norm of the accumulated gradients before clipping. */
  gradNorm: number;
  /** Whether clipping scaled the gradients down. */
  clipped: boolean;
  /** Adam steps taken so far, this one included (a skipped step is not counted). */
  step: number;
  /**
   * Set when the step was skipped because the loss or the gradient norm was NaN or ±Inf: the weights and the Adam
   * moments are unchanged and the gradients are dropped. Says which value was not finite.
   */
  skipped?: string;
}

const OPTIMIZER_TENSORS = 'optimizer.safetensors';
const OPTIMIZER_JSON = 'optimizer.json';

export class PolicyTrainer {
  private readonly firstMoment: Weights = new Map();
  private readonly secondMoment: Weights = new Map();
  private readonly accumulated = new Map<string, tf.Tensor>();
  private steps = 0;
  private options: Required<AdamOptions>;
  private worker: GradientWorker | null = null;
  /** Micro-batches accumulated since the last step (LoRA dropout's masks differ per micro-batch). */
  private microbatches = 0;
  /** What trains: all weights, or a LoRA policy's adapters (PEFT names). */
  private readonly trained: Weights;

  constructor(readonly policy: Policy, options: AdamOptions) {
    if (!policy.trainable) throw new Error('cannot train a frozen policy (a reference copy); train the original');
    this.options = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0, maxGradNorm: 0, dropoutSeed: 0, gradientCheckpointing: false, ...options };
    this.trained = policy.trainedWeights();
    for (const [name, w] of this.trained) {
      // In a tidy: tf.variable copies its initial value, which would otherwise stay allocated for good.
      this.firstMoment.set(name, tf.tidy(() => tf.variable(tf.zerosLike(w), false)));
      this.secondMoment.set(name, tf.tidy(() => tf.variable(tf.zerosLike(w), false)));
    }
  }

  get stepCount(): number {
    return this.steps;
  }

  setLearningRate(learningRate: number): void {
    this.options.learningRate = learningRate;
  }

  /**
   * Forward + backward of one microbatch; adds its gradients to the running sum and resolves to the loss value
   * (read with `await data()`, so any backend works). On error (e.g. a throwing loss) nothing is accumulated and no
   * tensor is leaked. Tensors the loss keeps (`tf.keep`) outlive the call: the loss's caller reads and frees them.
   */
  async accumulate(batch: ResponseBatch, loss: LossFn, logProbOptions: LogProbOptions = {}): Promise<number> {
    const options = { ...this.withDropoutSeed(logProbOptions), gradientCheckpointing: this.options.gradientCheckpointing };
    this.policy.releaseCaches(); // not needed by the update, and its peak is the run's
    if (batch.responseIds.every((r) => r.length === 0)) return this.lossWithoutTokens(batch, loss, options);
    // Both halves need response tokens, or one side would have no gradient path at all.
    const half = Math.ceil(batch.promptIds.length / 2);
    const parallel = this.worker !== null && batch.responseIds.slice(0, half).some((r) => r.length > 0) && batch.responseIds.slice(half).some((r) => r.length > 0);
    let result: { value: number; grads: tf.Tensor[] };
    try {
      result = parallel ? this.worker!.lossAndGradients(this.policy, batch, loss, options) : await this.localGradients(batch, loss, options);
    } catch (err) {
      releaseFailedTape();
      throw err;
    }
    [...this.trained.keys()].forEach((name, i) => {
      const grad = result.grads[i];
      const previous = this.accumulated.get(name);
      this.accumulated.set(name, previous ? tf.tidy(() => tf.add(previous, grad)) : grad);
      if (previous) {
        previous.dispose();
        grad.dispose();
      }
    });
    return result.value;
  }

  /** LoRA dropout's seed for the next micro-batch's training forward; unchanged options without dropout. */
  private withDropoutSeed(options: LogProbOptions): LogProbOptions {
    const dropout = this.policy.lora?.settings.lora_dropout ?? 0;
    if (dropout === 0) return options;
    return { ...options, dropoutSeed: `${this.options.dropoutSeed}/${this.steps}/${this.microbatches++}` };
  }

  /**
   * Splits every microbatch of two or more rows between this thread and a worker thread with its own wasm
   * instance (see parallel.ts): the second core computes half of each gradient. Gradients are the same as
   * single-threaded ones up to float rounding. If the policy's weights are changed other than by step(), call
   * weightsChanged() before the next accumulate().
   */
  async enableDataParallel(): Promise<void> {
    // The threads exchange per-token values synchronously inside one tf.variableGrads call.
    if (tf.getBackend() === 'webgpu') throw new Error('data parallelism needs a backend that reads tensors synchronously (wasm, cpu, tensorflow), not webgpu');
    this.worker ??= await GradientWorker.start(this.policy);
  }

  weightsChanged(): void {
    this.worker?.markWeightsStale();
  }

  /**
   * With data parallelism on, the replica as a second sampler of the policy (SampleOptions.replica): it decodes half
   * of the rows of a generation while this thread decodes the other half. Null without it.
   */
  samplingReplica(): SamplingReplica | null {
    return this.worker?.sampler(this.policy) ?? null;
  }

  /** A microbatch without response tokens has no gradient; its loss is still evaluated (on empty tensors). */
  private lossWithoutTokens(batch: ResponseBatch, loss: LossFn, options: LogProbOptions): Promise<number> {
    return readScalar(tf.tidy(() => {
      const out = responseLogProbs(this.policy, batch, options);
      return loss(out.logProbs, out.entropy, out.responseMask, out.logits);
    }));
  }

  private async localGradients(batch: ResponseBatch, loss: LossFn, options: LogProbOptions): Promise<{ value: number; grads: tf.Tensor[] }> {
    const result = tf.variableGrads(() => {
      const out = responseLogProbs(this.policy, batch, options);
      return loss(out.logProbs, out.entropy, out.responseMask, out.logits);
    }, this.policy.variables());
    const grads = this.policy.variables().map((v) => result.grads[v.name]);
    try {
      return { value: await readScalar(result.value), grads };
    } catch (err) {
      tf.dispose(grads);
      throw err;
    }
  }

  /**
   * Clips the accumulated gradients, takes one Adam step and clears the accumulator. A NaN or ±Inf gradient norm (any
   * non-finite gradient element makes the norm non-finite, and so does a float32 overflow of its square), or a
   * non-finite `loss` when the caller passes the step's loss, skips the step instead: one bad batch must not write
   * NaN into every weight and into Adam's moments, from which no later step recovers. Every path that changes
   * weights (GRPO, SFT warm start, data-parallel accumulation) goes through here.
   */
  async step(options: { loss?: number } = {}): Promise<StepStats> {
    if (this.accumulated.size === 0) throw new Error('step() without accumulated gradients: call accumulate() first');
    const { beta1, beta2, maxGradNorm } = this.options;
    const gradNorm = await this.gradientNorm();
    const skipped = nonFiniteReason(options.loss, gradNorm);
    if (skipped) {
      this.clearGradients();
      return { gradNorm, clipped: false, step: this.steps, skipped };
    }
    const clipped = maxGradNorm > 0 && gradNorm > maxGradNorm;
    const scale = clipped ? maxGradNorm / (gradNorm + 1e-6) : 1;
    this.steps++;
    const correction1 = 1 - Math.pow(beta1, this.steps);
    const correction2 = 1 - Math.pow(beta2, this.steps);
    const scalars: AdamStepScalars = { gradScale: scale, correction1, correction2 };
    for (const [name, w] of this.trained) {
      const m = this.firstMoment.get(name)!;
      const v = this.secondMoment.get(name)!;
      const g = this.accumulated.get(name)!;
      if (onHostBackend()) adamOnHost(w, g, m, v, this.options, scalars);
      else adamWithOps(w, g, m, v, this.options, scalars);
    }
    this.clearGradients();
    this.worker?.markWeightsStale();
    return { gradNorm, clipped, step: this.steps };
  }

  /** The global L2 norm of the accumulated gradients (see globalNorm for the host backends' summation). */
  private async gradientNorm(): Promise<number> {
    const grads = [...this.accumulated.values()];
    if (onWasmHeap(...grads)) return globalNormOnWasm(grads);
    if (onHostBackend()) return globalNorm(grads.map(readInPlace));
    // Added one at a time, not tf.addN: webgpu's AddN binds every input to one shader, and more than 7 exceed the 8
    // storage buffers a shader stage may have by default; Dawn then rejects the pipeline and returns garbage silently.
    return readScalar(tf.tidy(() => tf.sqrt(grads.map((g) => tf.sum(tf.mul(g, g))).reduce((total, x) => tf.add(total, x)))));
  }

  /** accumulate() over every microbatch, then step(). Resolves to the summed loss and the step statistics. */
  async trainStep(microbatches: ResponseBatch[], loss: LossFn, options: LogProbOptions = {}): Promise<StepStats & { loss: number }> {
    let total = 0;
    for (const mb of microbatches) total += await this.accumulate(mb, loss, options);
    return { ...(await this.step({ loss: total })), loss: total };
  }

  clearGradients(): void {
    for (const g of this.accumulated.values()) g.dispose();
    this.accumulated.clear();
    this.microbatches = 0;
  }

  /**
   * Moments as checkpoint tensors: under the weights' checkpoint names and layout, or for LoRA under the adapters'
   * PEFT names in compute layout (they are read back only here).
   */
  private async momentTensors(moments: Weights): Promise<TensorMap> {
    if (!this.policy.lora) return weightsToTensors(this.policy.config, moments);
    const out: TensorMap = new Map();
    for (const [name, t] of moments) out.set(name, { shape: t.shape, data: Float32Array.from((await t.data()) as Float32Array) });
    return out;
  }

  private momentsFromTensors(tensors: TensorMap, file: string): Map<string, tf.Tensor> {
    if (!this.policy.lora) return weightsFromTensors(this.policy.config, tensors, file);
    const out = new Map<string, tf.Tensor>();
    for (const [name, w] of this.trained) {
      const t = tensors.get(name);
      if (!t || t.shape.join() !== w.shape.join()) throw new Error(`${file}: no moment '${name}' of shape [${w.shape}] (an optimizer state of another adapter?)`);
      out.set(name, tf.tensor(t.data, t.shape));
    }
    return out;
  }

  /** Writes the Adam moments (under the weights' checkpoint names) and the step count into a folder. */
  async save(dir: string): Promise<void> {
    const tensors = new Map();
    for (const [suffix, moments] of [['exp_avg', this.firstMoment], ['exp_avg_sq', this.secondMoment]] as const) {
      for (const [name, t] of await this.momentTensors(moments)) tensors.set(`${name}.${suffix}`, t);
    }
    writeSafetensors(path.join(dir, OPTIMIZER_TENSORS), tensors);
    fs.writeFileSync(path.join(dir, OPTIMIZER_JSON), JSON.stringify({ step: this.steps, ...this.options }, null, 2));
  }

  /** Restores what save() wrote (moments, step count, hyper-parameters). */
  load(dir: string): void {
    const file = path.join(dir, OPTIMIZER_TENSORS);
    const tensors = readSafetensors(file);
    const meta = JSON.parse(fs.readFileSync(path.join(dir, OPTIMIZER_JSON), 'utf8')) as Required<AdamOptions> & { step: number };
    for (const [suffix, moments] of [['exp_avg', this.firstMoment], ['exp_avg_sq', this.secondMoment]] as const) {
      const renamed = new Map([...tensors].filter(([n]) => n.endsWith('.' + suffix)).map(([n, t]) => [n.slice(0, -suffix.length - 1), t]));
      const loaded = this.momentsFromTensors(renamed, file);
      for (const [name, t] of loaded) {
        moments.get(name)!.assign(t);
        t.dispose();
      }
    }
    const { step, ...options } = meta;
    this.steps = step;
    // Checkpoints written before LoRA have no dropoutSeed.
    this.options = { ...options, dropoutSeed: options.dropoutSeed ?? 0 };
  }

  /** Stops the data-parallel worker, if any (its wasm instance is its own: safe after a trap of this one). */
  stopDataParallel(): void {
    void this.worker?.terminate();
    this.worker = null;
  }

  /** Frees the optimizer state and stops the data-parallel worker, if any. */
  dispose(): void {
    this.stopDataParallel();
    this.clearGradients();
    for (const t of [...this.firstMoment.values(), ...this.secondMoment.values()]) t.dispose();
  }
}

/** One parameter's Adam step on a host backend: one SIMD pass (adam.ts), three new tensors. */
function adamOnHost(w: tf.Variable, g: tf.Tensor, m: tf.Variable, v: tf.Variable, hyper: AdamHyperparameters, step: AdamStepScalars): void {
  let next: tf.Tensor[];
  if (onWasmHeap(w, g, m, v)) {
    next = adamUpdateOnWasm(w, g, m, v, hyper, step);
  } else {
    const values = adamUpdate(readInPlace(w), readInPlace(g), readInPlace(m), readInPlace(v), hyper, step);
    next = [values.weight, values.firstMoment, values.secondMoment].map((x) => tf.tensor(x, w.shape));
  }
  [w, m, v].forEach((variable, i) => {
    variable.assign(next[i]);
    next[i].dispose();
  });
}

/** The same step with tfjs ops, for the backends whose tensors the host cannot read in place (webgpu, tensorflow). */
function adamWithOps(w: tf.Variable, grad: tf.Tensor, m: tf.Variable, v: tf.Variable, hyper: AdamHyperparameters, step: AdamStepScalars): void {
  const { learningRate, beta1, beta2, epsilon, weightDecay } = hyper;
  tf.tidy(() => {
    const g = tf.mul(grad, step.gradScale);
    m.assign(tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)));
    v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.mul(g, g), 1 - beta2)));
    const update = tf.div(tf.div(m, step.correction1), tf.add(tf.sqrt(tf.div(v, step.correction2)), epsilon));
    const decayed = weightDecay > 0 ? tf.mul(w, 1 - learningRate * weightDecay) : w;
    w.assign(tf.sub(decayed, tf.mul(update, learningRate)));
  });
}

/** Why a step must be skipped (`loss NaN`, `grad_norm Infinity`, …), or undefined when both values are finite. */
export function nonFiniteReason(loss: number | undefined, gradNorm: number): string | undefined {
  const bad = [
    ...(loss !== undefined && !Number.isFinite(loss) ? [`loss ${loss}`] : []),
    ...(!Number.isFinite(gradNorm) ? [`grad_norm ${gradNorm}`] : []),
  ];
  return bad.length ? `non-finite ${bad.join(' and ')}` : undefined;
}

/**
 * Supervised fine-tuning loss (warm start): mean negative log-likelihood of the answer tokens given the prompt;
 * prompt tokens are not scored (the batch's prompt/response split is the mask).
 */
export const sftLoss: LossFn = (logProbs, _entropy, responseMask) =>
  tf.neg(tf.div(tf.sum(logProbs), tf.maximum(tf.sum(responseMask), 1))) as tf.Scalar;

/**
 * One SFT step on prompt/answer pairs: the step's stats and the loss value before the update. With `maxRows` below the batch, gradients
 * accumulate over micro-batches of that many rows, each normalised by the whole batch's answer tokens, so the step
 * is that of the whole batch (to float rounding) within the memory of a few rows.
 */
export async function sftStep(trainer: PolicyTrainer, examples: ResponseBatch, maxRows = examples.promptIds.length): Promise<StepStats & { loss: number }> {
  const rows = examples.promptIds.length;
  if (maxRows >= rows) return trainer.trainStep([examples], sftLoss);
  const tokens = Math.max(1, examples.responseIds.reduce((n, r) => n + r.length, 0));
  const microbatches: ResponseBatch[] = [];
  for (let from = 0; from < rows; from += Math.max(1, maxRows)) {
    microbatches.push({ promptIds: examples.promptIds.slice(from, from + maxRows), responseIds: examples.responseIds.slice(from, from + maxRows) });
  }
  const loss: LossFn = (logProbs) => tf.neg(tf.div(tf.sum(logProbs), tokens)) as tf.Scalar;
  return trainer.trainStep(microbatches, loss);
}

/** The value of a scalar tensor, read asynchronously (webgpu cannot read synchronously under Node); disposes it. */
async function readScalar(scalar: tf.Tensor): Promise<number> {
  return (await readAndDispose(scalar))[0];
}

/**
 * A failed tf.variableGrads leaves the gradient tape (and the tensors its nodes saved for the backward pass)
 * alive: hundreds of MB per failure on a real model. Free them so the caller can carry on.
 */
function releaseFailedTape(): void {
  const state = tf.engine().state;
  if (state.gradientDepth !== 0 || !state.activeTape) return;
  for (const node of state.activeTape) for (const t of node.saved ?? []) t.dispose();
  state.activeTape = null as unknown as typeof state.activeTape;
}
