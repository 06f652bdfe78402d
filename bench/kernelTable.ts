/**
 * `tsx bench/kernelTable.ts [--shape small] [--reps 3] [--steps 1]`: one train step of bench/model.ts's shape under
 * tf.profile, per kernel name: calls, total ms, bytes read + written (from the input and output shapes). Timings on
 * a loaded machine are noisy; the counts and bytes are not.
 */
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/worker/backend';
import { loadPolicy, PolicyTrainer, PresetName, Random, ResponseBatch } from '../src/model';

const BATCH = 32;
const PROMPT = 32;
const NEW = 32;
const PRODUCT_KERNELS = new Set(['BatchMatMul', '_FusedMatMul', 'MatMul', 'GrpoSlicedBatchMatMul']);
const CUSTOM_GRAD_SCOPE = 'unnamed scope';

function rows(rng: Random, n: number, length: number, vocab: number): number[][] {
  return Array.from({ length: n }, () => Array.from({ length }, () => 2 + rng.int(vocab - 2)));
}

const elements = (shapes: number[][]) => shapes.reduce((sum, s) => sum + s.reduce((a, b) => a * b, 1), 0);

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const value = (flag: string, fallback: string) => (argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : fallback);
  const shape = value('--shape', 'small') as PresetName;
  const reps = Number(value('--reps', '3'));
  const backend = await selectBackend('wasm');
  console.log(`${backend.name} ${backend.device}`);
  const policy = loadPolicy(shape, { seed: 0 });
  const rng = new Random(1);
  const batch: ResponseBatch = { promptIds: rows(rng, BATCH, PROMPT, policy.config.vocabSize), responseIds: rows(rng, BATCH, NEW, policy.config.vocabSize) };
  const trainer = new PolicyTrainer(policy, { learningRate: 1e-4, maxGradNorm: 1 });
  const meanNll = (lp: tf.Tensor2D) => tf.neg(tf.mean(lp)) as tf.Scalar;
  await trainer.trainStep([batch], meanNll);
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await trainer.trainStep([batch], meanNll);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const step = times[Math.floor(times.length / 2)];
  const profile = await tf.profile(async () => {
    await trainer.trainStep([batch], meanNll);
  });
  const table = new Map<string, { calls: number; ms: number; bytes: number }>();
  for (const k of profile.kernels) {
    const row = table.get(k.name) ?? { calls: 0, ms: 0, bytes: 0 };
    row.calls++;
    row.ms += Number(k.kernelTimeMs);
    row.bytes += 4 * (elements(k.inputShapes.filter((s): s is number[] => Array.isArray(s))) + elements(k.outputShapes.filter((s): s is number[] => Array.isArray(s))));
    table.set(k.name, row);
  }
  if (argv.includes('--detail')) {
    const detail = new Map<string, { calls: number; ms: number }>();
    for (const k of profile.kernels) {
      const key = `${k.name} ${JSON.stringify(k.inputShapes)} -> ${JSON.stringify(k.outputShapes)}`;
      const row = detail.get(key) ?? { calls: 0, ms: 0 };
      row.calls++;
      row.ms += Number(k.kernelTimeMs);
      detail.set(key, row);
    }
    for (const [key, r] of [...detail].sort((a, b) => b[1].ms - a[1].ms)) console.log(`${r.calls}\t${r.ms.toFixed(2)}\t${key}`);
  }
  const sorted = [...table].sort((a, b) => b[1].ms - a[1].ms);
  console.log(`${shape}: step median ${step.toFixed(0)} ms of ${reps} (${times.map((t) => t.toFixed(0)).join(' ')})`);
  console.log('| kernel | calls | ms | MB moved |');
  console.log('|---|---|---|---|');
  let products = 0;
  let other = 0;
  let calls = 0;
  for (const [name, r] of sorted) {
    console.log(`| ${name} | ${r.calls} | ${r.ms.toFixed(1)} | ${(r.bytes / 1e6).toFixed(1)} |`);
    if (name === CUSTOM_GRAD_SCOPE) continue;
    calls += r.calls;
    if (PRODUCT_KERNELS.has(name)) products += r.ms;
    else other += r.ms;
  }
  console.log(`kernel calls (without custom-grad scopes) ${calls}; products ${products.toFixed(0)} ms, other kernels ${other.toFixed(0)} ms, ` +
    `outside kernels ${(step - products - other).toFixed(0)} ms; non-product ${(step - products).toFixed(0)} ms`);
  trainer.dispose();
  policy.dispose();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
