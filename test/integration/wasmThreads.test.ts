/**
 * The multi-threaded wasm backend (src/worker/wasmThreads.ts) in fresh processes: it starts with the requested
 * number of threads, trains to the same numbers as one thread, and lets a finished process exit on its own.
 */
import * as assert from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const DIST = path.resolve(__dirname, '../../dist');

/**
 * The bundled CLI's doctor report on wasm, run from a folder holding the bundle and the files given (the bundle
 * loads the wasm files from next to itself), with 2 threads asked for.
 */
function wasmFromBundle(files: Record<string, Buffer | string>): { loads: boolean; detail: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-wasm-threads-'));
  try {
    fs.copyFileSync(path.join(DIST, 'cli.js'), path.join(dir, 'cli.js'));
    for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
    const run = spawnSync(process.execPath, [path.join(dir, 'cli.js'), 'doctor', '--json'], {
      encoding: 'utf8',
      env: { ...process.env, GRPO_WASM_THREADS: '2' },
      timeout: 90000,
    });
    assert.strictEqual(run.error, undefined, `the doctor did not exit by itself: ${run.error?.message}`);
    const report = JSON.parse(run.stdout) as { backends: { name: string; loads: boolean; detail: string }[] };
    return report.backends.find((b) => b.name === 'wasm')!;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

interface Probe {
  device: string;
  losses: number[];
  checksum: number;
}

function probe(threads: string): Probe {
  const script = path.join(__dirname, 'fixtures', 'wasmThreadsProbe.ts');
  const run = spawnSync(process.execPath, ['--require', 'tsx/cjs', script], {
    encoding: 'utf8',
    env: { ...process.env, GRPO_WASM_THREADS: threads },
    // A pool worker keeping the process alive would hit this limit instead of exiting.
    timeout: 60000,
  });
  assert.strictEqual(run.error, undefined, `probe with ${threads} thread(s) did not exit by itself: ${run.error?.message}`);
  assert.strictEqual(run.status, 0, run.stderr);
  return JSON.parse(run.stdout.trim().split('\n').pop()!) as Probe;
}

describe('wasm backend with threads', function () {
  this.timeout(150000);

  it('trains to the same losses and weights on 2 threads as on 1, and the process exits by itself', () => {
    const one = probe('1');
    const two = probe('2');
    assert.strictEqual(one.device, 'CPU (WebAssembly SIMD, 1 thread)');
    assert.strictEqual(two.device, 'CPU (WebAssembly SIMD, 2 threads)');
    one.losses.forEach((loss, i) => assert.ok(Math.abs(loss - two.losses[i]) < 1e-5 * Math.abs(loss), `loss ${i}: ${loss} vs ${two.losses[i]}`));
    assert.ok(Math.abs(one.checksum - two.checksum) < 1e-5 * Math.abs(one.checksum), `weights: ${one.checksum} vs ${two.checksum}`);
  });

  describe('when the threaded build cannot start (the bundle, in a folder of its own)', () => {
    const read = (name: string) => fs.readFileSync(path.join(DIST, name));
    const singleThreaded = () => ({ 'tfjs-backend-wasm.wasm': read('tfjs-backend-wasm.wasm'), 'tfjs-backend-wasm-simd.wasm': read('tfjs-backend-wasm-simd.wasm') });
    before(function () {
      if (!fs.existsSync(path.join(DIST, 'cli.js'))) throw new Error('dist/cli.js is missing: run "npm run build" first');
    });

    it('its files missing: one thread, saying why', () => {
      assert.deepStrictEqual(wasmFromBundle(singleThreaded()), {
        name: 'wasm', loads: true, detail: 'CPU (WebAssembly SIMD, 1 thread; threads unavailable: tfjs-backend-wasm-threaded-simd.wasm not found)',
      });
    });

    it('its binary broken: one thread, its workers ended, the process exits', () => {
      const broken = { ...singleThreaded(), 'tfjs-backend-wasm-threaded-simd.wasm': read('tfjs-backend-wasm-threaded-simd.wasm').subarray(0, 1000), 'tfjs-backend-wasm-threaded-simd.js': read('tfjs-backend-wasm-threaded-simd.js') };
      assert.deepStrictEqual(wasmFromBundle(broken), {
        name: 'wasm', loads: true, detail: 'CPU (WebAssembly SIMD, 1 thread; threads unavailable: the threaded wasm module did not initialise)',
      });
    });

    it('a pool worker failing: wasm refused with the reason and the fix, no crash, the process exits', () => {
      const failing = { ...singleThreaded(), 'tfjs-backend-wasm-threaded-simd.wasm': read('tfjs-backend-wasm-threaded-simd.wasm'), 'tfjs-backend-wasm-threaded-simd.js': "throw new Error('boom');" };
      const wasm = wasmFromBundle(failing);
      assert.strictEqual(wasm.loads, false);
      assert.match(wasm.detail, /the wasm thread pool did not start \(a pool worker failed: boom\)/);
    });
  });

  it('uses one thread per CPU by default', () => {
    const threads = Math.min(8, os.availableParallelism());
    assert.strictEqual(probe('').device, `CPU (WebAssembly SIMD, ${threads} thread${threads === 1 ? '' : 's'})`);
  });
});
