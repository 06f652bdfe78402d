import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { generate, loadPolicy, Policy, PolicyTrainer, Random, ResponseBatch, savePolicy, sftLoss, sftStep } from '../../../src/model';
import { embeddingLookup, matMul, simdMatMul, swapMiddleAxes, useMatrixProducts } from '../../../src/model/kernels';
import { tempDir, useWasm, writeCheckpoint } from './helpers';

/** Toy task for the tiny preset: "a+b=" → the sum, then EOS. */
function additionBatch(policy: Policy, rng: Random, size: number): ResponseBatch {
  const promptIds: number[][] = [];
  const responseIds: number[][] = [];
  for (let i = 0; i < size; i++) {
    const a = rng.int(10);
    const b = rng.int(10);
    promptIds.push(policy.tokenizer.encode(`${a}+${b}=`));
    responseIds.push([...policy.tokenizer.encode(String(a + b)), policy.tokenizer.eosTokenId!]);
  }
  return { promptIds, responseIds };
}

function weightsOf(policy: Policy): Float32Array[] {
  return policy.variables().map((v) => v.dataSync() as Float32Array);
}

const meanLoss = (scale: number) => (logProbs: tf.Tensor2D, _e: tf.Tensor2D | null, mask: tf.Tensor2D) =>
  tf.mul(sftLoss(logProbs, null, mask, null), scale) as tf.Scalar;

