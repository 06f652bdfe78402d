/**
 * How a language-model run uses the CPU cores on wasm (`optimization.data_parallel`): a thread pool inside one wasm
 * instance (wasmThreads.ts), or two single-threaded instances that each compute half of every micro-batch's gradient
 * (src/model/parallel.ts).
 *
 * "auto", the default, takes the replicas wherever they apply. On 2 cores they are a little faster idle, and under
 * load they hold up where the pool does not: with one other CPU-bound process the demo's step took 1.26× its idle
 * time data-parallel and 5–7.6× on the pool, whose threads wait for each other at every small kernel (issue 17,
 * `npm run bench:trainer -- --parts contention`). The price is a second copy of the weights, so auto falls back to the
 * pool when that copy does not fit, and where the replicas cannot compute the loss (the exact KL needs the full
 * logits, which they do not exchange). The fallback is no error: the device string says why.
 *
 * The choice is made before the backend starts, since wasm fixes its thread count then (the main instance keeps to
 * one thread next to a replica), and settled once the backend is known: the replicas are wasm, for wasm runs.
 */
import { DataParallelSetting, RunConfig } from '../protocol';
import { replicaBytes, trainingBytes, WASM_TENSOR_BYTES } from './memoryBudget';
import { exactKl, runShapeOf } from './runShape';

export interface CpuParallelism {
  /** Start the data-parallel replica. */
  dataParallel: boolean;
  /** Why "auto" took the thread pool on a run where the replicas were considered; null otherwise. */
  fallback: string | null;
}

const POOL: CpuParallelism = { dataParallel: false, fallback: null };

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}

/**
 * The mode before the backend is chosen. `threads`: the XNNPACK threads wasm would run (wasmThreadCount: the CPU
 * count, or GRPO_WASM_THREADS). An explicit true or false is taken as it is (config validation refuses true with the
 * exact KL, and the memory check in the trainer refuses a replica that cannot fit).
 */
export function planCpuParallelism(config: RunConfig, threads: number): CpuParallelism {
  const setting: DataParallelSetting = config.optimization.data_parallel;
  if (setting !== 'auto') return { dataParallel: setting, fallback: null };
  // The replicas are wasm instances for a language model: nothing to choose for the bandit or a named GPU backend.
  if (!config.model || !(config.backend === 'auto' || config.backend === 'wasm')) return POOL;
  const fallback = autoFallback(config, threads);
  return fallback === null ? { dataParallel: true, fallback: null } : { dataParallel: false, fallback };
}

/** Why "auto" cannot use the replicas on this run, or null when it can. */
function autoFallback(config: RunConfig, threads: number): string | null {
  if (exactKl(config)) return 'the exact KL (algorithm.kl_estimator "full") needs the full logits, which the replicas do not exchange';
  if (threads < 2) return 'one thread to run on (the CPU count, or GRPO_WASM_THREADS=1)';
  let shape;
  try {
    shape = runShapeOf(config, true);
  } catch {
    // An unreadable model: the trainer reports it, with its own message, when it loads the model.
    return null;
  }
  const replica = replicaBytes(shape);
  if (replica > WASM_TENSOR_BYTES) {
    return `the replica's copy of the weights would need about ${gib(replica)}, more than the ${gib(WASM_TENSOR_BYTES)} a wasm instance holds`;
  }
  const limitMb = config.optimization.memory_limit_mb;
  const both = trainingBytes(shape) + replica;
  if (limitMb > 0 && both > limitMb * 2 ** 20) {
    return `the model, its training state and the replica's copy would need about ${gib(both)}, more than optimization.memory_limit_mb (${limitMb} MiB)`;
  }
  return null;
}

/**
 * The mode once the backend runs. webgpu never runs the replicas: they hand per-token values over synchronously
 * inside one gradient computation, which webgpu cannot read, and a CPU thread adds nothing to a GPU (an explicit true
 * gets a warning in the run's log, train.ts). "auto" keeps them for wasm only (the cpu backend is far slower than
 * either mode, tensorflow has threads of its own); an explicit true stays on the other CPU backends.
 */
export function settleCpuParallelism(plan: CpuParallelism, setting: DataParallelSetting, backend: string): CpuParallelism {
  if (backend === 'webgpu' || (setting === 'auto' && backend !== 'wasm')) return POOL;
  return plan;
}

/**
 * The device string of a run: on wasm it names the mode that runs, e.g. "CPU (WebAssembly SIMD, data-parallel: 2
 * single-threaded instances)", "CPU (WebAssembly SIMD, thread pool of 2)", or the pool with the reason "auto" fell
 * back. `device` is the backend's own (backend.ts: "CPU (WebAssembly SIMD, 2 threads)"); `mainThreads` the
 * XNNPACK threads of this process's wasm instance.
 */
export function runDevice(device: string, backend: string, mode: CpuParallelism, mainThreads: number): string {
  if (backend !== 'wasm') return mode.dataParallel ? `${device}; data-parallel: a wasm replica on a second thread` : device;
  const inside = /^CPU \(WebAssembly SIMD, (.*)\)$/.exec(device)?.[1];
  if (inside === undefined) return device;
  if (mode.dataParallel) {
    // The main instance may already run a pool (wasm started earlier in this process, with more threads).
    const main = mainThreads === 1 ? '2 single-threaded instances' : `a thread pool of ${mainThreads} and a single-threaded replica`;
    return `CPU (WebAssembly SIMD, data-parallel: ${main})`;
  }
  const pool = inside.replace(/^(\d+) threads\b/, 'thread pool of $1');
  return `CPU (WebAssembly SIMD, ${pool}${mode.fallback ? `; not data-parallel: ${mode.fallback}` : ''})`;
}
