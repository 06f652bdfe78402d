/**
 * Batched autoregressive sampling with a KV cache. Prompts are left-padded so every row's next token is in the same
 * column; each step feeds one token per row and appends its keys/values to the cache. Token choice happens on the
 * host with the seeded NumPy-compatible RNG, so the same seed gives the same samples. The logits of each step are
 * read with `await data()`: every backend can, webgpu included (it cannot read synchronously under Node).
 */
import * as tf from '@tensorflow/tfjs-core';
import { padLayout } from './logprobs';
import { attentionBias, disposeCache, emptyCache, ForwardInput } from './model';
import { Policy } from './policy';
import { Random } from './random';
import { readAndDispose } from './tensorIo';

export type FinishReason = 'stop' | 'length';

export interface SampleOptions {
  maxNewTokens: number;
  /** 0 = greedy (argmax). Default 1. */
  temperature?: number;
  /** Nucleus sampling: keep the smallest set of tokens whose probability reaches topP. Default 1 (off). */
  topP?: number;
  /** Keep only the k most likely tokens. Default 0 (off). */
  topK?: number;
  /** Token ids that end a row (the stop token is kept in the output). Default: the policy's `stopTokenIds`. */
  stopTokenIds?: number[];
  /** Texts that end a row once the decoded completion contains one (the token completing it is kept). */
  stopStrings?: string[];
  /** Random source; advanced by one draw per unfinished row and step. Default: new Random(seed ?? 0). */
  rng?: Random;
  seed?: number;
  /** Re-run the whole prefix every step instead of using the KV cache (for benchmarks and tests). */
  noCache?: boolean;
  /** Also return the K most likely tokens at every position, with their log-probs (as `logProbs`). Default 0. */
  topLogprobs?: number;
  /**
   * Rows per forward pass (default: all). Fewer bound the memory of the prefill and the KV cache; the rows keep the
   * padding of the whole batch and tokens are still drawn row by row in order, so the samples do not change.
   */
  maxRows?: number;
  /**
   * Another instance that runs the forward passes of the last ⌊B/2⌋ rows while this one runs the others (the
   * data-parallel replica: parallel.ts). Tokens are still drawn here, row by row in order, and a row's logits do not
   * depend on the rows beside it, so the samples are those of one instance. Unused without the cache, or when half
   * the rows exceed maxRows.
   */
  replica?: SamplingReplica | null;
}

/** One forward pass of sampling for some rows: the padded prompts (prefill) or one new token each after `past`. */
export interface RowsStep {
  tokens: number[][];
  positions: Int32Array;
  keyValid: boolean[][];
  /** Tokens already in the cache (0: the prefill, or a pass without cache). */
  past: number;
}

/** A second instance running some rows' forward passes (see SampleOptions.replica). */
export interface SamplingReplica {
  /** Starts the forward pass of `step`'s rows (`first`: a new generation, with a cache for `capacity` tokens). */
  start(step: RowsStep, first: boolean, capacity: number): PendingLogits;
  /** The generation is over: its cache can go. */
  finish(): void;
}

/** Blocks until the replica's logits [rows · V] are in; throws if it failed. */
export type PendingLogits = () => Float32Array;

/** The model input of a sampling step; the last column's logits are the ones returned. */
export function stepInput(step: RowsStep): ForwardInput {
  const B = step.tokens.length;
  const T = step.tokens[0].length;
  return {
    batch: B,
    length: T,
    ids: tf.tensor2d(step.tokens, [B, T], 'int32'),
    positions: step.positions,
    attentionBias: attentionBias(step.keyValid, step.past, T),
    logitsFrom: T - 1,
  };
}

/** One candidate token at a position and its log-prob. */
export interface TokenLogprob {
  id: number;
  logprob: number;
}

export interface SampleResult {
  /** Generated token ids per row (prompt excluded), up to and including the stop token. */
  tokens: number[][];
  /**
   * log-prob of each generated token under the model's distribution at the sampling temperature
   * (softmax(logits / T), before top-k / top-p filtering; T = 1 when greedy), as GRPO's "old" log-probs.
   */
  logProbs: number[][];
  finishReasons: FinishReason[];
  /** With `topLogprobs` K: per row and generated position, the K most likely tokens, most likely first. */
  topLogprobs?: TokenLogprob[][][];
}

