/**
 * `npm run bench:gpu`: the GPU half of issue 7, ready to run on a machine with a GPU and a Vulkan driver
 * (docs/gpu.md gives the commands, including the device-machine carry). NOT YET RUN ON A GPU.
 *
 *   node dist/bench-gpu.js [--steps 20] [--models tiny,small,base,gpt2-124m] [--backends webgpu,wasm]
 *                          [--numerics-models small,base,gpt2-124m] [--torch bench/gpu_torch.py] [--out <folder>]
 *
 * 1. Numerics: the backend numerics scenario (logits, GRPO loss, gradients, 3 Adam steps) on webgpu vs wasm, for
 *    the GPT-2-family models (small, base, 124 M).
 * 2. GRPO steps of the demo config's shapes (examples/arithmetic.json: prompts/step, G, completion length,
 *    micro-batch) for each model shape, on each backend: sampling with the KV cache, reference log-probs, and the
 *    policy update (forward + backward + Adam), tokens/s per phase. The phases read tensors with `await data()`,
 *    as the trainer does (webgpu cannot read synchronously under Node).
 * 3. The same shapes and phases in PyTorch CUDA eager (bench/gpu_torch.py), GPT-2 family only.
 * Prints a Markdown report and writes it (with the raw JSON) under --out.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { grpoMicrobatchLoss } from '../src/grpo';
import { loadPolicy, Policy, responseLogProbs } from '../src/model';
import type { ModelConfig, ResponseBatch } from '../src/model';
import { initWeights } from '../src/model/policy';
import { preset, PresetName } from '../src/model/presets';
import { attentionBias, disposeCache, emptyCache, ForwardInput, KVCache } from '../src/model/model';
import { padLayout } from '../src/model/logprobs';
import { activateBackend, BackendUnavailable, ConcreteBackend, selectBackend, webgpuMaxBindingBytes } from '../src/worker/backend';
import { systemReport } from '../src/worker/doctor';
import { compareNumerics, NumericsResult, outOfTolerance, runNumerics } from '../src/worker/numerics';

type ModelName = PresetName | 'gpt2-124m';

/**
 * tfjs-backend-wasm aborts ("memory access out of bounds" / "Aborted()") in the 124 M model's first backward pass:
 * weights, gradients and the tied embedding's transposes outgrow the part of its heap it can address (seen here;
 * the forward pass alone runs). Its benchmark row still runs, last, and reports the failure.
 */
const WASM_CANNOT_TRAIN = new Set<ModelName>(['gpt2-124m']);

/** The demo config's GRPO step shapes (examples/arithmetic.json), with a prompt length typical of its prompts. */
interface StepShapes {
  prompts: number;
  generations: number;
  promptLength: number;
  completionLength: number;
  microBatch: number;
}

interface PhaseTimes {
  sampleTokensPerSecond: number;
  referenceTokensPerSecond: number;
  trainTokensPerSecond: number;
  stepSeconds: number;
}

