import * as assert from 'assert';
import { completionWithSpecialTokens } from '../../../src/protocol';

const shown = (completion: string, pieces: string[], finish: 'stop' | 'length' = 'stop') =>
  completionWithSpecialTokens(completion, pieces, finish)?.map((s) => (s.special ? `[${s.text}]` : s.text)).join('');

describe('a completion with the special tokens its text leaves out', () => {
  it('puts a sampled <pad> back where it was ("22" is "2<pad>2"), without the stop token it ended on', () => {
    assert.strictEqual(shown('22', ['2', '<pad>', '2', '\n']), '2[<pad>]2');
    assert.strictEqual(shown('22', ['<pad>', '2', '2', '<pad>', '</s>']), '[<pad>]22[<pad>]');
    assert.strictEqual(shown('a b', ['a', '<|endoftext|>', ' b'], 'length'), 'a[<|endoftext|>] b');
  });

  it('nothing to add when the text shows every token, or when the tokens do not line up with the text', () => {
    assert.strictEqual(shown('26', ['2', '6', '\n']), undefined);
    assert.strictEqual(shown('26', ['2', '6', '</s>']), undefined, 'the EOS it stopped on is not hidden text');
    assert.strictEqual(shown('<div>', ['<div>', '\n']), undefined, 'a tag the text has is text');
    assert.strictEqual(shown('xyz', ['a', '<pad>', 'b']), undefined);
  });
});
