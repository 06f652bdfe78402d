import * as assert from 'assert';
import { GrpoTrainer } from '../../../src/worker/grpoTrainer';

/** GrpoTrainer's skip counter on its own: a bare instance with just the config and log it reads. */
function counter(limit: number, messages: string[]) {
  const trainer = Object.create(GrpoTrainer.prototype) as Record<string, unknown>;
  Object.assign(trainer, {
    consecutiveSkips: 0,
    config: { optimization: { max_consecutive_skipped_steps: limit } },
    log: (message: string) => messages.push(message),
  });
  return (reason: string | undefined, where: string) => (trainer.countSkip as (r: string | undefined, w: string) => void).call(trainer, reason, where);
}

describe('GrpoTrainer skipped optimizer steps', () => {
  it('warns on every skip, resets on a good step, and fails the run after k skips in a row with the reason', () => {
    const messages: string[] = [];
    const count = counter(3, messages);
    count('non-finite loss NaN', 'optimizer step 1');
    count('non-finite loss NaN', 'optimizer step 2');
    count(undefined, 'optimizer step 3');
    count('non-finite grad_norm Infinity', 'optimizer step 4');
    count('non-finite grad_norm Infinity', 'optimizer step 5');
    assert.strictEqual(messages.length, 4);
    assert.match(messages[0], /optimizer step 1 skipped \(non-finite loss NaN\).*\[1\/3 in a row\]/);
    assert.throws(
      () => count('non-finite grad_norm NaN', 'optimizer step 6'),
      /3 consecutive optimizer steps skipped, the last at optimizer step 6: non-finite grad_norm NaN/,
    );
  });
});

describe('GrpoTrainer KL in the reward (verl use_kl_in_reward)', () => {
  function bare(useKlInReward: boolean) {
    const trainer = Object.create(GrpoTrainer.prototype) as Record<string, unknown>;
    Object.assign(trainer, {
      klCoefficient: 0.5,
      config: { algorithm: { use_kl_in_reward: useKlInReward, kl_penalty: 'kl', kl_log_ratio_clamp: 20, kl_value_clamp: 10 } },
    });
    return (totals: number[], old: number[][], ref: number[][] | undefined) =>
      (trainer.klInReward as (t: number[], r: { oldLogProbs: number[][] }, ref?: number[][]) => unknown).call(trainer, totals, { oldLogProbs: old }, ref);
  }

  it('subtracts β·Σ_t kl_t with the current coefficient and reports verl\'s two metrics; off: nothing', () => {
    const result = bare(true)([1, 0], [[-1, -2], [-1]], [[-1.5, -1], [-0.5]]) as { rewards: number[]; metrics: Record<string, number> };
    // kl rows [0.5, −1] → sum −0.5; [−0.5] → sum −0.5. β = 0.5.
    assert.deepStrictEqual(result.rewards, [1.25, 0.25]);
    assert.deepStrictEqual(result.metrics, { reward_kl_penalty: (-0.25 - 0.5) / 2, reward_kl_penalty_coeff: 0.5 });
    assert.strictEqual(bare(false)([1, 0], [[-1], [-1]], [[-1], [-1]]), undefined);
  });
});
