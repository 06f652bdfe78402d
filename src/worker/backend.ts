/**
 * Run-time choice of the TensorFlow.js backend.
 *
 * The native pieces are optional dependencies that may be missing or unusable on a given machine:
 * `@tensorflow/tfjs-node-gpu` / `@tensorflow/tfjs-node` download libtensorflow at install time (fails offline), and
 * the `webgpu` package's `dawn.node` needs a Vulkan driver. So the choice is made when a run starts, in the order
 * tensorflow → webgpu → wasm → cpu for `auto`, and every skipped candidate is reported with its reason. A backend
 * asked for by name that cannot load is an error saying why and how to fix it.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone registers no gradients; the training step needs them.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

import type { BackendName } from '../protocol';
import { wasmDirectory } from '../model/wasmFiles';
import { BackendUnavailable, firstLine } from './backendError';
import { AdapterSummary, DawnAdapter, findVulkanLoader, loadDawnGpu, probeAdapterInChild, requestAdapter, summarizeAdapter, WEBGPU_FIX } from './webgpu';
import { disableWasmThreads, initThreadedWasm, runningWasmThreads, THREADED_MAIN_SCRIPT, THREADED_WASM, threadedMainScript, ThreadedStartAbandoned, wasmThreadCount } from './wasmThreads';

export { BackendUnavailable, firstLine };

export type ConcreteBackend = Exclude<BackendName, 'auto'>;
/** The order `auto` tries, fastest first. */
export const AUTO_ORDER: readonly ConcreteBackend[] = ['tensorflow', 'webgpu', 'wasm', 'cpu'];

export interface BackendChoice {
  /** tfjs backend name actually active: 'tensorflow', 'webgpu', 'wasm' or 'cpu'. */
  name: string;
  /** Human-readable device, e.g. "CPU (WebAssembly SIMD)" or "NVIDIA H100 (WebGPU on Vulkan)". */
  device: string;
  /** Why earlier candidates were skipped, in order tried. */
  fallbacks: string[];
}

export interface ProbeOptions {
  /**
   * Accept a software WebGPU adapter (Mesa llvmpipe, SwiftShader). `auto` does not: on a CPU they are slower than
   * wasm; a run that names `webgpu` does, since then the user asked for exactly that (CI tests the path this way).
   */
  allowSoftwareAdapter: boolean;
  /** XNNPACK threads for wasm when it first starts in this process; default wasmThreadCount(). */
  wasmThreads?: number;
}

export const TENSORFLOW_FIX =
  'install @tensorflow/tfjs-node-gpu (CUDA 11.2 + cuDNN 8.1 + libtensorflow 2.9.1) or @tensorflow/tfjs-node; ' +
  'offline: npm install --ignore-scripts, unpack the libtensorflow tarball into the package\'s deps/ and run ' +
  '"node scripts/install.js gpu" there, or point TFJS_NODE_BASE_URI at a mirror (README, "Backends")';

/** What tfjs-node's NodeJSKernelBackend says about its device (typed here: the package is optional). */
interface TensorflowKernelBackend {
  isUsingGpuDevice?: boolean;
}

async function tryTensorflow(): Promise<string> {
  const errors: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      // Loaded by name at run time: the packages are optional and absent on most machines.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      withoutDuplicateKernelWarnings(() => require(pkg));
      if (await tf.setBackend('tensorflow')) return tensorflowDevice(pkg);
      errors.push(`${pkg} loaded but the 'tensorflow' backend did not initialise`);
    } catch (err) {
      errors.push(`${pkg} is not usable: ${firstLine(err)}`);
    }
  }
  throw new BackendUnavailable(errors.join('; '), TENSORFLOW_FIX);
}

/**
 * The tfjs-node packages bring their own copy of tfjs (with the cpu backend) and register the 'tensorflow' kernels
 * before loading their binding, all into the one global registry. Loading one after the bundled tfjs, or after the
 * other whose binding was missing, prints ~170 "… is already registered" warnings that say nothing the fallback
 * reason does not.
 */
function withoutDuplicateKernelWarnings(load: () => unknown): void {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (!/^(The kernel '.*' for backend '.*' is already registered|.* backend was already registered)/.test(String(args[0]))) warn(...args);
  };
  try {
    load();
  } finally {
    console.warn = warn;
  }
}

