/**
 * `npm run bench:trainer` — the demo config on the real worker process (forked as the extension does, IPC
 * included), in three parts (`--parts`, default all three):
 *   phases      one long run broken into phases: sampling, reward, reference, μ updates, and I/O (disk + IPC) as a
 *               share of the step; tokens/s; disk cost per step; tensor count and RSS over the run (they must stay
 *               flat); the bytes per token of the stored per-token columns.
 *   contention  each CPU mode on wasm (thread pool, data-parallel, single thread, and what "auto" resolves to),
 *               idle and next to a busy-loop process the bench starts and stops itself (issue 17).
 *   dashboard   the step time with a live dashboard page attached (headless Chromium, the page VS Code shows,
 *               fed the worker's messages as the panel forwards them) vs without. Target: overhead ≤ 5 %.
 * The last two are interleaved A/B repetitions of short runs with 95 % bootstrap intervals (bench/repeated.ts).
 *   npm run bench:trainer -- [--parts phases,contention,dashboard] [--config examples/arithmetic.json]
 *                            [--steps N]   phases: steps of the run (300); A/B parts: steps per repetition (12)
 *                            [--reps N]    A/B repetitions per condition (10)
 *                            [--modes pool,data-parallel,single,auto]   contention: the CPU modes to compare
 *   npm run bench:trainer -- --parts contention,dashboard --reps 2 --steps 6      (a quick smoke run)
 *   npm run bench:trainer -- --parts phases --steps 6 --config examples/stories.json     (the stories260K demo, shortened)
 */
import { fork } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readTokenBlock } from '../src/protocol/stepIndex';
import { DataParallelSetting, finiteValue, MetricsRecord, parseJsonl, RolloutsRecord, WorkerMessage } from '../src/protocol';
import { resolveTokenBlock, TokenBlockRef, tokenBlockColumns } from '../src/protocol/tokenBlocks';
import {
  AttachedDashboard, devicesOf, interleaved, launchBrowser, median, medianOf, Pair, ratioOf, ratioWithInterval, ROOT, runWorker,
  secondsWithInterval, withBusyLoop, WORKER,
} from './repeated';

const PARTS = ['phases', 'contention', 'dashboard'] as const;
type Part = (typeof PARTS)[number];

/** The CPU modes on wasm: optimization.data_parallel and the pool's thread count (GRPO_WASM_THREADS). */
const MODES: Record<string, { dataParallel: DataParallelSetting; threads?: string; what: string }> = {
  pool: { dataParallel: false, what: 'thread pool (one instance, a thread per core)' },
  'data-parallel': { dataParallel: true, what: 'data-parallel (two single-threaded instances)' },
  single: { dataParallel: false, threads: '1', what: 'single thread (GRPO_WASM_THREADS=1)' },
  auto: { dataParallel: 'auto', what: 'auto (the default)' },
};

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

function listArg<T extends string>(name: string, allowed: readonly T[], fallback: readonly T[]): T[] {
  const given = arg(name, fallback.join(',')).split(',').map((x) => x.trim()).filter(Boolean);
  const unknown = given.filter((x) => !allowed.includes(x as T));
  if (unknown.length > 0) throw new Error(`--${name}: ${unknown.join(', ')} unknown; one or more of ${allowed.join(', ')}`);
  return given as T[];
}

