/**
 * Per-token log-probabilities of given responses under teacher forcing (CS336 `get_response_log_probs`), batched
 * with padding. Rows are laid out as [left padding, prompt, response, right padding], so response token j of every
 * row sits in the same column and the logits are computed for the response columns only.
 */
import * as tf from '@tensorflow/tfjs-core';
import { pickTargets } from './fused';
import { headLogProbs } from './headLogProbs';
import { attentionBias, CausalLM, ForwardInput } from './model';

export interface ResponseBatch {
  /** Prompt token ids per row (unpadded, at least one token each). */
  promptIds: number[][];
  /** Response token ids per row (unpadded, may be empty). */
  responseIds: number[][];
}

export interface ResponseLogProbs {
  /** log π(response token | prefix) [B, R], 0 at padded positions; R = longest response. */
  logProbs: tf.Tensor2D;
  /** 1 for response tokens, 0 for padding [B, R]. */
  responseMask: tf.Tensor2D;
  /** Entropy of the next-token distribution at each response position [B, R] (0 at padding), when asked for. */
  entropy: tf.Tensor2D | null;
  /** Temperature-scaled logits at each response position [B, R, V], when asked for (the exact KL needs them). */
  logits: tf.Tensor3D | null;
}

export interface LogProbOptions {
  /** Also return per-token entropy. */
  withEntropy?: boolean;
  /** Also return the full logits [B, R, V] (memory grows with the vocabulary: only for the exact KL). */
  withLogits?: boolean;
  /** Divide logits by this before the softmax (match the sampling temperature). Default 1. */
  temperature?: number;
  /** LoRA dropout's seed for this training forward (PolicyTrainer sets it); absent: no dropout. */
  dropoutSeed?: string;
  /** Recompute each block's activations in the backward pass instead of keeping them (ForwardInput.checkpointBlocks). */
  gradientCheckpointing?: boolean;
}

/** Padded token layout of a batch, on the host. */
export interface PaddedLayout {
  batch: number;
  promptWidth: number;
  responseWidth: number;
  /** [B, P + R] token ids, pad id where keyValid is false. */
  tokens: number[][];
  keyValid: boolean[][];
  /** Absolute positions [B·(P + R)], counting real tokens only (HF: cumsum(attention_mask) − 1). */
  positions: Int32Array;
}

export function padLayout(batch: ResponseBatch, padId: number): PaddedLayout {
  const B = batch.promptIds.length;
  if (batch.responseIds.length !== B) throw new Error(`responseIds has ${batch.responseIds.length} rows, promptIds has ${B}`);
  batch.promptIds.forEach((p, i) => {
    if (p.length === 0) throw new Error(`prompt ${i} is empty: every row needs at least one prompt token`);
  });
  const P = Math.max(...batch.promptIds.map((p) => p.length));
  const R = Math.max(0, ...batch.responseIds.map((r) => r.length));
  const tokens: number[][] = [];
  const keyValid: boolean[][] = [];
  const positions = new Int32Array(B * (P + R));
  for (let b = 0; b < B; b++) {
    const prompt = batch.promptIds[b];
    const response = batch.responseIds[b];
    const left = P - prompt.length;
    const right = R - response.length;
    tokens.push([...new Array<number>(left).fill(padId), ...prompt, ...response, ...new Array<number>(right).fill(padId)]);
    keyValid.push([...new Array<boolean>(left).fill(false), ...new Array<boolean>(prompt.length + response.length).fill(true), ...new Array<boolean>(right).fill(false)]);
    let seen = 0;
    for (let t = 0; t < P + R; t++) {
      positions[b * (P + R) + t] = keyValid[b][t] ? seen++ : 0;
    }
  }
  return { batch: B, promptWidth: P, responseWidth: R, tokens, keyValid, positions };
}

/** Teacher-forcing input: all columns but the last; logits from the column that predicts the first response token. */
function teacherForcingInput(layout: PaddedLayout): ForwardInput {
  const { batch: B, promptWidth: P, responseWidth: R } = layout;
  const T = P + R - 1;
  const positions = new Int32Array(B * T);
  for (let b = 0; b < B; b++) positions.set(layout.positions.subarray(b * (P + R), b * (P + R) + T), b * T);
  return {
    batch: B,
    length: T,
    ids: tf.tensor2d(layout.tokens.map((row) => row.slice(0, T)), [B, T], 'int32'),
    positions,
    attentionBias: attentionBias(layout.keyValid, 0, T),
    logitsFrom: P - 1,
  };
}

/**
 * Log-probs (and optionally entropies) of each response token given its prompt and the response prefix.
 * Differentiable w.r.t. the policy weights; call inside tf.tidy or dispose the result.
 */
export function responseLogProbs(policy: CausalLM, batch: ResponseBatch, options: LogProbOptions = {}): ResponseLogProbs {
  const layout = padLayout(batch, policy.padTokenId);
  const { batch: B, responseWidth: R } = layout;
  const mask = new Float32Array(B * R);
  const targets = new Int32Array(B * R);
  batch.responseIds.forEach((response, b) => response.forEach((id, j) => {
    mask[b * R + j] = 1;
    targets[b * R + j] = id;
  }));
  if (R === 0) {
    return {
      logProbs: tf.zeros([B, 0]),
      responseMask: tf.zeros([B, 0]),
      entropy: options.withEntropy ? tf.zeros([B, 0]) : null,
      logits: options.withLogits ? tf.zeros([B, 0, policy.config.vocabSize]) : null,
    };
  }
  const vocab = policy.config.vocabSize;
  const kept = tf.tidy(() => {
    const input = { ...teacherForcingInput(layout), dropoutSeed: options.dropoutSeed, checkpointBlocks: options.gradientCheckpointing };
    // Without a request for the logits themselves, the head is fused with the log-softmax (headLogProbs.ts).
    const parts = options.withLogits ? null : policy.headInput?.(input) ?? null;
    if (parts) {
      const responseMask = tf.tensor2d(mask, [B, R]);
      const fused = headLogProbs(parts.hidden, parts.head, { targets, temperature: options.temperature ?? 1, withEntropy: options.withEntropy ?? false });
      const masked = (t: tf.Tensor1D) => tf.mul(tf.reshape(t, [B, R]), responseMask) as tf.Tensor2D;
      return { logProbs: masked(fused.logProbs), responseMask, entropy: fused.entropy ? masked(fused.entropy) : undefined, logits: undefined };
    }
    let logits: tf.Tensor = policy.logits(input, null);
    const temperature = options.temperature ?? 1;
    if (temperature !== 1) logits = tf.div(logits, temperature);
    const logp = tf.logSoftmax(logits);
    const responseMask = tf.tensor2d(mask, [B, R]);
    const picked = pickTargets(logp as tf.Tensor2D, targets);
    const logProbs = tf.mul(tf.reshape(picked, [B, R]), responseMask) as tf.Tensor2D;
    const entropy = options.withEntropy ? (tf.mul(tf.reshape(tf.neg(tf.sum(tf.mul(tf.exp(logp), logp), -1)), [B, R]), responseMask) as tf.Tensor2D) : undefined;
    const fullLogits = options.withLogits ? (tf.reshape(logits, [B, R, vocab]) as tf.Tensor3D) : undefined;
    return { logProbs, responseMask, entropy, logits: fullLogits };
  });
  return { logProbs: kept.logProbs, responseMask: kept.responseMask, entropy: kept.entropy ?? null, logits: kept.logits ?? null };
}