/** tfjs-node-gpu silently runs on the CPU when CUDA or cuDNN is missing; its binding tells which it got. */
function tensorflowDevice(pkg: string): string {
  if (!pkg.endsWith('gpu')) return 'libtensorflow (CPU)';
  const onGpu = (tf.backend() as unknown as TensorflowKernelBackend).isUsingGpuDevice;
  if (onGpu === false) return 'libtensorflow (CPU: CUDA 11.2 / cuDNN 8.1 libraries not found)';
  return 'libtensorflow (CUDA)';
}

let webgpuRegistered = false;

async function tryWebgpu(options: ProbeOptions): Promise<string> {
  // `auto` asks a child first: Dawn loaded here for an adapter it then refuses would print its warnings on every run.
  if (!options.allowSoftwareAdapter && !(process.platform === 'linux' && !findVulkanLoader())) refuseSoftwareAdapter(probeAdapterInChild());
  const gpu = await loadDawnGpu();
  const adapter = await requestAdapter(gpu);
  if (!options.allowSoftwareAdapter) refuseSoftwareAdapter(adapter);
  await registerWebgpuBackend(gpu);
  if (!(await tf.setBackend('webgpu'))) throw new BackendUnavailable('the webgpu backend did not initialise', WEBGPU_FIX);
  explainSyncReads();
  return webgpuDevice(adapter);
}

/** `auto` takes no software adapter (Mesa llvmpipe, SwiftShader): on a CPU they are slower than wasm. */
function refuseSoftwareAdapter(adapter: DawnAdapter | AdapterSummary | null): void {
  if (!adapter) throw new BackendUnavailable('Dawn found no GPU adapter: no Vulkan driver offers an adapter', WEBGPU_FIX);
  const summary = 'software' in adapter ? adapter : summarizeAdapter(adapter);
  if (!summary.software) return;
  throw new BackendUnavailable(
    `only a software adapter was found (${summary.description}), slower than wasm on this CPU`,
    'install the GPU vendor\'s Vulkan driver; or set the backend to "webgpu" to use the software adapter anyway',
  );
}

/**
 * tfjs-backend-webgpu registers itself on import only when `navigator.gpu` exists, so Dawn's GPU object is put
 * there first. Node ≥ 21 has a read-only global `navigator`: then `gpu` is added to it instead of replacing it.
 */
async function registerWebgpuBackend(gpu: object): Promise<void> {
  if (webgpuRegistered) return;
  const existing = (globalThis as { navigator?: object }).navigator;
  if (existing) Object.defineProperty(existing, 'gpu', { value: gpu, configurable: true });
  else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  await import('@tensorflow/tfjs-backend-webgpu');
  webgpuRegistered = true;
}

/**
 * tfjs-backend-webgpu cannot read a tensor synchronously under Node: its readSync copies through a browser
 * OffscreenCanvas, and Dawn's mapAsync completes only once control returns to the event loop. Everything on the
 * training path reads with `await data()`; a synchronous read that slips in fails with an error that says what to
 * do instead of "OffscreenCanvas is not defined".
 */
function explainSyncReads(): void {
  const backend = tf.backend() as unknown as { readSync: (dataId: object) => unknown; syncReadsExplained?: boolean };
  if (backend.syncReadsExplained) return;
  const readSync = backend.readSync.bind(backend);
  backend.readSync = (dataId: object) => {
    try {
      return readSync(dataId);
    } catch (err) {
      if (!/OffscreenCanvas/.test(String(err))) throw err;
      throw new Error('webgpu under Node cannot read a tensor synchronously (dataSync/arraySync): use await tensor.data()');
    }
  };
  backend.syncReadsExplained = true;
}

function webgpuDevice(adapter: AdapterSummary): string {
  const binding = adapter.maxBindingBytes ? `, tensors up to ${Math.floor(adapter.maxBindingBytes / 2 ** 20)} MiB` : '';
  return `${adapter.description} (WebGPU on ${adapter.software ? 'a software Vulkan driver' : 'Vulkan'}${binding})`;
}

/** The active webgpu device's largest bindable buffer in bytes, or null on other backends. */
export function webgpuMaxBindingBytes(): number | null {
  if (tf.getBackend() !== 'webgpu') return null;
  const device = (tf.backend() as unknown as { device?: { limits?: { maxStorageBufferBindingSize?: number } } }).device;
  return device?.limits?.maxStorageBufferBindingSize ?? null;
}

/** Why the wasm backend runs on one thread although more were asked for, for the device string. */
let singleThreadReason = '';
/** A threaded start that hung leaves tfjs's wasm initialisation pending for good: wasm is then out for this process. */
let wasmUnusable = '';
/** tfjs refuses a second setWasmPaths after a failed start; the directory never changes within a process anyway. */
let wasmPathsSet = false;

