/**
 * The GRPO trainer on webgpu: three steps of a demo-like arithmetic run (tiny model, SFT warm start, KL to the
 * reference, data_parallel asked for as the demo does) complete, write their metrics, rollouts and checkpoints,
 * and agree with the same run on wasm. Sampling is seeded and happens on the host, so both backends draw the same
 * tokens as long as their logits agree to float rounding: the first step's samples must be identical, and its
 * loss, gradient norm and per-token log-probs (old, reference, new) within 1e-3 relative. Where webgpu cannot load,
 * the test is skipped with the reason; without a GPU it runs on a software adapter (Mesa llvmpipe, as in CI),
 * since a config that names webgpu may use one.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { MetricsRecord, RolloutRecord, RolloutsRecord, RunEvent } from '../../src/protocol';
import { activateBackend, BackendUnavailable, selectBackend } from '../../src/worker/backend';
import { train } from '../../src/worker/train';
import { numericMetrics } from './metrics';
import { readRecords as read } from './runFiles';

function demoLike(backend: string): Record<string, unknown> {
  return {
    name: `webgpu-check-${backend}`,
    seed: 3,
    backend,
    model: { name_or_path: 'tiny' },
    task: { type: 'arithmetic', min_operand: 10, max_operand: 29, operations: ['+'], num_train: 200, num_eval: 8, teacher_error_rate: 0.6 },
    // The partial credit for an integer answer gives a briefly warm-started model non-zero advantages.
    rewards: [{ name: 'arithmetic_answer', weight: 1 }, { name: 'integer_format', weight: 0.5 }],
    sft: { steps: 10, learning_rate: 0.003, batch_size: 16 },
    algorithm: { num_generations: 4, beta: 0.04, loss_type: 'bnpo' },
    optimization: { max_steps: 3, prompts_per_step: 4, micro_batch_size: 8, data_parallel: true },
    sampling: { max_completion_length: 5 },
    evaluation: { eval_steps: 3, greedy: true },
    checkpointing: { save_steps: 3, save_total_limit: 1 },
  };
}

interface Run {
  runDir: string;
  seconds: number;
  metrics: (Omit<MetricsRecord, 'metrics'> & { metrics: Record<string, number> })[];
  rollouts: RolloutsRecord[];
  events: RunEvent[];
}

function rolloutsOf(record: RolloutsRecord): RolloutRecord[] {
  return record.groups.flatMap((g) => g.rollouts);
}

/** |a − b| ≤ 1e-3·|b|, plus the records' rounding to 6 significant digits. */
function assertClose(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= 1e-3 * Math.abs(expected) + 1e-5 * Math.max(1, Math.abs(expected)), `${what}: webgpu ${actual}, wasm ${expected}`);
}

