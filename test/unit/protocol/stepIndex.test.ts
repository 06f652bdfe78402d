import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { JsonlStepIndex, rolloutStepIndex } from '../../../src/protocol/stepIndex';
import { isRolloutsRecord, RolloutsRecord, TokenColumns, validateRunConfig } from '../../../src/protocol';
import { encodeTokenBlock, roundRolloutsRecord } from '../../../src/protocol/tokenBlocks';
import { RunDirectoryWriter } from '../../../src/worker/runDirectory';

describe('step → byte-offset index of a JSONL file', () => {
  let tmp: string;
  let file: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-index-'));
    file = path.join(tmp, 'rollouts.jsonl');
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const line = (step: number, extra = '') => JSON.stringify({ step, groups: [{ prompt: `p${step}${extra}`, rollouts: [] }] }) + '\n';

  it('is empty for a missing file and reads nothing', () => {
    const index = new JsonlStepIndex(file);
    assert.deepStrictEqual(index.steps(), []);
    assert.strictEqual(index.read(1), undefined);
  });

  it('reads any step without the others, including multi-byte text and lines longer than a read chunk', () => {
    const long = 'é'.repeat(700000);
    fs.writeFileSync(file, line(1) + line(2, long) + line(3) + '\n');
    const index = new JsonlStepIndex(file);
    assert.deepStrictEqual(index.steps(), [1, 2, 3]);
    assert.strictEqual(index.read<{ groups: { prompt: string }[] }>(2)?.groups[0].prompt, `p2${long}`);
    assert.strictEqual(index.read<{ step: number }>(3)?.step, 3);
    assert.strictEqual(index.read(4), undefined);
  });

  it('skips a torn last line and indexes it once the writer completes it; appends are read incrementally', () => {
    const torn = line(2);
    fs.writeFileSync(file, line(1) + torn.slice(0, 10));
    const index = new JsonlStepIndex(file);
    assert.deepStrictEqual(index.steps(), [1]);
    fs.appendFileSync(file, torn.slice(10) + line(3));
    assert.deepStrictEqual(index.steps(), [1, 2, 3]);
    assert.strictEqual(index.read<{ step: number }>(2)?.step, 2);
  });

  it('finds records whose "step" is not the first key, and lets a rewritten step win', () => {
    fs.writeFileSync(file, JSON.stringify({ groups: [], step: 7 }) + '\n' + line(7, 'again'));
    const index = new JsonlStepIndex(file);
    assert.deepStrictEqual(index.steps(), [7]);
    assert.strictEqual(index.read<{ groups: { prompt: string }[] }>(7)?.groups[0].prompt, 'p7again');
  });

  it('starts over when the file was replaced by a shorter one', () => {
    fs.writeFileSync(file, line(1) + line(2) + line(3));
    const index = new JsonlStepIndex(file);
    assert.deepStrictEqual(index.steps(), [1, 2, 3]);
    fs.writeFileSync(file, line(9));
    assert.deepStrictEqual(index.steps(), [9]);
  });

  it('skips a malformed complete line, naming the file and byte, and indexes the lines after it', () => {
    // Before: steps() threw, and every later refresh threw again at the same line: the run's rollouts were lost.
    fs.writeFileSync(file, line(1) + '{"oops": \n' + line(2));
    const index = new JsonlStepIndex(file);
    assert.deepStrictEqual(index.steps(), [1, 2]);
    assert.strictEqual(index.problems.length, 1);
    assert.match(index.problems[0], /rollouts\.jsonl: malformed record at byte \d+/);
  });

  it('a malformed newest line of a step falls back to the step\'s earlier good line', () => {
    fs.writeFileSync(file, line(1) + '{"step":1,"groups":[oops]}\n');
    assert.deepStrictEqual(new JsonlStepIndex(file).read(1), JSON.parse(line(1)));
  });
});

