/**
 * How far a policy has moved from its reference along given completions: the exact KL(π ‖ π_ref) of the next-token
 * distributions at each completion token, summed over the whole vocabulary. Unlike the k3 estimator of the loss,
 * which is unbiased only for tokens sampled from π, it is exact for any completion, greedy ones included: what
 * validation reports as `eval/kl`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { computeFullKlPerToken } from '../grpo';
import { Policy, ResponseBatch, responseLogProbs } from '../model';
import { arrayAndDispose } from '../model/tensorIo';

/** Logits of both models for this many floats at most per chunk of rows (2 × 128 MiB of float32). */
const MAX_LOGIT_FLOATS = 2 ** 25;

/**
 * Per completion, the KL at each of its tokens (nats), at the sampling `temperature`. `maxRows` bounds the rows per
 * chunk further (the trainer's memory estimate for long prompts).
 */
export async function exactKlPerToken(policy: Policy, reference: Policy, batch: ResponseBatch, temperature: number, maxRows = Infinity): Promise<number[][]> {
  const width = Math.max(1, ...batch.responseIds.map((r) => r.length));
  const rowsPerChunk = Math.max(1, Math.min(maxRows, Math.floor(MAX_LOGIT_FLOATS / (width * policy.config.vocabSize))));
  const out: number[][] = [];
  for (let start = 0; start < batch.promptIds.length; start += rowsPerChunk) {
    const chunk: ResponseBatch = {
      promptIds: batch.promptIds.slice(start, start + rowsPerChunk),
      responseIds: batch.responseIds.slice(start, start + rowsPerChunk),
    };
    const kl = await arrayAndDispose(tf.tidy(() => {
      const options = { temperature, withLogits: true };
      const policyLogits = responseLogProbs(policy, chunk, options).logits;
      const refLogits = responseLogProbs(reference, chunk, options).logits;
      if (!policyLogits || !refLogits) throw new Error('exactKlPerToken: the models returned no logits');
      return computeFullKlPerToken(policyLogits, refLogits);
    }));
    out.push(...kl.map((row, i) => row.slice(0, chunk.responseIds[i].length)));
  }
  return out;
}
