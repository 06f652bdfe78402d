import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { BanditTaskConfig, validateRunConfig } from '../../../src/protocol';
import { Random } from '../../../src/model/random';
import { selectBackend } from '../../../src/worker/backend';
import { BanditJob, klDivergence, policyGradientStep, softmax, startsWithVowel } from '../../../src/worker/tasks/bandit';

const WORDS = ['apple', 'banana', 'cherry', 'date', 'elderberry'];

/** The table printed by seed 000 (numpy, seed 42): probabilities, mean reward and KL at iterations 10…50. */
const SEED_TABLE: Record<number, { probs: string[]; reward: string; kl: string }> = {
  10: { probs: ['0.361', '0.081', '0.163', '0.285', '0.110'], reward: '0.500', kl: '0.001' },
  20: { probs: ['0.613', '0.056', '0.094', '0.131', '0.106'], reward: '0.650', kl: '0.002' },
  30: { probs: ['0.775', '0.033', '0.052', '0.058', '0.082'], reward: '0.950', kl: '0.000' },
  40: { probs: ['0.861', '0.019', '0.032', '0.030', '0.058'], reward: '0.850', kl: '0.000' },
  50: { probs: ['0.918', '0.011', '0.017', '0.016', '0.038'], reward: '0.900', kl: '0.000' },
};

const seedConfig = validateRunConfig({
  name: 'bandit',
  seed: 42,
  task: { type: 'bandit', words: WORDS },
  algorithm: { num_generations: 20, advantage_eps: 1e-8, scale_rewards: 'group', std_estimator: 'population' },
  optimization: { optimizer: 'sgd', learning_rate: 0.01, max_steps: 50 },
});

for (const backend of ['wasm', 'cpu'] as const) {
  describe(`bandit (seed 000) on ${backend}`, () => {
    before(async () => {
      await selectBackend(backend);
    });

    it('takes one hand-computed policy-gradient step', async () => {
      // θ = 0 over 3 words, actions [0, 1, 0, 2], rewards [1, 0, 1, 0] → A = [1, −1, 1, −1] (mean 0.5, std 0.5).
      // w = [2, −1, −1]; ∇L = −(w − p·Σw) = [−2, 1, 1]; SGD, lr 0.1: θ' = [0.2, −0.1, −0.1]; L = −w·log(1/3) = 0.
      const theta = tf.variable(tf.zeros([3])) as tf.Variable<tf.Rank.R1>;
      const optimizer = tf.train.sgd(0.1);
      const { loss, gradNorm } = await policyGradientStep(theta, optimizer, [0, 1, 0, 2], [1, -1, 1, -1]);
      const after = Array.from(theta.dataSync());
      [0.2, -0.1, -0.1].forEach((expected, i) => assert.ok(Math.abs(after[i] - expected) < 1e-6, `θ[${i}] = ${after[i]}`));
      assert.ok(Math.abs(loss) < 1e-6);
      assert.ok(Math.abs(gradNorm - Math.sqrt(6)) < 1e-5);
      theta.dispose();
      optimizer.dispose();
    });

    it('reproduces the seed-000 table draw for draw and reaches p(vowel) ≥ 0.9 by iteration 50', async () => {
      const job = new BanditJob(seedConfig, seedConfig.task as BanditTaskConfig, new Random(42));
      const printed: string[] = [];
      let vowelProbability = 0;
      for (let iteration = 1; iteration <= 50; iteration++) {
        const before = await job.probabilities();
        const { metrics } = await job.step();
        const after = await job.probabilities();
        vowelProbability = WORDS.reduce((p, w, i) => p + (startsWithVowel(w) ? after[i] : 0), 0);
        const expected = SEED_TABLE[iteration];
        if (!expected) continue;
        const probs = Array.from(after, (p) => p.toFixed(3));
        printed.push(`  ${iteration}  ${WORDS.map((w, i) => `${w} ${probs[i]}`).join('  ')}  reward ${metrics.reward.toFixed(3)}  KL ${klDivergence(before, after).toFixed(3)}  p(vowel) ${vowelProbability.toFixed(3)}`);
        assert.deepStrictEqual(probs, expected.probs, `probabilities at iteration ${iteration}`);
        assert.strictEqual(metrics.reward.toFixed(3), expected.reward, `mean reward at iteration ${iteration}`);
        assert.strictEqual(metrics['policy/kl_step'].toFixed(3), expected.kl, `KL at iteration ${iteration}`);
      }
      console.log(`      seed-000 table (${backend}):\n${printed.join('\n')}`);
      assert.ok(vowelProbability >= 0.9, `p(vowel) at iteration 50 is ${vowelProbability}`);
      job.dispose();
    });

    it('does not leak tensors across steps', async () => {
      const job = new BanditJob(seedConfig, seedConfig.task as BanditTaskConfig, new Random(1));
      await job.step();
      const before = tf.memory().numTensors;
      for (let i = 0; i < 20; i++) await job.step();
      assert.strictEqual(tf.memory().numTensors, before);
      job.dispose();
    });
  });
}

describe('bandit helpers', () => {
  it('softmax, KL and vowel test match hand values', () => {
    const p = softmax([0, Math.log(3)]);
    assert.ok(Math.abs(p[0] - 0.25) < 1e-12 && Math.abs(p[1] - 0.75) < 1e-12);
    // KL([.5,.5] ‖ [.25,.75]) = .5 ln 2 + .5 ln(2/3)
    assert.ok(Math.abs(klDivergence([0.5, 0.5], [0.25, 0.75]) - (0.5 * Math.log(2) + 0.5 * Math.log(2 / 3))) < 1e-12);
    assert.deepStrictEqual(WORDS.map(startsWithVowel), [true, false, false, false, true]);
  });
});
