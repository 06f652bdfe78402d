/**
 * Data-parallel gradients on a second core (`optimization.data_parallel`): a worker_thread runs its own
 * single-threaded wasm instance with a replica of the weights and computes the gradient of half of each microbatch.
 * The alternative, and the default, is one instance whose matrix products run on a thread pool (wasmThreads.ts);
 * this one parallelises every kernel of the step, not only the products; while sampling, the replica decodes half of
 * the rows (sampler()).
 *
 * The loss is a closure of the caller and cannot cross threads, but it only depends on the per-token log-probs
 * and entropies. So, per microbatch:
 *   1. main and worker each run the forward pass of their half (in parallel);
 *   2. the worker shares its log-probs/entropies; main evaluates the loss on the whole microbatch as constants and
 *      takes its gradient G w.r.t. them (cheap: no model involved);
 *   3. each side back-propagates the surrogate Σ logProbs·G (+ Σ entropy·G_entropy) through its half (in
 *      parallel); by the chain rule these are exactly the gradients of the loss;
 *   4. main adds the worker's weight gradients to its own.
 * The handshake inside one tf.variableGrads call is synchronous (Atomics.wait on shared memory), so no tape has to
 * outlive a function call. Weights travel once per optimizer step through shared memory.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Worker } from 'worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { ModelConfig } from './config';
import { MatrixProducts, matrixProducts } from './kernels';
import { LogProbOptions, ResponseBatch, responseLogProbs } from './logprobs';
import type { LinearModule, LoraAdapters, LoraSettings } from './lora';
import { Policy } from './policy';
import type { RowsStep, SamplingReplica } from './sampling';
import type { LossFn } from './train';

/** Phases of one task's handshake. */
export const enum Phase {
  Idle = 0,
  ForwardDone = 1,
  GradientReady = 2,
  GradsDone = 3,
  Failed = 4,
  Aborted = 5,
}

/**
 * The shared state word: task id · 8 + phase. Task and phase live in one atomic word so that a compare-exchange
 * can never advance a phase of a task that was aborted or superseded meanwhile (a late worker must not answer the
 * next task's wait with the previous task's data).
 */
export class Handshake {
  constructor(private readonly word: Int32Array) {}

  static encode(task: number, phase: Phase): number {
    return (task % 0x8000000) * 8 + phase;
  }

  /** Sets the state unconditionally (main: start or abort a task). */
  set(task: number, phase: Phase): void {
    Atomics.store(this.word, 0, Handshake.encode(task, phase));
    Atomics.notify(this.word, 0);
  }

  /** from → to for this task; false when the state is no longer `from` (the task was aborted or superseded). */
  advance(task: number, from: Phase, to: Phase): boolean {
    const expected = Handshake.encode(task, from);
    const ok = Atomics.compareExchange(this.word, 0, expected, Handshake.encode(task, to)) === expected;
    if (ok) Atomics.notify(this.word, 0);
    return ok;
  }

  /**
   * Blocks until the state is (task, phase). Returns false as soon as it is anything but that or (task, before),
   * and also after timeoutMs.
   */
  waitFor(task: number, phase: Phase, before: Phase, timeoutMs = Infinity): boolean {
    const target = Handshake.encode(task, phase);
    const waiting = Handshake.encode(task, before);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const now = Atomics.load(this.word, 0);
      if (now === target) return true;
      if (now !== waiting || Date.now() > deadline) return false;
      Atomics.wait(this.word, 0, now, WAIT_SLICE_MS);
    }
  }

  isCurrent(task: number, phase: Phase): boolean {
    return Atomics.load(this.word, 0) === Handshake.encode(task, phase);
  }
}

export interface WorkerInit {
  config: ModelConfig;
  padTokenId: number;
  /** The trained tensors (all weights, or a LoRA policy's adapters under PEFT names), reloaded after every step. */
  names: string[];
  shapes: number[][];
  weights: SharedArrayBuffer;
  grads: SharedArrayBuffer;
  control: SharedArrayBuffer;
  /** A LoRA policy's frozen base weights, copied once, and what the adapters are. */
  lora: { settings: LoraSettings; targets: LinearModule[]; names: string[]; shapes: number[][]; weights: SharedArrayBuffer } | null;
  /** The main instance's kernel for matrix products, which the replica uses too (kernels.ts); null off wasm. */
  matrixProducts: MatrixProducts | null;
}

