/**
 * prime-rl token exports hold ids, not text: with the tokenizer of the model the run's config names found on this
 * machine (a Hugging Face hub cache snapshot, or the model's own folder), the reader shows each token's text; with
 * none, the ids, and the snapshot says once which model and where it looked. The tokenizer is the byte-level BPE
 * fixture of the model tests; the run is written as prime-rl writes its exports.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { findTokenizer, tokenDecoderLookup } from '../../../src/model/tokenizerLookup';
import { HfTokenizer } from '../../../src/model/tokenizer';
import { openRunReader } from '../../../src/protocol/runReaders';
import { primeRlModelName } from '../../../src/protocol/runReaders/primeRl';
import { EOS_TEXT, tokenizerFiles } from './helpers';

const { tokenizerJson, tokenizerConfig } = tokenizerFiles();

function writeTokenizer(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig));
}

/** A prime-rl run: one step of token exports (prompt ids, then the trained completion ids) and its trainer config. */
function writeRun(dir: string, configToml: string | undefined): { prompt: string; completion: string } {
  const tokenizer = new HfTokenizer(tokenizerJson, tokenizerConfig);
  const prompt = 'Say hello';
  const completion = ' hello world';
  const promptIds = tokenizer.encode(prompt);
  const ids = [...promptIds, ...tokenizer.encode(completion), tokenizer.eosTokenId ?? 0];
  const n = ids.length;
  const line = {
    schema_version: 1, step: 1, rank: 0, token_ids: ids, position_ids: ids.map((_, i) => i),
    loss_mask: ids.map((_, i) => i >= promptIds.length), advantages: ids.map(() => 0.5), rewards: ids.map(() => 1),
    inference_logprobs: ids.map(() => -0.5), trainer_logprobs: ids.map(() => -0.4), entropy: ids.map(() => 0.3), importance_ratio: ids.map(() => 1),
  };
  assert.strictEqual(line.loss_mask.length, n);
  fs.mkdirSync(path.join(dir, 'token_exports', 'step_1'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'token_exports', 'step_1', 'rank_0.jsonl'), JSON.stringify(line) + '\n');
  if (configToml !== undefined) {
    fs.mkdirSync(path.join(dir, 'configs'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'configs', 'trainer.toml'), configToml);
  }
  return { prompt, completion: completion + EOS_TEXT };
}

describe('prime-rl token text: decoded with a tokenizer found on this machine, else ids with the reason', () => {
  let tmp: string;
  beforeEach(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-tokenizer-lookup-'))));
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('reads the model name from [model] name, or a top-level model, and skips other keys', () => {
    const run = path.join(tmp, 'run');
    writeRun(run, '# trainer\nmax_steps = 10\n[optimizer]\nname = "adamw"\n\n[model]\nname = "acme/tiny-lm"\n');
    assert.deepStrictEqual(primeRlModelName(run), { model: 'acme/tiny-lm', lookedIn: [path.join(run, 'configs', 'trainer.toml')] });
    fs.writeFileSync(path.join(run, 'configs', 'trainer.toml'), 'model = "acme/other"\n[sampling]\nmax_tokens = 8\n');
    assert.strictEqual(primeRlModelName(run).model, 'acme/other');
  });

  it('decodes the exports with the hub cache snapshot refs/main names (HF_HOME)', async () => {
    const run = path.join(tmp, 'run');
    const { prompt, completion } = writeRun(run, '[model]\nname = "acme/tiny-lm"\n');
    const repo = path.join(tmp, 'hf', 'hub', 'models--acme--tiny-lm');
    writeTokenizer(path.join(repo, 'snapshots', 'abc123'));
    fs.mkdirSync(path.join(repo, 'snapshots', 'old'), { recursive: true }); // a revision without tokenizer.json
    fs.mkdirSync(path.join(repo, 'refs'), { recursive: true });
    fs.writeFileSync(path.join(repo, 'refs', 'main'), 'abc123');
    const search = { env: { HF_HOME: path.join(tmp, 'hf') }, home: path.join(tmp, 'home') };
    assert.deepStrictEqual(findTokenizer('acme/tiny-lm', run, search), { dir: path.join(repo, 'snapshots', 'abc123') });

    const reader = openRunReader(run, undefined, { tokenDecoders: tokenDecoderLookup(search) });
    const record = await reader.readRollouts('train', 1);
    assert.ok(record);
    assert.strictEqual(record.groups[0].prompt, prompt);
    const tokens = record.groups[0].rollouts[0].tokens;
    assert.strictEqual(tokens.text.join(''), completion);
    assert.ok(tokens.text.every((t) => !/⟨\d+⟩/.test(t)), tokens.text.join('|'));
    assert.strictEqual(record.groups[0].rollouts[0].completion, completion);
    const source = reader.snapshot(false).source;
    assert.ok(source?.derived.some((d) => d.includes('tokenizer of acme/tiny-lm') && d.includes('abc123')), source?.derived.join('\n'));
    assert.strictEqual(source?.notices, undefined);
  });

  it('decodes with the model folder the config names (relative to the run)', async () => {
    const run = path.join(tmp, 'run');
    const { completion } = writeRun(run, '[model]\nname = "../weights/tiny"\n');
    writeTokenizer(path.join(tmp, 'weights', 'tiny'));
    const reader = openRunReader(run, undefined, { tokenDecoders: tokenDecoderLookup({ env: {}, home: path.join(tmp, 'home') }) });
    assert.strictEqual((await reader.readRollouts('train', 1))?.groups[0].rollouts[0].tokens.text.join(''), completion);
  });

  it('without a tokenizer shows ids and says once which model and where it looked', async () => {
    const run = path.join(tmp, 'run');
    writeRun(run, '[model]\nname = "acme/missing"\n');
    const search = { env: { HF_HOME: path.join(tmp, 'hf') }, home: path.join(tmp, 'home') };
    const reader = openRunReader(run, undefined, { tokenDecoders: tokenDecoderLookup(search) });
    const tokens = (await reader.readRollouts('train', 1))?.groups[0].rollouts[0].tokens;
    assert.ok(tokens?.text.every((t) => /^⟨\d+⟩$/.test(t)));
    const notices = reader.snapshot(false).source?.notices ?? [];
    assert.strictEqual(notices.length, 1);
    assert.match(notices[0], /Tokens are shown as ids/);
    assert.match(notices[0], /no tokenizer was found for acme\/missing; looked in /);
    assert.ok(notices[0].includes(path.join(tmp, 'hf', 'hub', 'models--acme--missing', 'snapshots', '*', 'tokenizer.json')), notices[0]);
    assert.ok(notices[0].includes(path.join(tmp, 'home', '.cache', 'huggingface', 'hub')), notices[0]);
  });

  it('a run that names no model says so, with the files it read', () => {
    const run = path.join(tmp, 'run');
    writeRun(run, '[optimizer]\nlr = 1e-6\n');
    const reader = openRunReader(run, undefined, { tokenDecoders: tokenDecoderLookup({ env: {}, home: path.join(tmp, 'home') }) });
    const notices = reader.snapshot(false).source?.notices ?? [];
    assert.match(notices[0] ?? '', /the run names no model \(looked for \[model\] name in .*trainer\.toml\)/);
  });
});