function positiveInteger(name: string, fallback: number): number {
  const value = Number(arg(name, String(fallback)));
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name}: a positive integer, got ${arg(name, '')}`);
  return value;
}

/** The fields of a run config this bench reads or rewrites (the rest passes through). */
interface DemoConfig {
  [field: string]: unknown;
  model?: { name_or_path: string };
  task: { train_file?: string; eval_file?: string };
  rewards?: { module?: string }[];
  optimization: Record<string, unknown>;
  algorithm?: Record<string, unknown>;
  sampling?: Record<string, unknown>;
}

/** The demo config for a bench run: the GRPO steps alone (no warm start, no validation, one checkpoint at the end). */
function benchConfig(source: string, steps: number, overrides: Record<string, unknown> = {}): DemoConfig {
  const config = JSON.parse(fs.readFileSync(source, 'utf8')) as DemoConfig;
  delete config.$schema;
  Object.assign(config, { name: 'bench', sft: { steps: 0 }, evaluation: { eval_steps: 0 }, checkpointing: { save_steps: 0, save_total_limit: 1 } });
  config.optimization = { ...config.optimization, max_steps: steps, ...overrides };
  resolvePaths(config, path.dirname(source));
  return config;
}

function writeJson(file: string, value: unknown): string {
  fs.writeFileSync(file, JSON.stringify(value));
  return file;
}

async function main(): Promise<void> {
  const parts = listArg<Part>('parts', PARTS, PARTS);
  const given = process.argv.includes('--steps');
  const source = path.resolve(arg('config', path.join(ROOT, 'examples', 'arithmetic.json')));
  if (!fs.existsSync(WORKER)) throw new Error('dist/worker.js is missing: run "npm run build" first');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-bench-'));
  try {
    if (parts.includes('phases')) await benchPhases(source, given ? positiveInteger('steps', 300) : 300, tmp);
    const reps = positiveInteger('reps', 10);
    const steps = given ? positiveInteger('steps', 12) : 12;
    if (steps < 3) throw new Error('--steps: the A/B parts measure steps 3 on; give at least 3');
    if (parts.includes('contention')) await benchContention(source, steps, reps, listArg('modes', Object.keys(MODES), Object.keys(MODES)), tmp);
    if (parts.includes('dashboard')) await benchDashboard(source, steps, reps, tmp);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

const log = (line: string) => process.stderr.write(`${line}\n`);
let runs = 0;
const nextRunDir = (tmp: string) => path.join(tmp, 'runs', `run-${++runs}`);

/**
 * Each CPU mode idle and next to one busy-loop process, interleaved. On 2 cores a fair share is about 1.5× (three
 * busy threads on two cores); issue 17's target for the default is ≤ 1.5×.
 */
async function benchContention(source: string, steps: number, reps: number, modes: string[], tmp: string): Promise<void> {
  fs.mkdirSync(path.join(tmp, 'runs'), { recursive: true });
  const pairs: Pair[] = modes.map((mode) => {
    const { dataParallel, threads } = MODES[mode];
    const configPath = writeJson(path.join(tmp, `contention-${mode}.json`), { ...benchConfig(source, steps, { data_parallel: dataParallel }), backend: 'wasm' });
    const run = () => runWorker({ configPath, runDir: nextRunDir(tmp), env: { GRPO_WASM_THREADS: threads } });
    return [
      { label: `${mode} idle`, run },
      { label: `${mode} contended`, run: () => withBusyLoop(run) },
    ];
  });
  log(`contention: ${modes.length} modes × idle / contended, ${reps} repetitions of ${steps} steps (median of steps 3–${steps}), interleaved`);
  const results = await interleaved(pairs, reps, log);
  console.log(`\nCPU modes under contention — ${path.relative(ROOT, source)} without its warm start, ${steps} steps a repetition (median time/step of steps 3–${steps}), ${reps} interleaved repetitions, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), load average at the end ${os.loadavg()[0].toFixed(2)}`);
  console.log('contended: one CPU-bound `node -e` busy loop (for(;;), ending with its parent) running beside the worker; [95 % CI]: percentile bootstrap over repetitions (2,000 resamples), the ratio resampling repetitions in pairs\n');
  console.log('| mode | what ran (device) | idle s/step [95 % CI] | contended s/step [95 % CI] | contended / idle [95 % CI] |');
  console.log('|---|---|---:|---:|---:|');
  modes.forEach((mode, m) => {
    const [idle, busy] = results[m];
    console.log(`| ${MODES[mode].what} | ${devicesOf([...idle, ...busy])} | ${secondsWithInterval(medianOf(idle))} | ${secondsWithInterval(medianOf(busy))} | ${ratioWithInterval(ratioOf(idle, busy))} |`);
  });
}

/** The demo's step time with a live dashboard page attached vs without, interleaved. */
async function benchDashboard(source: string, steps: number, reps: number, tmp: string): Promise<void> {
  fs.mkdirSync(path.join(tmp, 'runs'), { recursive: true });
  const configPath = writeJson(path.join(tmp, 'dashboard.json'), benchConfig(source, steps));
  // One browser for both sides: the page, not Chromium's start, is what a watched run has in addition.
  const browser = await launchBrowser();
  try {
    const without = () => runWorker({ configPath, runDir: nextRunDir(tmp) });
    const attached = async () => {
      const runDir = nextRunDir(tmp);
      const page = await AttachedDashboard.open(browser, runDir);
      const result = await runWorker({ configPath, runDir, onMessage: (m) => page.forward(m) });
      await page.close(steps);
      return result;
    };
    log(`dashboard: without / with a live dashboard page, ${reps} repetitions of ${steps} steps, interleaved`);
    const [[alone, watched]] = await interleaved([[{ label: 'without dashboard', run: without }, { label: 'with dashboard', run: attached }]], reps, log);
    const overhead = ratioOf(alone, watched);
    console.log(`\nDashboard overhead — ${path.relative(ROOT, source)} without its warm start (${devicesOf(alone)}), ${steps} steps a repetition (median time/step of steps 3–${steps}), ${reps} interleaved repetitions, ${os.cpus().length} cores, load average at the end ${os.loadavg()[0].toFixed(2)}`);
    console.log('with: the dashboard page in headless Chromium showing the run, fed every worker message as the panel forwards it; [95 % CI]: percentile bootstrap over repetitions, the ratio resampling pairs\n');
    console.log('| | s/step [95 % CI] |');
    console.log('|---|---:|');
    console.log(`| without dashboard | ${secondsWithInterval(medianOf(alone))} |`);
    console.log(`| with a live dashboard | ${secondsWithInterval(medianOf(watched))} |`);
    console.log(`| with / without | ${ratioWithInterval(overhead)} (overhead ${((overhead.value - 1) * 100).toFixed(1)} %, target ≤ 5 %) |`);
  } finally {
    await browser.close();
  }
}

/** One long run broken into phases. */
async function benchPhases(source: string, steps: number, tmp: string): Promise<void> {
  const config = benchConfig(source, steps);
  const configPath = writeJson(path.join(tmp, 'config.json'), config);
  const runDir = path.join(tmp, 'run');
  let backend = '';
  const started = Date.now();
  await new Promise<void>((resolve, reject) => {
    const child = fork(WORKER, ['--config', configPath, '--run-dir', runDir], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    child.on('message', (m: WorkerMessage) => {
      if (m.type === 'started') backend = `${m.backend} (${m.device})`;
      if (m.type === 'metrics' && m.record.step % 50 === 0) process.stderr.write(`  step ${m.record.step}/${steps}\n`);
    });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker exited with ${code}`))));
  });
  const wall = (Date.now() - started) / 1000;

  const file = path.join(runDir, 'metrics.jsonl');
  const records = parseJsonl<MetricsRecord>(fs.readFileSync(file, 'utf8'), file).records;
  const steady = records.slice(Math.min(5, records.length - 1)); // skip warm-up (first kernels, first allocations)
  const col = (key: string) => steady.map((r) => finiteValue(r.metrics[key])).filter((v): v is number => v !== undefined);
  const stepMs = median(col('time/step')) * 1000;
  const phases: [string, string][] = [
    ['sampling (KV cache)', 'time/sample'],
    ['reward', 'time/reward'],
    ['reference log-probs', 'time/reference'],
    [`μ = ${config.algorithm?.num_iterations ?? 1} update(s)`, 'time/train'],
    ['I/O: disk + IPC', 'time/io_previous_step'],
  ];
  console.log(`\nGRPO step of ${path.relative(ROOT, source)} (tiny preset) — ${steps} steps, backend ${backend}, ${os.cpus().length} cores`);
  console.log(`G = ${config.algorithm?.num_generations}, prompts/step = ${config.optimization.prompts_per_step}, max_completion_length = ${config.sampling?.max_completion_length}\n`);
  console.log('| phase | median ms | share of step |');
  console.log('|---|---:|---:|');
  for (const [label, key] of phases) {
    const ms = median(col(key)) * 1000;
    console.log(`| ${label} | ${ms.toFixed(2)} | ${((100 * ms) / stepMs).toFixed(2)} % |`);
  }
  console.log(`| **whole step** | **${stepMs.toFixed(1)}** | 100 % |`);
  console.log(`\ntokens/s: sampling ${median(col('tokens_per_second/sample')).toFixed(0)}, training ${median(col('tokens_per_second/train')).toFixed(0)}`);
  const sizes = ['metrics.jsonl', 'rollouts.jsonl', 'rollouts.tokens.bin', 'events.jsonl'].filter((f) => fs.existsSync(path.join(runDir, f))).map((f) => [f, fs.statSync(path.join(runDir, f)).size] as const);
  const total = sizes.reduce((n, [, b]) => n + b, 0);
  console.log(`disk per step: ${(total / records.length / 1024).toFixed(1)} KiB (${sizes.map(([f, b]) => `${f} ${(b / records.length / 1024).toFixed(2)} KiB`).join(', ')})`);
  for (const file of ['rollouts.jsonl', 'eval_rollouts.jsonl']) {
    const stats = perTokenBytes(runDir, file);
    if (stats) console.log(stats);
  }
  const tensors = col('memory/num_tensors');
  const rss = col('memory/rss_mb');
  const at = (xs: number[], q: number) => xs[Math.min(xs.length - 1, Math.floor(q * xs.length))];
  console.log(`tensors: ${at(tensors, 0)} → ${at(tensors, 0.5)} → ${at(tensors, 0.999)} (first → middle → last step)`);
  console.log(`RSS MB: ${at(rss, 0).toFixed(0)} → ${at(rss, 0.5).toFixed(0)} → ${at(rss, 0.999).toFixed(0)}`);
  console.log(`wall time ${wall.toFixed(1)} s`);
}

