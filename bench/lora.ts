/**
 * The LoRA section of `npm run bench:model` (issue 14, item 5): one GRPO step of a GPT-2-124M-shaped and a
 * Qwen2.5-0.5B-shaped model with random float32 weights, with LoRA adapters and with full fine-tuning, on tfjs wasm
 * and on PyTorch (bench/lora_torch.py, a hand-written LoRA) in the same run:
 *
 *   - sampling: prompts × generations rows of random prompt tokens, new tokens at temperature 1 with the KV cache
 *     and no early stop (tokens/s = new tokens);
 *   - the update: the rows in micro-batches of 256 (and 512) completion tokens — rows × new tokens, the measure
 *     src/worker/memoryBudget.ts calls microBatchTokens — each a forward over prompt + completion, the GRPO loss
 *     (TRL's clipped surrogate, β = 0 so no reference model, token sum over the step's token count: `dapo`) and a
 *     backward; then clipping at 1.0 and one Adam step on what trains (tokens/s = prompt + completion tokens);
 *   - the update's peak memory, two ways. The peak of live tensor bytes (weights and optimizer state included),
 *     which the target is about: tfjs, tf.profile's peakBytes (tf.memory().numBytes after each kernel); PyTorch,
 *     its profiler's allocation and free events summed in order (bench/lora_torch.py). Both profile the warm-up
 *     update, whose time is not taken. And the process's peak resident size over the measured update (VmHWM,
 *     reset through /proc/self/clear_refs just before it), runtime and allocator caches included; for tfjs also
 *     the wasm heap's size (it only grows).
 *
 * Every configuration runs in its own process, so that a peak belongs to it alone: the tfjs ones as a child of the
 * bench (`--child-lora`), the PyTorch ones with /usr/bin/python3, 2 threads. A configuration the wasm backend cannot
 * hold (2 GiB) is skipped with memoryBudget's estimate instead of being run into an out-of-bounds trap.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { computeGrpoLossTensors, GrpoLossConfig } from '../src/grpo';
import { CharTokenizer, generate, ModelConfig, Policy, PolicyTrainer, Random, ResponseBatch, responseLogProbs } from '../src/model';
import { parameterCount } from '../src/model/config';
import { addLora, DEFAULT_LORA_SETTINGS, linearModules, planLora } from '../src/model/lora';
import { familyOf, initWeights } from '../src/model/policy';
import { arrayAndDispose } from '../src/model/tensorIo';
import { rowsThatFit, trainingBytes, WASM_TENSOR_BYTES } from '../src/worker/memoryBudget';
import { PYTHON } from './torch';

const EPSILON = 0.2;
const LEARNING_RATE = 1e-5;
/** The adapters both sides train: a common GRPO choice (TRL's LoRA examples use r 16, α 32). */
const LORA = { r: 16, lora_alpha: 32, lora_dropout: 0 };
/** PEFT target_modules: every projection of the blocks (`c_proj` is GPT-2's attention and MLP output). */
const TARGETS: Record<ModelConfig['family'], string[]> = {
  gpt2: ['c_attn', 'c_proj', 'c_fc'],
  llama: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
};

export type LoraMode = 'lora' | 'full';

const GPT2 = { family: 'gpt2', modelType: 'gpt2', ropeTheta: 0, normEps: 1e-5, qkvBias: true, attnOutBias: true, mlpBias: true } as const;
const QWEN2 = { family: 'llama', modelType: 'qwen2', ropeTheta: 1e6, normEps: 1e-6, qkvBias: true, attnOutBias: false, mlpBias: false } as const;
const COMMON = { ropeScaling: null, tieEmbeddings: true, bosTokenId: null } as const;

