/**
 * What the packaged extension (.vsix) carries: everything the bundles load at run time from next to themselves.
 * The extension tests run from the source folder, where node_modules hides a missing file; the package has none.
 */
import * as assert from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '../..');

describe('the packaged extension', function () {
  this.timeout(60000);

  it('carries the bundles, the wasm binaries, the threaded build\'s script, the schema and the examples', () => {
    assert.ok(fs.existsSync(path.join(ROOT, 'dist', 'extension.js')), 'dist/ is missing: run "npm run build" first');
    const listed = new Set(execFileSync('npx', ['vsce', 'ls', '--no-dependencies'], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n'));
    const runtime = fs.readdirSync(path.join(ROOT, 'dist')).filter((f) => /\.(js|wasm|json)$/.test(f) && f !== 'bench-gpu.js');
    for (const file of [...runtime.map((f) => `dist/${f}`), 'package.json', 'examples/arithmetic.json', 'examples/bandit.json', 'media/dashboard.css']) {
      assert.ok(listed.has(file), `${file} is not in the package (.vscodeignore)`);
    }
    assert.ok(listed.has('dist/tfjs-backend-wasm-threaded-simd.js'));
    assert.ok(![...listed].some((f) => f.endsWith('.map') || f.startsWith('src/') || f.startsWith('node_modules/')), 'sources, maps or node_modules in the package');
  });
});