export async function generate(policy: Policy, promptIds: number[][], options: SampleOptions): Promise<SampleResult> {
  const B = promptIds.length;
  const rng = options.rng ?? new Random(options.seed ?? 0);
  const stopIds = new Set(options.stopTokenIds ?? policy.stopTokenIds);
  const layout = padLayout({ promptIds, responseIds: promptIds.map(() => []) }, policy.tokenizer.padTokenId);
  checkContextLength(policy.config.maxPositions, Math.max(...promptIds.map((p) => p.length)), options.maxNewTokens);
  const width = layout.tokens[0].length;
  const rows = layout.tokens.map((r) => [...r]);
  const keyValid = layout.keyValid.map((r) => [...r]);
  const nextPosition = promptIds.map((p) => p.length);
  const result: SampleResult = { tokens: promptIds.map(() => []), logProbs: promptIds.map(() => []), finishReasons: promptIds.map(() => 'length') };
  const topK = options.topLogprobs ?? 0;
  if (topK > 0) result.topLogprobs = promptIds.map(() => []);
  const done = new Array<boolean>(B).fill(false);
  const maxRows = options.maxRows ?? B;
  const capacity = width + options.maxNewTokens;
  // The replica's rows: the last half, when it holds them in one pass and the cache is on.
  const remoteRows = options.replica && !options.noCache && B >= 2 && Math.floor(B / 2) <= maxRows ? Math.floor(B / 2) : 0;
  const remote = remoteRows > 0 ? options.replica! : null;
  const chunks = rowChunks(B - remoteRows, maxRows);
  const caches = chunks.map(() => (options.noCache ? null : emptyCache(policy.config.nLayers, capacity)));
  let first = true;
  // One forward pass of all rows: the replica's part started first, this instance's chunks one after the other.
  const forwardAll = async (step: (from: number, to: number) => RowsStep): Promise<Float32Array> => {
    const pending = remote ? remote.start(step(B - remoteRows, B), first, capacity) : null;
    first = false;
    const parts: Float32Array[] = [];
    for (const [i, [from, to]] of chunks.entries()) parts.push(await readAndDispose(tf.tidy(() => policy.logits(stepInput(step(from, to)), caches[i]))));
    if (pending) parts.push(pending());
    return joined(parts);
  };
  try {
    let logits = await forwardAll((from, to) => ({
      tokens: layout.tokens.slice(from, to), positions: layout.positions.subarray(from * width, to * width), keyValid: keyValid.slice(from, to), past: 0,
    }));
    for (let step = 0; step < options.maxNewTokens; step++) {
      const chosen = new Array<number>(B).fill(policy.tokenizer.padTokenId);
      const active = done.map((d) => !d);
      for (let b = 0; b < B; b++) {
        if (done[b]) continue;
        const row = logits.subarray(b * policy.config.vocabSize, (b + 1) * policy.config.vocabSize);
        const { token, logProb } = chooseToken(row, options, rng);
        chosen[b] = token;
        result.tokens[b].push(token);
        result.logProbs[b].push(logProb);
        if (topK > 0) result.topLogprobs?.[b].push(mostLikely(row, options.temperature ?? 1, topK));
        if (stopIds.has(token) || hitsStopString(policy, result.tokens[b], options.stopStrings)) {
          done[b] = true;
          result.finishReasons[b] = 'stop';
        }
      }
      if (done.every(Boolean) || step === options.maxNewTokens - 1) break;
      // Rows that had finished are fed padding that no later query attends to.
      chosen.forEach((token, b) => {
        rows[b].push(token);
        keyValid[b].push(active[b]);
      });
      logits = await forwardAll((from, to) => (options.noCache
        ? { tokens: rows.slice(from, to), positions: positionsOf(keyValid.slice(from, to)), keyValid: keyValid.slice(from, to), past: 0 }
        : {
          tokens: chosen.slice(from, to).map((t) => [t]), positions: Int32Array.from(nextPosition.slice(from, to)),
          keyValid: keyValid.slice(from, to), past: keyValid[0].length - 1,
        }));
      nextPosition.forEach((_, b) => nextPosition[b]++);
    }
  } finally {
    for (const cache of caches) if (cache) disposeCache(cache);
    remote?.finish();
  }
  return result;
}