/** The shapes, as in bench/lora_torch.py; the test-* ones check the section in seconds. */
export const LORA_SHAPES: Record<string, Omit<ModelConfig, 'eosTokenIds'>> = {
  // openai-community/gpt2's config.json
  'gpt2-124m': { ...GPT2, ...COMMON, vocabSize: 50257, dModel: 768, nLayers: 12, nHeads: 12, nKvHeads: 12, headDim: 64, dFF: 3072, maxPositions: 1024 },
  // Qwen/Qwen2.5-0.5B's config.json (max_position_embeddings 32768)
  'qwen2.5-0.5b': { ...QWEN2, ...COMMON, vocabSize: 151936, dModel: 896, nLayers: 24, nHeads: 14, nKvHeads: 2, headDim: 64, dFF: 4864, maxPositions: 32768 },
  'test-gpt2': { ...GPT2, ...COMMON, vocabSize: 512, dModel: 64, nLayers: 2, nHeads: 4, nKvHeads: 4, headDim: 16, dFF: 256, maxPositions: 256 },
  'test-qwen2': { ...QWEN2, ...COMMON, vocabSize: 512, dModel: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 16, dFF: 128, maxPositions: 256 },
};

export interface LoraOptions {
  shapes: string[];
  /** Measured update steps after one warm-up. */
  steps: number;
  /** Completion tokens per micro-batch; the first is the one the target is about. */
  microTokens: number[];
  prompts: number;
  generations: number;
  promptLength: number;
  newTokens: number;
  torch: boolean;
  /** Gradient checkpointing in the update, both sides (optimization.gradient_checkpointing; torch.utils.checkpoint). */
  checkpointing: boolean;
}

export const DEFAULT_LORA_OPTIONS: LoraOptions = {
  shapes: ['gpt2-124m', 'qwen2.5-0.5b'],
  steps: 1,
  microTokens: [256, 512],
  prompts: 4,
  generations: 4,
  promptLength: 32,
  newTokens: 64,
  torch: true,
  checkpointing: true,
};

/** One process's work: a shape, a mode, a micro-batch size; sampling measured too when `sample`. */
interface LoraRun {
  shape: string;
  mode: LoraMode;
  microTokens: number;
  sample: boolean;
}

/** What one process measured, either side. */
interface Measured {
  sampleMs?: number;
  sampleTokens?: number;
  updateMs: number;
  updateTokens: number;
  microBatches: number;
  /** tfjs: rows of a micro-batch run at once, as the trainer splits it to stay within the wasm backend's 2 GiB. */
  rowsAtOnce?: number;
  parameters: number;
  trainable: number;
  /**
   * The most bytes of live tensors during the (warm-up) update, model and optimizer state included: tf.profile's
   * peakBytes (tf.memory().numBytes after each kernel); PyTorch, the profiler's allocation events summed in order.
   */
  peakTensorMib: number;
  /** The process's peak resident size during the measured update(s), and its resident size as one starts. */
  peakRssMib: number;
  rssBeforeMib: number;
  /** tfjs only: the wasm heap's size after the update (it only grows). */
  wasmHeapMib?: number;
  /**
   * tfjs only: the most bytes of distinct tensor buffers in the wasm heap during the (warm-up) update. tf.profile counts
   * every tensor, and a clone the tape saves shares its buffer here (src/model/kernels.ts): it counts those twice.
   */
  peakBufferMib?: number;
}

type Outcome = { measured: Measured } | { skipped: string } | { failed: string };

const MiB = 2 ** 20;
const mib = (bytes: number) => bytes / MiB;

/** A character tokenizer with exactly `vocabSize` ids (code points from U+0100 on, around the surrogates). */
function tokenizerOfSize(vocabSize: number): CharTokenizer {
  return new CharTokenizer(Array.from({ length: vocabSize - 2 }, (_, i) => String.fromCodePoint(0x100 + i + (0x100 + i >= 0xd800 ? 0x800 : 0))).join(''));
}

function modelConfig(shape: string): ModelConfig {
  const base = LORA_SHAPES[shape];
  if (!base) throw new Error(`--lora-shapes: unknown shape '${shape}'; known: ${Object.keys(LORA_SHAPES).join(', ')}`);
  return { ...base, eosTokenIds: [1] };
}

/** The adapters' parameter count for a shape, from the targets lora.ts selects (Σ r · (in + out)), without building it. */
function loraParameters(config: ModelConfig): number {
  const family = familyOf(config);
  const modules = linearModules(family.parameterSpecs(config), family.lookupTables);
  const { targets } = planLora({ ...DEFAULT_LORA_SETTINGS, ...LORA, target_modules: TARGETS[config.family] }, modules, config.modelType, '--lora-shapes');
  return targets.reduce((n, t) => n + LORA.r * (t.inFeatures + t.outFeatures), 0);
}

