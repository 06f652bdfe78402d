/**
 * The stories260K section of `npm run bench:model`: the shipped trained checkpoint (examples/models/stories260K,
 * Karpathy's TinyStories Llama: d 64 × 5 layers, 8 query / 4 KV heads, vocabulary 512) measured in the same run on
 * tfjs wasm and on PyTorch (bench/stories_torch.py), doing the same work:
 *
 *   - sampling: G-style batch of prompts × generations rows of "Once upon a time" (BOS + 4 tokens), 128 new tokens
 *     at temperature 1 with the KV cache and no early stop;
 *   - one GRPO step on rollouts sampled once by tfjs and handed to PyTorch in a JSON file (same token ids, old
 *     log-probs and advantages on both sides): reference log-probs (no grad), policy forward + backward of the GRPO
 *     loss (clipped ratio ε 0.2, β·k3 KL, token mean over the response mask: `bnpo`), clipping at 1.0, one Adam step.
 *     The tfjs side is what the trainer does (src/worker/grpoTrainer.ts, referenceLogProbs() and optimize()) with
 *     one micro-batch: responseLogProbs of the frozen reference, PolicyTrainer.accumulate with computeGrpoLossTensors
 *     (entropy on, the per-token values read back after the gradient), PolicyTrainer.step.
 *
 * Before the timings, both sides' logits for a fixed sequence are compared, and both greedy-decode from BOS.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { computeGroupAdvantages, computeGrpoLossTensors, GrpoLossConfig, GrpoTokenTensors, readGrpoTokenDetails } from '../src/grpo';
import { generate, loadPolicy, Policy, PolicyTrainer, Random, ResponseBatch, responseLogProbs } from '../src/model';
import { attentionBias } from '../src/model/model';
import { arrayAndDispose, readAndDispose } from '../src/model/tensorIo';
import { encodePrompt } from '../src/model/tokenizer';
import { runTorchConfigs, summarizeTorch, TorchRecord } from './torch';

export const STORIES_DIR = path.resolve(__dirname, '../examples/models/stories260K');
const PROMPT_TEXT = 'Once upon a time';
const GREEDY_START = 'Once upon a time, there was a little girl named Lily.';
const EPSILON = 0.2;
const BETA = 0.04;
const LEARNING_RATE = 1e-5;

export interface StoriesOptions {
  reps: number;
  prompts: number;
  generations: number;
  newTokens: number;
  torch: boolean;
}

/** What both sides train on, written to a JSON file for bench/stories_torch.py. */
interface Rollouts {
  promptIds: number[][];
  responseIds: number[][];
  /** Log-probs of the sampled tokens under the policy that sampled them. */
  oldLogProbs: number[][];
  /** One per rollout, group-normalised. */
  advantages: number[];
  newTokens: number;
  epsilon: number;
  beta: number;
  learningRate: number;
}

type StoriesPhase = 'sample' | 'sample1' | 'grpo' | 'grpo1' | 'grpo2';
const PHASE_LABELS: Record<StoriesPhase, string> = {
  sample: 'sample ROWS (KV cache), thread pool',
  sample1: 'sample ROWS (KV cache), 1 thread',
  grpo: 'GRPO step (ref log-probs + fwd/bwd/Adam), thread pool',
  grpo1: 'GRPO step (ref log-probs + fwd/bwd/Adam), 1 thread',
  grpo2: 'GRPO step (ref log-probs + fwd/bwd/Adam), data-parallel (2 single-threaded instances)',
};
const TORCH_PHASE: Record<StoriesPhase, string> = { sample: 'sample', sample1: 'sample', grpo: 'grpo', grpo1: 'grpo', grpo2: 'grpo' };

/** Median ms of each part of the GRPO step. */
interface StepParts {
  reference: number;
  fwdBwd: number;
  clipAdam: number;
}

