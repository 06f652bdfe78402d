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