/** The bytes memoryBudget expects the run to hold on wasm (what the worker compares with the 2 GiB). */
function estimateBytes(config: ModelConfig, mode: LoraMode, microTokens: number): number {
  const shape = { source: 'bench', model: config, withReference: false, withWarmStart: false, microBatchTokens: microTokens };
  return trainingBytes(mode === 'lora' ? { ...shape, lora: { trainableParameters: loraParameters(config), referenceAdapter: false } } : shape);
}

function randomRows(rng: Random, rows: number, length: number, vocab: number): number[][] {
  // Ids ≥ 2 skip <pad> and <eos>.
  return Array.from({ length: rows }, () => Array.from({ length }, () => 2 + rng.int(vocab - 2)));
}

/** VmRSS / VmHWM of this process in MiB (Linux). */
function residentMib(field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync('/proc/self/status', 'utf8'));
  if (!match) throw new Error(`/proc/self/status: no ${field} line`);
  return Number(match[1]) / 1024;
}

/** Linux ≥ 4.0: writing 5 resets VmHWM to the current resident size, so the next peak is the next phase's own. */
function resetPeakResident(): void {
  fs.writeFileSync('/proc/self/clear_refs', '5');
}

/** The size of the wasm backend's linear memory (it only grows: the high-water mark of the tensor heap). */
function wasmHeapBytes(): number {
  return (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.buffer.byteLength;
}

/** bytes of one element of a tfjs dtype held in the wasm heap. */
const ELEMENT_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1 };

/**
 * Runs `fn` while counting the bytes of the wasm backend's distinct data buffers (its dataIdMap: one entry per buffer,
 * however many tensors share it); resolves to the most there were at once.
 */
async function peakBufferBytes(fn: () => Promise<unknown>): Promise<number> {
  type Entry = { shape: number[]; dtype: string };
  const map = (tf.backend() as unknown as { dataIdMap: { set(k: object, v: Entry): void; delete(k: object): boolean; get(k: object): Entry; has(k: object): boolean } }).dataIdMap;
  // get() of an id the backend does not hold asks the engine to move it from another backend: has() first.
  const held = (k: object) => (map.has(k) ? map.get(k) : undefined);
  const bytesOf = (e: Entry | undefined) => (e ? e.shape.reduce((a, b) => a * b, 1) * (ELEMENT_BYTES[e.dtype] ?? 4) : 0);
  const [set, del] = [map.set.bind(map), map.delete.bind(map)];
  let live = tf.memory().numBytes;
  let peak = live;
  map.set = (k, v) => {
    live += bytesOf(v) - bytesOf(held(k));
    peak = Math.max(peak, live);
    set(k, v);
  };
  map.delete = (k) => {
    live -= bytesOf(held(k));
    return del(k);
  };
  try {
    await fn();
  } finally {
    map.set = set;
    map.delete = del;
  }
  return peak;
}

/** Rows of a step with their old log-probs and group-normalised stand-in advantages (the cost ignores their values). */
interface Rollouts extends ResponseBatch {
  oldLogProbs: number[][];
  advantages: number[];
}

function standInAdvantages(rng: Random, prompts: number, generations: number): number[] {
  const advantages: number[] = [];
  for (let p = 0; p < prompts; p++) {
    const rewards = Array.from({ length: generations }, () => rng.random());
    const mean = rewards.reduce((a, b) => a + b, 0) / generations;
    const std = Math.sqrt(rewards.reduce((a, b) => a + (b - mean) ** 2, 0) / (generations - 1));
    advantages.push(...rewards.map((r) => (r - mean) / (std + 1e-4)));
  }
  return advantages;
}

/**
 * One GRPO update as the trainer takes it: accumulate() per micro-batch with computeGrpoLossTensors, then step()
 * (global-norm clip, Adam). The loss divides by the step's token count, so how the rows are grouped changes only
 * memory; `rowsPerMicro` is the rows the trainer runs at once (micro_batch_size, or fewer where they do not fit).
 */
