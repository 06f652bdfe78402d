import * as assert from 'assert';
import { CharTokenizer, HfTokenizer, loadTokenizer } from '../../../src/model';
import { EOS_TEXT, tempDir, tokenizerFiles } from './helpers';

describe('tokenizers', () => {
  const { tokenizerJson, tokenizerConfig } = tokenizerFiles();

  it('tokenizer.json (byte-level BPE) round-trips text, including non-ASCII, and applies merges', () => {
    const tok = new HfTokenizer(tokenizerJson, tokenizerConfig);
    for (const text of ['hello world', 'Grüße, 世界! 123\n\ttabs', '']) {
      assert.strictEqual(tok.decode(tok.encode(text)), text);
    }
    // "he", "ll" and "Ġw" are merges: 'hello world' → he ll o Ġw or l d
    assert.deepStrictEqual(tok.encode('hello world'), [256, 257, tok.encode('o')[0], 258, 259, tok.encode('l')[0], tok.encode('d')[0]]);
    assert.strictEqual(tok.vocabSize, 261);
  });

  it('special tokens: EOS id from tokenizer_config.json, encoded as one token, skippable on decode', () => {
    const tok = new HfTokenizer(tokenizerJson, tokenizerConfig);
    assert.strictEqual(tok.eosTokenId, 260);
    assert.strictEqual(tok.padTokenId, 260);
    const ids = tok.encode(`hi${EOS_TEXT}`);
    assert.strictEqual(ids[ids.length - 1], 260);
    assert.strictEqual(tok.decode(ids, { skipSpecialTokens: true }), 'hi');
    assert.strictEqual(tok.decode(ids), `hi${EOS_TEXT}`);
  });

  it('renders the chat template of tokenizer_config.json', () => {
    const tok = new HfTokenizer(tokenizerJson, tokenizerConfig);
    const text = tok.applyChatTemplate([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: '2+2?' }]);
    assert.strictEqual(text, '<|system|>Be brief.\n<|user|>2+2?\n<|assistant|>');
  });

  it('save → loadTokenizer gives the same encoding', () => {
    const dir = tempDir('tok');
    new HfTokenizer(tokenizerJson, tokenizerConfig).save(dir);
    assert.deepStrictEqual(loadTokenizer(dir).encode('hello world'), new HfTokenizer(tokenizerJson, tokenizerConfig).encode('hello world'));
  });

  it('char tokenizer: round trip, specials, unknown characters named', () => {
    const tok = new CharTokenizer('0123456789+=');
    assert.strictEqual(tok.vocabSize, 14);
    assert.deepStrictEqual(tok.encode('1+2='), [3, 12, 4, 13]);
    assert.strictEqual(tok.decode([...tok.encode('12+3=15'), tok.eosTokenId]), '12+3=15<eos>');
    assert.strictEqual(tok.decode([...tok.encode('7'), tok.eosTokenId], { skipSpecialTokens: true }), '7');
    assert.throws(() => tok.encode('1*2'), /character "\*" is not in the alphabet/);
    const dir = tempDir('char');
    tok.save(dir);
    assert.deepStrictEqual(loadTokenizer(dir).encode('9=9'), tok.encode('9=9'));
  });
});
