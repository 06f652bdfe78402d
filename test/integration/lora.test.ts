/**
 * LoRA runs end to end (issue 14): checkpoints are PEFT adapter folders, a stopped and resumed LoRA run equals an
 * uninterrupted one bit for bit (dropout masks included), `export` writes the adapter or the merged model, a run
 * starts from an adapter folder with that adapter as its reference, and GRPO with LoRA on the real stories260K
 * checkpoint raises its reward.
 */
import * as assert from 'assert';
import { execFile } from 'child_process';
import { promisify } from 'util';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { MetricsRecord, RolloutsRecord } from '../../src/protocol';
import { latestPerStep, readSnapshot } from '../../src/protocol/runStore';
import { loadPolicy } from '../../src/model';
import { readSafetensors } from '../../src/model/safetensors';
import { exportCheckpoint } from '../../src/worker/exportCommand';
import { maxAbsDiff, sequenceLogits } from '../unit/model/helpers';
import { deterministic, runInProcess, writeConfig as writeConfigIn } from './inProcess';
import { numericMetrics } from './metrics';
import { readRecords as read } from './runFiles';

const ROOT = path.resolve(__dirname, '../..');
const LORA = { r: 4, lora_alpha: 8, lora_dropout: 0.1, target_modules: 'all-linear' };

function tinyLora(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'tiny-lora',
    seed: 5,
    backend: 'wasm',
    model: { name_or_path: 'tiny', lora: LORA },
    task: { type: 'arithmetic', max_operand: 9, num_train: 60, num_eval: 8 },
    // A reward that varies within groups from the start (the untrained model never answers a sum right).
    rewards: [{ name: 'parity', module: './parity.js' }],
    algorithm: { num_generations: 4, beta: 0.04 },
    optimization: { max_steps: 4, prompts_per_step: 2, micro_batch_size: 5, learning_rate: 1e-2 },
    sampling: { max_completion_length: 4 },
    evaluation: { eval_steps: 2 },
    checkpointing: { save_steps: 2, save_total_limit: 0 },
    ...overrides,
  };
}


