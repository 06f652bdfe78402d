import * as assert from 'assert';
import { CharTokenizer } from '../../../src/model/tokenizer';
import { completionCharEnds, stepAdvantages, tokenSteps } from '../../../src/worker/processSupervision';
import { unpackReward } from '../../../src/worker/tasks/rewards';

/** A tokenizer whose tokens are given strings (id = index); id 9 is a special stop token that decodes to ''. */
const PIECES = ['Step', ' 1', '.', ' Step', ' 2', '!', 'é'];
const tokenizer = { decode: (ids: readonly number[]) => ids.map((id) => PIECES[id] ?? '').join('') };

describe('process supervision in the worker', () => {
  it('unpackReward takes {steps}, with the total their sum unless given', () => {
    assert.deepStrictEqual(unpackReward({ steps: [{ end: 7, reward: 1 }, { end: 14, reward: 0.5 }] }), { reward: 1.5, extras: {}, steps: [{ end: 7, reward: 1 }, { end: 14, reward: 0.5 }] });
    assert.deepStrictEqual(unpackReward({ steps: [{ end: 3, reward: 1 }], reward: 0, format: 1 }), { reward: 0, extras: { format: 1 }, steps: [{ end: 3, reward: 1 }] });
    assert.throws(() => unpackReward({ steps: [{ end: -1, reward: 1 }] }), /steps must be/);
    assert.throws(() => unpackReward({ steps: [{ end: 2, reward: Number.NaN }] }), /steps\[0\]: reward is not a finite number: NaN/);
    assert.throws(() => unpackReward({ steps: [{ end: 2, reward: 1e39 }] }), /steps\[0\]: reward 1e\+39 is outside float32's range/);
  });

  it('maps character offsets to the tokens that end the steps', () => {
    // "Step 1. Step 2!" + stop: ends [4, 6, 7, 12, 14, 15, 15].
    const ids = [0, 1, 2, 3, 4, 5, 9];
    const ends = completionCharEnds(tokenizer, ids);
    assert.deepStrictEqual(ends, [4, 6, 7, 12, 14, 15, 15]);
    // Step 1 ends after "Step 1." (offset 7) → token 2; step 2 at the end of the text (15) → the stop token (6).
    assert.deepStrictEqual(tokenSteps([{ end: 7, reward: 1 }, { end: 15, reward: 2 }, { end: 5, reward: 3 }], ends, 15), [
      { token: 2, reward: 1 }, { token: 6, reward: 2 }, { token: 1, reward: 3 },
    ]);
  });

  it('with a real tokenizer: a step per line of a char-level completion', () => {
    const chars = new CharTokenizer('ab\n');
    const ids = [...chars.encode('ab\nb'), chars.eosTokenId];
    // The EOS token is special: it adds no text, so it ends where the text ends.
    assert.deepStrictEqual(completionCharEnds(chars, ids), [1, 2, 3, 4, 4]);
  });

  it('advantages of a batch end to end (hand-computed)', () => {
    // G = 2: rollout 0 "Step 1. Step 2!" with steps (7 → 1), (15 → 0); rollout 1 "Step 1." with one scalar step 0.5.
    // R = {1, 0, 0.5} → r̃ = {1, −1, 0}: rollout 0 tokens 0–2 get 0, tokens 3–6 get −1; rollout 1 all 0.
    const advantages = stepAdvantages(
      tokenizer,
      [[0, 1, 2, 3, 4, 5, 9], [0, 1, 2]],
      ['Step 1. Step 2!', 'Step 1.'],
      [[{ end: 7, reward: 1 }, { end: 15, reward: 0 }], [{ end: Number.POSITIVE_INFINITY, reward: 0.5 }]],
      2,
      { advantageEps: 0 },
      [false, false],
    );
    assert.deepStrictEqual(advantages, [[0, 0, 0, -1, -1, -1, -1], [0, 0, 0]]);
  });
});