async function grpoUpdate(trainer: PolicyTrainer, rollouts: Rollouts, rowsPerMicro: number, newTokens: number): Promise<void> {
  const tokens = rollouts.responseIds.length * newTokens;
  const config: GrpoLossConfig = { lossType: 'dapo', epsilonLow: EPSILON, epsilonHigh: EPSILON, beta: 0, gradientAccumulationSteps: 1 };
  for (let i = 0; i < rollouts.promptIds.length; i += rowsPerMicro) {
    const rows = { start: i, end: i + rowsPerMicro };
    const batch: ResponseBatch = { promptIds: rollouts.promptIds.slice(rows.start, rows.end), responseIds: rollouts.responseIds.slice(rows.start, rows.end) };
    await trainer.accumulate(batch, (logProbs, _entropy, mask) => computeGrpoLossTensors({
      policyLogProbs: logProbs,
      responseMask: mask,
      advantages: tf.tensor2d(rollouts.advantages.slice(rows.start, rows.end).map((a) => new Array<number>(newTokens).fill(a))),
      oldLogProbs: tf.tensor2d(rollouts.oldLogProbs.slice(rows.start, rows.end)),
      numItemsInBatch: tokens,
    }, config).loss);
  }
  await trainer.step();
}

/** The child process's part: one configuration on tfjs wasm, printed as one JSON line. */
export async function loraChild(runJson: string, options: LoraOptions): Promise<void> {
  const run = JSON.parse(runJson) as LoraRun;
  const config = modelConfig(run.shape);
  const policy = new Policy(config, tokenizerOfSize(config.vocabSize), initWeights(config, 0), true);
  const parameters = policy.parameterCount();
  if (run.mode === 'lora') addLora(policy, { ...LORA, target_modules: TARGETS[config.family] }, 0, '--lora-shapes');
  const trainer = new PolicyTrainer(policy, { learningRate: LEARNING_RATE, maxGradNorm: 1, gradientCheckpointing: options.checkpointing });
  const trainable = policy.trainableParameterCount();
  const rng = new Random(1);
  const rows = options.prompts * options.generations;
  const promptIds = randomRows(rng, rows, options.promptLength, config.vocabSize);
  const generation = { maxNewTokens: options.newTokens, temperature: 1, stopTokenIds: [], rng };
  const measured: Partial<Measured> = {};
  const microRows = run.microTokens / options.newTokens;
  let responseIds: number[][];
  let oldLogProbs: number[][];
  if (run.sample) {
    // Warm-up (allocator growth, the tied head's cached transpose): a few tokens do it, a whole call would double the cost.
    await generate(policy, promptIds, { ...generation, maxNewTokens: 2 });
    const t0 = performance.now();
    const out = await generate(policy, promptIds, generation);
    measured.sampleMs = performance.now() - t0;
    measured.sampleTokens = rows * options.newTokens;
    ({ tokens: responseIds, logProbs: oldLogProbs } = out);
  } else {
    responseIds = randomRows(rng, rows, options.newTokens, config.vocabSize);
    // Scored a micro-batch at a time, as the trainer splits it: all rows' logits at once would not fit the wasm heap.
    oldLogProbs = [];
    for (let i = 0; i < rows; i += microRows) {
      const batch = { promptIds: promptIds.slice(i, i + microRows), responseIds: responseIds.slice(i, i + microRows) };
      oldLogProbs.push(...(await arrayAndDispose(tf.tidy(() => responseLogProbs(policy, batch).logProbs))));
    }
  }
  const rollouts: Rollouts = { promptIds, responseIds, oldLogProbs, advantages: standInAdvantages(rng, options.prompts, options.generations) };
  // What src/worker/grpoTrainer.ts does (its rowsThatFit, after sampling): a micro-batch whose estimate passes the
  // wasm backend's 2 GiB, less the tensors held, runs fewer rows at a time (the same gradient: the loss is a token sum).
  const rowsPerMicro = rowsThatFit({
    phase: 'training', model: config, shape: { promptTokens: options.promptLength, completionTokens: options.newTokens, checkpointed: options.checkpointing }, rows: microRows,
    limitBytes: WASM_TENSOR_BYTES, inUseBytes: tf.memory().numBytes, limitSource: 'the wasm backend',
  });
  // The warm-up (allocator growth, cached weight transposes), profiled for its tensor peak; its time is not taken.
  let profile: Awaited<ReturnType<typeof tf.profile>> | undefined;
  const buffers = await peakBufferBytes(async () => (profile = await tf.profile(() => grpoUpdate(trainer, rollouts, rowsPerMicro, options.newTokens))));
  const times: number[] = [];
  const peaks: number[] = [];
  const before: number[] = [];
  for (let s = 0; s < options.steps; s++) {
    before.push(residentMib('VmRSS'));
    resetPeakResident();
    const t0 = performance.now();
    await grpoUpdate(trainer, rollouts, rowsPerMicro, options.newTokens);
    times.push(performance.now() - t0);
    peaks.push(residentMib('VmHWM'));
  }
  times.sort((a, b) => a - b);
  const result: Measured = {
    ...measured,
    updateMs: times[Math.floor(times.length / 2)],
    updateTokens: rows * (options.promptLength + options.newTokens),
    microBatches: Math.ceil(rows / microRows),
    rowsAtOnce: rowsPerMicro,
    parameters,
    trainable,
    peakTensorMib: mib(profile!.peakBytes),
    peakRssMib: Math.max(...peaks),
    rssBeforeMib: Math.min(...before),
    wasmHeapMib: mib(wasmHeapBytes()),
    peakBufferMib: mib(buffers),
  };
  trainer.dispose();
  policy.dispose();
  console.log(JSON.stringify(result));
}