describe('LoRA runs', function () {
  this.timeout(240000);
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-lora-'));
    fs.writeFileSync(path.join(tmp, 'parity.js'), 'module.exports = (p, c) => (c.length > 0 ? c.charCodeAt(0) % 2 : 0);');
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const writeConfig = (config: Record<string, unknown>, name?: string) => writeConfigIn(tmp, config, name);
  const run = (options: Parameters<typeof runInProcess>[1]) => runInProcess(tmp, options);

  it('checkpoints are PEFT adapter folders; stopped at step 2 and resumed equals an uninterrupted run (reference = base, and = frozen adapter after SFT)', async () => {
    const variants: [string, Record<string, unknown>][] = [
      ['base-reference', {}],
      // The SFT warm start trains the adapters first: the reference is then a frozen copy of them.
      ['sft-reference', { sft: { steps: 3, batch_size: 8 } }],
    ];
    for (const [name, overrides] of variants) {
      const configPath = writeConfig(tinyLora(overrides), `${name}.json`);
      const whole = await run({ configPath, runDir: path.join(tmp, `${name}-whole`) });
      const log = whole.messages.find((m) => m.type === 'log' && m.message.startsWith('LoRA r=4'));
      assert.ok(log, 'the run logs its trainable parameters');

      const checkpoint = path.join(whole.runDir, 'checkpoints', 'step-2');
      const policyFiles = fs.readdirSync(path.join(checkpoint, 'policy')).sort();
      assert.deepStrictEqual(policyFiles, ['adapter_config.json', 'adapter_model.safetensors'], 'the adapters only, no copy of the base');
      assert.strictEqual(fs.existsSync(path.join(checkpoint, 'reference')), name === 'sft-reference', name);
      const moments = [...readSafetensors(path.join(checkpoint, 'optimizer.safetensors')).keys()];
      assert.ok(moments.length > 0 && moments.every((n) => /\.lora_[AB]\.weight\.exp_avg(_sq)?$/.test(n)), 'Adam state for the adapters only');

      const stopped = await run({ configPath, runDir: path.join(tmp, `${name}-parts`), stopAfter: 2 });
      assert.strictEqual(readSnapshot(stopped.runDir).status, 'stopped');
      await run({ resumeDir: stopped.runDir });
      const expected = read<MetricsRecord>(path.join(whole.runDir, 'metrics.jsonl'));
      const actual = latestPerStep(read<MetricsRecord>(path.join(stopped.runDir, 'metrics.jsonl')));
      assert.deepStrictEqual(actual.map(deterministic), expected.map(deterministic), name);
      const strip = (r: RolloutsRecord) => r.groups;
      assert.deepStrictEqual(read<RolloutsRecord>(path.join(stopped.runDir, 'rollouts.jsonl')).map(strip), read<RolloutsRecord>(path.join(whole.runDir, 'rollouts.jsonl')).map(strip));
      const last = (dir: string) => readSafetensors(path.join(dir, 'checkpoints', 'step-4', 'policy', 'adapter_model.safetensors'));
      for (const [tensor, t] of last(whole.runDir)) {
        assert.ok(Buffer.from(t.data.buffer).equals(Buffer.from(last(stopped.runDir).get(tensor)!.data.buffer)), `${name}: ${tensor} differs after resume`);
      }
      // The KL to the reference is measured and grows from 0 as the adapters move.
      const metrics = expected.map(numericMetrics);
      assert.ok(metrics[4].kl > 0 && Number.isFinite(metrics[4].kl), `kl ${metrics[4].kl}`);
    }
  });

  it('export writes the PEFT adapter, or with --merge a model folder whose logits equal the adapted model\'s; a run starts from the adapter', async () => {
    const whole = await run({ configPath: writeConfig(tinyLora({ optimization: { max_steps: 2, prompts_per_step: 2, micro_batch_size: 5, learning_rate: 5e-2 } })) });
    const adapterOut = path.join(tmp, 'adapter');
    assert.match(await exportCheckpoint({ runDir: whole.runDir, out: adapterOut, merge: false }), /PEFT adapter/);
    assert.deepStrictEqual(fs.readdirSync(adapterOut).sort(), ['adapter_config.json', 'adapter_model.safetensors']);
    const mergedOut = path.join(tmp, 'merged');
    assert.match(await exportCheckpoint({ runDir: whole.runDir, out: mergedOut, merge: true, step: 2 }), /merged/);
    await assert.rejects(exportCheckpoint({ runDir: whole.runDir, out: mergedOut, merge: true }), /is not empty; nothing was written/);
    await assert.rejects(exportCheckpoint({ runDir: whole.runDir, out: path.join(tmp, 'x'), merge: true, step: 7 }), /--step 7: .* no checkpoint of that step \(checkpoints: 2\)/);

    const adapted = loadPolicy(path.join(whole.runDir, 'checkpoints', 'step-2', 'policy'));
    const merged = loadPolicy(mergedOut);
    const base = loadPolicy('tiny', { seed: 5 });
    try {
      assert.strictEqual(merged.lora, null);
      const rows = [[1, 5, 6, 7, 8, 9], [1, 10, 11, 12, 13, 14]];
      const want = sequenceLogits(adapted, rows).flat(2);
      const scale = Math.max(1, ...want.map(Math.abs));
      assert.ok(maxAbsDiff(sequenceLogits(merged, rows).flat(2), want) <= 1e-5 * scale);
      assert.ok(maxAbsDiff(sequenceLogits(base, rows).flat(2), want) > 1e-4, 'two steps at lr 5e-2 moved the adapters');
    } finally {
      [adapted, merged, base].forEach((p) => p.dispose());
    }

    // `generate` on the adapter folder says which adapter it applied, and to which base.
    const cli = await promisify(execFile)(process.execPath, [path.join(ROOT, 'dist', 'cli.js'), 'generate', adapterOut, '--backend', 'wasm', '--max-new-tokens', '2', '--prompt', '1+2='], { cwd: ROOT });
    assert.match(cli.stdout, new RegExp(`^adapter: ${adapterOut.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(LoRA r=4, alpha=8, on \\d+ modules\\) applied to tiny\n`));

    // A new run from the exported adapter: it starts where that run ended, and its reference is that adapter.
    await assert.rejects(run({ configPath: writeConfig(tinyLora({ model: { name_or_path: 'tiny', lora: { adapter_path: adapterOut, r: 8 } } }), 'bad.json') }),
      /model\.lora\.r: set by the adapter at model\.lora\.adapter_path/);
    const next = await run({ configPath: writeConfig(tinyLora({ model: { name_or_path: 'tiny', lora: { adapter_path: adapterOut } }, optimization: { max_steps: 2, prompts_per_step: 2, micro_batch_size: 5 } }), 'next.json') });
    const metrics = read<MetricsRecord>(path.join(next.runDir, 'metrics.jsonl')).map(numericMetrics);
    assert.strictEqual(metrics[0]['eval/kl'], 0, 'before any update the policy is its reference (the starting adapter)');
    assert.ok(fs.existsSync(path.join(next.runDir, 'checkpoints', 'step-2', 'reference', 'adapter_model.safetensors')));
  });

  it('optimization.gradient_checkpointing trains the same run: every metric of every step as without it (LoRA with dropout, and full fine-tuning)', async () => {
    for (const [name, model] of [['lora', { name_or_path: 'tiny', lora: LORA }], ['full', { name_or_path: 'tiny' }]] as const) {
      const base = tinyLora({ model, optimization: { max_steps: 3, prompts_per_step: 2, micro_batch_size: 5, learning_rate: 1e-2 }, checkpointing: { save_steps: 3, save_total_limit: 0 } });
      const plain = await run({ configPath: writeConfig(base, `${name}-plain.json`), runDir: path.join(tmp, `${name}-plain`) });
      const withCheckpoints = { ...base, optimization: { ...(base.optimization as object), gradient_checkpointing: true } };
      const recomputed = await run({ configPath: writeConfig(withCheckpoints, `${name}-ckpt.json`), runDir: path.join(tmp, `${name}-ckpt`) });
      const metrics = (dir: string) => read<MetricsRecord>(path.join(dir, 'metrics.jsonl')).map(deterministic);
      const [a, b] = [metrics(plain.runDir), metrics(recomputed.runDir)];
      assert.strictEqual(a.length, 4, `${name}: steps 0-3`);
      a.forEach((row, step) => {
        for (const [key, value] of Object.entries(row)) {
          const other = b[step][key];
          assert.ok(Math.abs(value - other) <= 1e-4 * Math.max(1, Math.abs(value)), `${name} step ${step} ${key}: ${value} vs ${other}`);
        }
      });
    }
  });

  it('bad LoRA settings name the field and create no run', async () => {
    const tryConfig = (lora: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
      run({ configPath: writeConfig(tinyLora({ model: { name_or_path: 'tiny', lora }, ...extra }), 'bad.json') });
    await assert.rejects(tryConfig({ r: 4, target_modules: ['q_proj', 'q_projj'] }), /model\.lora\.target_modules: "q_projj" matches no linear layer/);
    await assert.rejects(tryConfig({ r: 4 }, { algorithm: { num_generations: 4, beta: 0.04, ref_model_sync_steps: 2 } }), /algorithm\.ref_model_sync_steps: not with model\.lora/);
    await assert.rejects(tryConfig({ adapter_path: 'nowhere' }), /model\.lora\.adapter_path: .*nowhere does not exist/);
    await assert.rejects(tryConfig({ r: 0 }), /model\.lora\.r/);
    assert.deepStrictEqual(fs.readdirSync(tmp).filter((n) => !n.endsWith('.json') && !n.endsWith('.js')), [], 'no run folder');
  });

  it('GRPO with LoRA on the real stories260K checkpoint raises its reward', async function () {
    this.timeout(600000); // 10 steps of the real model: minutes when the machine is shared
    const demoPath = path.join(ROOT, 'examples', 'stories.json');
    const demo = JSON.parse(fs.readFileSync(demoPath, 'utf8')) as Record<string, Record<string, unknown>>;
    const config = {
      ...demo,
      name: 'stories-lora',
      backend: 'wasm',
      model: { ...demo.model, lora: { r: 16, lora_alpha: 32, target_modules: 'all-linear' } },
      rewards: [(demo.rewards as unknown as Record<string, unknown>[])[0]],
      optimization: { ...demo.optimization, max_steps: 10, learning_rate: 5e-3 },
      evaluation: { ...demo.evaluation, eval_steps: 0 },
    };
    const configPath = path.join(path.dirname(demoPath), `.it-stories-lora-${process.pid}.json`);
    fs.writeFileSync(configPath, JSON.stringify(config));
    try {
      const result = await run({ configPath });
      const rewards = read<MetricsRecord>(path.join(result.runDir, 'metrics.jsonl')).map(numericMetrics).filter((m) => m.reward !== undefined).map((m) => m.reward);
      assert.strictEqual(rewards.length, 10);
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      const [first, last] = [mean(rewards.slice(0, 3)), mean(rewards.slice(-3))];
      assert.ok(last > first + 0.2, `mentions_dog reward: first 3 steps ${first.toFixed(3)}, last 3 ${last.toFixed(3)} (${rewards.map((r) => r.toFixed(2)).join(' ')})`);
    } finally {
      fs.rmSync(configPath, { force: true });
    }
    assert.strictEqual(tf.getBackend(), 'wasm');
  });
});
