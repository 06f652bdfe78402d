import * as assert from 'assert';
import { validateRunConfig } from '../../../src/protocol';
import { checkRounds, concatRows, keptGroups, pickRows } from '../../../src/worker/dynamicSampling';

describe('dynamic sampling (verl filter_groups)', () => {
  it('keeps the groups whose scored rewards differ; failed samples (NaN) are left out of the comparison', () => {
    // Groups of 3: [1,1,1] tied; [0.3,0.3,0.30000000000000004] differ (exactly); [1,NaN,1] tied; [NaN,NaN,NaN] nothing to learn; [0,1,NaN] differ.
    assert.deepStrictEqual(keptGroups([1, 1, 1, 0.3, 0.3, 0.1 + 0.2, 1, Number.NaN, 1, Number.NaN, Number.NaN, Number.NaN, 0, 1, Number.NaN], 3), [false, true, false, false, true]);
  });

  it('fails after max_num_gen_batches rounds without a full batch; 0 is no limit', () => {
    assert.throws(() => checkRounds(3, 3, 1, 2), /3 generation rounds \(max_num_gen_batches\) gave 1 of 2 groups/);
    assert.doesNotThrow(() => checkRounds(2, 3, 1, 2));
    assert.doesNotThrow(() => checkRounds(100, 0, 0, 2));
    assert.doesNotThrow(() => checkRounds(3, 3, 2, 2));
  });

  it('picks and concatenates the per-sample arrays of a record, leaving the rest', () => {
    const record = { tokens: [[1], [2], [3]], texts: ['a', 'b', 'c'], metrics: { m: 1 } };
    assert.deepStrictEqual(pickRows(record, [2, 0]), { tokens: [[3], [1]], texts: ['c', 'a'], metrics: { m: 1 } });
    assert.deepStrictEqual(concatRows(pickRows(record, [0]), pickRows(record, [1])), { tokens: [[1], [2]], texts: ['a', 'b'], metrics: { m: 1 } });
  });

  it('config: off by default, verl\'s field names', () => {
    const base = { name: 'x', model: { name_or_path: 'tiny' }, task: { type: 'arithmetic' } };
    assert.deepStrictEqual(validateRunConfig(base).algorithm.filter_groups, { enable: false, max_num_gen_batches: 0 });
    assert.deepStrictEqual(validateRunConfig({ ...base, algorithm: { filter_groups: { enable: true, max_num_gen_batches: 10 } } }).algorithm.filter_groups, { enable: true, max_num_gen_batches: 10 });
  });
});
