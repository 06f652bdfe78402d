import * as assert from 'assert';
import { distinctN, words } from '../../../src/worker/textMetrics';

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
});