describe('training', () => {
  before(useWasm);

  it('a short SFT run lowers the loss on a toy task (tiny preset)', async () => {
    const policy = loadPolicy('tiny', { seed: 1 });
    const trainer = new PolicyTrainer(policy, { learningRate: 3e-3, maxGradNorm: 1 });
    const rng = new Random(2);
    const losses: number[] = [];
    for (let step = 0; step < 40; step++) losses.push((await sftStep(trainer, additionBatch(policy, rng, 16))).loss);
    const first = losses.slice(0, 5).reduce((a, b) => a + b) / 5;
    const last = losses.slice(-5).reduce((a, b) => a + b) / 5;
    assert.ok(last < 0.6 * first, `loss ${first.toFixed(3)} → ${last.toFixed(3)}`);
    trainer.dispose();
    policy.dispose();
  });

  it('an SFT step in micro-batches of 3 rows (memory) equals the whole-batch step: losses to 1e-6, weights to 1 % of the step size', async () => {
    const run = async (maxRows?: number) => {
      const policy = loadPolicy('tiny', { seed: 4 });
      const trainer = new PolicyTrainer(policy, { learningRate: 3e-3, maxGradNorm: 1 });
      const losses = [];
      const rng = new Random(6);
      for (let step = 0; step < 2; step++) losses.push((await sftStep(trainer, additionBatch(policy, rng, 8), maxRows)).loss);
      const weights = weightsOf(policy);
      trainer.dispose();
      policy.dispose();
      return { losses, weights };
    };
    const whole = await run();
    const split = await run(3);
    split.losses.forEach((loss, i) => assert.ok(Math.abs(loss - whole.losses[i]) < 1e-6, `step ${i + 1}: ${loss} vs ${whole.losses[i]}`));
    let worst = 0;
    split.weights.forEach((w, i) => w.forEach((x, j) => (worst = Math.max(worst, Math.abs(x - whole.weights[i][j])))));
    // Adam divides by √v: a rounding difference in a near-zero gradient moves a weight by a visible part of a step.
    assert.ok(worst < 0.01 * 3e-3 * 2, `largest weight difference ${worst}`);
  });

  it('tensor count stays flat over training steps with gradient accumulation and sampling', async () => {
    const policy = loadPolicy(writeCheckpoint('qwen2', 31));
    const trainer = new PolicyTrainer(policy, { learningRate: 1e-3, maxGradNorm: 1 });
    const rng = new Random(3);
    const batch = (): ResponseBatch => ({ promptIds: [[rng.int(200) + 1, 2, 3], [4, 5]], responseIds: [[6, 7, 8], [9]] });
    await trainer.trainStep([batch(), batch()], meanLoss(0.5), { withEntropy: true });
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) await trainer.trainStep([batch(), batch()], meanLoss(0.5), { withEntropy: true });
    assert.strictEqual(tf.memory().numTensors, before);
    trainer.dispose();
    policy.dispose();
  });

  it('a throwing loss leaks no tensors and accumulates nothing', async () => {
    const policy = loadPolicy(writeCheckpoint('gpt2', 32));
    const trainer = new PolicyTrainer(policy, { learningRate: 1e-3 });
    const batch = { promptIds: [[1, 2]], responseIds: [[3, 4]] };
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      await assert.rejects(trainer.accumulate(batch, (lp) => {
        tf.mul(lp, 2);
        throw new Error('loss failed');
      }), /loss failed/);
    }
    assert.strictEqual(tf.memory().numTensors, before);
    await assert.rejects(trainer.step(), /without accumulated gradients/);
    trainer.dispose();
    policy.dispose();
  });

  it('two half microbatches accumulate to the gradient of the whole batch', async () => {
    const dir = writeCheckpoint('llama', 33);
    const whole = { promptIds: [[1, 2, 3], [4, 5], [6], [7, 8]], responseIds: [[9, 10], [11], [12, 13, 14], [15]] };
    const halves = [0, 2].map((s) => ({ promptIds: whole.promptIds.slice(s, s + 2), responseIds: whole.responseIds.slice(s, s + 2) }));
    const sum = (lp: tf.Tensor2D) => tf.neg(tf.sum(lp)) as tf.Scalar;
    const a = loadPolicy(dir);
    const b = loadPolicy(dir);
    const ta = new PolicyTrainer(a, { learningRate: 1e-2 });
    const tb = new PolicyTrainer(b, { learningRate: 1e-2 });
    const sa = await ta.trainStep([whole], sum);
    const sb = await tb.trainStep(halves, sum);
    assert.ok(Math.abs(sa.loss - sb.loss) < 1e-4 * Math.abs(sa.loss));
    assert.ok(Math.abs(sa.gradNorm - sb.gradNorm) < 1e-4 * sa.gradNorm);
    [ta, tb, a, b].forEach((x) => x.dispose());
  });

  it('clips by global norm and reports the norm before clipping', async () => {
    const policy = loadPolicy(writeCheckpoint('gpt2', 34));
    const trainer = new PolicyTrainer(policy, { learningRate: 1e-3, maxGradNorm: 1e-3 });
    const stats = await trainer.trainStep([{ promptIds: [[1, 2]], responseIds: [[3, 4]] }], sftLoss);
    assert.ok(stats.clipped && stats.gradNorm > 1e-3 && stats.step === 1);
    trainer.dispose();
    policy.dispose();
  });

  it('a frozen clone stays put while the policy trains, and cannot be trained', async () => {
    const policy = loadPolicy(writeCheckpoint('qwen2', 35));
    const reference = policy.clone();
    const before = weightsOf(reference);
    const trainer = new PolicyTrainer(policy, { learningRate: 1e-2 });
    await trainer.trainStep([{ promptIds: [[1, 2]], responseIds: [[3, 4]] }], sftLoss);
    assert.deepStrictEqual(weightsOf(reference), before);
    assert.notDeepStrictEqual(weightsOf(policy), before);
    assert.throws(() => new PolicyTrainer(reference, { learningRate: 1e-3 }), /frozen/);
    reference.copyWeightsFrom(policy);
    assert.deepStrictEqual(weightsOf(reference), weightsOf(policy));
    [trainer, reference, policy].forEach((x) => x.dispose());
  });

  it('the data-parallel replica decodes half of the rows: the same samples as one instance, after optimizer steps too', async function () {
    this.timeout(60000);
    const policy = loadPolicy(writeCheckpoint('llama', 38));
    const trainer = new PolicyTrainer(policy, { learningRate: 1e-2 });
    await trainer.enableDataParallel();
    const prompts = [[1, 2, 3], [4, 5], [6], [7, 8, 9, 10], [11], [12, 13]];
    // Random stop tokens end rows at different steps, on either instance.
    const options = { maxNewTokens: 7, temperature: 1.2, topP: 0.95, stopTokenIds: [3, 9], seed: 4 };
    const batch = { promptIds: prompts, responseIds: prompts.map((p) => p.map((t) => t + 1)) };
    const loss = (lp: tf.Tensor2D) => tf.neg(tf.mean(lp)) as tf.Scalar;
    try {
      for (let round = 0; round < 2; round++) {
        const before = tf.memory().numTensors;
        const split = await generate(policy, prompts, { ...options, replica: trainer.samplingReplica() });
        assert.strictEqual(tf.memory().numTensors, before, 'this instance keeps no cache');
        assert.deepStrictEqual(split, await generate(policy, prompts, options));
        // Rows per pass below half the batch: no replica, the same samples.
        assert.deepStrictEqual(await generate(policy, prompts, { ...options, maxRows: 2, replica: trainer.samplingReplica() }), split);
        // New weights, which the replica must take before it samples again.
        await trainer.trainStep([batch], loss);
      }
      // A failure in the replica reaches this thread with its message (a step before its generation's first one).
      const orphan = trainer.samplingReplica()!.start({ tokens: [[1]], positions: Int32Array.of(0), keyValid: [[true]], past: 0 }, false, 4);
      assert.throws(orphan, /replica failed while sampling: a sampling step without its generation's first step/);
      // And the replica samples again afterwards.
      assert.deepStrictEqual(await generate(policy, prompts, { ...options, replica: trainer.samplingReplica() }), await generate(policy, prompts, options));
    } finally {
      trainer.dispose();
      policy.dispose();
    }
  });

  it('data-parallel accumulation on a worker thread gives the single-threaded gradients', async function () {
    this.timeout(60000);
    const dir = writeCheckpoint('qwen2', 37);
    const batch = { promptIds: [[1, 2, 3], [4, 5], [6], [7, 8, 9, 10], [11]], responseIds: [[12, 13], [14], [15, 16, 17], [18], [19, 20, 21, 22]] };
    // Uses the entropy too, and a loss that is not a sum over rows, so the chain-rule split is really exercised.
    const loss = (lp: tf.Tensor2D, ent: tf.Tensor2D | null, mask: tf.Tensor2D) =>
      tf.add(tf.square(tf.div(tf.sum(lp), tf.sum(mask))), tf.mul(0.1, tf.mean(ent!))) as tf.Scalar;
    const single = loadPolicy(dir);
    const parallel = loadPolicy(dir);
    // With ε ≫ √v̂, Adam's update is ≈ (lr/ε)·m̂, linear in the gradient: weights then compare gradients.
    const options = { learningRate: 1e3, epsilon: 1e3 };
    const t1 = new PolicyTrainer(single, options);
    const t2 = new PolicyTrainer(parallel, options);
    await t2.enableDataParallel();
    try {
      const a = await t1.trainStep([batch, batch], loss, { withEntropy: true });
      const before = tf.memory().numTensors;
      const b = await t2.trainStep([batch, batch], loss, { withEntropy: true });
      assert.strictEqual(tf.memory().numTensors, before);
      assert.ok(Math.abs(a.loss - b.loss) < 1e-5 * Math.abs(a.loss) && Math.abs(a.gradNorm - b.gradNorm) < 1e-4 * a.gradNorm);
      const wa = weightsOf(single).flatMap((w) => Array.from(w));
      const wb = weightsOf(parallel).flatMap((w) => Array.from(w));
      wa.forEach((x, i) => assert.ok(Math.abs(x - wb[i]) < 1e-5 * Math.max(1, Math.abs(x)), `weight ${i}: ${x} vs ${wb[i]}`));
      // The worker picks up the updated weights: the next step agrees too.
      const a2 = await t1.trainStep([batch], loss, { withEntropy: true });
      const b2 = await t2.trainStep([batch], loss, { withEntropy: true });
      assert.ok(Math.abs(a2.loss - b2.loss) < 1e-3 * Math.abs(a2.loss), `${a2.loss} vs ${b2.loss}`);
      // A throwing loss releases the worker, which then serves the next microbatch.
      await assert.rejects(t2.accumulate(batch, () => {
        throw new Error('loss failed');
      }), /loss failed/);
      await t2.trainStep([batch], loss, { withEntropy: true });
      // Halves without response tokens fall back to one thread; a microbatch without any adds no gradient.
      await t2.accumulate({ promptIds: [[1], [2], [3]], responseIds: [[4], [5], []] }, loss, { withEntropy: true });
      // (A constant loss: wasm's sum over an empty tensor returns uninitialised memory.)
      assert.strictEqual(await t2.accumulate({ promptIds: [[1], [2]], responseIds: [[], []] }, () => tf.scalar(0.5)), 0.5);
      await t2.step();
    } finally {
      [t1, t2, single, parallel].forEach((x) => x.dispose());
    }
  });

  it('resuming from a checkpoint with optimizer state continues exactly', async () => {
    const batches = [0, 1, 2].map((i) => ({ promptIds: [[1 + i, 2], [3]], responseIds: [[4, 5 + i], [6, 7]] }));
    const policy = loadPolicy(writeCheckpoint('gpt2', 36));
    const trainer = new PolicyTrainer(policy, { learningRate: 1e-2, maxGradNorm: 1, weightDecay: 0.01 });
    await trainer.trainStep([batches[0]], sftLoss);
    await trainer.trainStep([batches[1]], sftLoss);
    const dir = tempDir('resume');
    await savePolicy(policy, dir);
    await trainer.save(dir);
    await trainer.trainStep([batches[2]], sftLoss);

    const resumed = loadPolicy(dir);
    const resumedTrainer = new PolicyTrainer(resumed, { learningRate: 1 });
    resumedTrainer.load(dir);
    assert.strictEqual(resumedTrainer.stepCount, 2);
    await resumedTrainer.trainStep([batches[2]], sftLoss);
    assert.deepStrictEqual(weightsOf(resumed), weightsOf(policy));
    [trainer, resumedTrainer, policy, resumed].forEach((x) => x.dispose());
  });
});

