/**
 * Where tfjs-backend-wasm's .wasm files are, and the single-threaded wasm backend a data-parallel gradient thread
 * runs (gradient-worker.ts). The run's backend choice (auto order, threads, fallbacks) is the worker's
 * (src/worker/backend.ts); a gradient thread only ever runs this one configuration, so it needs nothing from there.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone registers no gradients; the backward pass needs them.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

/** Directory holding tfjs-backend-wasm's .wasm files: next to the bundle, else inside the installed package. */
export function wasmDirectory(): string {
  if (fs.existsSync(path.join(__dirname, 'tfjs-backend-wasm-simd.wasm'))) return __dirname + path.sep;
  const pkg = require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
  return path.join(path.dirname(pkg), 'dist') + path.sep;
}

/**
 * Starts wasm with one XNNPACK thread in this (worker) thread: data parallelism already gives each core one replica,
 * and a pool inside each would make the replicas wait on each other's threads.
 */
export async function startSingleThreadedWasm(): Promise<void> {
  setWasmPaths(wasmDirectory());
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  setThreadsCount(1);
  if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend did not initialise in the data-parallel thread');
  await tf.ready();
}
