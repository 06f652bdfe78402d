/**
 * `npm run bench:model`: the model stack's speed on the issue's reference shapes (batch 32, 32 prompt + 32 new
 * tokens; "small" = d 128 × 4 layers, "base" = d 256 × 6 layers, vocabulary 64), tfjs wasm side by side with
 * PyTorch on the CPU (bench/model_torch.py, run with /usr/bin/python3; skipped with a note when missing).
 *
 * The wasm backend runs its matrix products on a thread pool (one thread per core); the single-threaded and
 * data-parallel rows come from a child process started with GRPO_WASM_THREADS=1, since a process fixes its thread
 * count when wasm first starts and a pool next to the data-parallel replica would oversubscribe the cores.
 *
 * Then the real stories260K checkpoint (bench/stories.ts): sampling and one GRPO step, tfjs wasm and PyTorch
 * (bench/stories_torch.py) on the same rollouts, after checking that both compute the same logits.
 *
 * Options: --reps N (default 5), --shapes small,base, --kv-batch N (rows for the KV-cache comparison, default 8),
 * --steps N (train steps for the tensor-count / RSS check, default 300), --no-torch; --stories-only (only the
 * stories260K section), --no-stories (without it), --stories-new N (new tokens per rollout there, default 128);
 * --lora-only (only the LoRA section, bench/lora.ts), --no-lora (without it), --lora-shapes gpt2-124m,qwen2.5-0.5b,
 * --lora-modes lora,full,
 * --lora-steps N (measured update steps after one warm-up, default 1), --lora-micro-tokens 256,512, and the step's
 * size: --lora-prompts 4, --lora-generations 4, --lora-prompt-len 32, --lora-new 64; --lora-no-checkpointing (the update
 * without gradient checkpointing, both sides), --lora-past-estimate (run on wasm what the 2 GiB estimate refuses: the
 * heap may hold up to 4 GiB; a trap is reported as a failure).
 * Prints numbers only; nothing here asserts a timing.
 */
import { spawnSync } from 'child_process';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/worker/backend';
import { CharTokenizer, generate, loadPolicy, ModelConfig, Policy, PolicyTrainer, PresetName, Random, ResponseBatch, responseLogProbs } from '../src/model';
import { initWeights } from '../src/model/policy';
import { simdVariant } from '../src/model/simdKernels';
import { DEFAULT_LORA_OPTIONS, loraChild, LoraOptions, runLora } from './lora';
import { runStories, storiesChild, StoriesOptions } from './stories';
import { runTorchConfigs, summarizeTorch, TorchResult } from './torch';

const BATCH = 32;
const PROMPT = 32;
const NEW = 32;

type Phase = 'forward' | 'train' | 'train1' | 'train2' | 'sample' | 'sample1';
const PHASES: Phase[] = ['forward', 'train', 'train1', 'train2', 'sample', 'sample1'];
const POOL_PHASES: Phase[] = ['forward', 'train', 'sample'];
const SINGLE_PHASES: Phase[] = ['train1', 'train2', 'sample1'];
const PHASE_LABELS: Record<Phase, string> = {
  forward: 'forward log-probs',
  train: 'fwd+bwd+Adam (thread pool)',
  train1: 'fwd+bwd+Adam, 1 thread',
  train2: 'fwd+bwd+Adam, data-parallel (2 single-threaded instances)',
  sample: 'sample 32, KV cache (thread pool)',
  sample1: 'sample 32, KV cache, 1 thread',
};
/** The PyTorch phase each row is compared with. */
const TORCH_PHASE: Record<Phase, string> = { forward: 'forward', train: 'train', train1: 'train', train2: 'train', sample: 'sample', sample1: 'sample' };

interface Args {
  reps: number;
  /** The stories260K section: with the others, alone (--stories-only), or left out (--no-stories). */
  stories: 'with' | 'only' | 'without';
  storiesNew: number;
  shapes: PresetName[];
  kvBatch: number;
  steps: number;
  torch: boolean;
  /** The LoRA section (issue 14): with the others, alone (--lora-only), or left out (--no-lora). */
  lora: 'with' | 'only' | 'without';
  loraOptions: LoraOptions;
}

