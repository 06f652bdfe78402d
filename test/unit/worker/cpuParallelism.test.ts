import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { RunConfig, validateRunConfig } from '../../../src/protocol';
import { CpuParallelism, planCpuParallelism, runDevice, settleCpuParallelism } from '../../../src/worker/cpuParallelism';

const FIXTURE_GPT2 = path.resolve(__dirname, '../../fixtures/peft/gpt2/base/config.json');

function config(overrides: { optimization?: object; algorithm?: object; backend?: string; model?: object } = {}): RunConfig {
  return validateRunConfig({
    name: 'x',
    model: { name_or_path: 'tiny', ...overrides.model },
    task: { type: 'arithmetic' },
    ...(overrides.backend ? { backend: overrides.backend } : {}),
    optimization: { ...overrides.optimization },
    algorithm: { ...overrides.algorithm },
  });
}

const DATA_PARALLEL: CpuParallelism = { dataParallel: true, fallback: null };

describe('CPU parallelism on wasm (optimization.data_parallel)', () => {
  it('"auto" is the default and takes the replicas for a language model on wasm (or a backend still to be chosen)', () => {
    assert.equal(config().optimization.data_parallel, 'auto');
    assert.deepEqual(planCpuParallelism(config(), 2), DATA_PARALLEL);
    assert.deepEqual(planCpuParallelism(config({ backend: 'wasm' }), 8), DATA_PARALLEL);
  });

  it('an explicit true or false is taken as it is', () => {
    assert.deepEqual(planCpuParallelism(config({ optimization: { data_parallel: true } }), 1), DATA_PARALLEL);
    assert.deepEqual(planCpuParallelism(config({ optimization: { data_parallel: false } }), 2), { dataParallel: false, fallback: null });
  });

  it('"auto" falls back to the pool, with the reason, where the replicas cannot run', () => {
    const exact = planCpuParallelism(config({ algorithm: { beta: 0.1, kl_estimator: 'full' } }), 2);
    assert.equal(exact.dataParallel, false);
    assert.match(exact.fallback ?? '', /exact KL \(algorithm.kl_estimator "full"\) needs the full logits/);
    // The same estimator without a KL term in the loss needs no logits: the replicas run.
    assert.deepEqual(planCpuParallelism(config({ algorithm: { beta: 0, kl_estimator: 'full' } }), 2), DATA_PARALLEL);
    const oneThread = planCpuParallelism(config(), 1);
    assert.equal(oneThread.dataParallel, false);
    assert.match(oneThread.fallback ?? '', /one thread to run on/);
    const limited = planCpuParallelism(config({ optimization: { memory_limit_mb: 1 } }), 2);
    assert.equal(limited.dataParallel, false);
    assert.match(limited.fallback ?? '', /the replica's copy would need about .* more than optimization.memory_limit_mb \(1 MiB\)/);
  });

  it('"auto" falls back when the replica\'s copy of the weights does not fit a wasm instance', () => {
    // GPT-2 large's shape (774 M parameters): the replica's weights and gradients alone are about 6 GB.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-large-'));
    try {
      const large = { ...JSON.parse(fs.readFileSync(FIXTURE_GPT2, 'utf8')), n_embd: 1280, n_layer: 36, n_head: 20, n_positions: 1024, vocab_size: 50257 };
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(large));
      const plan = planCpuParallelism(config({ model: { name_or_path: dir } }), 2);
      assert.equal(plan.dataParallel, false);
      assert.match(plan.fallback ?? '', /^the replica's copy of the weights would need about \d+\.\d+ GiB, more than the 2\.00 GiB a wasm instance holds$/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('"auto" leaves the bandit and GPU backends alone, and keeps the replicas for wasm once the backend runs', () => {
    const bandit = validateRunConfig({ name: 'x', task: { type: 'bandit' } });
    assert.deepEqual(planCpuParallelism(bandit, 2), { dataParallel: false, fallback: null });
    assert.deepEqual(planCpuParallelism(config({ backend: 'webgpu' }), 2), { dataParallel: false, fallback: null });
    assert.deepEqual(planCpuParallelism(config({ backend: 'cpu' }), 2), { dataParallel: false, fallback: null });
    assert.deepEqual(settleCpuParallelism(DATA_PARALLEL, 'auto', 'wasm'), DATA_PARALLEL);
    // `auto` landed on tfjs-node or a GPU: the replica is not started.
    for (const backend of ['tensorflow', 'webgpu', 'cpu']) assert.deepEqual(settleCpuParallelism(DATA_PARALLEL, 'auto', backend), { dataParallel: false, fallback: null }, backend);
    // An explicit true stays on the CPU backends, never on webgpu (train.ts warns).
    assert.deepEqual(settleCpuParallelism(DATA_PARALLEL, true, 'cpu'), DATA_PARALLEL);
    assert.deepEqual(settleCpuParallelism(DATA_PARALLEL, true, 'webgpu'), { dataParallel: false, fallback: null });
  });

  it('the device string names the mode that runs, and why "auto" fell back', () => {
    assert.equal(runDevice('CPU (WebAssembly SIMD, 1 thread)', 'wasm', DATA_PARALLEL, 1), 'CPU (WebAssembly SIMD, data-parallel: 2 single-threaded instances)');
    assert.equal(runDevice('CPU (WebAssembly SIMD, 2 threads)', 'wasm', DATA_PARALLEL, 2), 'CPU (WebAssembly SIMD, data-parallel: a thread pool of 2 and a single-threaded replica)');
    assert.equal(runDevice('CPU (WebAssembly SIMD, 2 threads)', 'wasm', { dataParallel: false, fallback: null }, 2), 'CPU (WebAssembly SIMD, thread pool of 2)');
    assert.equal(
      runDevice('CPU (WebAssembly SIMD, 2 threads)', 'wasm', { dataParallel: false, fallback: 'the exact KL needs the full logits' }, 2),
      'CPU (WebAssembly SIMD, thread pool of 2; not data-parallel: the exact KL needs the full logits)',
    );
    assert.equal(
      runDevice('CPU (WebAssembly SIMD, 1 thread; threads unavailable: x not found)', 'wasm', { dataParallel: false, fallback: null }, 1),
      'CPU (WebAssembly SIMD, 1 thread; threads unavailable: x not found)',
    );
    assert.equal(runDevice('CPU (plain JavaScript)', 'cpu', DATA_PARALLEL, 0), 'CPU (plain JavaScript); data-parallel: a wasm replica on a second thread');
    assert.equal(runDevice('libtensorflow (CPU)', 'tensorflow', { dataParallel: false, fallback: null }, 0), 'libtensorflow (CPU)');
  });
});