/** The arguments that carry the options to a child process (tfjs) or to bench/lora_torch.py. */
function sizeArgs(options: LoraOptions, style: 'tfjs' | 'torch'): string[] {
  const p = style === 'tfjs' ? '--lora-' : '--';
  return [`${p}steps`, String(options.steps), `${p}prompts`, String(options.prompts), `${p}generations`, String(options.generations),
    `${p}prompt-len`, String(options.promptLength), `${p}new`, String(options.newTokens),
    ...(options.checkpointing ? [style === 'tfjs' ? '--lora-checkpointing' : '--checkpointing'] : [])];
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? '';
}

/** A failed child's error: its first `…Error: message` line (Node and Python print the stack around it), else its last line. */
function errorLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  return lines.find((l) => /^\s*(\w+\.)*\w*(Error|Exception)\b/.test(l)) ?? lines.pop() ?? '(no output)';
}

function runTfjs(script: string, run: LoraRun, options: LoraOptions): Outcome {
  const config = modelConfig(run.shape);
  const estimate = estimateBytes(config, run.mode, run.microTokens);
  if (estimate > WASM_TENSOR_BYTES) {
    return { skipped: `skipped: needs about ${(estimate / 2 ** 30).toFixed(1)} GiB (memoryBudget.trainingBytes), more than the wasm backend's 2 GiB` };
  }
  const child = spawnSync(process.execPath, [...process.execArgv, script, '--child-lora', JSON.stringify(run), ...sizeArgs(options, 'tfjs')], { encoding: 'utf8' });
  if (child.status !== 0) return { failed: `failed: ${errorLine(child.stderr)}` };
  return { measured: JSON.parse(lastLine(child.stdout)) as Measured };
}

interface TorchRecord {
  phase: 'sample' | 'update';
  ms: number;
  tokens: number;
  micro_batches?: number;
  parameters?: number;
  trainable?: number;
  peak_tensor_mib?: number;
  peak_rss_mib?: number;
  rss_before_mib?: number;
  torch: string;
}

function runTorch(run: LoraRun, options: LoraOptions): Outcome & { version?: string } {
  const args = [path.join(__dirname, 'lora_torch.py'), '--shape', run.shape, '--mode', run.mode, '--micro-tokens', String(run.microTokens),
    '--threads', '2', '--r', String(LORA.r), '--alpha', String(LORA.lora_alpha), '--dropout', String(LORA.lora_dropout), ...sizeArgs(options, 'torch')];
  if (run.sample) args.push('--sample');
  const env = { ...process.env };
  delete env.OMP_WAIT_POLICY; // the reference configuration of bench/torch.ts: OpenMP's defaults
  const child = spawnSync(PYTHON, args, { encoding: 'utf8', env });
  if (child.status !== 0) return { failed: `failed: ${errorLine(child.stderr)}` };
  const records = child.stdout.trim().split('\n').map((line) => JSON.parse(line) as TorchRecord);
  const sample = records.find((r) => r.phase === 'sample');
  const update = records.find((r) => r.phase === 'update')!;
  return {
    version: update.torch,
    measured: {
      sampleMs: sample?.ms, sampleTokens: sample?.tokens, updateMs: update.ms, updateTokens: update.tokens, microBatches: update.micro_batches!,
      parameters: update.parameters!, trainable: update.trainable!, peakTensorMib: update.peak_tensor_mib!, peakRssMib: update.peak_rss_mib!, rssBeforeMib: update.rss_before_mib!,
    },
  };
}

