/**
 * Multi-threaded tfjs-backend-wasm under Node.
 *
 * The wasm package ships a pthreads build (XNNPACK's matrix products then run on a thread pool) but turns it off in
 * Node (tfjs issue 3830): it hands Emscripten its worker script and main script as Blob URLs, which Node's
 * `worker_threads.Worker` cannot load. While the backend initialises, this module:
 *   - records the text of the Blobs tfjs creates, and starts a pthread worker from that text (`eval: true`);
 *   - points each pthread worker at the package's own copy of the main script (`wasm-out/…-threaded-simd.js`,
 *     the same Emscripten output the bundle embeds) instead of the Blob;
 *   - reports twice the CPU count to the module: tfjs assumes two hyper-threads per core and caps the pool at
 *     half of `os.cpus()`, which is 1 thread on a 2-core machine.
 * The patches are undone when the initialisation ends, except the global `Worker` Emscripten sets for itself (it
 * starts more pool workers with it should more threads be needed). Pool workers are unref'd so that a finished
 * process can exit; if the threaded module fails to start (or does not start within a minute), its workers are
 * terminated and their errors do not escape, so the caller can fall back to one thread.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { setThreadsCount } from '@tensorflow/tfjs-backend-wasm';

/** Emscripten's main script for the threaded build, as its workers need it, and the build's binary. */
export const THREADED_MAIN_SCRIPT = 'tfjs-backend-wasm-threaded-simd.js';
export const THREADED_WASM = 'tfjs-backend-wasm-threaded-simd.wasm';

/** XNNPACK's pool in tfjs is pre-created with 8 workers; more threads than that are not used. */
const MAX_THREADS = 8;
/** A threaded start that has not finished by then is given up (its workers never loaded). */
const START_TIMEOUT_MS = 60000;

/** The Node modules patched during initialisation, loaded with require so the patches reach tfjs's own require. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const workerThreads = require('worker_threads') as typeof import('worker_threads');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeOs = require('os') as typeof import('os');

interface PthreadWorker {
  unref(): void;
}

interface ThreadedWasmBackend {
  wasm: { tfjs: { getThreadsCount(): number }; PThread?: { runningWorkers: PthreadWorker[] } };
}

/** Threads to use: GRPO_WASM_THREADS when set (1 = single-threaded), else one per CPU this process may use, at most 8. */
export function wasmThreadCount(): number {
  const requested = Number(process.env.GRPO_WASM_THREADS);
  const threads = Number.isInteger(requested) && requested > 0 ? requested : nodeOs.availableParallelism();
  return Math.max(1, Math.min(MAX_THREADS, threads));
}

/** Finds the threaded main script next to the bundle or in the installed package. */
export function threadedMainScript(wasmDirectory: string): string | null {
  const candidates = [path.join(wasmDirectory, THREADED_MAIN_SCRIPT)];
  try {
    const pkg = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
    candidates.push(path.join(pkg, 'wasm-out', THREADED_MAIN_SCRIPT));
  } catch {
    // bundled without the package: only the copy next to the bundle can exist
  }
  return candidates.find((file) => fs.existsSync(file)) ?? null;
}

/**
 * Initialises the wasm backend with `threads` XNNPACK threads (runningWasmThreads then says how many run). Rejects
 * when the threaded module does not start, after terminating its workers; with ThreadedStartAbandoned when the
 * caller must not try wasm again in this process.
 */