/** [from, to) row ranges of at most `size` rows covering 0 … rows − 1. */
export function rowChunks(rows: number, size: number): [number, number][] {
  if (!(size >= 1)) throw new Error(`rows per forward pass must be at least 1, got ${size}`);
  const chunks: [number, number][] = [];
  for (let from = 0; from < rows; from += size) chunks.push([from, Math.min(rows, from + size)]);
  return chunks;
}

/** The rows' logits, one part after the other. */
function joined(parts: Float32Array[]): Float32Array {
  if (parts.length === 1) return parts[0];
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * A prompt and its completion must fit the positions the model was trained on (`max_position_embeddings`): GPT-2
 * has no embedding past them, and RoPE models produce text of no use there.
 */
export function checkContextLength(maxPositions: number, promptTokens: number, maxNewTokens: number): void {
  if (promptTokens + maxNewTokens > maxPositions) {
    throw new Error(
      `a prompt of ${promptTokens} tokens + ${maxNewTokens} new tokens = ${promptTokens + maxNewTokens} exceeds the model's ` +
      `${maxPositions} positions (max_position_embeddings)`,
    );
  }
}

function positionsOf(keyValid: boolean[][]): Int32Array {
  const T = keyValid[0].length;
  const out = new Int32Array(keyValid.length * T);
  keyValid.forEach((row, b) => {
    let seen = 0;
    row.forEach((valid, t) => (out[b * T + t] = valid ? seen++ : 0));
  });
  return out;
}

function hitsStopString(policy: Policy, tokens: number[], stopStrings: string[] | undefined): boolean {
  if (!stopStrings || stopStrings.length === 0) return false;
  const text = policy.tokenizer.decode(tokens);
  return stopStrings.some((s) => text.includes(s));
}

/** Picks a token from one row of logits and returns it with its log-prob at the sampling temperature. */
export function chooseToken(logits: Float32Array, options: SampleOptions, rng: Random): { token: number; logProb: number } {
  const temperature = options.temperature ?? 1;
  if (temperature === 0) {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    return { token: best, logProb: logSoftmaxAt(logits, 1, best) };
  }
  const probs = softmax(logits, temperature);
  const kept = filterTopKTopP(probs, options.topK ?? 0, options.topP ?? 1);
  const token = rng.choice(kept);
  return { token, logProb: Math.log(probs[token]) };
}

/**
 * The k most likely tokens of one row of logits, most likely first (ties by id), with log-probs of the distribution
 * `chooseToken` reports: softmax(logits / T), T = 1 when greedy.
 */
export function mostLikely(logits: Float32Array, temperature: number, k: number): TokenLogprob[] {
  const t = temperature === 0 ? 1 : temperature;
  let max = -Infinity;
  for (const x of logits) max = Math.max(max, x / t);
  let sum = 0;
  for (const x of logits) sum += Math.exp(x / t - max);
  const logZ = max + Math.log(sum);
  const best: number[] = [];
  for (let i = 0; i < logits.length; i++) {
    // Insertion into a sorted list of at most k ids: k is small (the CLI's --top-logprobs).
    if (best.length === k && logits[i] <= logits[best[k - 1]]) continue;
    let at = best.length;
    while (at > 0 && logits[best[at - 1]] < logits[i]) at--;
    best.splice(at, 0, i);
    if (best.length > k) best.pop();
  }
  return best.map((id) => ({ id, logprob: logits[id] / t - logZ }));
}

function softmax(logits: Float32Array, temperature: number): Float64Array {
  // max(x / T) is max(x) / T (dividing by T > 0 keeps the order), and x / 1 is x: the values of dividing every logit
  // by T first, with V divisions fewer when T = 1. A NaN wins, as in Math.max.
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    const x = logits[i];
    if (x > max || x !== x) max = x;
  }
  const p = new Float64Array(logits.length);
  let sum = 0;
  if (temperature === 1) {
    for (let i = 0; i < logits.length; i++) sum += p[i] = Math.exp(logits[i] - max);
  } else {
    const scaledMax = max / temperature;
    for (let i = 0; i < logits.length; i++) sum += p[i] = Math.exp(logits[i] / temperature - scaledMax);
  }
  for (let i = 0; i < p.length; i++) p[i] /= sum;
  return p;
}