describe('rollouts with token blocks, read one step at a time', () => {
  let tmp: string;
  beforeEach(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-blocks-'))));
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const config = validateRunConfig({ name: 'w', task: { type: 'bandit' } });
  /** A step as the trainer hands it to the sink: float32 log-probs, logprob = old + log ρ, k3 KL in float32. */
  const record = (step: number): RolloutsRecord => {
    const f = Math.fround;
    const tokens = (n: number, shift: number): TokenColumns => {
      const old = Array.from({ length: n }, (_, t) => f(-0.5 - ((t * 7 + step + shift) % 11) / 3));
      const policy = old.map((o, t) => f(o + 0.01 * (((t + shift) % 5) - 2)));
      const ref = policy.map((p, t) => f(p - 0.02 * ((t % 3) - 1)));
      const ratio = policy.map((p, t) => f(Math.exp(f(p - old[t]))));
      return {
        text: Array.from({ length: n }, (_, t) => ` w${(t + shift) % 4}`),
        logprob: old.map((o, t) => o + Math.log(ratio[t])),
        old_logprob: old,
        ref_logprob: ref,
        advantage: new Array<number>(n).fill(shift - 0.5),
        ratio,
        clipped_low: ratio.map(() => false),
        clipped_high: ratio.map((_, t) => t === 1),
        kl: policy.map((p, t) => {
          const d = f(ref[t] - p);
          return f(f(f(Math.exp(d)) - d) - 1);
        }),
        entropy: old.map((o) => f(-o / 2)),
      };
    };
    return { step, groups: [{ prompt: `p${step}`, rollouts: [0, 1].map((r) => ({ completion: `c${r}`, reward: r, rewards: { a: r }, advantage: r - 0.5, finish_reason: 'stop' as const, tokens: tokens(6 + r, r) })) }] };
  };
  /** What the JSON lines held before token blocks (kl aside: recomputed, to float32 precision). */
  const asBefore = (r: RolloutsRecord) => JSON.parse(JSON.stringify(roundRolloutsRecord(r))) as RolloutsRecord;
  const withoutKl = (r: RolloutsRecord | undefined) => r && { ...r, groups: r.groups.map((g) => ({ ...g, rollouts: g.rollouts.map((x) => ({ ...x, tokens: { ...x.tokens, kl: undefined } })) })) };

  function writeRun(steps: number[]): string {
    const dir = path.join(tmp, 'run');
    const writer = new RunDirectoryWriter(dir, config);
    for (const step of steps) writer.appendRollouts(record(step));
    writer.close();
    return dir;
  }

  it('a step reads back as the trainer produced it, with no per-token column in rollouts.jsonl', () => {
    const dir = writeRun([1, 2, 3]);
    const lines = fs.readFileSync(path.join(dir, 'rollouts.jsonl'), 'utf8');
    assert.ok(!lines.includes('"tokens"') && lines.includes('"token_block":{"file":"rollouts.tokens.bin"'));
    const index = rolloutStepIndex(path.join(dir, 'rollouts.jsonl'));
    assert.deepStrictEqual(index.steps(), [1, 2, 3]);
    const read = index.read<RolloutsRecord>(2, isRolloutsRecord);
    assert.deepStrictEqual(withoutKl(read), withoutKl(asBefore(record(2))));
    read?.groups[0].rollouts.forEach((r, i) => r.tokens.kl?.forEach((v, t) => assert.ok(Math.abs(v - (record(2).groups[0].rollouts[i].tokens.kl?.[t] ?? NaN)) < 1e-6, `kl ${v}`)));
  });

  it('reads one step alone: another step\'s damaged block does not matter, its own is reported and skipped', () => {
    const dir = writeRun([1, 2]);
    const lines = fs.readFileSync(path.join(dir, 'rollouts.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { token_block: { offset: number; length: number } });
    const bin = path.join(dir, 'rollouts.tokens.bin');
    const bytes = fs.readFileSync(bin);
    bytes[lines[0].token_block.offset + 20] ^= 0xff; // inside step 1's compressed payload
    fs.writeFileSync(bin, bytes);
    const index = rolloutStepIndex(path.join(dir, 'rollouts.jsonl'));
    assert.deepStrictEqual(withoutKl(index.read<RolloutsRecord>(2)), withoutKl(asBefore(record(2))));
    assert.strictEqual(index.read(1), undefined);
    assert.match(index.problems.join('\n'), /malformed record for step 1 at byte 0: rollouts\.tokens\.bin at byte 0: token block is damaged \(CRC-32 mismatch\)/);
  });

  it('a crash mid-write never reads wrong: a torn block without its line is never read, a torn line is skipped, resume appends after both', () => {
    const dir = writeRun([1]);
    const bin = path.join(dir, 'rollouts.tokens.bin');
    const jsonl = path.join(dir, 'rollouts.jsonl');
    // The worker died while writing step 2: half its block, and half its line.
    const block = encodeTokenBlock(2, record(2).groups.flatMap((g) => g.rollouts.map((r) => r.tokens)));
    fs.appendFileSync(bin, block.subarray(0, 40));
    fs.appendFileSync(jsonl, '{"step":2,"token_block":{"file":"rollouts.tokens.bin","offs');
    const index = rolloutStepIndex(jsonl);
    assert.deepStrictEqual(index.steps(), [1]);
    const resumed = new RunDirectoryWriter(dir, undefined);
    resumed.appendRollouts(record(2));
    resumed.close();
    assert.deepStrictEqual(index.steps(), [1, 2]);
    assert.deepStrictEqual(withoutKl(index.read<RolloutsRecord>(2)), withoutKl(asBefore(record(2))));
    assert.deepStrictEqual(withoutKl(index.read<RolloutsRecord>(1)), withoutKl(asBefore(record(1))));
    // A line whose block is missing (the .bin lost) reads as nothing, with the reason.
    fs.truncateSync(bin, 10);
    const again = rolloutStepIndex(jsonl);
    assert.strictEqual(again.read(2), undefined);
    assert.match(again.problems.join('\n'), /the token block is missing or shorter/);
  });

  it('runs written before token blocks (inline tokens) still read, and a rewritten step in the new format wins', () => {
    const dir = path.join(tmp, 'old');
    fs.mkdirSync(dir);
    const jsonl = path.join(dir, 'rollouts.jsonl');
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
    fs.writeFileSync(jsonl, JSON.stringify(asBefore(record(1))) + '\n' + JSON.stringify(asBefore(record(2))) + '\n');
    const index = rolloutStepIndex(jsonl);
    assert.deepStrictEqual(index.read(1), asBefore(record(1)));
    const resumed = new RunDirectoryWriter(dir, undefined);
    resumed.appendRollouts(record(2));
    resumed.close();
    assert.ok(fs.readFileSync(jsonl, 'utf8').trim().split('\n')[2].includes('"token_block"'));
    assert.deepStrictEqual(withoutKl(index.read<RolloutsRecord>(2)), withoutKl(asBefore(record(2))));
  });
});
