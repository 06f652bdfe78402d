/**
 * Run-time choice of the TensorFlow.js backend.
 *
 * The native bindings (`@tensorflow/tfjs-node-gpu`, `@tensorflow/tfjs-node`) are optional dependencies: their
 * install script downloads libtensorflow, which fails on offline machines. So the choice is made when a run starts,
 * in the order tensorflow-gpu → tensorflow → wasm → cpu for `auto`, and every fallback is reported with its reason.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone registers no gradients; the training step needs them.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

import type { BackendName } from '../protocol';

export interface BackendChoice {
  /** tfjs backend name actually active: 'tensorflow', 'wasm' or 'cpu'. */
  name: string;
  /** Human-readable device, e.g. "CPU (WebAssembly SIMD)". */
  device: string;
  /** Why earlier candidates were skipped, in order tried. */
  fallbacks: string[];
}

/** Directory holding tfjs-backend-wasm's .wasm files: next to the bundle, else inside the installed package. */
export function wasmDirectory(): string {
  if (fs.existsSync(path.join(__dirname, 'tfjs-backend-wasm-simd.wasm'))) return __dirname + path.sep;
  const pkg = require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
  return path.join(path.dirname(pkg), 'dist') + path.sep;
}

async function tryTensorflow(): Promise<string> {
  const errors: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      // Loaded by name at run time: the packages are optional and absent on most machines.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require(pkg);
      if (await tf.setBackend('tensorflow')) return pkg.endsWith('gpu') ? 'libtensorflow (CUDA)' : 'libtensorflow (CPU)';
      errors.push(`${pkg} loaded but the 'tensorflow' backend did not initialise`);
    } catch (err) {
      errors.push(`${pkg} is not usable: ${firstLine(err)}`);
    }
  }
  throw new Error(errors.join('; '));
}

async function tryWasm(): Promise<string> {
  setWasmPaths(wasmDirectory());
  if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend did not initialise');
  return 'CPU (WebAssembly SIMD, 1 thread)';
}

async function tryCpu(): Promise<string> {
  if (!(await tf.setBackend('cpu'))) throw new Error('the cpu backend did not initialise');
  return 'CPU (plain JavaScript)';
}

const CANDIDATES: Record<Exclude<BackendName, 'auto'>, () => Promise<string>> = {
  tensorflow: tryTensorflow,
  wasm: tryWasm,
  cpu: tryCpu,
};

/**
 * Activates a backend. `auto` walks the candidates and records why each skipped one failed; a named backend that
 * cannot load is an error that says why.
 */
export async function selectBackend(request: BackendName = 'auto'): Promise<BackendChoice> {
  const order: Exclude<BackendName, 'auto'>[] = request === 'auto' ? ['tensorflow', 'wasm', 'cpu'] : [request];
  const fallbacks: string[] = [];
  for (const name of order) {
    try {
      const device = await CANDIDATES[name]();
      await tf.ready();
      return { name: tf.getBackend(), device, fallbacks };
    } catch (err) {
      const reason = `${name}: ${firstLine(err)}`;
      if (request !== 'auto') {
        throw new Error(`backend '${name}' cannot be used (${reason}). Use backend "auto", "wasm" or "cpu" instead.`);
      }
      fallbacks.push(reason);
    }
  }
  throw new Error(`no tfjs backend could be initialised: ${fallbacks.join('; ')}`);
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0];
}