export async function initThreadedWasm(threads: number, mainScript: string): Promise<void> {
  const workers: import('worker_threads').Worker[] = [];
  let timer: NodeJS.Timeout | undefined;
  let abandon: (err: Error) => void = () => undefined;
  const abandoned = new Promise<never>((_, reject) => {
    abandon = (err) => reject(new ThreadedStartAbandoned(err.message));
    timer = setTimeout(() => abandon(new Error(`the thread pool did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
  });
  const restore = patchForThreadedInit(mainScript, workers, (err) => abandon(new Error(`a pool worker failed: ${err.message}`)));
  try {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
    setThreadsCount(threads);
    if (!(await Promise.race([tf.setBackend('wasm'), abandoned]))) throw new Error('the threaded wasm module did not initialise');
  } catch (err) {
    for (const worker of workers) void worker.terminate();
    throw err;
  } finally {
    clearTimeout(timer);
    restore();
  }
  const backend = tf.backend() as unknown as ThreadedWasmBackend;
  for (const worker of backend.wasm.PThread?.runningWorkers ?? []) worker.unref();
}

/**
 * The threaded start was given up (a pool worker failed, or nothing happened for a minute): tfjs's wasm
 * initialisation then stays pending for good, so wasm cannot be tried again in this process.
 */
export class ThreadedStartAbandoned extends Error {}

/** XNNPACK threads of the active wasm backend. */
export function runningWasmThreads(): number {
  return (tf.backend() as unknown as ThreadedWasmBackend).wasm.tfjs.getThreadsCount();
}

/** Makes the wasm backend's next initialisation single-threaded again (after a failed threaded one). */
export function disableWasmThreads(): void {
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  setThreadsCount(1);
}

function patchForThreadedInit(mainScript: string, workers: import('worker_threads').Worker[], onWorkerError: (err: Error) => void): () => void {
  const sources = new WeakMap<Blob, string>();
  const sourceByUrl = new Map<string, string>();
  const OriginalBlob = globalThis.Blob;
  const originalCreateObjectURL = URL.createObjectURL;
  const OriginalWorker = workerThreads.Worker;
  const originalCpus = nodeOs.cpus;

  class RecordingBlob extends OriginalBlob {
    constructor(parts: BlobPart[] = [], options?: BlobPropertyBag) {
      super(parts, options);
      if (parts.every((p) => typeof p === 'string')) sources.set(this, parts.join(''));
    }
  }
  class BlobScriptWorker extends OriginalWorker {
    constructor(file: string | URL, options?: import('worker_threads').WorkerOptions) {
      const source = typeof file === 'string' ? sourceByUrl.get(file) : undefined;
      super(source ?? file, source === undefined ? options : { ...options, eval: true });
      workers.push(this);
    }
    override postMessage(message: unknown, transfer?: readonly import('worker_threads').Transferable[]): void {
      // Emscripten's "load" message carries the main script to import; a file path works where a Blob does not.
      const load = message as { cmd?: string; urlOrBlob?: unknown } | null;
      const fixed = load?.cmd === 'load' && typeof load.urlOrBlob !== 'string' ? { ...load, urlOrBlob: mainScript } : message;
      super.postMessage(fixed, transfer);
    }
    // Emscripten rethrows a pool worker's error from its handler, which would end the process: record it instead.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the signature of EventEmitter.on, overridden here
    override on(event: string | symbol, listener: (...args: any[]) => void): this {
      if (event !== 'error') return super.on(event, listener);
      return super.on(event, (err: Error) => {
        try {
          listener(err);
        } catch {
          onWorkerError(err);
        }
      });
    }
  }

  globalThis.Blob = RecordingBlob;
  URL.createObjectURL = (blob: Blob) => {
    const url = originalCreateObjectURL(blob);
    const source = sources.get(blob);
    if (source !== undefined) sourceByUrl.set(url, source);
    return url;
  };
  (workerThreads as { Worker: typeof OriginalWorker }).Worker = BlobScriptWorker;
  nodeOs.cpus = () => {
    const cpus = originalCpus();
    return [...cpus, ...cpus];
  };
  return () => {
    globalThis.Blob = OriginalBlob;
    URL.createObjectURL = originalCreateObjectURL;
    (workerThreads as { Worker: typeof OriginalWorker }).Worker = OriginalWorker;
    nodeOs.cpus = originalCpus;
  };
}
