/**
 * Repeated short runs of the demo config on the real worker process, for A/B comparisons that the machine's own
 * noise does not decide: CPU modes idle vs next to a busy process (issue 17: the thread pool stalls when another
 * process takes a core), and the step time with a live dashboard page attached vs without.
 *
 * A repetition is one worker process running `steps` GRPO steps (no warm start, no validation); its figure is the
 * median `time/step` of steps 3 to `steps` (the first two pay for first kernels and allocations). The two sides of
 * a comparison run back to back within each repetition, in an order that alternates, so that a drift of the
 * machine's load hits both sides alike. The interval is a 95 % percentile bootstrap over repetitions (2,000 resamples, fixed seed); for a
 * ratio the repetitions are resampled in pairs (the two sides of one repetition ran back to back).
 */
import { ChildProcess, fork, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import type { Browser } from 'playwright-core';
import { WorkerMessage } from '../src/protocol';
import { launchBrowser, WebviewHarness } from '../test/webview/harness';

export const ROOT = path.resolve(__dirname, '..');
export const WORKER = path.join(ROOT, 'dist', 'worker.js');
/** Steps before this one are left out of a repetition's median. */
const FIRST_MEASURED_STEP = 3;
const RESAMPLES = 2000;

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** mulberry32: the bootstrap's resamples are the same on every run of the bench. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Estimate {
  value: number;
  low: number;
  high: number;
}

/**
 * `statistic` of the repetitions with a 95 % percentile-bootstrap interval: the repetitions' indices are resampled
 * with replacement, so paired columns stay paired.
 */
export function bootstrap(reps: number, statistic: (indices: number[]) => number, seed = 17): Estimate {
  const all = Array.from({ length: reps }, (_, i) => i);
  const random = seededRandom(seed);
  const values = Array.from({ length: RESAMPLES }, () => statistic(all.map(() => Math.floor(random() * reps)))).sort((a, b) => a - b);
  return { value: statistic(all), low: values[Math.floor(0.025 * RESAMPLES)], high: values[Math.ceil(0.975 * RESAMPLES) - 1] };
}

export interface RunSpec {
  /** The config file the worker runs (paths resolved, `steps` steps). */
  configPath: string;
  /** Where the run folder goes (a new one per repetition). */
  runDir: string;
  /** Environment of the worker beyond this process's (undefined removes a variable). */
  env?: Record<string, string | undefined>;
  /** Every IPC message, as the extension host receives them. */
  onMessage?: (message: WorkerMessage) => void;
}

export interface Repetition {
  /** Median time/step of steps FIRST_MEASURED_STEP…, seconds. */
  seconds: number;
  /** The `started` message's backend and device: what ran. */
  device: string;
}

/** Forks the built worker on one config as the extension does (plain node, IPC; not under tsx); resolves when it exits 0. */
export function runWorker(spec: RunSpec): Promise<Repetition> {
  if (!fs.existsSync(WORKER)) throw new Error('dist/worker.js is missing: run "npm run build" first');
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [key, value] of Object.entries(spec.env ?? {})) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return new Promise((resolve, reject) => {
    const times: number[] = [];
    let device = '';
    const child = fork(WORKER, ['--config', spec.configPath, '--run-dir', spec.runDir], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env, execArgv: [] });
    child.on('message', (m: WorkerMessage) => {
      if (m.type === 'started') device = `${m.backend}: ${m.device}`;
      if (m.type === 'metrics' && m.record.step >= FIRST_MEASURED_STEP) times.push(Number(m.record.metrics['time/step']));
      spec.onMessage?.(m);
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`worker exited with ${code} (${spec.runDir})`));
      else if (times.length === 0) reject(new Error(`no step from ${FIRST_MEASURED_STEP} on: run at least ${FIRST_MEASURED_STEP} steps`));
      else resolve({ seconds: median(times), device });
    });
  });
}

/**
 * `for(;;){}` that also ends once its parent is gone (a bench killed by a signal leaves no spinning process behind):
 * every 2^20 iterations it compares its parent's pid, a cheap call next to the loop.
 */
const BUSY_LOOP = 'const parent = process.ppid; for (let i = 1; ; i++) if ((i & 0xfffff) === 0 && process.ppid !== parent) break;';

