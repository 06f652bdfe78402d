/**
 * Entry point of the data-parallel gradient worker (see parallel.ts): its own wasm instance, a replica of the
 * weights, and per task the forward pass of its rows, the handshake for the loss gradient, and the backward pass;
 * while the main instance samples, the forward passes of half of the rows (with a KV cache of their own).
 */
import { parentPort, workerData } from 'worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { useMatrixProducts } from './kernels';
import { responseLogProbs } from './logprobs';
import { LoraAdapters, peftTensorNames } from './lora';
import { CausalLM, disposeCache, emptyCache, KVCache, partsHeadInput } from './model';
import { Handshake, Phase, ReplicaMessage, SampleTask, WorkerInit, WorkerTask } from './parallel';
import { familyOf } from './policy';
import { stepInput } from './sampling';
import { startSingleThreadedWasm } from './wasmFiles';

const init = workerData as WorkerInit;
const handshake = new Handshake(new Int32Array(init.control));
const sharedWeights = new Float32Array(init.weights);
const sharedGrads = new Float32Array(init.grads);
/** The trained tensors, by name: all weights, or the LoRA adapters (PEFT names). */
const variables: tf.Variable[] = [];
const trained = new Map<string, tf.Variable>();
/** The model's weights: the trained ones, or a LoRA run's frozen base. */
let weights = trained;
let adapters: LoraAdapters | null = null;

const model: CausalLM = {
  config: init.config,
  padTokenId: init.padTokenId,
  logits: (input, cache) => familyOf(init.config).forward(weights, init.config, input, cache, adapters),
  headInput: (input) => partsHeadInput(familyOf(init.config), weights, init.config, input, adapters),
};

/** Variables from a flat float32 buffer laid out as `names`/`shapes`; existing ones are assigned in place. */
function loadInto(target: Map<string, tf.Variable>, names: string[], shapes: number[][], buffer: Float32Array, trainable: boolean): void {
  let offset = 0;
  names.forEach((name, i) => {
    const size = shapes[i].reduce((a, b) => a * b, 1);
    const value = tf.tensor(buffer.slice(offset, offset + size), shapes[i]);
    offset += size;
    const existing = target.get(name);
    if (existing) {
      existing.assign(value);
      value.dispose();
    } else {
      const v = tf.variable(value, trainable, `worker/${name}`);
      value.dispose();
      if (trainable) variables.push(v);
      target.set(name, v);
    }
  });
}

function loadWeights(): void {
  loadInto(trained, init.names, init.shapes, sharedWeights, true);
}

/** A LoRA replica: its frozen base once, and adapters made of the trained variables. */
function setUpLora(lora: NonNullable<WorkerInit['lora']>): void {
  weights = new Map();
  loadInto(weights, lora.names, lora.shapes, new Float32Array(lora.weights), false);
  const modules = new Map(lora.targets.map((module) => {
    const names = peftTensorNames(module.name);
    return [module.name, { module, A: trained.get(names.A)!, B: trained.get(names.B)! }];
  }));
  adapters = new LoraAdapters(lora.settings, modules, true);
}

class Aborted extends Error {}

/** The KV cache of the generation the replica samples rows of (parallel.ts's sampler). */
let sampleCache: KVCache | null = null;

function endSampling(): void {
  if (sampleCache) disposeCache(sampleCache);
  sampleCache = null;
}

/** The forward pass of this replica's rows in one sampling step: the same kernels as the main instance's. */
function sample(task: SampleTask): void {
  const control = new Int32Array(task.control);
  try {
    if (task.first) {
      endSampling();
      if (task.reloadWeights) loadWeights();
      sampleCache = emptyCache(init.config.nLayers, task.capacity);
    }
    if (!sampleCache) throw new Error('a sampling step without its generation\'s first step');
    const cache = sampleCache;
    const logits = tf.tidy(() => model.logits(stepInput(task.step), cache));
    new Float32Array(task.logits).set(logits.dataSync());
    logits.dispose();
    Atomics.store(control, 0, task.seq);
  } catch (err) {
    endSampling();
    const error = new Uint8Array(task.error);
    error.fill(0);
    new TextEncoder().encodeInto((err as Error).message, error.subarray(0, error.length - 4));
    Atomics.store(control, 0, -1);
  }
  Atomics.notify(control, 0);
}

function run(task: WorkerTask): void {
  if (task.reloadWeights) loadWeights();
  const shared = new Float32Array(task.exchange);
  const rows = task.batch.promptIds.length;
  const width = Math.max(0, ...task.batch.responseIds.map((r) => r.length));
  const cells = rows * width;
  const result = tf.variableGrads(() => {
    const out = responseLogProbs(model, task.batch, task.options);
    shared.set(out.logProbs.dataSync(), 0);
    if (out.entropy) shared.set(out.entropy.dataSync(), cells);
    if (!handshake.advance(task.id, Phase.Idle, Phase.ForwardDone)) throw new Aborted();
    if (!handshake.waitFor(task.id, Phase.GradientReady, Phase.ForwardDone)) throw new Aborted();
    let surrogate = tf.sum(tf.mul(out.logProbs, tf.tensor2d(shared.slice(2 * cells, 3 * cells), [rows, width])));
    if (out.entropy) surrogate = tf.add(surrogate, tf.sum(tf.mul(out.entropy, tf.tensor2d(shared.slice(3 * cells, 4 * cells), [rows, width]))));
    return surrogate as tf.Scalar;
  }, variables);
  let offset = 0;
  for (const v of variables) {
    sharedGrads.set(result.grads[v.name].dataSync(), offset);
    offset += v.size;
  }
  tf.dispose([result.value, ...Object.values(result.grads)]);
  handshake.advance(task.id, Phase.GradientReady, Phase.GradsDone);
}

/** A failed variableGrads keeps its tape; drop it (same as train.ts) so the worker stays usable. */
function releaseFailedTape(): void {
  const state = tf.engine().state;
  if (state.gradientDepth !== 0 || !state.activeTape) return;
  for (const node of state.activeTape) for (const t of node.saved ?? []) t.dispose();
  state.activeTape = null as unknown as typeof state.activeTape;
}

startSingleThreadedWasm()
  .then(() => {
    if (init.matrixProducts) useMatrixProducts(init.matrixProducts);
    loadWeights();
    if (init.lora) setUpLora(init.lora);
    parentPort!.on('message', (task: ReplicaMessage) => {
      if (task.kind === 'sample') return sample(task);
      if (task.kind === 'sample-end') return endSampling();
      // A task aborted or superseded before it started is skipped.
      if (!handshake.isCurrent(task.id, Phase.Idle)) return;
      try {
        run(task);
      } catch (err) {
        releaseFailedTape();
        if (err instanceof Aborted) return;
        parentPort!.postMessage({ error: (err as Error).message });
        [Phase.Idle, Phase.ForwardDone, Phase.GradientReady].some((from) => handshake.advance(task.id, from, Phase.Failed));
      }
    });
    parentPort!.postMessage({ ready: true });
  })
  .catch((err: Error) => parentPort!.postMessage({ error: err.message }));