interface Row {
  model: ModelName;
  backend: string;
  parameters: number;
  phases?: PhaseTimes;
  note?: string;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

/** GPT-2 small's shape (12 × 768, 12 heads, 1024 positions, vocabulary 50257): 124 M parameters. */
function gpt2SmallConfig(): ModelConfig {
  const base = preset('small').config;
  return { ...base, vocabSize: 50257, dModel: 768, nLayers: 12, nHeads: 12, nKvHeads: 12, headDim: 64, dFF: 3072, maxPositions: 1024 };
}

function makePolicy(model: ModelName): Policy {
  if (model !== 'gpt2-124m') return loadPolicy(model, { seed: 1 });
  const config = gpt2SmallConfig();
  return new Policy(config, preset('small').tokenizer, initWeights(config, 1), true);
}

function demoShapes(root: string): StepShapes {
  const config = JSON.parse(fs.readFileSync(path.join(root, 'examples', 'arithmetic.json'), 'utf8')) as {
    algorithm: { num_generations: number };
    optimization: { prompts_per_step: number; micro_batch_size: number };
    sampling: { max_completion_length: number };
  };
  return {
    prompts: config.optimization.prompts_per_step,
    generations: config.algorithm.num_generations,
    promptLength: 8,
    completionLength: config.sampling.max_completion_length,
    microBatch: config.optimization.micro_batch_size,
  };
}

function ids(rows: number, length: number, vocab: number, salt: number): number[][] {
  return Array.from({ length: rows }, (_, r) => Array.from({ length }, (_, t) => 1 + ((r * 131 + t * 31 + salt) % (Math.min(vocab, 64) - 2))));
}

/** Prefill + KV-cache decode of every rollout, picking the argmax on the host as the sampler does per token. */
async function samplePhase(policy: Policy, prompts: number[][], newTokens: number): Promise<number[][]> {
  const B = prompts.length;
  const layout = padLayout({ promptIds: prompts, responseIds: prompts.map(() => []) }, policy.tokenizer.padTokenId);
  const keyValid = layout.keyValid.map((r) => [...r]);
  const cache = emptyCache(policy.config.nLayers);
  const out: number[][] = prompts.map(() => []);
  try {
    const T = layout.promptWidth;
    let logits = await logitsOf(policy, cache, { batch: B, length: T, ids: tf.tensor2d(layout.tokens, [B, T], 'int32'), positions: layout.positions, keyValid, past: 0 });
    for (let step = 0; step < newTokens; step++) {
      const chosen = argmaxRows(logits, policy.config.vocabSize);
      chosen.forEach((token, b) => out[b].push(token));
      if (step === newTokens - 1) break;
      keyValid.forEach((row) => row.push(true));
      const positions = Int32Array.from(prompts.map((p) => p.length + step));
      logits = await logitsOf(policy, cache, { batch: B, length: 1, ids: tf.tensor2d(chosen.map((t) => [t]), [B, 1], 'int32'), positions, keyValid, past: T + step });
    }
  } finally {
    disposeCache(cache);
  }
  return out;
}

async function logitsOf(
  policy: Policy,
  cache: KVCache,
  step: { batch: number; length: number; ids: tf.Tensor2D; positions: Int32Array; keyValid: boolean[][]; past: number },
): Promise<Float32Array> {
  const logits = tf.tidy(() => {
    const input: ForwardInput = {
      batch: step.batch,
      length: step.length,
      ids: step.ids,
      positions: step.positions,
      attentionBias: attentionBias(step.keyValid, step.past, step.length),
      logitsFrom: step.length - 1,
    };
    return policy.logits(input, cache);
  });
  step.ids.dispose();
  const values = (await logits.data()) as Float32Array;
  logits.dispose();
  return values;
}

function argmaxRows(logits: Float32Array, vocab: number): number[] {
  const rows = logits.length / vocab;
  return Array.from({ length: rows }, (_, r) => {
    let best = 0;
    for (let v = 1; v < vocab; v++) if (logits[r * vocab + v] > logits[r * vocab + best]) best = v;
    return best;
  });
}

/** Reference log-probs of every rollout (no gradient), micro-batched like the trainer; they serve as π_old below. */
async function referencePhase(policy: Policy, batches: ResponseBatch[]): Promise<tf.Tensor2D[]> {
  const out: tf.Tensor2D[] = [];
  for (const batch of batches) {
    const logProbs = tf.tidy(() => responseLogProbs(policy, batch).logProbs);
    await logProbs.data();
    out.push(logProbs);
  }
  return out;
}

/** μ = 1 update: GRPO-Clip loss, gradients summed over micro-batches by the optimizer, one Adam step each. */
async function trainPhase(policy: Policy, optimizer: tf.Optimizer, batches: ResponseBatch[], oldLogProbs: tf.Tensor2D[]): Promise<void> {
  for (const [i, batch] of batches.entries()) {
    const advantages = tf.tensor2d(batch.promptIds.map((_, r) => [r % 2 === 0 ? 1 : -1]));
    const { value, grads } = tf.variableGrads(() => {
      const { logProbs, responseMask } = responseLogProbs(policy, batch);
      return grpoMicrobatchLoss(logProbs, responseMask, batches.length, 'grpo_clip', undefined, advantages, oldLogProbs[i], 0.2).loss;
    }, policy.variables());
    optimizer.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
    await value.data();
    tf.dispose([value, advantages, ...Object.values(grads)]);
  }
}

function microBatches(prompts: number[][], completions: number[][], size: number): ResponseBatch[] {
  const out: ResponseBatch[] = [];
  for (let i = 0; i < prompts.length; i += size) out.push({ promptIds: prompts.slice(i, i + size), responseIds: completions.slice(i, i + size) });
  return out;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return (performance.now() - start) / 1000;
}

/** `steps` GRPO steps of the demo shapes; the first is warm-up (shader compilation) and left out of the medians. */
async function grpoSteps(policy: Policy, shapes: StepShapes, steps: number): Promise<PhaseTimes> {
  const rows = shapes.prompts * shapes.generations;
  const prompts = ids(rows, shapes.promptLength, policy.config.vocabSize, 7);
  const optimizer = tf.train.adam(1e-5);
  const times: number[][] = [];
  try {
    for (let step = 0; step <= steps; step++) {
      let completions: number[][] = [];
      const sample = await timed(async () => (completions = await samplePhase(policy, prompts, shapes.completionLength)));
      const batches = microBatches(prompts, completions, shapes.microBatch);
      let old: tf.Tensor2D[] = [];
      const reference = await timed(async () => (old = await referencePhase(policy, batches)));
      const train = await timed(() => trainPhase(policy, optimizer, batches, old));
      tf.dispose(old);
      if (step > 0) times.push([sample, reference, train]);
    }
  } finally {
    optimizer.dispose();
  }
  const med = (k: number) => median(times.map((t) => t[k]));
  const generated = rows * shapes.completionLength;
  const scored = rows * (shapes.promptLength + shapes.completionLength);
  return {
    sampleTokensPerSecond: generated / med(0),
    referenceTokensPerSecond: scored / med(1),
    trainTokensPerSecond: scored / med(2),
    stepSeconds: med(0) + med(1) + med(2),
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * Why this policy cannot run on the active backend, or null. On webgpu a weight larger than the device's largest
 * buffer binding gives wrong numbers rather than an error, so it is checked up front.
 */
function doesNotFit(policy: Policy): string | null {
  const limit = webgpuMaxBindingBytes();
  if (limit === null) return null;
  const [name, largest] = [...policy.weights].reduce((a, b) => (b[1].size > a[1].size ? b : a));
  const bytes = largest.size * 4;
  return bytes > limit ? `weight ${name} (${(bytes / 2 ** 20).toFixed(0)} MiB) exceeds this adapter's largest buffer binding (${(limit / 2 ** 20).toFixed(0)} MiB)` : null;
}

async function tryBackend(name: ConcreteBackend): Promise<string | BackendUnavailable> {
  try {
    return await activateBackend(name, { allowSoftwareAdapter: true });
  } catch (err) {
    if (err instanceof BackendUnavailable) return err;
    throw err;
  }
}

/**
 * The reference run of the numerics: wasm, else the cpu backend. tfjs-backend-wasm aborts on the 124 M model's
 * backward pass (its heap runs out), so the GPU numbers of that size are checked against plain JavaScript.
 */
async function referenceNumerics(model: ModelName): Promise<{ name: string; result: NumericsResult }> {
  // An abort leaves the wasm module unusable for the rest of the process, so the known case is not even tried.
  const candidates = WASM_CANNOT_TRAIN.has(model) ? (['cpu'] as const) : (['wasm', 'cpu'] as const);
  for (const name of candidates) {
    try {
      await selectBackend(name);
      return { name, result: await runNumerics(() => makePolicy(model)) };
    } catch (err) {
      process.stderr.write(`  ${model}: the ${name} reference failed (${String(err).split('\n')[0]})\n`);
    }
  }
  throw new Error(`no reference backend could run ${model}`);
}

async function numericsSection(backends: ConcreteBackend[], models: ModelName[]): Promise<string[]> {
  const lines = [
    '## Numerics against the CPU (wasm; cpu where wasm cannot hold the model), tolerance 1e-3',
    '',
    '| backend | model | reference | logits rel. | loss abs. | grads rel. | 3-step loss abs. | ok |',
    '|---|---|---|---:|---:|---:|---:|---|',
  ];
  for (const model of models) {
    const reference = await referenceNumerics(model);
    for (const backend of backends.filter((b) => b !== reference.name)) {
      lines.push(await numericsRow(backend, model, reference));
    }
  }
  return lines;
}

async function numericsRow(backend: ConcreteBackend, model: ModelName, reference: { name: string; result: NumericsResult }): Promise<string> {
  const device = await tryBackend(backend);
  if (device instanceof BackendUnavailable) return `| ${backend} | ${model} | ${reference.name} | skipped: ${device.reason} |||||`;
  const policy = makePolicy(model);
  const skip = doesNotFit(policy);
  if (skip) {
    policy.dispose();
    return `| ${backend} | ${model} | ${reference.name} | skipped: ${skip} |||||`;
  }
  try {
    const d = compareNumerics(await runNumerics(() => policy), reference.result);
    const e = (x: number) => x.toExponential(1);
    return `| ${backend} | ${model} | ${reference.name} | ${e(d.logitsRelative)} | ${e(d.lossAbsolute)} | ${e(d.gradientsRelative)} | ${e(d.stepLossAbsolute)} | ${outOfTolerance(d).length === 0 ? 'yes' : 'NO'} |`;
  } catch (err) {
    return `| ${backend} | ${model} | ${reference.name} | failed: ${String(err).split('\n')[0]} |||||`;
  }
}

async function benchmarkRows(models: ModelName[], backends: ConcreteBackend[], shapes: StepShapes, steps: number): Promise<Row[]> {
  const rows: Row[] = [];
  for (const backend of backends) {
    const device = await tryBackend(backend);
    for (const model of models) {
      if (device instanceof BackendUnavailable) {
        rows.push({ model, backend, parameters: 0, note: `skipped: ${device.reason}` });
        continue;
      }
      const policy = makePolicy(model);
      const parameters = policy.parameterCount();
      const skip = doesNotFit(policy);
      if (skip) {
        policy.dispose();
        rows.push({ model, backend: `${backend} (${device})`, parameters, note: `skipped: ${skip}` });
        continue;
      }
      // A CPU step of the 124 M model takes minutes (single-threaded wasm): one measured step after the warm-up.
      const n = backend !== 'webgpu' && model === 'gpt2-124m' ? Math.min(steps, 1) : steps;
      process.stderr.write(`  ${model} on ${backend} (${device}): ${n} steps\n`);
      try {
        rows.push({ model, backend: `${backend} (${device})`, parameters, phases: await grpoSteps(policy, shapes, n) });
      } catch (err) {
        // tfjs-backend-wasm aborts when its heap runs out (the 124 M model with Adam state); report, go on.
        rows.push({ model, backend: `${backend} (${device})`, parameters, note: `failed: ${String(err).split('\n')[0]}` });
      }
      policy.dispose();
    }
  }
  return rows;
}

/** PyTorch CUDA eager on the same shapes (GPT-2 family), from bench/gpu_torch.py; a skip row when it cannot run. */
function torchRows(script: string, models: ModelName[], shapes: StepShapes, steps: number): Row[] {
  const gpt2 = models.filter((m) => m !== 'tiny');
  try {
    const out = execFileSync('python3', [script, '--models', gpt2.join(','), '--steps', String(steps), '--shapes', JSON.stringify(shapes)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: 600_000,
    });
    return JSON.parse(out.trim().split('\n').pop() ?? '[]') as Row[];
  } catch (err) {
    return [{ model: 'small', backend: 'pytorch', parameters: 0, note: `skipped: ${String(err).split('\n')[0]}` }];
  }
}

function rowsTable(rows: Row[]): string[] {
  const lines = ['| model | parameters | backend | sampling tok/s | reference tok/s | update tok/s | step s | note |', '|---|---:|---|---:|---:|---:|---:|---|'];
  for (const r of rows) {
    const p = r.phases;
    const f = (x: number | undefined) => (x === undefined ? '' : x >= 100 ? x.toFixed(0) : x.toFixed(2));
    lines.push(`| ${r.model} | ${r.parameters ? (r.parameters / 1e6).toFixed(1) + ' M' : ''} | ${r.backend} | ${f(p?.sampleTokensPerSecond)} | ${f(p?.referenceTokensPerSecond)} | ${f(p?.trainTokensPerSecond)} | ${p ? p.stepSeconds.toFixed(3) : ''} | ${r.note ?? ''} |`);
  }
  return lines;
}

async function main(): Promise<void> {
  const root = path.resolve(__dirname, '..');
  const steps = Number(arg('steps', '20'));
  const models = arg('models', 'tiny,small,base,gpt2-124m').split(',') as ModelName[];
  // GPT-2-family shapes only: the 124 M one is the size the targets are about, and the cpu reference of it is slow.
  const numericsModels = arg('numerics-models', 'small,base,gpt2-124m').split(',').filter(Boolean) as ModelName[];
  const backends = arg('backends', 'webgpu,wasm').split(',') as ConcreteBackend[];
  const shapes = demoShapes(root);
  const system = systemReport();
  const report = [
    '# GRPO Studio GPU benchmark',
    '',
    `${new Date().toISOString()} · ${system.platform} · Node ${system.node} · ${system.cpus} cores · GPUs: ${system.nvidiaGpus.join('; ') || 'none'}`,
    `Vulkan loader: ${system.vulkanLoader ?? 'none'} · drivers: ${system.vulkanDrivers.map((d) => path.basename(d)).join(', ') || 'none'}`,
    `Step shapes (examples/arithmetic.json): ${JSON.stringify(shapes)} · ${steps} steps after one warm-up`,
    '',
    ...(await numericsSection(backends, numericsModels)),
    '',
    '## GRPO step phases',
    '',
  ];
  const rows = [...(await benchmarkRows(models, backends, shapes, steps)), ...torchRows(arg('torch', path.join(root, 'bench', 'gpu_torch.py')), models, shapes, steps)];
  report.push(...rowsTable(rows), '');
  const text = report.join('\n');
  console.log(text);
  const out = arg('out', '');
  if (out) {
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, 'gpu-bench.md'), text);
    fs.writeFileSync(path.join(out, 'gpu-bench.json'), JSON.stringify({ system, shapes, rows }, null, 2));
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack ?? err.message : String(err));
  process.exitCode = 1;
});