export interface WorkerTask {
  kind: 'gradients';
  id: number;
  batch: ResponseBatch;
  options: LogProbOptions;
  /** Reload the weights from shared memory first (they changed since the last task). */
  reloadWeights: boolean;
  /** [4 · B · R] floats: log-probs, entropies (worker → main), then their gradients (main → worker). */
  exchange: SharedArrayBuffer;
}

/**
 * The replica's part of a sampling step (sampling.ts): its rows' forward pass, the logits into `logits`, then
 * `control` set to `seq` (or −1 when it failed).
 */
export interface SampleTask {
  kind: 'sample';
  seq: number;
  step: RowsStep;
  /** A new generation: drop the previous cache, make one for `capacity` tokens, reload the weights if asked. */
  first: boolean;
  capacity: number;
  reloadWeights: boolean;
  logits: SharedArrayBuffer;
  control: SharedArrayBuffer;
  /** Where a failure's message goes (UTF-8, zero-padded): the main thread waits blocked and cannot take a message. */
  error: SharedArrayBuffer;
}

/** The generation is over: the replica drops its cache. */
export interface SampleEndTask {
  kind: 'sample-end';
}

export type ReplicaMessage = WorkerTask | SampleTask | SampleEndTask;

const WAIT_SLICE_MS = 100;
/** Bytes for a sampling failure's message. */
export const SAMPLE_ERROR_BYTES = 1024;
/** A worker that has not answered in this long is considered lost (the main thread cannot see its exit events). */
const WORKER_TIMEOUT_MS = 15 * 60 * 1000;

/** The worker script: bundled next to this file as model-gradient-worker.js, else the TypeScript source via tsx. */
function workerScript(): { file: string; execArgv: string[] } {
  const bundled = path.join(__dirname, 'model-gradient-worker.js');
  if (fs.existsSync(bundled)) return { file: bundled, execArgv: [] };
  return { file: path.join(__dirname, 'gradient-worker.ts'), execArgv: ['--require', require.resolve('tsx/cjs')] };
}

export class GradientWorker {
  private readonly handshake: Handshake;
  private task = 0;
  private readonly weights: Float32Array;
  private readonly grads: Float32Array;
  private weightsStale = false;
  private failure: Error | null = null;

  private constructor(private readonly worker: Worker, init: WorkerInit) {
    this.handshake = new Handshake(new Int32Array(init.control));
    this.weights = new Float32Array(init.weights);
    this.grads = new Float32Array(init.grads);
    worker.on('error', (err) => (this.failure = err));
    worker.on('message', (msg: { error?: string }) => {
      if (msg.error) this.failure = new Error(`gradient worker: ${msg.error}`);
    });
  }

  /** Starts a worker with a copy of the policy's weights; resolves once its wasm backend is ready. */
  static async start(policy: Policy): Promise<GradientWorker> {
    const variables = policy.variables();
    const total = variables.reduce((n, v) => n + v.size, 0);
    const init: WorkerInit = {
      config: policy.config,
      padTokenId: policy.padTokenId,
      names: [...policy.trainedWeights().keys()],
      shapes: variables.map((v) => v.shape),
      weights: new SharedArrayBuffer(total * 4),
      grads: new SharedArrayBuffer(total * 4),
      control: new SharedArrayBuffer(4),
      lora: policy.lora ? frozenBase(policy, policy.lora) : null,
      matrixProducts: tf.getBackend() === 'wasm' ? matrixProducts() : null,
    };
    const { file, execArgv } = workerScript();
    // The replica is the second core's work: a thread pool of its own would compete with the main instance's.
    const worker = new Worker(file, { workerData: init, execArgv });
    const pool = new GradientWorker(worker, init);
    pool.writeWeights(policy);
    await new Promise<void>((resolve, reject) => {
      worker.once('message', (msg: { ready?: boolean; error?: string }) => (msg.ready ? resolve() : reject(new Error(`gradient worker: ${msg.error}`))));
      worker.once('error', reject);
    });
    return pool;
  }

  /** The weights changed (an optimizer step): the worker reloads them before its next task. */
  markWeightsStale(): void {
    this.weightsStale = true;
  }