/**
 * The config's files relative to where it was (it is copied to a temporary folder): what the worker's
 * resolveConfigPaths (src/worker/train.ts) does, for the fields the examples use.
 */
function resolvePaths(config: DemoConfig, dir: string): void {
  const local = (p: string) => (fs.existsSync(path.resolve(dir, p)) ? path.resolve(dir, p) : p);
  if (config.model) config.model.name_or_path = local(config.model.name_or_path);
  if (config.task.train_file) config.task.train_file = local(config.task.train_file);
  if (config.task.eval_file) config.task.eval_file = local(config.task.eval_file);
  for (const reward of config.rewards ?? []) if (reward.module) reward.module = local(reward.module);
}

/**
 * Bytes per token of the stored per-token columns: as JSON inline in the lines (how runs stored them before token
 * blocks, re-serialised from what the blocks read back) against the token blocks plus their pointers.
 */
function perTokenBytes(runDir: string, file: string): string | undefined {
  const full = path.join(runDir, file);
  if (!fs.existsSync(full)) return undefined;
  let tokens = 0;
  let json = 0;
  let blocks = 0;
  let layout = '';
  for (const line of parseJsonl<Record<string, unknown>>(fs.readFileSync(full, 'utf8'), full).records) {
    const ref = line.token_block as TokenBlockRef | undefined;
    const record = resolveTokenBlock(line, (r) => readTokenBlock(runDir, r)) as RolloutsRecord;
    for (const rollout of record.groups.flatMap((g) => g.rollouts)) {
      tokens += rollout.tokens.text.length;
      json += `,"tokens":${JSON.stringify(rollout.tokens)}`.length;
    }
    if (!ref) continue;
    blocks += ref.length + `"token_block":${JSON.stringify(ref)},`.length;
    layout = Object.entries(tokenBlockColumns(readTokenBlock(runDir, ref) ?? new Uint8Array())).map(([c, how]) => `${c} ${how}`).join(', ');
  }
  if (tokens === 0) return undefined;
  return `per-token data of ${file}: ${tokens} tokens, JSON inline ${(json / tokens).toFixed(2)} B/token → token blocks ${(blocks / tokens).toFixed(2)} B/token (${(json / blocks).toFixed(1)}× smaller; ${layout})`;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
