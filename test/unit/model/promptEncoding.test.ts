import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { generate, HfTokenizer, loadPolicy, loadTokenizer, savePolicy } from '../../../src/model';
import { encodePrompt, renderPrompt, tokenPieces } from '../../../src/model/tokenizer';
import { tempDir, tokenizerFiles, useWasm, writeCheckpoint } from './helpers';

const STORIES = path.resolve(__dirname, '../../../examples/models/stories260K');

function storiesTokenizer(chatTemplate?: string): HfTokenizer {
  const json = JSON.parse(fs.readFileSync(path.join(STORIES, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
  const config = JSON.parse(fs.readFileSync(path.join(STORIES, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
  return new HfTokenizer(json, chatTemplate === undefined ? config : { ...config, chat_template: chatTemplate });
}

describe('prompt encoding', () => {
  before(useWasm);

  it('GPT-2 byte-level tokenizer: plain text gets no special token (its post-processor adds none)', () => {
    const { tokenizerJson, tokenizerConfig } = tokenizerFiles();
    const tok = new HfTokenizer(tokenizerJson, tokenizerConfig);
    const o = tok.encode('o')[0];
    const l = tok.encode('l')[0];
    const d = tok.encode('d')[0];
    // he ll o Ġw or l d — and no BOS/EOS (id 260) in front.
    assert.deepStrictEqual(encodePrompt(tok, 'hello world'), [256, 257, o, 258, 259, l, d]);
  });

  it('Llama/SentencePiece tokenizer: plain text starts with BOS, as llama2.c encodes it', () => {
    const tok = loadTokenizer(STORIES);
    // The ids llama2.c's own encoder gives for stories260K's tok512 (BOS = 1).
    assert.deepStrictEqual(encodePrompt(tok, 'Once upon a time'), [1, 403, 407, 261, 378]);
    assert.deepStrictEqual(encodePrompt(tok, ''), [1]);
    // Without the tokenizer's special-token rules there is no BOS: the bug this guards against.
    assert.deepStrictEqual(tok.encode('Once upon a time'), [403, 407, 261, 378]);
  });

  it('a chat template that writes {{ bos_token }} gives one BOS, not two', () => {
    const template = "{{ bos_token }}{% for m in messages %}{% if m.role == 'user' %}[INST] {{ m.content }} [/INST]{% else %} {{ m.content }}{% endif %}{% endfor %}";
    const tok = storiesTokenizer(template);
    const messages = [{ role: 'user', content: 'Tell a story' }];
    const text = renderPrompt(tok, messages);
    assert.strictEqual(text, '<s>[INST] Tell a story [/INST]');
    const ids = encodePrompt(tok, messages);
    assert.strictEqual(ids[0], 1);
    assert.strictEqual(ids.filter((id) => id === 1).length, 1, `ids ${ids}`);
    assert.deepStrictEqual(ids.slice(1), tok.encode('[INST] Tell a story [/INST]'));
    // Encoding the rendered text with the post-processor too would have doubled it.
    assert.deepStrictEqual(tok.encode(text, { addSpecialTokens: true }).slice(0, 2), [1, 1]);
  });

  it('token pieces join to the decoded completion, with the spaces and characters that depend on neighbours', () => {
    const tok = loadTokenizer(STORIES);
    // The normalizer prepends '▁': 'there' is encoded as it would be after a previous word.
    const ids = tok.encode('there was a café 😀', { addSpecialTokens: false });
    const pieces = tokenPieces(tok, ids, [1, 403, 407, 261, 378]);
    assert.strictEqual(pieces.length, ids.length);
    assert.strictEqual(pieces.join(''), ' there was a café 😀');
    assert.strictEqual(pieces[0], ' there');
    // The emoji is four byte-fallback tokens: the first three add nothing, the last the whole character.
    assert.deepStrictEqual(pieces.slice(-4), ['', '', '', '😀']);
    // Decoded alone, a SentencePiece token loses its leading space.
    assert.strictEqual(tok.decode([ids[0]]), 'there');
  });

  it('generation_config.json: each eos_token_id (number or list) ends a completion, and is saved back', async () => {
    const dir = writeCheckpoint('llama', 11);
    const policy = loadPolicy(dir);
    const prompt = [[5, 104, 101]];
    const free = await generate(policy, prompt, { maxNewTokens: 6, temperature: 0, stopTokenIds: [] });
    const stopAt = free.tokens[0][2];
    policy.dispose();
    fs.writeFileSync(path.join(dir, 'generation_config.json'), JSON.stringify({ bos_token_id: 1, eos_token_id: [260, stopAt] }));
    const withGeneration = loadPolicy(dir);
    assert.deepStrictEqual(withGeneration.stopTokenIds.sort((a, b) => a - b), [...new Set([260, stopAt])].sort((a, b) => a - b));
    const out = await generate(withGeneration, prompt, { maxNewTokens: 6, temperature: 0 });
    assert.strictEqual(out.finishReasons[0], 'stop');
    assert.deepStrictEqual(out.tokens[0], free.tokens[0].slice(0, free.tokens[0].indexOf(stopAt) + 1));
    const saved = tempDir('gen-config');
    await savePolicy(withGeneration, saved);
    assert.deepStrictEqual(JSON.parse(fs.readFileSync(path.join(saved, 'generation_config.json'), 'utf8')).eos_token_id, [260, stopAt]);
    withGeneration.dispose();
    fs.writeFileSync(path.join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: 'x' }));
    assert.throws(() => loadPolicy(dir), /generation_config\.json: field 'eos_token_id' must be a token id or a list of them, got "x"/);
  });

  it('a prompt and its completion beyond max_position_embeddings are refused with the numbers', async () => {
    const policy = loadPolicy(writeCheckpoint('llama', 12));
    const long = [Array.from({ length: 120 }, (_, i) => 3 + (i % 200))];
    await assert.rejects(
      generate(policy, long, { maxNewTokens: 9, temperature: 0 }),
      /a prompt of 120 tokens \+ 9 new tokens = 129 exceeds the model's 128 positions \(max_position_embeddings\)/,
    );
    policy.dispose();
  });
});