function parseArgs(argv: string[]): Args {
  const value = (flag: string, fallback: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 && argv[i + 1] ? argv[i + 1] : fallback;
  };
  return {
    reps: Number(value('--reps', '5')),
    stories: argv.includes('--stories-only') ? 'only' : argv.includes('--no-stories') ? 'without' : 'with',
    storiesNew: Number(value('--stories-new', '128')),
    shapes: value('--shapes', 'small,base').split(',') as PresetName[],
    kvBatch: Number(value('--kv-batch', '8')),
    steps: Number(value('--steps', '300')),
    torch: !argv.includes('--no-torch'),
    lora: argv.includes('--lora-only') ? 'only' : argv.includes('--no-lora') ? 'without' : 'with',
    loraOptions: {
      shapes: value('--lora-shapes', DEFAULT_LORA_OPTIONS.shapes.join(',')).split(','),
      modes: value('--lora-modes', DEFAULT_LORA_OPTIONS.modes.join(',')).split(',').map((m) => {
        if (m !== 'lora' && m !== 'full') throw new Error(`--lora-modes: '${m}' is neither lora nor full`);
        return m;
      }),
      steps: Number(value('--lora-steps', String(DEFAULT_LORA_OPTIONS.steps))),
      microTokens: value('--lora-micro-tokens', DEFAULT_LORA_OPTIONS.microTokens.join(',')).split(',').map(Number),
      prompts: Number(value('--lora-prompts', String(DEFAULT_LORA_OPTIONS.prompts))),
      generations: Number(value('--lora-generations', String(DEFAULT_LORA_OPTIONS.generations))),
      promptLength: Number(value('--lora-prompt-len', String(DEFAULT_LORA_OPTIONS.promptLength))),
      newTokens: Number(value('--lora-new', String(DEFAULT_LORA_OPTIONS.newTokens))),
      // The parent passes --lora-checkpointing to its children; by hand, --lora-no-checkpointing turns it off.
      checkpointing: argv.includes('--child-lora') ? argv.includes('--lora-checkpointing') : !argv.includes('--lora-no-checkpointing'),
      pastEstimate: argv.includes('--lora-past-estimate'),
      torch: !argv.includes('--no-torch'),
    },
  };
}

async function medianMs(reps: number, fn: () => unknown): Promise<number> {
  await fn(); // warm-up: kernel compilation, allocator growth
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

function randomRows(rng: Random, rows: number, length: number, vocab: number): number[][] {
  // Ids ≥ 2 skip <pad> and <eos>.
  return Array.from({ length: rows }, () => Array.from({ length }, () => 2 + rng.int(vocab - 2)));
}

/** The phases of one process: the thread pool's ('pool'), or one thread and data parallelism ('single'). */
async function measureTfjs(shape: PresetName, reps: number, mode: 'pool' | 'single'): Promise<Partial<Record<Phase, number>>> {
  const policy = loadPolicy(shape, { seed: 0 });
  const rng = new Random(1);
  const batch: ResponseBatch = { promptIds: randomRows(rng, BATCH, PROMPT, policy.config.vocabSize), responseIds: randomRows(rng, BATCH, NEW, policy.config.vocabSize) };
  const trainer = new PolicyTrainer(policy, { learningRate: 1e-4, maxGradNorm: 1 });
  const meanNll = (lp: tf.Tensor2D) => tf.neg(tf.mean(lp)) as tf.Scalar;
  const train = () => medianMs(reps, () => trainer.trainStep([batch], meanNll));
  const sample = () => medianMs(reps, () => generate(policy, batch.promptIds, { maxNewTokens: NEW, temperature: 1, stopTokenIds: [], rng }));
  const result: Partial<Record<Phase, number>> = {};
  if (mode === 'pool') {
    result.forward = await medianMs(reps, () => tf.tidy(() => void responseLogProbs(policy, batch).logProbs.dataSync()));
    result.train = await train();
    result.sample = await sample();
  } else {
    result.train1 = await train();
    result.sample1 = await sample();
    await trainer.enableDataParallel();
    result.train2 = await train();
  }
  trainer.dispose();
  policy.dispose();
  return result;
}

/** The matrix-product kernels of tfjs (plain, batched, and with a fused bias or activation). */
const PRODUCT_KERNELS = new Set(['BatchMatMul', '_FusedMatMul', 'MatMul', 'GrpoProduct']);
/** tf.customGrad's forward runs as a kernel of this name whose time includes the kernels inside it: not summed. */
const CUSTOM_GRAD_SCOPE = 'unnamed scope';

/**
 * Where one train step's time goes (issue 17: "print the product-bound floor next to the measured time"): one
 * step under tf.profile, whose kernel times on wasm are the wall time of each kernel call. Products: the floor no
 * work outside them can lower. Other kernels: element-wise work, reductions, copies, and on wasm our row kernels
 * (fused.ts) and Adam's step. The rest of the measured (unprofiled) median: JavaScript outside kernels (the tape,
 * tensors made from host arrays, garbage collection).
 */
async function profileTrainStep(shape: PresetName, reps: number): Promise<string> {
  const policy = loadPolicy(shape, { seed: 0 });
  const rng = new Random(1);
  const batch: ResponseBatch = { promptIds: randomRows(rng, BATCH, PROMPT, policy.config.vocabSize), responseIds: randomRows(rng, BATCH, NEW, policy.config.vocabSize) };
  const trainer = new PolicyTrainer(policy, { learningRate: 1e-4, maxGradNorm: 1 });
  const meanNll = (lp: tf.Tensor2D) => tf.neg(tf.mean(lp)) as tf.Scalar;
  const step = await medianMs(reps, () => trainer.trainStep([batch], meanNll));
  const profile = await tf.profile(async () => {
    await trainer.trainStep([batch], meanNll);
  });
  trainer.dispose();
  policy.dispose();
  let products = 0;
  let customGrad = 0;
  const others = new Map<string, number>();
  for (const kernel of profile.kernels) {
    const ms = Number(kernel.kernelTimeMs);
    if (kernel.name === CUSTOM_GRAD_SCOPE) customGrad += ms;
    else if (PRODUCT_KERNELS.has(kernel.name)) products += ms;
    else others.set(kernel.name, (others.get(kernel.name) ?? 0) + ms);
  }
  const other = [...others.values()].reduce((a, b) => a + b, 0);
  const top = [...others].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([name, ms]) => `${name} ${ms.toFixed(1)}`).join(', ');
  const outside = Math.max(0, step - products - other);
  return `${shape}: train step ${step.toFixed(0)} ms (median, thread pool) = products ${products.toFixed(0)} ms (the product-bound floor) + ` +
    `other kernels ${other.toFixed(0)} ms (${top}) + outside kernels ${outside.toFixed(0)} ms (custom-gradient forwards, which ` +
    `hold kernels of the above, took ${customGrad.toFixed(0)} ms); non-product ${(step - products).toFixed(0)} ms = ` +
    `${((100 * (step - products)) / step).toFixed(0)} % of the step`;
}

