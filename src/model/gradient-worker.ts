/**
 * Entry point of the data-parallel gradient worker (see parallel.ts): its own wasm instance, a replica of the
 * weights, and per task the forward pass of its rows, the handshake for the loss gradient, and the backward pass.
 */
import { parentPort, workerData } from 'worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../worker/backend';
import './kernels';
import { responseLogProbs } from './logprobs';
import { CausalLM } from './model';
import { Phase, WorkerInit, WorkerTask } from './parallel';
import { familyOf } from './policy';

const init = workerData as WorkerInit;
const control = new Int32Array(init.control);
const sharedWeights = new Float32Array(init.weights);
const sharedGrads = new Float32Array(init.grads);
const variables: tf.Variable[] = [];
const weights = new Map<string, tf.Variable>();

const model: CausalLM = {
  config: init.config,
  padTokenId: init.padTokenId,
  logits: (input, cache) => familyOf(init.config).forward(weights, init.config, input, cache),
};

function loadWeights(): void {
  let offset = 0;
  init.names.forEach((name, i) => {
    const size = init.shapes[i].reduce((a, b) => a * b, 1);
    const value = tf.tensor(sharedWeights.slice(offset, offset + size), init.shapes[i]);
    offset += size;
    const existing = weights.get(name);
    if (existing) {
      existing.assign(value);
      value.dispose();
    } else {
      const v = tf.variable(value, true, `worker/${name}`);
      value.dispose();
      variables.push(v);
      weights.set(name, v);
    }
  });
}

function waitForGradient(): void {
  for (;;) {
    const now = Atomics.load(control, 0);
    if (now === Phase.GradientReady) return;
    if (now === Phase.Aborted) throw new Error('aborted by the main thread');
    Atomics.wait(control, 0, now, 100);
  }
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
    Atomics.store(control, 0, Phase.ForwardDone);
    Atomics.notify(control, 0);
    waitForGradient();
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
  Atomics.store(control, 0, Phase.GradsDone);
  Atomics.notify(control, 0);
}

/** A failed variableGrads keeps its tape; drop it (same as train.ts) so the worker stays usable. */
function releaseFailedTape(): void {
  const state = tf.engine().state;
  if (state.gradientDepth !== 0 || !state.activeTape) return;
  for (const node of state.activeTape) for (const t of node.saved ?? []) t.dispose();
  state.activeTape = null as unknown as typeof state.activeTape;
}

selectBackend('wasm')
  .then(() => {
    loadWeights();
    parentPort!.on('message', (task: WorkerTask) => {
      try {
        run(task);
      } catch (err) {
        releaseFailedTape();
        if (Atomics.load(control, 0) !== Phase.Aborted) {
          Atomics.store(control, 0, Phase.Failed);
          Atomics.notify(control, 0);
          parentPort!.postMessage({ error: (err as Error).message });
        }
      }
    });
    parentPort!.postMessage({ ready: true });
  })
  .catch((err: Error) => parentPort!.postMessage({ error: err.message }));