interface TfjsTimings {
  ms: Partial<Record<StoriesPhase, number>>;
  parts: Partial<Record<StoriesPhase, StepParts>>;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** One warm-up, then the median of `reps` runs. */
async function medianMs(reps: number, fn: () => Promise<unknown>): Promise<number> {
  await fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

function promptRows(policy: Policy, options: StoriesOptions): number[][] {
  const ids = encodePrompt(policy.tokenizer, PROMPT_TEXT);
  return Array.from({ length: options.prompts * options.generations }, () => [...ids]);
}

/**
 * Rollouts sampled once, with advantages from a stand-in reward (the share of distinct tokens in the completion:
 * anything that differs within a group gives non-zero advantages; the step costs the same whatever they are).
 */
async function sampleRollouts(policy: Policy, options: StoriesOptions): Promise<Rollouts> {
  const promptIds = promptRows(policy, options);
  const out = await generate(policy, promptIds, { maxNewTokens: options.newTokens, temperature: 1, stopTokenIds: [], rng: new Random(1) });
  const rewards = out.tokens.map((row) => new Set(row).size / row.length);
  const advantages = Array.from(await readAndDispose(computeGroupAdvantages(rewards, options.generations).advantages));
  return { promptIds, responseIds: out.tokens, oldLogProbs: out.logProbs, advantages, newTokens: options.newTokens, epsilon: EPSILON, beta: BETA, learningRate: LEARNING_RATE };
}

/** Logits [T, V] of one sequence (no padding, positions 0 … T − 1), for the comparison with PyTorch. */
async function sequenceLogits(policy: Policy, ids: number[]): Promise<number[][]> {
  const T = ids.length;
  return arrayAndDispose(tf.tidy(() => policy.logits({
    batch: 1,
    length: T,
    ids: tf.tensor2d([ids], [1, T], 'int32'),
    positions: Int32Array.from(ids, (_, t) => t),
    attentionBias: attentionBias([ids.map(() => true)], 0, T),
    logitsFrom: 0,
  }, null)));
}

/**
 * One GRPO step as the trainer takes it (one micro-batch): the frozen reference's log-probs read back to the host,
 * accumulate() with the GRPO loss, the per-token values read back, step() (global-norm clip, Adam).
 */
async function grpoStep(trainer: PolicyTrainer, reference: Policy, rollouts: Rollouts, parts: StepParts[]): Promise<void> {
  const batch: ResponseBatch = { promptIds: rollouts.promptIds, responseIds: rollouts.responseIds };
  const width = Math.max(...rollouts.responseIds.map((r) => r.length));
  const pad = (m: number[][]) => tf.tensor2d(m.map((r) => [...r, ...new Array<number>(width - r.length).fill(0)]), [m.length, width]);
  const activeTokens = rollouts.responseIds.reduce((n, r) => n + r.length, 0);
  const config: GrpoLossConfig = { lossType: 'bnpo', epsilonLow: EPSILON, epsilonHigh: EPSILON, beta: BETA, klEstimator: 'k3', maxCompletionLength: rollouts.newTokens, gradientAccumulationSteps: 1 };
  const t0 = performance.now();
  const ref = await arrayAndDispose(tf.tidy(() => responseLogProbs(reference, batch).logProbs));
  const t1 = performance.now();
  const kept: { tokens: GrpoTokenTensors; entropy?: tf.Tensor2D }[] = [];
  try {
    await trainer.accumulate(batch, (logProbs, entropy, mask) => {
      const result = computeGrpoLossTensors({
        policyLogProbs: logProbs,
        responseMask: mask,
        advantages: pad(rollouts.responseIds.map((r, i) => new Array<number>(r.length).fill(rollouts.advantages[i]))),
        oldLogProbs: pad(rollouts.oldLogProbs),
        refLogProbs: pad(ref),
        numItemsInBatch: activeTokens,
      }, config);
      kept.push({ tokens: result.tokens, entropy: entropy ? tf.keep(tf.clone(entropy)) : undefined });
      return result.loss;
    }, { withEntropy: true });
    await Promise.all([readGrpoTokenDetails(kept[0].tokens), kept[0].entropy?.array()]);
  } finally {
    tf.dispose(kept);
  }
  const t2 = performance.now();
  await trainer.step();
  const t3 = performance.now();
  parts.push({ reference: t1 - t0, fwdBwd: t2 - t1, clipAdam: t3 - t2 });
}

async function measureGrpo(trainer: PolicyTrainer, reference: Policy, rollouts: Rollouts, reps: number): Promise<{ ms: number; parts: StepParts }> {
  const parts: StepParts[] = [];
  const ms = await medianMs(reps, () => grpoStep(trainer, reference, rollouts, parts));
  parts.shift(); // the warm-up
  const part = (key: keyof StepParts) => median(parts.map((p) => p[key]));
  return { ms, parts: { reference: part('reference'), fwdBwd: part('fwdBwd'), clipAdam: part('clipAdam') } };
}

/** The phases of one process: the thread pool's, or (GRPO_WASM_THREADS=1) one thread and data parallelism. */
async function measureTfjs(rollouts: Rollouts, options: StoriesOptions, mode: 'pool' | 'single'): Promise<TfjsTimings> {
  const policy = loadPolicy(STORIES_DIR);
  const reference = policy.clone({ trainable: false });
  const trainer = new PolicyTrainer(policy, { learningRate: LEARNING_RATE, maxGradNorm: 1 });
  const rng = new Random(2);
  const result: TfjsTimings = { ms: {}, parts: {} };
  const [sample, grpo] = mode === 'pool' ? (['sample', 'grpo'] as const) : (['sample1', 'grpo1'] as const);
  result.ms[sample] = await medianMs(options.reps, () => generate(policy, rollouts.promptIds, { maxNewTokens: options.newTokens, temperature: 1, stopTokenIds: [], rng }));
  const step = await measureGrpo(trainer, reference, rollouts, options.reps);
  result.ms[grpo] = step.ms;
  result.parts[grpo] = step.parts;
  if (mode === 'single') {
    await trainer.enableDataParallel();
    const parallel = await measureGrpo(trainer, reference, rollouts, options.reps);
    result.ms.grpo2 = parallel.ms;
    result.parts.grpo2 = parallel.parts;
  }
  trainer.dispose();
  reference.dispose();
  policy.dispose();
  return result;
}

/** The child process's part (GRPO_WASM_THREADS=1): prints its timings as one JSON line. */
export async function storiesChild(rolloutsFile: string, options: StoriesOptions): Promise<void> {
  const rollouts = JSON.parse(fs.readFileSync(rolloutsFile, 'utf8')) as Rollouts;
  console.log(JSON.stringify(await measureTfjs(rollouts, { ...options, newTokens: rollouts.newTokens }, 'single')));
}

function measureSingleThreaded(script: string, rolloutsFile: string, options: StoriesOptions): TfjsTimings {
  const run = spawnSync(process.execPath, [...process.execArgv, script, '--child-stories', rolloutsFile, '--reps', String(options.reps)], {
    encoding: 'utf8',
    env: { ...process.env, GRPO_WASM_THREADS: '1' },
  });
  if (run.status !== 0) throw new Error(`single-threaded stories child failed: ${run.stderr.trim().split('\n').pop()}`);
  return JSON.parse(run.stdout.trim().split('\n').pop()!) as TfjsTimings;
}

const fmt = (x: number | undefined) => (x === undefined ? '–' : x.toFixed(0));
const partsText = (p: { reference: number; fwdBwd: number; clipAdam: number }) =>
  `reference log-probs ${fmt(p.reference)}, fwd+bwd ${fmt(p.fwdBwd)}, clip+Adam ${fmt(p.clipAdam)}`;

/**
 * The whole section, printed: checks, the PyTorch runs, the table and the GRPO step's parts. `script` is the bench
 * entry point, started again as the single-threaded child with `--child-stories`.
 */
export async function runStories(script: string, options: StoriesOptions): Promise<void> {
  const rows = options.prompts * options.generations;
  console.log('');
  console.log(`stories260K (${path.relative(process.cwd(), STORIES_DIR)}, the trained TinyStories Llama): ${options.prompts} prompts × ` +
    `${options.generations} generations of "${PROMPT_TEXT}", ${options.newTokens} new tokens at temperature 1, no early stop; ` +
    `GRPO ε ${EPSILON}, β ${BETA} (k3), token mean, clip 1.0, Adam; median of ${options.reps}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-bench-stories-'));
  try {
    const policy = loadPolicy(STORIES_DIR);
    const rollouts = await sampleRollouts(policy, options);
    const rolloutsFile = path.join(dir, 'rollouts.json');
    fs.writeFileSync(rolloutsFile, JSON.stringify(rollouts));
    // The check sequence: the prompt and the first rollout (the positions the GRPO step scores).
    const checkIds = [...rollouts.promptIds[0], ...rollouts.responseIds[0]];
    const checkFile = path.join(dir, 'check.json');
    fs.writeFileSync(checkFile, JSON.stringify({ ids: checkIds, logits: await sequenceLogits(policy, checkIds) }));
    const greedy = await generate(policy, [[policy.config.bosTokenId ?? 1]], { maxNewTokens: 20, temperature: 0, stopTokenIds: [] });
    const tfjsGreedy = policy.tokenizer.decode(greedy.tokens[0]);
    const vocab = policy.config.vocabSize;
    policy.dispose();

    const single = measureSingleThreaded(script, rolloutsFile, options);
    const pool = await measureTfjs(rollouts, options, 'pool');
    const ms = { ...single.ms, ...pool.ms };
    const parts = { ...single.parts, ...pool.parts };

    const torchRuns = options.torch
      ? runTorchConfigs(path.join(__dirname, 'stories_torch.py'), ['--model', STORIES_DIR, '--rollouts', rolloutsFile, '--reps', String(options.reps)], ['--check', checkFile])
      : 'skipped (--no-torch)';
    console.log(`tfjs greedy from BOS: "${tfjsGreedy}" ${tfjsGreedy.startsWith(GREEDY_START) ? '(as llama2.c)' : '(NOT llama2.c\'s sample)'}`);
    if (typeof torchRuns === 'string') {
      console.log(`PyTorch column skipped: ${torchRuns}`);
    } else {
      const checks = torchRuns.runs[0].records.filter((r) => r.check !== undefined);
      const logits = checks.find((r) => r.check === 'logits') as TorchRecord & { tokens: number; max_abs_diff: number; max_abs_logit: number };
      const text = checks.find((r) => r.check === 'greedy') as TorchRecord & { text: string; ok: boolean };
      console.log(`PyTorch greedy from BOS: "${text.text}" ${text.ok ? '(as llama2.c)' : '(NOT llama2.c\'s sample)'}`);
      console.log(`Same model on both sides: logits of the prompt + first rollout (${logits.tokens} tokens × ${vocab} entries, |logit| ≤ ` +
        `${logits.max_abs_logit.toFixed(1)}), max |tfjs − PyTorch| = ${logits.max_abs_diff.toExponential(1)}`);
    }
    const torch = typeof torchRuns === 'string' ? undefined : summarizeTorch(torchRuns);
    if (torch) console.log(torch.note);

    console.log('');
    console.log('| model | phase | tfjs wasm ms | tokens/s | PyTorch reference ms | tfjs / reference | fastest PyTorch ms | tfjs / fastest |');
    console.log('|---|---|---|---|---|---|---|---|');
    const ratio = (ours: number, ref: number | undefined) => (ref === undefined ? '–' : `${(ours / ref).toFixed(2)}×`);
    const promptLength = rollouts.promptIds[0].length;
    for (const phase of ['sample', 'sample1', 'grpo', 'grpo1', 'grpo2'] as StoriesPhase[]) {
      const ours = ms[phase]!;
      const key = `stories260K/${TORCH_PHASE[phase]}`;
      const reference = torch?.reference.get(key);
      const fastest = torch?.fastest.get(key);
      // Sampling produces the new tokens; the GRPO step scores prompt + response tokens (twice: reference and policy).
      const tokens = phase.startsWith('sample') ? rows * options.newTokens : rows * (promptLength + options.newTokens);
      const label = PHASE_LABELS[phase].replace('ROWS', `${rows}×${options.newTokens}`);
      console.log(`| stories260K | ${label} | ${fmt(ours)} | ${fmt((tokens / ours) * 1000)} | ${fmt(reference)} | ${ratio(ours, reference)} | ${fmt(fastest)} | ${ratio(ours, fastest)} |`);
    }
    console.log(`tokens/s: new tokens for sampling; prompt + response tokens (${rows} × ${promptLength + options.newTokens}) for the GRPO step, which scores them twice (reference and policy)`);
    console.log('');
    console.log('GRPO step parts, median ms:');
    for (const phase of ['grpo', 'grpo1', 'grpo2'] as StoriesPhase[]) console.log(`  tfjs ${PHASE_LABELS[phase].split('), ')[1]}: ${partsText(parts[phase]!)}`);
    if (typeof torchRuns !== 'string') {
      for (const { config, records } of torchRuns.runs) {
        const step = records.find((r) => r.phase === 'grpo') as TorchRecord & { parts: { reference: number; fwd_bwd: number; clip_adam: number } };
        console.log(`  PyTorch, ${config.label}: ${partsText({ reference: step.parts.reference, fwdBwd: step.parts.fwd_bwd, clipAdam: step.parts.clip_adam })}`);
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