/** The single-threaded rows, measured in a child process whose wasm starts with one thread. */
function measureSingleThreaded(args: Args): Map<string, number> {
  const run = spawnSync(process.execPath, [...process.execArgv, __filename, '--child-single', '--reps', String(args.reps), '--shapes', args.shapes.join(',')], {
    encoding: 'utf8',
    env: { ...process.env, GRPO_WASM_THREADS: '1' },
  });
  if (run.status !== 0) throw new Error(`single-threaded child failed: ${run.stderr.trim().split('\n').pop()}`);
  return new Map(Object.entries(JSON.parse(run.stdout.trim().split('\n').pop()!) as Record<string, number>));
}

/**
 * Qwen2.5's vocabulary (151,936 tokens) on a narrow Qwen2-shaped model (d 128 × 2 layers, tied head): the parts
 * that grow with the vocabulary (output head, softmax, target log-probs, sampling on the host) at a real size.
 */
async function measureLargeVocabulary(reps: number): Promise<string> {
  const vocabSize = 151936;
  // Code points from U+0100 on, around the surrogates: a character tokenizer of exactly that size.
  const alphabet = Array.from({ length: vocabSize - 2 }, (_, i) => String.fromCodePoint(0x100 + i + (0x100 + i >= 0xd800 ? 0x800 : 0))).join('');
  const tokenizer = new CharTokenizer(alphabet);
  const config: ModelConfig = {
    family: 'llama', modelType: 'qwen2', vocabSize, dModel: 128, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 32, dFF: 256,
    maxPositions: 512, normEps: 1e-6, ropeTheta: 1e6, ropeScaling: null, tieEmbeddings: true, qkvBias: true, attnOutBias: false, mlpBias: false,
    eosTokenIds: [tokenizer.eosTokenId], bosTokenId: null,
  };
  const policy = new Policy(config, tokenizer, initWeights(config, 0), true);
  const rng = new Random(5);
  const rows = 8;
  const batch: ResponseBatch = { promptIds: randomRows(rng, rows, PROMPT, vocabSize), responseIds: randomRows(rng, rows, 16, vocabSize) };
  const trainer = new PolicyTrainer(policy, { learningRate: 1e-4, maxGradNorm: 1 });
  const meanNll = (lp: tf.Tensor2D) => tf.neg(tf.mean(lp)) as tf.Scalar;
  const train = await medianMs(reps, () => trainer.trainStep([batch], meanNll));
  const sample = await medianMs(reps, () => generate(policy, batch.promptIds, { maxNewTokens: 16, temperature: 1, topP: 0.95, stopTokenIds: [], rng }));
  const rss = process.memoryUsage().rss / 2 ** 20;
  const parameters = policy.parameterCount();
  trainer.dispose();
  policy.dispose();
  return `Vocabulary 151,936 (Qwen2.5's), d 128 × 2 layers, ${(parameters / 1e6).toFixed(1)} M parameters, ${rows} rows of ${PROMPT} + 16 tokens: ` +
    `fwd+bwd+Adam ${train.toFixed(0)} ms, sample 16 tokens (top-p 0.95) ${sample.toFixed(0)} ms (${((rows * 16) / sample * 1000).toFixed(0)} tokens/s); RSS ${rss.toFixed(0)} MiB`;
}