function torchAvailable(): string | null {
  if (!fs.existsSync(PYTHON)) return `${PYTHON} not found`;
  const probe = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  return probe.status === 0 ? null : 'PyTorch is not installed for /usr/bin/python3 (apt-get install -y python3-torch libopenblas0-pthread)';
}

const fmt = (x: number | undefined, digits = 0) => (x === undefined ? '–' : x.toFixed(digits));

function tableRow(shape: string, framework: string, run: LoraRun, outcome: Outcome, rows: number): string {
  const head = `| ${shape} | ${framework} | ${run.mode === 'lora' ? `LoRA r ${LORA.r}` : 'full'} | ${run.microTokens} |`;
  if (!('measured' in outcome)) return `${head} ${'skipped' in outcome ? outcome.skipped : outcome.failed} | | | | | | |`;
  const m = outcome.measured;
  const sampling = m.sampleMs === undefined ? '–' : fmt((m.sampleTokens! / m.sampleMs) * 1000);
  const rss = `${fmt(m.peakRssMib)} (${fmt(m.rssBeforeMib)} before${m.wasmHeapMib === undefined ? '' : `; wasm heap ${fmt(m.wasmHeapMib)}`})`;
  const tensors = m.peakBufferMib === undefined ? fmt(m.peakTensorMib) : `${fmt(m.peakTensorMib)} (distinct buffers ${fmt(m.peakBufferMib)})`;
  const update = m.updateMs < 10000 ? `${fmt(m.updateMs)} ms` : `${fmt(m.updateMs / 1000, 1)} s`;
  const split = m.rowsAtOnce === undefined ? '' : `, ${m.rowsAtOnce} of ${rows} rows at a time`;
  return `${head} ${sampling} | ${update} (${m.microBatches} micro-batches${split}) | ${fmt((m.updateTokens / m.updateMs) * 1000)} | ${tensors} | ${rss} | ` +
    `${(m.trainable / 1e6).toFixed(2)} M of ${(m.parameters / 1e6).toFixed(2)} M |`;
}

/** LoRA's peak over full fine-tuning's at the first micro-batch size; against an estimate when full was skipped. */
function ratioLine(framework: string, shape: string, lora: Outcome | undefined, full: Outcome | undefined, microTokens: number): string {
  if (!lora || !('measured' in lora)) return `  ${framework} ${shape}: no LoRA measurement`;
  const ours = lora.measured.peakTensorMib;
  const verdict = (ratio: number) => `${ratio.toFixed(2)} (${ratio <= 1 / 3 ? 'meets' : 'misses'} ≤ 0.33)`;
  if (full && 'measured' in full) {
    const rss = `; peak RSS ${fmt(lora.measured.peakRssMib)} / ${fmt(full.measured.peakRssMib)} MiB = ${(lora.measured.peakRssMib / full.measured.peakRssMib).toFixed(2)}`;
    return `  ${framework} ${shape}: tensors LoRA ${fmt(ours)} / full ${fmt(full.measured.peakTensorMib)} MiB = ${verdict(ours / full.measured.peakTensorMib)}${rss}`;
  }
  // memoryBudget's estimate counts tensor bytes, as the measured tensor peak does.
  const estimate = mib(estimateBytes(modelConfig(shape), 'full', microTokens));
  return `  ${framework} ${shape}: tensors LoRA ${fmt(ours)} MiB measured / full ${fmt(estimate)} MiB estimated (memoryBudget.trainingBytes; ` +
    `not runnable here) = ${verdict(ours / estimate)}`;
}

