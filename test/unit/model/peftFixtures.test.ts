/**
 * The base models of the PEFT fixtures (test/fixtures/peft, written by the real PEFT + transformers with
 * make_fixtures.py) load here and give the logits transformers gave: the ground the LoRA tests stand on.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { loadPolicy } from '../../../src/model';
import { encodePrompt } from '../../../src/model/tokenizer';
import { maxAbsDiff, sequenceLogits, useWasm } from './helpers';

const REPO = path.resolve(__dirname, '../../..');
const FIXTURES = path.join(REPO, 'test/fixtures/peft');

/** The part of expected.json this test reads (make_fixtures.py writes more). */
interface Expected {
  base: string;
  texts: string[];
  ids: number[][];
  logits_shape: [number, number, number];
  base_logits: number[][][];
  peft_logits: number[][][];
}

function readExpected(file: string): Expected {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, file), 'utf8')) as Expected;
}

/** transformers' float32 forward vs ours (tfjs wasm, float32): round-off only. */
const TOLERANCE = 1e-4;

describe('PEFT fixtures: the base folders load and match transformers', () => {
  before(useWasm);

  const cases: [string, string][] = [
    ['tiny GPT-2 written by transformers 5 (test/fixtures/peft/gpt2/base)', 'gpt2/expected.json'],
    ['stories260K (examples/models/stories260K)', 'llama/expected.json'],
  ];
  for (const [name, file] of cases) {
    it(`${name}: logits equal expected.json's base_logits within ${TOLERANCE}`, () => {
      const expected = readExpected(file);
      const policy = loadPolicy(path.join(REPO, expected.base));
      try {
        // The ids are the HF tokenizer's; ours must give the same ones, or the fixture's ids mean different text here.
        expected.texts.forEach((text, i) =>
          assert.deepStrictEqual(encodePrompt(policy.tokenizer, text).slice(0, expected.ids[i].length), expected.ids[i], text));
        const got = sequenceLogits(policy, expected.ids);
        assert.deepStrictEqual([got.length, got[0].length, got[0][0].length], expected.logits_shape);
        const diff = maxAbsDiff(got.flat(2), expected.base_logits.flat(2));
        assert.ok(diff <= TOLERANCE, `max |ours - transformers| = ${diff}`);
        // The adapter's logits are far from these, so a LoRA test against peft_logits cannot pass on the base alone.
        assert.ok(maxAbsDiff(got.flat(2), expected.peft_logits.flat(2)) > 1, 'the fixture adapter must change the logits');
      } finally {
        policy.dispose();
      }
    });
  }

  it('the merged GPT-2 folder (merge_and_unload) loads and gives PEFT\'s merged logits', () => {
    const expected = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'gpt2/expected.json'), 'utf8')) as Expected & {
      merged: string;
      merged_logits: number[][][];
    };
    const policy = loadPolicy(path.join(REPO, expected.merged));
    try {
      const diff = maxAbsDiff(sequenceLogits(policy, expected.ids).flat(2), expected.merged_logits.flat(2));
      assert.ok(diff <= TOLERANCE, `max |ours - transformers| = ${diff}`);
    } finally {
      policy.dispose();
    }
  });
});
