// Bundles the real-VS-Code tests into out/e2e/: suite.js runs inside the extension host (vscode and mocha are
// resolved there at run time), runExtensionTests.js and ui.js drive Chromium with playwright-core from outside.
import * as esbuild from 'esbuild';
import * as path from 'path';
import { fileURLToPath } from 'url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const common = { bundle: true, platform: 'node', format: 'cjs', target: 'node20', sourcemap: true, absWorkingDir: root, logLevel: 'warning', mainFields: ['module', 'main'] };
await Promise.all([
  esbuild.build({ ...common, entryPoints: { suite: 'test/e2e/suite/index.ts' }, outdir: 'out/e2e', external: ['vscode', 'mocha'] }),
  esbuild.build({ ...common, entryPoints: { runExtensionTests: 'test/e2e/runExtensionTests.ts', ui: 'test/e2e/ui.ts', reload: 'test/e2e/reload.ts' }, outdir: 'out/e2e', external: ['playwright-core'] }),
]);
