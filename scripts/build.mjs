// Bundles the three targets into dist/: extension host (node, cjs), worker (node, cjs), webview (browser, iife).
// The tfjs wasm binaries and our SIMD kernels are copied next to the worker bundle, where the code looks first.
import * as esbuild from 'esbuild';
import * as fs from 'fs';
import * as path from 'path';
import { fileURLToPath } from 'url';

const watch = process.argv.includes('--watch');
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');

const common = { bundle: true, sourcemap: true, logLevel: 'info', absWorkingDir: root };
const nodeTarget = {
  ...common,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // The ES module builds of tfjs, whose package.json `sideEffects` lists keep the kernel registrations (the node
  // builds are not listed there, so esbuild would drop `import '@tensorflow/tfjs-backend-cpu'`).
  mainFields: ['module', 'main'],
  // vscode is provided by the host; the native tfjs bindings are optional and loaded by name at run time; the
  // wasm package is only resolved when running unbundled (the bundle finds its .wasm files next to itself).
  // `webgpu` (Dawn) is native and optional too; tfjs-backend-webgpu is plain JS and bundled, imported only when used.
  external: ['vscode', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node-gpu/package.json', 'webgpu', '@tensorflow/tfjs-backend-wasm/package.json', 'tsx/cjs'],
};

const targets = [
  { ...nodeTarget, entryPoints: { extension: 'src/host/extension.ts' }, outdir: dist },
  { ...nodeTarget, entryPoints: { worker: 'src/worker/main.ts', cli: 'src/worker/cli.ts', 'model-gradient-worker': 'src/model/gradient-worker.ts', 'reward-worker': 'src/worker/rewardWorker.ts' }, outdir: dist },
  // The GPU benchmark, self-contained so it can run from dist/ on a machine without node_modules (docs/gpu.md).
  { ...nodeTarget, entryPoints: { 'bench-gpu': 'bench/gpu.ts' }, outdir: dist },
  { ...common, platform: 'browser', format: 'iife', target: 'es2022', entryPoints: { webview: 'webview/main.ts' }, outdir: dist },
].filter((t) => Object.values(t.entryPoints).every((p) => fs.existsSync(path.join(root, p))));

function copyWasm() {
  const wasmDir = path.join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist');
  fs.mkdirSync(dist, { recursive: true });
  for (const f of fs.readdirSync(wasmDir).filter((f) => f.endsWith('.wasm'))) fs.copyFileSync(path.join(wasmDir, f), path.join(dist, f));
  // The threaded build's workers load Emscripten's main script from a file (src/worker/wasmThreads.ts).
  const threadedScript = 'tfjs-backend-wasm-threaded-simd.js';
  fs.copyFileSync(path.join(wasmDir, '..', 'wasm-out', threadedScript), path.join(dist, threadedScript));
  // Our own SIMD kernels (src/model/simdKernels.ts), compiled by `npm run build:simd` and committed.
  // kernels[-relaxed][-shared].wasm → dist/simd-kernels….wasm (simdKernels.ts simdModulePath).
  const simdDir = path.join(root, 'src/model/simd');
  for (const f of fs.readdirSync(simdDir).filter((f) => f.endsWith('.wasm'))) fs.copyFileSync(path.join(simdDir, f), path.join(dist, `simd-${f}`));
}

/** The run-config JSON Schema, for VS Code's jsonValidation (completion and hover docs in config files). */
async function writeSchema() {
  const out = path.join(root, 'out', 'schema-export.cjs');
  await esbuild.build({ entryPoints: ['src/protocol/config.ts'], bundle: true, platform: 'node', format: 'cjs', outfile: out, logLevel: 'warning', absWorkingDir: root, mainFields: ['module', 'main'] });
  const { RUN_CONFIG_SCHEMA } = (await import(out)).default;
  fs.writeFileSync(path.join(dist, 'run-config.schema.json'), JSON.stringify(RUN_CONFIG_SCHEMA, null, 2) + '\n');
}

copyWasm();
await writeSchema();
if (watch) {
  for (const t of targets) await (await esbuild.context(t)).watch();
} else {
  await Promise.all(targets.map((t) => esbuild.build(t)));
}