/** The whole section, printed. `script` is the bench entry point, started again with `--child-lora`. */
export async function runLora(script: string, options: LoraOptions): Promise<void> {
  const rows = options.prompts * options.generations;
  for (const m of options.microTokens) {
    if (m % options.newTokens !== 0) throw new Error(`--lora-micro-tokens: ${m} is not a whole number of rows of ${options.newTokens} completion tokens`);
  }
  console.log('');
  console.log(`LoRA GRPO step (issue 14): random f32 weights; ${options.prompts} prompts × G ${options.generations} = ${rows} rows of ` +
    `${options.promptLength} prompt + ${options.newTokens} new tokens (temperature 1, KV cache, no early stop); update: GRPO loss ` +
    `(ε ${EPSILON}, β 0, dapo), clip 1.0, Adam on what trains, micro-batches of ${options.microTokens.join(' / ')} completion tokens; ` +
    `gradient checkpointing ${options.checkpointing ? 'on' : 'off'} (both sides); ` +
    `LoRA r ${LORA.r}, α ${LORA.lora_alpha}, dropout ${LORA.lora_dropout} on GPT-2 ${TARGETS.gpt2.join(', ')} / Qwen2 ${TARGETS.llama.join(', ')}; ` +
    `one warm-up, then ${options.steps} measured step(s), each configuration in its own process`);
  const torchMissing = options.torch ? torchAvailable() : '--no-torch';
  if (torchMissing) console.log(`PyTorch rows skipped: ${torchMissing}`);
  const results = new Map<string, Outcome>();
  let torchVersion = '';
  for (const shape of options.shapes) {
    const config = modelConfig(shape);
    console.log(`  ${shape}: ${(parameterCount(config) / 1e6).toFixed(1)} M parameters`);
    for (const mode of ['lora', 'full'] as LoraMode[]) {
      options.microTokens.forEach((microTokens, i) => {
        const run: LoraRun = { shape, mode, microTokens, sample: i === 0 };
        // A progress line per configuration: the big ones take minutes each on 2 cores.
        const timed = <T extends Outcome>(framework: string, measure: () => T): T => {
          const t0 = performance.now();
          const outcome = measure();
          const what = 'measured' in outcome ? 'measured' : 'skipped' in outcome ? 'skipped' : 'failed';
          console.log(`    ${framework} ${mode} ${microTokens}: ${what} in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
          return outcome;
        };
        results.set(`tfjs/${shape}/${mode}/${microTokens}`, timed('tfjs', () => runTfjs(script, run, options)));
        if (torchMissing) return;
        const torch = timed('PyTorch', () => runTorch(run, options));
        torchVersion = torch.version ?? torchVersion;
        results.set(`torch/${shape}/${mode}/${microTokens}`, torch);
      });
    }
  }
  console.log('');
  console.log('| model | framework | mode | micro-batch tokens | sampling tokens/s | update | update tokens/s | peak tensors, MiB | peak RSS, MiB | trained parameters |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const shape of options.shapes) {
    for (const framework of ['tfjs', 'torch']) {
      for (const mode of ['lora', 'full'] as LoraMode[]) {
        for (const microTokens of options.microTokens) {
          const outcome = results.get(`${framework}/${shape}/${mode}/${microTokens}`);
          if (!outcome) continue;
          const label = framework === 'tfjs' ? 'tfjs wasm' : `PyTorch ${torchVersion}, 2 threads`;
          console.log(tableRow(shape, label, { shape, mode, microTokens, sample: false }, outcome, microTokens / options.newTokens));
        }
      }
    }
  }
  console.log(`sampling tokens/s: new tokens; update tokens/s: prompt + completion tokens (${rows} × ${options.promptLength + options.newTokens}). ` +
    'Peak tensors: the most bytes of live tensors in the update, weights and optimizer state included (tfjs: tf.profile; PyTorch: ' +
    'torch.profiler\'s allocator events). Peak RSS: the process\'s peak resident size in the update (its size as the update starts; ' +
    'the wasm heap, which only grows): runtimes and allocator caches included.');
  console.log('');
  const target = options.microTokens[0];
  console.log(`Peak memory of the LoRA update over full fine-tuning's at ${target}-token micro-batches (target ≤ 1/3):`);
  for (const shape of options.shapes) {
    for (const framework of ['tfjs', 'torch']) {
      if (framework === 'torch' && torchMissing) continue;
      console.log(ratioLine(framework, shape, results.get(`${framework}/${shape}/lora/${target}`), results.get(`${framework}/${shape}/full/${target}`), target));
    }
  }
}