describe('GRPO training on webgpu', function () {
  this.timeout(600_000);
  let tmp: string;
  let unavailable: string | undefined;

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-webgpu-'));
    try {
      await activateBackend('webgpu', { allowSoftwareAdapter: true });
    } catch (err) {
      if (!(err instanceof BackendUnavailable)) throw err;
      unavailable = err.reason;
    }
    await selectBackend('wasm');
  });

  after(async () => {
    fs.rmSync(tmp, { recursive: true, force: true });
    await selectBackend('wasm');
  });

  async function run(backend: string): Promise<Run> {
    const configPath = path.join(tmp, `${backend}.json`);
    fs.writeFileSync(configPath, JSON.stringify(demoLike(backend)));
    const started = performance.now();
    const result = await train({
      configPath,
      runsDir: tmp,
      observers: [],
      control: { shouldStop: () => false, waitWhilePaused: async () => undefined },
    });
    const seconds = (performance.now() - started) / 1000;
    assert.equal(result.outcome, 'completed');
    const file = (name: string) => path.join(result.runDir, name);
    return { runDir: result.runDir, seconds, metrics: read<MetricsRecord>(file('metrics.jsonl')).map((m) => ({ ...m, metrics: numericMetrics(m) })), rollouts: read(file('rollouts.jsonl')), events: read(file('events.jsonl')) };
  }

  it('three steps of a demo-like arithmetic run complete and agree with wasm', async function () {
    if (unavailable) {
      console.log(`      skipped webgpu: ${unavailable}`);
      this.skip();
    }
    const wasm = await run('wasm');
    const webgpu = await run('webgpu');

    const started = webgpu.events.find((e) => e.type === 'started');
    assert.ok(started?.type === 'started' && started.backend === 'webgpu', JSON.stringify(started));
    assert.ok(webgpu.events.some((e) => e.type === 'log' && /data_parallel is off on webgpu/.test(e.message)), 'the data_parallel warning');
    assert.deepEqual(webgpu.metrics.map((m) => m.step), [0, 1, 2, 3]);
    assert.ok('eval/accuracy' in webgpu.metrics[3].metrics);
    assert.ok(fs.existsSync(path.join(webgpu.runDir, 'checkpoints', 'step-3', 'policy', 'model.safetensors')));
    assert.ok(fs.existsSync(path.join(webgpu.runDir, 'checkpoints', 'step-3', 'optimizer.safetensors')));

    // The warm start, then the first GRPO step: same samples, same numbers up to float rounding.
    assertClose(webgpu.metrics[0].metrics['sft/loss'], wasm.metrics[0].metrics['sft/loss'], 'sft/loss');
    const [gpuStep, cpuStep] = [webgpu.metrics[1].metrics, wasm.metrics[1].metrics];
    assert.ok(cpuStep.grad_norm > 0 && cpuStep.loss !== 0, `the first step has a gradient: ${JSON.stringify(cpuStep)}`);
    for (const key of ['loss', 'grad_norm', 'entropy', 'reward', 'clip_ratio/region_mean']) assertClose(gpuStep[key], cpuStep[key], `step 1 ${key}`);
    const [gpuRollouts, cpuRollouts] = [rolloutsOf(webgpu.rollouts[0]), rolloutsOf(wasm.rollouts[0])];
    assert.deepEqual(gpuRollouts.map((r) => r.tokens.text), cpuRollouts.map((r) => r.tokens.text), 'the same sampled tokens');
    let compared = 0;
    gpuRollouts.forEach((rollout, i) => {
      assert.equal(rollout.reward, cpuRollouts[i].reward);
      for (const column of ['old_logprob', 'ref_logprob', 'logprob', 'ratio', 'entropy'] as const) {
        const [mine, theirs] = [rollout.tokens[column]!, cpuRollouts[i].tokens[column]!];
        assert.equal(mine.length, theirs.length, column);
        mine.forEach((x, t) => assertClose(x, theirs[t], `step 1 rollout ${i} token ${t} ${column}`));
        compared += mine.length;
      }
    });

    const perStep = (r: Run) => r.metrics.slice(1).map((m) => m.metrics['time/step']);
    const later = [2, 3].map((s) => `step ${s}: loss ${webgpu.metrics[s].metrics.loss.toExponential(4)} vs ${wasm.metrics[s].metrics.loss.toExponential(4)}`);
    console.log(
      `      ${started.device}: ${compared} per-token values of step 1 within 1e-3 of wasm; ` +
        `loss ${gpuStep.loss.toExponential(6)} vs ${cpuStep.loss.toExponential(6)}, grad_norm ${gpuStep.grad_norm.toPrecision(6)} vs ${cpuStep.grad_norm.toPrecision(6)}; ${later.join(', ')}`,
    );
    console.log(
      `      seconds per GRPO step (webgpu | wasm): ${perStep(webgpu).map((s, i) => `${s.toFixed(2)} | ${perStep(wasm)[i].toFixed(2)}`).join(', ')}; ` +
        `whole run ${webgpu.seconds.toFixed(1)} s | ${wasm.seconds.toFixed(1)} s`,
    );
  });
});