/** KV cache against re-running the whole prefix, at 128 new tokens. */
async function measureKvCache(kvBatch: number): Promise<{ cached: number; uncached: number }> {
  const policy = loadPolicy('small', { seed: 0 });
  const prompts = randomRows(new Random(2), kvBatch, PROMPT, policy.config.vocabSize);
  const run = async (noCache: boolean) => {
    const t0 = performance.now();
    await generate(policy, prompts, { maxNewTokens: 128, temperature: 1, stopTokenIds: [], seed: 3, noCache });
    return performance.now() - t0;
  };
  await run(false);
  const result = { cached: await run(false), uncached: await run(true) };
  policy.dispose();
  return result;
}

/** The size of the wasm backend's linear memory (it only grows). */
function wasmMemoryBytes(): number {
  return (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.buffer.byteLength;
}

/** Tensor count and RSS before and after many train steps (with a sampling call every 10 steps). */
async function measureStability(steps: number): Promise<string[]> {
  const policy = loadPolicy('small', { seed: 0 });
  const rng = new Random(4);
  const trainer = new PolicyTrainer(policy, { learningRate: 1e-4, maxGradNorm: 1 });
  const batch = (): ResponseBatch => ({ promptIds: randomRows(rng, 8, 16, 64), responseIds: randomRows(rng, 8, 16, 64) });
  const loss = (lp: tf.Tensor2D) => tf.neg(tf.mean(lp)) as tf.Scalar;
  const lines: string[] = [];
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
  // RSS also moves with the garbage collector; the wasm memory and the tensor bytes say whether tensors leak.
  const report = (step: number) => lines.push(
    `  step ${String(step).padStart(5)}: tensors ${tf.memory().numTensors} (${mib(tf.memory().numBytes)}), wasm memory ${mib(wasmMemoryBytes())}, ` +
      `JS heap ${mib(process.memoryUsage().heapUsed)}, RSS ${mib(process.memoryUsage().rss)}`,
  );
  await trainer.trainStep([batch()], loss);
  report(1);
  for (let step = 2; step <= steps; step++) {
    await trainer.trainStep([batch(), batch()], loss);
    if (step % 10 === 0) await generate(policy, batch().promptIds, { maxNewTokens: 8, seed: step });
    if (step % Math.max(1, Math.floor(steps / 4)) === 0) report(step);
  }
  trainer.dispose();
  policy.dispose();
  return lines;
}

function measureTorch(shapes: PresetName[], reps: number): TorchResult | string {
  const runs = runTorchConfigs(path.join(__dirname, 'model_torch.py'), ['--reps', String(reps), '--shapes', shapes.join(',')]);
  return typeof runs === 'string' ? runs : summarizeTorch(runs);
}

function tokensPerSecond(phase: Phase, ms: number): number {
  // Training and scoring process prompt + response tokens; sampling produces the new ones.
  const tokens = phase.startsWith('sample') ? BATCH * NEW : BATCH * (PROMPT + NEW);
  return (tokens / ms) * 1000;
}

async function childSingle(args: Args): Promise<void> {
  await selectBackend('wasm');
  const out: Record<string, number> = {};
  for (const shape of args.shapes) {
    const r = await measureTfjs(shape, args.reps, 'single');
    for (const phase of SINGLE_PHASES) out[`${shape}/${phase}`] = r[phase]!;
  }
  console.log(JSON.stringify(out));
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (process.argv.includes('--child-single')) return childSingle(args);
  const storiesOptions: StoriesOptions = { reps: args.reps, prompts: 8, generations: 8, newTokens: args.storiesNew, torch: args.torch };
  if (process.argv.includes('--child-stories')) {
    await selectBackend('wasm');
    return storiesChild(process.argv[process.argv.indexOf('--child-stories') + 1], storiesOptions);
  }
  if (process.argv.includes('--child-lora')) {
    await selectBackend('wasm');
    return loraChild(process.argv[process.argv.indexOf('--child-lora') + 1], args.loraOptions);
  }
  const backend = await selectBackend('wasm');
  if (args.lora === 'only') {
    console.log(`tfjs ${backend.name} (${backend.device})`);
    console.log(`load average at start: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} on ${os.cpus().length} CPUs`);
    await runLora(__filename, args.loraOptions);
    console.log(`load average at end: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    return;
  }
  if (args.stories === 'only') {
    console.log(`tfjs ${backend.name} (${backend.device})`);
    console.log(`load average at start: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} on ${os.cpus().length} CPUs`);
    await runStories(__filename, storiesOptions);
    console.log(`load average at end: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    return;
  }
  console.log(`tfjs ${backend.name} (${backend.device}; our kernels: ${simdVariant()}); batch ${BATCH}, ${PROMPT} prompt + ${NEW} new tokens; median of ${args.reps}`);
  // The machine may be shared: the load says how much of its ${os.cpus().length} cores this run could have.
  console.log(`load average at start: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} on ${os.cpus().length} CPUs`);

  // First, while the wasm heap is still small, so RSS reflects this loop and not earlier, bigger phases.
  console.log('');
  console.log(`Tensor count and RSS over ${args.steps} train steps (small, 2 microbatches of 8 × 32 tokens, sampling every 10 steps):`);
  for (const line of await measureStability(args.steps)) console.log(line);

  const tfjs = measureSingleThreaded(args);
  for (const shape of args.shapes) {
    const r = await measureTfjs(shape, args.reps, 'pool');
    for (const phase of POOL_PHASES) tfjs.set(`${shape}/${phase}`, r[phase]!);
  }
  const torch = args.torch ? measureTorch(args.shapes, args.reps) : 'skipped (--no-torch)';
  if (typeof torch === 'string') console.log(`PyTorch column skipped: ${torch}`);
  else console.log(torch.note);

  console.log('');
  console.log('| shape | phase | tfjs wasm ms | tokens/s | PyTorch reference ms | tfjs / reference | fastest PyTorch ms | tfjs / fastest |');
  console.log('|---|---|---|---|---|---|---|---|');
  const ratio = (ours: number, ref: number | undefined) => (ref === undefined ? '–' : `${(ours / ref).toFixed(2)}×`);
  for (const shape of args.shapes) {
    for (const phase of PHASES) {
      const ours = tfjs.get(`${shape}/${phase}`)!;
      const torchKey = `${shape}/${TORCH_PHASE[phase]}`;
      const reference = typeof torch === 'string' ? undefined : torch.reference.get(torchKey);
      const fastest = typeof torch === 'string' ? undefined : torch.fastest.get(torchKey);
      const ms = (x: number | undefined) => (x === undefined ? '–' : x.toFixed(0));
      console.log(`| ${shape} | ${PHASE_LABELS[phase]} | ${ours.toFixed(0)} | ${tokensPerSecond(phase, ours).toFixed(0)} | ${ms(reference)} | ${ratio(ours, reference)} | ${ms(fastest)} | ${ratio(ours, fastest)} |`);
    }
  }
  if (typeof torch !== 'string') {
    // Issue 4's target, on the two ways a run trains: the thread pool (the default) and data parallelism.
    const verdict = (map: Map<string, number>) => args.shapes.map((shape) => {
      const ref = map.get(`${shape}/train`)!;
      return `${shape} ${ratio(tfjs.get(`${shape}/train`)!, ref)} pool, ${ratio(tfjs.get(`${shape}/train2`)!, ref)} data-parallel`;
    }).join('; ');
    console.log('');
    console.log(`Train step against the reference (target ≤ 2×): ${verdict(torch.reference)}`);
    console.log(`Train step against the fastest PyTorch: ${verdict(torch.fastest)}`);
  }

  console.log('');
  console.log('Train step profile (one step under tf.profile; kernel times are wall times on wasm):');
  for (const shape of args.shapes) console.log(`  ${await profileTrainStep(shape, args.reps)}`);

  console.log('');
  console.log(await measureLargeVocabulary(args.reps));

  const kv = await measureKvCache(args.kvBatch);
  console.log('');
  console.log(`KV cache vs re-running the prefix (small, ${args.kvBatch} rows, ${PROMPT} prompt + 128 new tokens): ` +
    `${kv.cached.toFixed(0)} ms vs ${kv.uncached.toFixed(0)} ms = ${(kv.uncached / kv.cached).toFixed(1)}× faster`);

  if (args.stories === 'with') await runStories(__filename, storiesOptions);
  if (args.lora === 'with') await runLora(__filename, args.loraOptions);

  console.log(`load average at end: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