  /**
   * Gradients of `loss` over the whole batch, the second half (rows from ⌈B/2⌉ on) computed by the worker; both
   * halves must hold response tokens. Returns the loss value and the weight gradients in policy.variables() order
   * (caller disposes).
   */
  lossAndGradients(
    policy: Policy, batch: ResponseBatch, loss: LossFn, options: LogProbOptions,
  ): { value: number; grads: tf.Tensor[] } {
    if (this.failure) throw this.failure;
    const split = Math.ceil(batch.promptIds.length / 2);
    const mine = { promptIds: batch.promptIds.slice(0, split), responseIds: batch.responseIds.slice(0, split) };
    const theirs = { promptIds: batch.promptIds.slice(split), responseIds: batch.responseIds.slice(split) };
    const width = Math.max(0, ...batch.responseIds.map((r) => r.length));
    const theirWidth = Math.max(0, ...theirs.responseIds.map((r) => r.length));
    const cells = theirs.promptIds.length * theirWidth;
    const exchange = new SharedArrayBuffer(Math.max(1, 4 * cells) * 4);
    if (this.weightsStale) this.writeWeights(policy);
    const id = ++this.task;
    this.handshake.set(id, Phase.Idle);
    // The replica's rows draw LoRA dropout masks of their own.
    const theirOptions = options.dropoutSeed === undefined ? options : { ...options, dropoutSeed: `${options.dropoutSeed}/replica` };
    const task: WorkerTask = { kind: 'gradients', id, batch: theirs, options: theirOptions, reloadWeights: this.weightsStale, exchange };
    this.weightsStale = false;
    this.worker.postMessage(task);

    const shared = new Float32Array(exchange);
    let value = NaN;
    let result: { value: tf.Scalar; grads: tf.NamedTensorMap };
    try {
      result = tf.variableGrads(() => {
        const out = responseLogProbs(policy, mine, options);
        this.waitFor(id, Phase.ForwardDone, Phase.Idle);
        const withEntropy = out.entropy !== null;
        // Intermediates here are freed by variableGrads' own scope.
        const join = (own: tf.Tensor2D, offset: number) =>
          tf.concat([padColumns(own, width), padColumns(tf.tensor2d(shared.subarray(offset, offset + cells), [theirs.promptIds.length, theirWidth]), width)], 0) as tf.Tensor2D;
        const mask = tf.tensor2d(batch.responseIds.map((r) => Array.from({ length: width }, (_, j) => (j < r.length ? 1 : 0))), [batch.responseIds.length, width]);
        const full = { lp: join(out.logProbs, 0), ent: withEntropy ? join(out.entropy!, cells) : null, mask };
        // Loss and its gradient w.r.t. the (constant) per-token inputs of the whole microbatch.
        const inputs = withEntropy ? [full.lp, full.ent!] : [full.lp];
        // A loss that ignores the entropy (most do) still needs a path to it, or valueAndGrads refuses: + 0·Σ entropy.
        const lossOf = (...xs: tf.Tensor[]) => {
          const value = loss(xs[0] as tf.Tensor2D, (xs[1] as tf.Tensor2D) ?? null, full.mask, null);
          return (withEntropy ? tf.add(value, tf.mul(tf.sum(xs[1]), 0)) : value) as tf.Scalar;
        };
        const { value: lossValue, grads } = tf.valueAndGrads(lossOf)(inputs);
        value = lossValue.dataSync()[0];
        const G = grads.map((g) => g.dataSync() as Float32Array);
        // Hand the worker its rows of G, then back-propagate ours.
        G.forEach((g, k) => copyRows(g, width, split, theirs.promptIds.length, theirWidth, shared, (2 + k) * cells));
        if (!this.handshake.advance(id, Phase.ForwardDone, Phase.GradientReady)) throw new Error('gradient worker left the handshake');
        const mineRows = (g: Float32Array) => tf.slice(tf.tensor2d(g, [batch.promptIds.length, width]), [0, 0], [split, out.logProbs.shape[1]]);
        let surrogate = tf.sum(tf.mul(out.logProbs, mineRows(G[0])));
        if (withEntropy) surrogate = tf.add(surrogate, tf.sum(tf.mul(out.entropy!, mineRows(G[1]))));
        return surrogate as tf.Scalar;
      }, policy.variables());
    } catch (err) {
      // Releases a worker that waits for G, and makes a late one skip this task.
      this.handshake.set(id, Phase.Aborted);
      throw err;
    }
    result.value.dispose();
    try {
      this.waitFor(id, Phase.GradsDone, Phase.GradientReady);
    } catch (err) {
      tf.dispose(Object.values(result.grads));
      throw err;
    }
    let offset = 0;
    const grads = policy.variables().map((v) => {
      const own = result.grads[v.name];
      const sum = tf.tidy(() => tf.add(own, tf.tensor(this.grads.slice(offset, offset + v.size), v.shape)));
      own.dispose();
      offset += v.size;
      return sum;
    });
    return { value, grads };
  }

