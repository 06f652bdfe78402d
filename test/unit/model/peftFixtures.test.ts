/**
 * The base models of the PEFT fixtures (test/fixtures/peft, written by the real PEFT + transformers with
 * make_fixtures.py) load here and give the logits transformers gave: the ground the LoRA tests stand on.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadPolicy } from '../../../src/model';
import { mergedPolicy, saveAdapterFolder } from '../../../src/model/lora';
import { readSafetensors } from '../../../src/model/safetensors';
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

describe('PEFT fixtures: adapters PEFT saved load here and compute what PEFT computed', () => {
  before(useWasm);

  interface AdapterExpected extends Expected {
    adapter: string;
    merged_logits: number[][][];
    adapter_tensors: Record<string, number[]> | { name: string; shape: number[] }[];
  }

  const cases: [string, string][] = [
    ['GPT-2 Conv1D (fan_in_fan_out), c_attn + c_proj', 'gpt2/expected.json'],
    ['GPT-2 all-linear with rsLoRA', 'gpt2/expected-rslora.json'],
    ['stories260K (Llama) q_proj, v_proj, down_proj', 'llama/expected.json'],
  ];
  for (const [name, file] of cases) {
    it(`${name}: PeftModel's logits, the merged model's, and a byte-identical save`, async () => {
      const expected = readExpected(file) as AdapterExpected;
      const adapterDir = path.join(REPO, expected.adapter);
      // The adapter folder alone: its base comes from adapter_config.json's base_model_name_or_path.
      const policy = loadPolicy(adapterDir, { base: path.join(REPO, expected.base) });
      try {
        const got = sequenceLogits(policy, expected.ids);
        const diff = maxAbsDiff(got.flat(2), expected.peft_logits.flat(2));
        assert.ok(diff <= TOLERANCE, `max |ours - PeftModel| = ${diff}`);
        const merged = mergedPolicy(policy);
        try {
          const mergedDiff = maxAbsDiff(sequenceLogits(merged, expected.ids).flat(2), expected.merged_logits.flat(2));
          assert.ok(mergedDiff <= TOLERANCE, `max |ours merged - merge_and_unload| = ${mergedDiff}`);
        } finally {
          merged.dispose();
        }
        // Saved again by us: the same tensor names, shapes and float32 values as PEFT's save_pretrained.
        const out = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-resave-'));
        await saveAdapterFolder(policy.lora!, out, expected.base);
        const theirs = readSafetensors(path.join(adapterDir, 'adapter_model.safetensors'));
        const ours = readSafetensors(path.join(out, 'adapter_model.safetensors'));
        assert.deepStrictEqual([...ours.keys()].sort(), [...theirs.keys()].sort());
        for (const [tensor, t] of theirs) {
          assert.deepStrictEqual(ours.get(tensor)!.shape, t.shape, tensor);
          assert.ok(Buffer.from(ours.get(tensor)!.data.buffer).equals(Buffer.from(t.data.buffer)), `${tensor} values differ`);
        }
        const theirConfig = JSON.parse(fs.readFileSync(path.join(adapterDir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
        const ourConfig = JSON.parse(fs.readFileSync(path.join(out, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
        for (const key of ['peft_type', 'r', 'lora_alpha', 'fan_in_fan_out', 'use_rslora', 'bias', 'task_type', 'use_dora']) {
          assert.deepStrictEqual(ourConfig[key], theirConfig[key], key);
        }
        assert.deepStrictEqual(new Set(ourConfig.target_modules as string[]), new Set(theirConfig.target_modules as string[]));
        fs.rmSync(out, { recursive: true, force: true });
      } finally {
        policy.dispose();
      }
    });
  }
});
