/**
 * The multi-threaded wasm backend (src/worker/wasmThreads.ts) in fresh processes: it starts with the requested
 * number of threads, trains to the same numbers as one thread, and lets a finished process exit on its own.
 */
import * as assert from 'assert';
import { spawnSync } from 'child_process';
import * as os from 'os';
import * as path from 'path';

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

  it('uses one thread per CPU by default', () => {
    const threads = Math.min(8, os.cpus().length);
    assert.strictEqual(probe('').device, `CPU (WebAssembly SIMD, ${threads} thread${threads === 1 ? '' : 's'})`);
  });
});