  /**
   * The replica as a second sampler for `policy` (the policy it replicates): it runs the forward passes of some rows
   * of a generation while this thread runs the others (sampling.ts).
   */
  sampler(policy: Policy): SamplingReplica {
    const control = new Int32Array(new SharedArrayBuffer(4));
    const error = new Uint8Array(new SharedArrayBuffer(SAMPLE_ERROR_BYTES));
    let logits = new SharedArrayBuffer(4);
    let seq = 0;
    return {
      start: (step, first, capacity) => {
        if (this.failure) throw this.failure;
        const reloadWeights = first && this.weightsStale;
        if (reloadWeights) {
          this.writeWeights(policy);
          this.weightsStale = false;
        }
        const floats = step.tokens.length * policy.config.vocabSize;
        if (logits.byteLength < floats * 4) logits = new SharedArrayBuffer(floats * 4);
        const id = ++seq;
        Atomics.store(control, 0, 0);
        const task: SampleTask = { kind: 'sample', seq: id, step, first, capacity, reloadWeights, logits, control: control.buffer as SharedArrayBuffer, error: error.buffer as SharedArrayBuffer };
        this.worker.postMessage(task);
        const buffer = logits;
        return () => {
          this.waitForSample(control, error, id);
          return new Float32Array(buffer, 0, floats).slice();
        };
      },
      finish: () => this.worker.postMessage({ kind: 'sample-end' } satisfies SampleEndTask),
    };
  }

  /** Blocks until the replica has written the logits of sampling step `seq`. */
  private waitForSample(control: Int32Array, error: Uint8Array, seq: number): void {
    const deadline = Date.now() + WORKER_TIMEOUT_MS;
    for (;;) {
      const now = Atomics.load(control, 0);
      if (now === seq) return;
      if (now === -1) {
        const message = new TextDecoder().decode(error.slice()).replace(/\0+$/, '');
        throw new Error(`the data-parallel replica failed while sampling: ${message || 'no message'}`);
      }
      if (Date.now() > deadline) throw new Error(`the data-parallel replica did not answer within ${WORKER_TIMEOUT_MS / 60000} minutes`);
      Atomics.wait(control, 0, now, WAIT_SLICE_MS);
    }
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }

  private writeWeights(policy: Policy): void {
    let offset = 0;
    for (const v of policy.variables()) {
      this.weights.set(v.dataSync() as Float32Array, offset);
      offset += v.size;
    }
  }

  /** Blocks until the worker moves this task from `before` to `phase`; throws if it failed or did not answer. */
  private waitFor(id: number, phase: Phase, before: Phase): void {
    if (this.handshake.waitFor(id, phase, before, WORKER_TIMEOUT_MS)) return;
    if (this.handshake.isCurrent(id, Phase.Failed)) throw this.failure ?? new Error('gradient worker failed (see its error event)');
    throw new Error(`gradient worker did not answer within ${WORKER_TIMEOUT_MS / 60000} minutes`);
  }
}

/** A LoRA policy's base weights in shared memory: the replica's copy, made once (they never change). */
function frozenBase(policy: Policy, lora: LoraAdapters): NonNullable<WorkerInit['lora']> {
  const base = [...policy.weights];
  const weights = new SharedArrayBuffer(base.reduce((n, [, w]) => n + w.size, 0) * 4);
  const view = new Float32Array(weights);
  let offset = 0;
  for (const [, w] of base) {
    view.set(w.dataSync() as Float32Array, offset);
    offset += w.size;
  }
  return {
    settings: lora.settings,
    targets: [...lora.modules.values()].map((m) => m.module),
    names: base.map(([name]) => name),
    shapes: base.map(([, w]) => w.shape),
    weights,
  };
}

/** [B, w] → [B, width] with zero columns on the right. */
function padColumns(x: tf.Tensor2D, width: number): tf.Tensor2D {
  const w = x.shape[1];
  return w === width ? x : (tf.pad(x, [[0, 0], [0, width - w]]) as tf.Tensor2D);
}

/** Rows [first, first + rows) of a [*, width] matrix, cut to `cols` columns, into `dst` at `offset`. */
function copyRows(src: Float32Array, width: number, first: number, rows: number, cols: number, dst: Float32Array, offset: number): void {
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) dst[offset + r * cols + c] = src[(first + r) * width + c];
  }
}