const WASM_FIX = 'reinstall the extension (its .wasm files are missing), or set GRPO_WASM_THREADS=1 to skip the thread pool';

/**
 * wasm with `threads` XNNPACK threads (see wasmThreads.ts); one thread when the threaded module fails to start.
 * The count is fixed when the backend first starts in a process: later calls report what is running.
 */
async function tryWasm(threads: number): Promise<string> {
  if (wasmUnusable) throw new BackendUnavailable(wasmUnusable, WASM_FIX);
  if (!wasmPathsSet) {
    setWasmPaths(wasmDirectory());
    wasmPathsSet = true;
  }
  if (!wasmStarted() && threads > 1) {
    const missing = missingThreadedFiles(wasmDirectory());
    try {
      if (missing) throw new Error(`${missing} not found`);
      await initThreadedWasm(threads, threadedMainScript(wasmDirectory())!);
    } catch (err) {
      if (err instanceof ThreadedStartAbandoned) {
        wasmUnusable = `the wasm thread pool did not start (${firstLine(err)})`;
        throw new BackendUnavailable(wasmUnusable, WASM_FIX);
      }
      singleThreadReason = `threads unavailable: ${firstLine(err)}`;
    }
  }
  if (!wasmStarted()) disableWasmThreads();
  if (!(await tf.setBackend('wasm'))) throw new BackendUnavailable('the wasm backend did not initialise', WASM_FIX);
  const running = runningWasmThreads();
  const why = running === 1 && singleThreadReason ? `; ${singleThreadReason}` : '';
  return `CPU (WebAssembly SIMD, ${running} thread${running === 1 ? '' : 's'}${why})`;
}

/** The threaded build's files that are not there (its .wasm next to the others, and Emscripten's main script). */
function missingThreadedFiles(directory: string): string | null {
  if (!fs.existsSync(path.join(directory, THREADED_WASM))) return THREADED_WASM;
  return threadedMainScript(directory) ? null : THREADED_MAIN_SCRIPT;
}

/** Whether the wasm backend has been initialised in this process (tf.findBackend would start initialising it). */
function wasmStarted(): boolean {
  return 'wasm' in (tf.engine() as unknown as { registry: Record<string, unknown> }).registry;
}

async function tryCpu(): Promise<string> {
  if (!(await tf.setBackend('cpu'))) throw new BackendUnavailable('the cpu backend did not initialise', 'reinstall the extension');
  return 'CPU (plain JavaScript)';
}

/** Activates one backend; resolves to its device description or rejects with BackendUnavailable. */
export async function activateBackend(name: ConcreteBackend, options: ProbeOptions): Promise<string> {
  try {
    switch (name) {
      case 'tensorflow':
        return await tryTensorflow();
      case 'webgpu':
        return await tryWebgpu(options);
      case 'wasm':
        return await tryWasm(options.wasmThreads ?? wasmThreadCount());
      case 'cpu':
        return await tryCpu();
    }
  } catch (err) {
    if (err instanceof BackendUnavailable) throw err;
    throw new BackendUnavailable(firstLine(err), name === 'webgpu' ? WEBGPU_FIX : name === 'wasm' ? WASM_FIX : TENSORFLOW_FIX);
  }
}

/**
 * Activates a backend. `auto` walks AUTO_ORDER and records why each skipped one failed (it never takes a software
 * WebGPU adapter); a named backend that cannot load is an error that says why and how to fix it.
 */
export async function selectBackend(request: BackendName = 'auto', options: { wasmThreads?: number } = {}): Promise<BackendChoice> {
  const order: readonly ConcreteBackend[] = request === 'auto' ? AUTO_ORDER : [request];
  const probe: ProbeOptions = { allowSoftwareAdapter: request !== 'auto', wasmThreads: options.wasmThreads };
  const fallbacks: string[] = [];
  for (const name of order) {
    try {
      const device = await activateBackend(name, probe);
      await tf.ready();
      return { name: tf.getBackend(), device, fallbacks };
    } catch (err) {
      const unavailable = err instanceof BackendUnavailable ? err : new BackendUnavailable(firstLine(err), '');
      if (request !== 'auto') {
        throw new Error(
          `backend '${name}' cannot be used: ${unavailable.reason}. To fix: ${unavailable.fix}. ` +
            '("auto" takes whatever loads; "GRPO: Check GPU Setup" or "grpo-studio doctor" reports what does.)',
        );
      }
      fallbacks.push(`${name}: ${unavailable.reason}`);
    }
  }
  throw new Error(`no tfjs backend could be initialised: ${fallbacks.join('; ')}`);
}
