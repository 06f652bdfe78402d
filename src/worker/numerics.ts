/**
 * A fixed model-and-batch computation for comparing backends: the logits of a forward pass, a GRPO clipped loss on
 * the response log-probs, its gradients with respect to every weight, and the losses of a few Adam steps. Every
 * read is `await tensor.data()`, so it runs on webgpu too (which cannot read synchronously under Node). Used by the
 * backend numerics test, `grpo-studio doctor --numerics` and the GPU benchmark.
 */
import * as tf from '@tensorflow/tfjs-core';
import { grpoMicrobatchLoss } from '../grpo';
import { loadPolicy, Policy, responseLogProbs } from '../model';
import type { PresetName, ResponseBatch } from '../model';
import { attentionBias, ForwardInput } from '../model/model';
import { padLayout } from '../model/logprobs';

export interface NumericsResult {
  logits: Float32Array;
  loss: number;
  /** Every weight's gradient, concatenated in the policy's variable order. */
  gradients: Float32Array;
  /** Loss before each of the training steps. */
  stepLosses: number[];
}

export interface NumericsDifference {
  /** max |a − b| / max |b| over the logits. */
  logitsRelative: number;
  lossAbsolute: number;
  gradientsRelative: number;
  stepLossAbsolute: number;
}

/** The issue's tolerances: logits 1e-3 relative, loss 1e-3; gradients are held to the logits' bound. */
export const TOLERANCE = { logitsRelative: 1e-3, lossAbsolute: 1e-3, gradientsRelative: 1e-3, stepLossAbsolute: 1e-3 };

const BATCH = 4;
const PROMPT = 6;
const RESPONSE = 5;
const TRAIN_STEPS = 3;

/** Token ids from a small LCG, avoiding pad and EOS so every row is plain text of fixed length. */
function tokenRows(rows: number, length: number, vocab: number, reserved: Set<number>, seed: number): number[][] {
  let state = seed >>> 0;
  const next = () => {
    do {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    } while (reserved.has(state % vocab));
    return state % vocab;
  };
  return Array.from({ length: rows }, () => Array.from({ length }, next));
}

function batchFor(policy: Policy): ResponseBatch {
  const reserved = new Set([policy.tokenizer.padTokenId, ...policy.config.eosTokenIds]);
  const V = policy.config.vocabSize;
  return { promptIds: tokenRows(BATCH, PROMPT, V, reserved, 11), responseIds: tokenRows(BATCH, RESPONSE, V, reserved, 12) };
}

/** Logits [B·T, V] for every column of prompt + response. */
function allLogits(policy: Policy, batch: ResponseBatch): tf.Tensor2D {
  const layout = padLayout(batch, policy.tokenizer.padTokenId);
  const T = layout.promptWidth + layout.responseWidth;
  const input: ForwardInput = {
    batch: layout.batch,
    length: T,
    ids: tf.tensor2d(layout.tokens, [layout.batch, T], 'int32'),
    positions: layout.positions,
    attentionBias: attentionBias(layout.keyValid, 0, T),
    logitsFrom: 0,
  };
  return policy.logits(input, null);
}

interface LossInputs {
  advantages: tf.Tensor2D;
  oldLogProbs: tf.Tensor2D;
}

/** Fixed advantages, and old log-probs = the initial policy's shifted by a fixed pattern (so some ratios clip). */
function lossInputs(policy: Policy, batch: ResponseBatch): LossInputs {
  return tf.tidy(() => {
    const { logProbs } = responseLogProbs(policy, batch);
    const [B, R] = logProbs.shape;
    const shift = tf.tensor2d(Float32Array.from({ length: B * R }, (_, i) => 0.3 * Math.sin(i)), [B, R]);
    return {
      advantages: tf.tensor2d(Array.from({ length: B }, (_, b) => [b % 2 === 0 ? 1 : -0.5])),
      oldLogProbs: tf.add(logProbs, shift) as tf.Tensor2D,
    };
  });
}

function grpoLoss(policy: Policy, batch: ResponseBatch, inputs: LossInputs): tf.Scalar {
  const { logProbs, responseMask } = responseLogProbs(policy, batch);
  return grpoMicrobatchLoss(logProbs, responseMask, 1, 'grpo_clip', undefined, inputs.advantages, inputs.oldLogProbs, 0.2).loss;
}

async function readAll(tensors: tf.Tensor[]): Promise<Float32Array> {
  const parts = await Promise.all(tensors.map((t) => t.data() as Promise<Float32Array>));
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/**
 * Runs the scenario on the active backend, on a preset (weights from its seeded, host-side initialisation) or on a
 * policy the caller builds (the benchmark's 124 M shape); the policy is disposed at the end either way.
 */
export async function runNumerics(source: PresetName | (() => Policy), seed = 3): Promise<NumericsResult> {
  const policy = typeof source === 'function' ? source() : loadPolicy(source, { seed });
  const batch = batchFor(policy);
  const variables = policy.variables();
  const inputs = lossInputs(policy, batch);
  try {
    const logitsTensor = tf.tidy(() => allLogits(policy, batch));
    const logits = (await logitsTensor.data()) as Float32Array;
    logitsTensor.dispose();
    const { value, grads } = tf.variableGrads(() => grpoLoss(policy, batch, inputs), variables);
    const loss = (await value.data())[0];
    const ordered = variables.map((v) => grads[v.name]);
    const gradients = await readAll(ordered);
    tf.dispose([value, ...ordered]);
    return { logits, loss, gradients, stepLosses: await trainSteps(policy, batch, inputs) };
  } finally {
    tf.dispose([inputs.advantages, inputs.oldLogProbs]);
    policy.dispose();
  }
}

/** A few Adam steps on the same loss; the loss before each step. */
async function trainSteps(policy: Policy, batch: ResponseBatch, inputs: LossInputs): Promise<number[]> {
  const optimizer = tf.train.adam(1e-2);
  const losses: number[] = [];
  try {
    for (let step = 0; step < TRAIN_STEPS; step++) {
      const { value, grads } = tf.variableGrads(() => grpoLoss(policy, batch, inputs), policy.variables());
      optimizer.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
      losses.push((await value.data())[0]);
      tf.dispose([value, ...Object.values(grads)]);
    }
  } finally {
    optimizer.dispose();
  }
  return losses;
}

function maxAbs(xs: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < xs.length; i++) m = Math.max(m, Math.abs(xs[i]));
  return m;
}

function relativeDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`cannot compare ${a.length} values with ${b.length}`);
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
  return diff / Math.max(maxAbs(b), 1e-12);
}

/** How far `result` is from `reference` (the wasm backend's). */
export function compareNumerics(result: NumericsResult, reference: NumericsResult): NumericsDifference {
  return {
    logitsRelative: relativeDifference(result.logits, reference.logits),
    lossAbsolute: Math.abs(result.loss - reference.loss),
    gradientsRelative: relativeDifference(result.gradients, reference.gradients),
    stepLossAbsolute: maxAbs(result.stepLosses.map((l, i) => l - reference.stepLosses[i])),
  };
}

/** Names of the measures over their tolerance (empty: agrees). */
export function outOfTolerance(difference: NumericsDifference): string[] {
  return (Object.keys(TOLERANCE) as (keyof NumericsDifference)[]).filter((k) => !(difference[k] <= TOLERANCE[k]));
}
