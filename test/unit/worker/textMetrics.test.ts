import * as assert from 'assert';
import { repetitionMetric } from '../../../src/worker/grpoTrainer';
import { distinctN, repeatedNgramShare, words } from '../../../src/worker/textMetrics';

describe('text metrics', () => {
  it('words: lower case, punctuation dropped, apostrophes kept', () => {
    assert.deepStrictEqual(words('The dog said, "Don\'t go!" 2 dogs.'), ['the', 'dog', 'said', "don't", 'go', '2', 'dogs']);
    assert.deepStrictEqual(words(' ... '), []);
  });

  it('distinct-n over a set of texts, by hand', () => {
    // "the big dog the dog dog": bigrams the big, big dog, dog the, the dog, dog dog → 5 distinct of 5;
    // "the dog dog dog": the dog, dog dog, dog dog → 2 distinct of 3 (and "the dog", "dog dog" seen above).
    assert.strictEqual(distinctN(['the big dog the dog dog', 'the dog dog dog'], 2), 5 / 8);
    assert.strictEqual(distinctN(['the big dog the dog dog', 'the dog dog dog'], 1), 3 / 10);
    assert.strictEqual(distinctN(['a b c', 'd e f'], 2), 1);
    // n-grams never span two texts.
    assert.strictEqual(distinctN(['a', 'b'], 2), Number.NaN);
    assert.ok(Number.isNaN(distinctN([], 2)));
  });

  it('seq-rep-n: the share of a sequence\'s n-grams that repeat an earlier one', () => {
    assert.strictEqual(repeatedNgramShare([1, 2, 3, 4, 5], 2), 0);
    // 1 2 | 2 1 | 1 2 | 2 1 | 1 2: 2 distinct of 5 bigrams.
    assert.strictEqual(repeatedNgramShare([1, 2, 1, 2, 1, 2], 2), 1 - 2 / 5);
    assert.strictEqual(repeatedNgramShare([7, 7, 7, 7, 7, 7], 4), 1 - 1 / 3);
    assert.ok(Number.isNaN(repeatedNgramShare([1, 2, 3], 4)));
  });

  it('completions/repetition is the mean seq-rep-4 of the completions that have a 4-gram, absent when none has', () => {
    const loop = [5, 6, 5, 6, 5, 6, 5, 6]; // 4-grams: 5656, 6565 repeated → 2 distinct of 5
    const fresh = [1, 2, 3, 4, 5, 6, 7, 8];
    assert.deepStrictEqual(repetitionMetric([loop, fresh, [1, 2]]), { 'completions/repetition': (1 - 2 / 5 + 0) / 2 });
    assert.deepStrictEqual(repetitionMetric([[1, 2], [3]]), {});
  });
});
