/**
 * User reward functions run in a pool of worker threads, off the training thread: a function that never returns
 * cannot freeze the run, and Stop / Ctrl-C are seen at once. Each call has a time limit (`rewards[].timeout_s`);
 * a call that runs past it, or a thread that crashes, fails that sample only: the thread is terminated and a new
 * one takes its place (started when work needs it). `cancel` abandons every call at once (a stop).
 * Everything crossing to a thread is structured-cloned: the prompt, the completion and the `example` object.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Worker } from 'worker_threads';
import type { RewardExample } from './tasks/task';
import type { RewardScore } from './tasks/rewards';

export interface RewardModule {
  /** The name the reward is reported under. */
  name: string;
  /** Absolute path of the module. */
  file: string;
  /** Per-call limit in milliseconds. */
  timeoutMs: number;
}

/** What each thread starts with. */
export interface RewardThreadData {
  modules: { name: string; file: string }[];
}

/** One call: module `module` on one sample. */
export interface RewardTask {
  id: number;
  module: number;
  prompt: string;
  completion: string;
  example: RewardExample;
}

export type RewardThreadMessage =
  | { type: 'ready' }
  | { type: 'load_error'; message: string }
  | { type: 'result'; id: number; score?: RewardScore; error?: string };

/** A call's outcome: the function's score, or why the sample fails. */
export type PoolResult = { score: RewardScore } | { error: string };

/** Thrown by calls abandoned through `cancel` (a stop): not a failure of the sample. */
export class RewardsCancelled extends Error {
  constructor() {
    super('reward calls abandoned: the run is stopping');
    this.name = 'RewardsCancelled';
  }
}

/** Threads for a machine: one per core up to 4 (reward functions are usually cheap; each thread loads the modules). */
export function defaultPoolSize(): number {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, Math.min(4, cores));
}

/** The thread script: bundled next to this file as reward-worker.js, else the TypeScript source via tsx. */
function threadScript(): { file: string; execArgv: string[] } {
  const bundled = path.join(__dirname, 'reward-worker.js');
  if (fs.existsSync(bundled)) return { file: bundled, execArgv: [] };
  return { file: path.join(__dirname, 'rewardWorker.ts'), execArgv: ['--require', require.resolve('tsx/cjs')] };
}

interface Pending {
  task: RewardTask;
  resolve: (result: PoolResult) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  busy?: Pending & { timer: NodeJS.Timeout };
}

export class RewardPool {
  private readonly slots: (Slot | undefined)[];
  private readonly queue: Pending[] = [];
  private nextId = 0;
  private disposed = false;

  private constructor(
    private readonly modules: RewardModule[],
    size: number,
  ) {
    this.slots = new Array<Slot | undefined>(size).fill(undefined);
  }

  /**
   * Starts the pool's first thread and waits for it to load every module, so a missing file or a module without
   * a function is reported before the run trains; the other threads start when work needs them.
   */
  static async start(modules: RewardModule[], size = defaultPoolSize()): Promise<RewardPool> {
    const pool = new RewardPool(modules, size);
    const slot = pool.spawn(0);
    await new Promise<void>((resolve, reject) => {
      slot.worker.once('message', (message: RewardThreadMessage) => (message.type === 'ready' ? resolve() : reject(new Error(message.type === 'load_error' ? message.message : 'reward thread did not start'))));
      slot.worker.once('error', reject);
      slot.worker.once('exit', (code) => reject(new Error(`reward thread exited with code ${code} while loading the modules`)));
    }).catch((err: unknown) => {
      pool.dispose();
      throw err;
    });
    return pool;
  }

  get size(): number {
    return this.slots.length;
  }

  /** Scores one sample with module `module`; resolves with its score or the reason it failed. */
  run(module: number, prompt: string, completion: string, example: RewardExample): Promise<PoolResult> {
    if (this.disposed) return Promise.reject(new Error('the reward pool is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ task: { id: this.nextId++, module, prompt, completion, example }, resolve, reject });
      this.dispatch();
    });
  }

