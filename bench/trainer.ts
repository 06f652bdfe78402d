/**
 * `npm run bench:trainer` — one GRPO step of the demo config, broken into phases, measured on the real worker
 * process (forked as the extension does, IPC included): sampling, reward, reference, μ updates, and I/O (disk +
 * IPC) as a share of the step; tokens/s; disk cost per step; tensor count and RSS over the run (they must stay flat).
 * Also the bytes per token of the stored per-token columns (token blocks against the JSON they replaced).
 *   npm run bench:trainer -- [--steps 300] [--config examples/arithmetic.json]
 *   npm run bench:trainer -- --steps 6 --config examples/stories.json     (the stories260K demo, shortened)
 */
import { fork } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readTokenBlock } from '../src/protocol/stepIndex';
import { finiteValue, MetricsRecord, parseJsonl, RolloutsRecord, WorkerMessage } from '../src/protocol';
import { resolveTokenBlock, TokenBlockRef, tokenBlockColumns } from '../src/protocol/tokenBlocks';

const ROOT = path.resolve(__dirname, '..');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main(): Promise<void> {
  const steps = Number(arg('steps', '300'));
  const source = path.resolve(arg('config', path.join(ROOT, 'examples', 'arithmetic.json')));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-bench-'));
  const config = JSON.parse(fs.readFileSync(source, 'utf8'));
  delete config.$schema;
  // The GRPO step alone: no warm start, no validation, one checkpoint at the end.
  Object.assign(config, { name: 'bench', sft: { steps: 0 }, evaluation: { eval_steps: 0 }, checkpointing: { save_steps: 0, save_total_limit: 1 } });
  config.optimization.max_steps = steps;
  resolvePaths(config, path.dirname(source));
  const configPath = path.join(tmp, 'config.json');
  fs.writeFileSync(configPath, JSON.stringify(config));
  const runDir = path.join(tmp, 'run');

  const worker = path.join(ROOT, 'dist', 'worker.js');
  if (!fs.existsSync(worker)) throw new Error('dist/worker.js is missing: run "npm run build" first');
  let backend = '';
  const started = Date.now();
  await new Promise<void>((resolve, reject) => {
    const child = fork(worker, ['--config', configPath, '--run-dir', runDir], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
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
  fs.rmSync(tmp, { recursive: true, force: true });
}

/**
 * The config's files relative to where it was (it is copied to a temporary folder): what the worker's
 * resolveConfigPaths (src/worker/train.ts) does, for the fields the examples use.
 */
function resolvePaths(config: { model?: { name_or_path: string }; task: { train_file?: string; eval_file?: string }; rewards?: { module?: string }[] }, dir: string): void {
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