/** A CPU-bound process (a `node -e` busy loop) for the length of `work`, started and stopped here. */
export async function withBusyLoop<T>(work: () => Promise<T>): Promise<T> {
  const busy = spawn(process.execPath, ['-e', BUSY_LOOP], { stdio: 'ignore' });
  const stop = () => busy.kill('SIGKILL');
  process.once('exit', stop);
  try {
    await new Promise<void>((resolve, reject) => {
      busy.once('spawn', () => resolve());
      busy.once('error', reject);
    });
    return await work();
  } finally {
    await stopProcess(busy);
    process.removeListener('exit', stop);
  }
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** One side of an A/B comparison: its label and how one repetition of it runs. */
export interface Condition {
  label: string;
  run: (rep: number) => Promise<Repetition>;
}

/** An A/B comparison: the two sides of one repetition run back to back. */
export type Pair = readonly [Condition, Condition];

/**
 * Runs `reps` repetitions of every pair: in each repetition every pair once, A then B on even repetitions and B then
 * A on odd ones, the pairs' order rotated by one each repetition. Returns each pair's [A, B] repetitions.
 */
export async function interleaved(pairs: readonly Pair[], reps: number, progress: (line: string) => void): Promise<[Repetition[], Repetition[]][]> {
  const results: [Repetition[], Repetition[]][] = pairs.map(() => [[], []]);
  for (let rep = 0; rep < reps; rep++) {
    for (let k = 0; k < pairs.length; k++) {
      const p = (k + rep) % pairs.length;
      for (const side of rep % 2 === 0 ? [0, 1] : [1, 0]) {
        const result = await pairs[p][side].run(rep);
        results[p][side].push(result);
        progress(`  rep ${rep + 1}/${reps} ${pairs[p][side].label}: ${result.seconds.toFixed(3)} s/step`);
      }
    }
  }
  return results;
}

const s3 = (v: number) => v.toFixed(3);
export const secondsWithInterval = (e: Estimate) => `${s3(e.value)} [${s3(e.low)}, ${s3(e.high)}]`;
export const ratioWithInterval = (e: Estimate) => `${e.value.toFixed(2)}× [${e.low.toFixed(2)}, ${e.high.toFixed(2)}]`;

/** The median over repetitions of one column, with its interval. */
export function medianOf(column: Repetition[]): Estimate {
  return bootstrap(column.length, (ix) => median(ix.map((i) => column[i].seconds)));
}

/** median(b) / median(a) over paired repetitions, with its interval. */
export function ratioOf(a: Repetition[], b: Repetition[]): Estimate {
  return bootstrap(a.length, (ix) => median(ix.map((i) => b[i].seconds)) / median(ix.map((i) => a[i].seconds)));
}

/** The set of devices a column ran on (one, unless something changed between repetitions). */
export function devicesOf(column: Repetition[]): string {
  return [...new Set(column.map((r) => r.device))].join(' / ');
}

/**
 * A dashboard page attached to one run: the page that VS Code shows (test/webview/harness.ts: same HTML, bundle and
 * host-side request handling), shown the run once the worker has started it, then every IPC message forwarded as the
 * panel does (RunRequests.liveMessage), in order.
 */
export class AttachedDashboard {
  private queue: Promise<void> = Promise.resolve();
  private failure: unknown = null;

  private constructor(private readonly harness: WebviewHarness, private readonly runId: string) {}

  static async open(browser: Browser, runDir: string): Promise<AttachedDashboard> {
    const harness = await WebviewHarness.open(browser, path.dirname(runDir));
    const runId = path.basename(runDir);
    harness.markLive(runId);
    return new AttachedDashboard(harness, runId);
  }

  /** For RunSpec.onMessage: the page is pointed at the run when it starts, then fed each message. */
  forward(message: WorkerMessage): void {
    this.queue = this.queue
      .then(async () => {
        if (message.type === 'started') await this.harness.push({ type: 'show', runId: this.runId });
        await this.harness.forward(this.runId, message);
      })
      .catch((err: unknown) => void (this.failure ??= err));
  }

  /**
   * Waits for the forwarded messages to be delivered and the run's `steps` steps to be drawn (else the page measured
   * nothing), then closes the page; throws if a message failed, the page threw, or the curves never showed the run.
   */
  async close(steps: number): Promise<void> {
    try {
      await this.queue;
      if (this.failure) throw this.failure;
      await this.harness.page.locator(`figure.chart[data-chart="reward"][data-points="${steps}"]`).waitFor({ state: 'attached', timeout: 60000 })
        .catch(() => Promise.reject(new Error(`the dashboard page did not draw the run's ${steps} steps`)));
      if (this.harness.pageErrors.length > 0) throw new Error(`the dashboard page threw: ${this.harness.pageErrors.join('; ')}`);
    } finally {
      await this.harness.close();
    }
  }
}

export { launchBrowser };
