// Bundles the three targets into dist/: extension host (node, cjs), worker (node, cjs), webview (browser, iife).
// The tfjs wasm binaries are copied next to the worker bundle, where src/worker/backend.ts looks first.
import * as esbuild from 'esbuild';
import * as fs from 'fs';
import * as path from 'path';

const watch = process.argv.includes('--watch');
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const dist = path.join(root, 'dist');

const common = { bundle: true, sourcemap: true, logLevel: 'info', absWorkingDir: root };
const nodeTarget = {
  ...common,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // vscode is provided by the host; the native tfjs bindings are optional and loaded by name at run time.
  external: ['vscode', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'],
};

const targets = [
  { ...nodeTarget, entryPoints: { extension: 'src/host/extension.ts' }, outdir: dist },
  { ...nodeTarget, entryPoints: { worker: 'src/worker/main.ts', cli: 'src/worker/cli.ts' }, outdir: dist },
  { ...common, platform: 'browser', format: 'iife', target: 'es2022', entryPoints: { webview: 'webview/main.ts' }, outdir: dist },
].filter((t) => Object.values(t.entryPoints).every((p) => fs.existsSync(path.join(root, p))));

function copyWasm() {
  const wasmDir = path.join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist');
  fs.mkdirSync(dist, { recursive: true });
  for (const f of fs.readdirSync(wasmDir).filter((f) => f.endsWith('.wasm'))) fs.copyFileSync(path.join(wasmDir, f), path.join(dist, f));
}

copyWasm();
if (watch) {
  for (const t of targets) await (await esbuild.context(t)).watch();
} else {
  await Promise.all(targets.map((t) => esbuild.build(t)));
}
