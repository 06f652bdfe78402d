/**
 * Our SIMD kernels as kernels of tfjs's wasm backend, reading and writing tensors in place on its heap: the backend
 * internals they use (stable across tfjs 4.x), a tensor's byte offset, the heap as simdKernels' WasmHeap, outputs,
 * and registering a kernel once.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { WasmHeap } from './simdKernels';

/** The parts of tfjs-backend-wasm's BackendWasm and its Emscripten module used here. */
interface WasmBackendInternals {
  wasm: {
    _malloc(bytes: number): number;
    _free(offset: number): void;
    /** The threaded build's (shared) memory. */
    wasmMemory?: WebAssembly.Memory;
    /** The single-threaded build exports its memory. */
    asm?: { memory?: WebAssembly.Memory };
  };
  dataIdMap: { get(dataId: object): { memoryOffset: number | null } | undefined };
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
}

const heaps = new WeakMap<object, WasmHeap>();

/** The wasm backend's heap: its memory and allocator. */
export function wasmHeap(backend: unknown): WasmHeap {
  const internals = backend as WasmBackendInternals;
  let heap = heaps.get(internals);
  if (!heap) {
    const memory = internals.wasm.wasmMemory ?? internals.wasm.asm?.memory;
    if (!memory) throw new Error('the wasm backend does not expose its WebAssembly.Memory (tfjs-backend-wasm changed?)');
    heap = { memory, malloc: (bytes) => internals.wasm._malloc(bytes) >>> 0, free: (offset) => internals.wasm._free(offset) };
    heaps.set(internals, heap);
  }
  return heap;
}

/** Where a float32 tensor's values start on the heap, in bytes. */
export function offsetOf(backend: unknown, t: tf.TensorInfo): number {
  const offset = (backend as WasmBackendInternals).dataIdMap.get(t.dataId)?.memoryOffset;
  if (offset == null) throw new Error(`a tensor of shape [${t.shape}] has no data on the wasm heap`);
  return offset;
}

/** A new float32 output of `shape` on the heap, and its byte offset. */
export function heapOutput(backend: unknown, shape: number[]): { info: tf.TensorInfo; at: number } {
  const info = (backend as WasmBackendInternals).makeOutput(shape, 'float32');
  return { info, at: offsetOf(backend, info) };
}

/** Whether our kernels can run these tensors in place: all float32, on the wasm backend. */
export function onWasmHeap(...tensors: tf.Tensor[]): boolean {
  return tf.getBackend() === 'wasm' && tensors.every((t) => t.dtype === 'float32');
}

/** The arguments tfjs passes a kernel function. */
export interface WasmKernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs: unknown;
}

const registered = new Set<string>();

/** Registers a wasm kernel of ours (and its gradient, when it has one), once, on first use. */
export function registerOnWasm(kernelName: string, kernelFunc: (args: WasmKernelArgs) => tf.TensorInfo | tf.TensorInfo[], gradient?: Omit<tf.GradConfig, 'kernelName'>): void {
  if (registered.has(kernelName)) return;
  registered.add(kernelName);
  tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as unknown as tf.KernelFunc });
  if (gradient) tf.registerGradient({ kernelName, ...gradient });
}

/** Runs a kernel of ours registered by registerOnWasm. */
export function runWasmKernel(kernelName: string, inputs: tf.NamedTensorMap, attrs: object = {}): tf.Tensor | tf.Tensor[] {
  return tf.engine().runKernel(kernelName, inputs, attrs as tf.NamedAttrMap) as tf.Tensor | tf.Tensor[];
}