  /** Abandons every queued and running call (they reject with RewardsCancelled); busy threads are terminated. */
  cancel(): void {
    for (const pending of this.queue.splice(0)) pending.reject(new RewardsCancelled());
    this.slots.forEach((slot, i) => {
      if (!slot?.busy) return;
      const { reject } = slot.busy;
      this.retire(i);
      reject(new RewardsCancelled());
    });
  }

  dispose(): void {
    this.disposed = true;
    this.cancel();
    this.slots.forEach((_, i) => this.retire(i));
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const index = this.slots.findIndex((slot) => slot?.ready && !slot.busy);
      if (index >= 0) {
        this.assign(index, this.queue.shift() as Pending);
        continue;
      }
      const empty = this.slots.findIndex((slot) => slot === undefined);
      // Every thread is busy or still loading: the next one to be ready takes the next call.
      if (empty < 0) return;
      this.spawn(empty);
    }
  }

  private assign(index: number, pending: Pending): void {
    const slot = this.slots[index] as Slot;
    const { timeoutMs, name } = this.modules[pending.task.module];
    const timer = setTimeout(() => {
      this.retire(index);
      pending.resolve({ error: `reward function "${name}" timed out after ${timeoutMs / 1000} s (rewards[].timeout_s): its thread was terminated` });
      this.dispatch();
    }, timeoutMs);
    slot.busy = { ...pending, timer };
    // A busy thread keeps the process alive (the run awaits it); an idle one must not hold the process open.
    slot.worker.ref();
    slot.worker.postMessage(pending.task);
  }

  private spawn(index: number): Slot {
    const script = threadScript();
    const worker = new Worker(script.file, {
      execArgv: script.execArgv,
      workerData: { modules: this.modules.map(({ name, file }) => ({ name, file })) } satisfies RewardThreadData,
    });
    const slot: Slot = { worker, ready: false };
    this.slots[index] = slot;
    worker.on('message', (message: RewardThreadMessage) => this.onMessage(slot, message));
    worker.on('error', (err) => this.onExit(slot, `crashed: ${err.message}`));
    worker.on('exit', (code) => this.onExit(slot, `exited with code ${code}`));
    // Referenced while it loads (someone awaits it); unreferenced once ready and idle.
    return slot;
  }

  private onMessage(slot: Slot, message: RewardThreadMessage): void {
    if (message.type === 'ready') {
      slot.ready = true;
      slot.worker.unref();
      this.dispatch();
    } else if (message.type === 'load_error') {
      // The modules loaded at start: failing now (a file changed on disk?) fails the calls waiting for a thread.
      this.drop(slot);
      for (const pending of this.queue.splice(0)) pending.resolve({ error: `reward thread could not load the modules: ${message.message}` });
    } else {
      const busy = slot.busy;
      if (!busy || busy.task.id !== message.id) return;
      clearTimeout(busy.timer);
      slot.busy = undefined;
      slot.worker.unref();
      busy.resolve(message.error !== undefined ? { error: message.error } : { score: message.score as RewardScore });
      this.dispatch();
    }
  }

  /** A thread died on its own (an uncaught error in user code, process.exit): its call fails, a new thread follows. */
  private onExit(slot: Slot, how: string): void {
    const index = this.slots.indexOf(slot);
    if (index < 0) return;
    const busy = slot.busy;
    this.drop(slot);
    if (busy) {
      clearTimeout(busy.timer);
      busy.resolve({ error: `reward function "${this.modules[busy.task.module].name}": its thread ${how}` });
    }
    if (!slot.ready) {
      // It died while loading the modules: starting another would only die again, over and over.
      for (const pending of this.queue.splice(0)) pending.resolve({ error: `reward thread ${how} while loading the modules` });
      return;
    }
    if (!this.disposed) this.dispatch();
  }

  /** Terminates the thread at `index` (whatever it runs) and frees its slot. */
  private retire(index: number): void {
    const slot = this.slots[index];
    if (!slot) return;
    if (slot.busy) clearTimeout(slot.busy.timer);
    this.drop(slot);
    void slot.worker.terminate();
  }

  private drop(slot: Slot): void {
    const index = this.slots.indexOf(slot);
    if (index >= 0) this.slots[index] = undefined;
    slot.worker.removeAllListeners('message');
    slot.busy = undefined;
  }
}