function logSoftmaxAt(logits: Float32Array, temperature: number, index: number): number {
  let max = -Infinity;
  for (const x of logits) max = Math.max(max, x / temperature);
  let sum = 0;
  for (const x of logits) sum += Math.exp(x / temperature - max);
  return logits[index] / temperature - max - Math.log(sum);
}

/**
 * Zeroes the probabilities outside the top k and outside the nucleus of mass topP. The order is descending
 * probability, ties by index: the kept tokens are every one above a cut value and, at the cut, the lowest indices.
 */
function filterTopKTopP(probs: Float64Array, topK: number, topP: number): Float64Array {
  if (topK <= 0 && topP >= 1) return probs;
  const limit = topK > 0 ? Math.min(topK, probs.length) : probs.length;
  // The likely tokens alone usually reach the cut; else (flat distributions: an untrained model over a 150 k
  // vocabulary, long tails) all of them.
  const cut = nucleusCut(likelyValues(probs), limit, topP) ?? nucleusCut(Float64Array.from(probs), limit, topP);
  if (!cut) throw new Error('top-k / top-p: no cut over the whole vocabulary'); // unreachable: limit ≤ vocabulary
  const { value, kept } = cut;
  let atCut = kept;
  for (let i = 0; i < probs.length; i++) if (probs[i] > value) atCut--;
  const out = new Float64Array(probs.length);
  for (let i = 0; i < probs.length; i++) {
    if (probs[i] > value || (probs[i] === value && atCut-- > 0)) out[i] = probs[i];
  }
  return out;
}

/**
 * Takes `values` (probabilities) from the largest down, summing them, until `limit` are taken or their mass reaches
 * topP: the value at which it stops and how many it took. Ties are equal values, so the sums are those of walking the
 * order by probability then index. A max-heap gives the largest first for the few taken without sorting the rest.
 * Null when the values run out first (when they are only a prefix of the order). Reorders `values`.
 */
function nucleusCut(values: Float64Array, limit: number, topP: number): { value: number; kept: number } | null {
  for (let i = (values.length >> 1) - 1; i >= 0; i--) siftDown(values, i, values.length);
  let size = values.length;
  let mass = 0;
  for (let kept = 1; kept <= limit && size > 0; kept++) {
    const largest = values[0];
    mass += largest;
    if (mass >= topP || kept === limit) return { value: largest, kept };
    values[0] = values[--size];
    siftDown(values, 0, size);
  }
  return null;
}

/** Restores the max-heap property below index i of heap[0, size). */
function siftDown(heap: Float64Array, i: number, size: number): void {
  const value = heap[i];
  for (;;) {
    let child = 2 * i + 1;
    if (child >= size) break;
    if (child + 1 < size && heap[child + 1] > heap[child]) child++;
    if (!(heap[child] > value)) break;
    heap[i] = heap[child];
    i = child;
  }
  heap[i] = value;
}

/**
 * The probabilities above a small threshold: every other token ranks below all of them, so they are a prefix of the
 * order top-k / top-p walk.
 */
function likelyValues(probs: Float64Array): Float64Array {
  // Indexed loops: for-of over a typed array ran at half the speed here.
  let max = 0;
  for (let i = 0; i < probs.length; i++) if (probs[i] > max) max = probs[i];
  const threshold = max * 1e-4;
  let count = 0;
  for (let i = 0; i < probs.length; i++) if (probs[i] >= threshold) count++;
  const likely = new Float64Array(count);
  count = 0;
  for (let i = 0; i < probs.length; i++) if (probs[i] >= threshold) likely[count++] = probs[i];
  return likely;
}