describe('training kernels', () => {
  before(useWasm);

  function randomMatrix(rng: Random, rows: number, cols: number): number[][] {
    return Array.from({ length: rows }, () => Array.from({ length: cols }, () => rng.normal()));
  }
  const T = (m: number[][]) => m[0].map((_, j) => m.map((r) => r[j]));
  const mm = (x: number[][], y: number[][]) => x.map((r) => y[0].map((_, j) => r.reduce((s, v, k) => s + v * y[k][j], 0)));

  for (const [transposeA, transposeB] of [[false, false], [false, true], [true, false], [true, true]]) {
    it(`matMul gradient (transposeA=${transposeA}, transposeB=${transposeB}) equals the analytic one`, () => {
      const rng = new Random(7);
      // Effective operands Aeff [3, 4] and Beff [4, 5]; the inputs are stored transposed where the flag says so.
      const Aeff = randomMatrix(rng, 3, 4);
      const bEff = randomMatrix(rng, 4, 5);
      const A = transposeA ? T(Aeff) : Aeff;
      const B = transposeB ? T(bEff) : bEff;
      const R = randomMatrix(rng, Aeff.length, bEff[0].length);
      const grads = tf.tidy(() => {
        const g = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D, transposeA, transposeB), tf.tensor2d(R))));
        return g([tf.tensor2d(A), tf.tensor2d(B)]).map((t) => t.arraySync() as number[][]);
      });
      // d(sum(R ∘ Aeff·Beff)) / dAeff = R·Beffᵀ, / dBeff = Aeffᵀ·R; transpose back where the operand was transposed.
      const dAeff = mm(R, T(bEff));
      const dBeff = mm(T(Aeff), R);
      const want = [transposeA ? T(dAeff) : dAeff, transposeB ? T(dBeff) : dBeff];
      grads.forEach((g, i) => g.flat().forEach((x, j) => assert.ok(Math.abs(x - want[i].flat()[j]) < 1e-4)));
    });
  }

  // Rank 3: attention's batches; rank 2: projections (with tails past the 4 × 8 register block: 9 × 7 · 7 × 11).
  for (const [aShape, bShape] of [[[6, 5, 4], [6, 4, 3]], [[9, 7], [7, 11]]]) {
    for (const [transposeA, transposeB] of [[false, false], [true, false], [false, true], [true, true]]) {
      it(`the SIMD product of [${aShape}] · [${bShape}] and its gradient equal tf.matMul (transposeA=${transposeA}, transposeB=${transposeB})`, () => {
        const swap = (shape: number[]) => [...shape.slice(0, -2), shape[shape.length - 1], shape[shape.length - 2]];
        const a = tf.randomNormal(transposeA ? swap(aShape) : aShape, 0, 1, 'float32', 1);
        const b = tf.randomNormal(transposeB ? swap(bShape) : bShape, 0, 1, 'float32', 2);
        const r = tf.randomNormal([...aShape.slice(0, -1), bShape[bShape.length - 1]], 0, 1, 'float32', 3);
        const f = (mm: (x: tf.Tensor, y: tf.Tensor) => tf.Tensor) => tf.tidy(() => {
          const g = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(mm(x, y), r)));
          return [mm(a, b), ...g([a, b])].map((t) => Array.from(t.dataSync()));
        });
        const ours = f((x, y) => simdMatMul(x, y, transposeA, transposeB));
        const stock = f((x, y) => tf.matMul(x as tf.Tensor3D, y as tf.Tensor3D, transposeA, transposeB));
        ours.forEach((values, k) => values.forEach((x, i) => assert.ok(Math.abs(x - stock[k][i]) < 1e-5, `output ${k}[${i}]: ${x} vs ${stock[k][i]}`)));
        tf.dispose([a, b, r]);
      });
    }
  }

  it('matMul takes the SIMD product for batches, and for matrices where XNNPACK runs on ≤ 2 threads', async () => {
    const kernelsOf = async (f: () => tf.Tensor) => (await tf.profile(() => f())).kernels.map((k) => k.name);
    const threads = (tf.backend() as unknown as { wasm: { tfjs: { getThreadsCount(): number } } }).wasm.tfjs.getThreadsCount();
    const x = tf.ones([8, 16]) as tf.Tensor2D;
    const w = tf.ones([16, 4]) as tf.Tensor2D;
    assert.deepStrictEqual(await kernelsOf(() => matMul(tf.ones([3, 8, 16]) as tf.Tensor3D, tf.ones([3, 16, 4]) as tf.Tensor3D)), ['GrpoProduct']);
    assert.deepStrictEqual(await kernelsOf(() => matMul(tf.ones([3, 1, 16]) as tf.Tensor3D, tf.ones([3, 16, 4]) as tf.Tensor3D)), ['GrpoProduct']);
    assert.deepStrictEqual(await kernelsOf(() => matMul(x, w)), [threads <= 2 ? 'GrpoProduct' : 'BatchMatMul']);
    assert.deepStrictEqual(await kernelsOf(() => matMul(tf.ones([1, 16]) as tf.Tensor2D, w)), [threads <= 2 ? 'GrpoProduct' : 'BatchMatMul']);
    // As a replica is told to by its main instance.
    try {
      useMatrixProducts('xnnpack');
      assert.deepStrictEqual(await kernelsOf(() => matMul(x, w)), ['BatchMatMul']);
      useMatrixProducts('simd');
      assert.deepStrictEqual(await kernelsOf(() => matMul(x, w)), ['GrpoProduct']);
    } finally {
      useMatrixProducts(null);
    }
    tf.dispose([x, w]);
  });

  it('a train step on ≤ 2 XNNPACK threads runs every product as the SIMD product (the bias gradients too)', async () => {
    const threads = (tf.backend() as unknown as { wasm: { tfjs: { getThreadsCount(): number } } }).wasm.tfjs.getThreadsCount();
    const policy = loadPolicy('small', { seed: 3 }); // GPT-2-style: biases
    const trainer = new PolicyTrainer(policy, { learningRate: 1e-3 });
    const batch = additionBatch(policy, new Random(4), 4);
    const kernels = (await tf.profile(async () => { await trainer.trainStep([batch], meanLoss(1)); })).kernels.map((k) => k.name);
    assert.ok(kernels.includes('GrpoProduct'));
    if (threads <= 2) assert.deepStrictEqual(kernels.filter((name) => /MatMul/.test(name)), []);
    trainer.dispose();
    policy.dispose();
  });

  it('swapMiddleAxes and its gradient equal tf.transpose [0, 2, 1, 3]', () => {
    const x = tf.randomNormal([2, 5, 3, 7], 0, 1, 'float32', 4) as tf.Tensor4D;
    const r = tf.randomNormal([2, 3, 5, 7], 0, 1, 'float32', 5);
    const f = (swap: (t: tf.Tensor4D) => tf.Tensor) => tf.tidy(() => {
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(swap(t as tf.Tensor4D), r)));
      return [swap(x), g(x)].map((t) => Array.from(t.dataSync()));
    });
    assert.deepStrictEqual(f(swapMiddleAxes), f((t) => tf.transpose(t, [0, 2, 1, 3])));
    tf.dispose([x, r]);
  });

  it('embedding lookup trains without UnsortedSegmentSum: repeated ids add up', () => {
    const rng = new Random(8);
    const table = randomMatrix(rng, 5, 3);
    const ids = [4, 1, 4, 0];
    const R = randomMatrix(rng, 4, 3);
    const grad = tf.tidy(() => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(embeddingLookup(t as tf.Tensor2D, tf.tensor1d(ids, 'int32')), tf.tensor2d(R))))(tf.tensor2d(table)).arraySync() as number[][]);
    const want = table.map(() => [0, 0, 0]);
    ids.forEach((id, n) => R[n].forEach((x, k) => (want[id][k] += x)));
    grad.flat().forEach((x, i) => assert.ok(Math.abs(x - want.flat()[i]) < 1e-6));
  });
});
