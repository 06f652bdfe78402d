import * as assert from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { klPenaltyValue, SAMPLED_KL_ESTIMATORS } from '../../../src/protocol/klPenalty';
import type { RolloutsRecord, TokenColumns } from '../../../src/protocol';
import {
  crc32,
  decodeTokenBlock,
  encodeTokenBlock,
  encodeTokenRows,
  resolveTokenBlock,
  roundRolloutsRecord,
  recordValue,
  roundTokenColumns,
  sameRecordValue,
  storedRolloutsLine,
  tokenBlockColumns,
  tokenBlockPatches,
  tokenBlockOptions,
  tokenRows,
} from '../../../src/protocol/tokenBlocks';
import { validateRunConfig } from '../../../src/protocol';

/** A deterministic generator (mulberry32), so a failure names values that can be looked at again. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Columns as the trainer hands them to the sink: float32 tensor values (old and ref log-probs, ratio, entropy), the
 * KL computed in float32 arithmetic as computeKlPenaltyPerToken does on a tensor backend, logprob = old + log ρ.
 */
function trainerRow(next: () => number, n: number, estimator: 'k3' | 'low_var_kl' | 'kl' = 'k3'): TokenColumns {
  const f = Math.fround;
  // The sampler's log-probs are float64 numbers (of float32 logits); the loss sees them as float32.
  const old = Array.from({ length: n }, () => -12 * next() ** 2);
  const policy = old.map((o) => f(o + (next() - 0.5) * 0.6));
  const ref = policy.map((p) => f(p + (next() - 0.5) * 0.4));
  const ratio = policy.map((p, t) => f(Math.exp(f(p - f(old[t])))));
  const kl = policy.map((p, t) => {
    const d = f(ref[t] - p);
    if (estimator === 'kl') return f(p - ref[t]);
    const k3 = f(f(f(Math.exp(d)) - d) - 1);
    return estimator === 'k3' ? k3 : Math.min(10, Math.max(-10, k3));
  });
  const advantage = (next() - 0.5) * 3;
  return {
    text: Array.from({ length: n }, () => ['▁Once', ' upon', ' a', ' time', '.', 'é', '', ' dog'][Math.floor(next() * 8)]),
    logprob: old.map((o, t) => o + Math.log(ratio[t])),
    old_logprob: old,
    ref_logprob: ref,
    advantage: new Array<number>(n).fill(advantage),
    ratio,
    clipped_low: ratio.map((r) => r < 0.8 && advantage < 0),
    clipped_high: ratio.map((r) => r > 1.2 && advantage > 0),
    kl,
    entropy: Array.from({ length: n }, () => f(next() * 3)),
  };
}

/** What a reader of the JSON lines got before token blocks: the rounded record through JSON. */
const asJsonLine = (row: TokenColumns): TokenColumns => JSON.parse(JSON.stringify(roundTokenColumns(row))) as TokenColumns;

const K3 = { kl: { estimator: 'k3' as const, log_ratio_clamp: 20, value_clamp: 10 } };

describe('token blocks (compact per-token columns)', () => {
  it('round trip: every stored column reads back exactly as the JSON line held it, kl recomputed to float32 precision', () => {
    const next = random(7);
    const rows = Array.from({ length: 24 }, (_, i) => trainerRow(next, 1 + (i % 9) * 7));
    const block = encodeTokenBlock(3, rows, K3);
    assert.deepStrictEqual(tokenBlockColumns(block), { old_logprob: 'f32', ref_logprob: 'f32', advantage: 'f32', ratio: 'f32', entropy: 'f32', clipped_low: 'bits', clipped_high: 'bits', logprob: 'derived', kl: 'derived' });
    // float32 changes a few of the sampler's float64 log-probs as a record shows them: those are patched, and the
    // logprob recomputed from them is patched where it must be, so both read back exactly.
    const patches = tokenBlockPatches(block);
    assert.ok(patches.old_logprob > 0 && patches.old_logprob < 0.1 * 1000, `old_logprob patches ${patches.old_logprob}`);
    const read = decodeTokenBlock(block, 3);
    assert.strictEqual(read.length, rows.length);
    // The rows the writer hands to a live dashboard are the ones a reader decodes, recomputed kl included.
    assert.deepStrictEqual(encodeTokenRows(3, rows, K3).read, read);
    rows.forEach((row, i) => {
      const json = asJsonLine(row);
      const { kl, ...rest } = read[i];
      const { kl: jsonKl, ...jsonRest } = json;
      assert.deepStrictEqual(rest, jsonRest, `rollout ${i}`);
      // Recomputed in float64 from the stored float32 log-probs; the trainer's went through float32 arithmetic.
      (kl ?? []).forEach((v, t) => {
        const trainer = row.kl?.[t] ?? Number.NaN;
        const scale = (1 + Math.abs(row.logprob[t]) + Math.abs(row.ref_logprob?.[t] ?? 0)) * (1 + Math.abs(trainer));
        assert.ok(Math.abs(v - trainer) <= 4 * 2 ** -23 * scale + 5e-6 * Math.abs(trainer), `rollout ${i} token ${t}: kl ${v} vs ${trainer} (JSON ${jsonKl?.[t]})`);
      });
    });
    // logprob and kl were left out; the key order is the trainer's, so a line serialises the same.
    assert.deepStrictEqual(Object.keys(read[0]), ['text', 'logprob', 'old_logprob', 'ref_logprob', 'advantage', 'ratio', 'clipped_low', 'clipped_high', 'kl', 'entropy']);
    assert.ok(block.length / rows.reduce((n, r) => n + r.text.length, 0) < 16, `${block.length} bytes`);
  });

  it('leaves logprob and kl out only when they recompute: without the estimator kl is stored and reads back exactly', () => {
    const next = random(11);
    const rows = Array.from({ length: 8 }, () => trainerRow(next, 20));
    const withKl = encodeTokenBlock(1, rows, K3).length;
    const without = encodeTokenBlock(1, rows, {});
    assert.strictEqual(tokenBlockColumns(without).kl, 'f32');
    assert.ok(without.length > withKl + 20 * 8 * 2, `kl stored: ${without.length} vs ${withKl} bytes`);
    decodeTokenBlock(without).forEach((row, i) => assert.deepStrictEqual(row, asJsonLine(rows[i])));
    // A logprob that is not old + log ρ (e.g. GSPO-like, or a hand-built record) is stored, exactly.
    const odd = rows.map((r) => ({ ...r, logprob: r.logprob.map((v) => v - 0.25) }));
    assert.strictEqual(tokenBlockColumns(encodeTokenBlock(1, odd, K3)).logprob, 'f32');
    decodeTokenBlock(encodeTokenBlock(1, odd, K3)).forEach((row, i) => assert.deepStrictEqual(row.logprob, asJsonLine(odd[i]).logprob));
    // A kl of another estimator than the block was told is stored, not recomputed wrong.
    const lowVar = Array.from({ length: 4 }, () => trainerRow(next, 30, 'kl'));
    decodeTokenBlock(encodeTokenBlock(1, lowVar, K3)).forEach((row, i) => assert.deepStrictEqual(row.kl, asJsonLine(lowVar[i]).kl));
  });

  it('every sampled-token estimator recomputes from the stored log-probs (the block names it)', () => {
    for (const estimator of SAMPLED_KL_ESTIMATORS) {
      const next = random(3);
      const rows = Array.from({ length: 3 }, () => trainerRow(next, 10));
      const options = { kl: { estimator, log_ratio_clamp: 20, value_clamp: 10 } };
      // The trainer's kl of this estimator, as klPenaltyValue gives it from the same float32 inputs.
      const withKl = rows.map((r) => ({ ...r, kl: r.logprob.map((lp, t) => Math.fround(klPenaltyValue(lp, r.ref_logprob?.[t] ?? 0, estimator))) }));
      assert.strictEqual(tokenBlockColumns(encodeTokenBlock(2, withKl, options)).kl, 'derived', estimator);
      const read = decodeTokenBlock(encodeTokenBlock(2, withKl, options));
      read.forEach((row, i) => row.kl?.forEach((v, t) => assert.ok(Math.abs(v - (withKl[i].kl[t] ?? 0)) <= 1e-6 * (1 + Math.abs(v)), `${estimator}: ${v} vs ${withKl[i].kl[t]}`)));
    }
  });

  it('keeps NaN and infinities as null, values float32 would change as float64, rows without a column, empty rows', () => {
    const rows: TokenColumns[] = [
      { text: ['a', 'b', 'c'], logprob: [-1.5, Number.NaN, -0.25], entropy: [Number.NaN, Number.NaN, Number.NaN], advantage: [0.1234567, 0.7654321, 1e-9] },
      { text: [], logprob: [] },
      { text: ['b'], logprob: [Number.POSITIVE_INFINITY], kl: [0.5] },
    ];
    const read = decodeTokenBlock(encodeTokenBlock(0, rows));
    assert.deepStrictEqual(read, rows.map(asJsonLine));
    assert.deepStrictEqual(encodeTokenRows(0, rows).read, read);
    assert.deepStrictEqual(read[0].entropy, [null, null, null]);
    assert.deepStrictEqual(read[0].advantage, [0.123457, 0.765432, 1e-9]);
  });

  it('refuses what it cannot hold exactly, and blocks that are damaged, truncated or of another step', () => {
    assert.throws(() => encodeTokenBlock(0, [{ text: ['a', 'b'], logprob: [1] }]), /logprob has 1 values for 2 tokens/);
    assert.throws(() => encodeTokenBlock(0, [{ text: ['a'], logprob: [1], extra: [1] } as unknown as TokenColumns]), /unknown token column 'extra'/);
    const block = encodeTokenBlock(5, [trainerRow(random(1), 12)], K3);
    assert.throws(() => decodeTokenBlock(block, 6), /block of step 5, expected step 6/);
    const damaged = Uint8Array.from(block);
    damaged[damaged.length - 3] ^= 0x10;
    assert.throws(() => decodeTokenBlock(damaged), /CRC-32 mismatch/);
    assert.throws(() => decodeTokenBlock(block.subarray(0, block.length - 1)), /header says/);
    assert.throws(() => decodeTokenBlock(Buffer.from('{"step":1}')), /not a token block/);
    assert.strictEqual(crc32(Buffer.from('123456789')), 0xcbf43926);
  });

  it('sameRecordValue (its shortcut away from rounding boundaries) agrees with comparing recordValue', () => {
    const next = random(13);
    const cases: [number, number][] = [[1, 1], [0, -0], [Number.NaN, Number.NaN], [Number.NaN, 1], [1.234565, 1.2345650000000001], [9.999995, 9.999994999], [99999.95, 99999.9500001], [1e-7, 1.00000049e-7]];
    for (let i = 0; i < 20000; i++) {
      const a = (next() - 0.5) * 10 ** Math.floor(next() * 12 - 6);
      const b = a + (next() - 0.5) * Math.abs(a) * 10 ** -Math.floor(3 + next() * 6);
      cases.push([a, b], [a, Math.fround(a)], [Number(a.toPrecision(6)) + 5 * 10 ** (Math.floor(Math.log10(Math.abs(a))) - 6), a]);
    }
    for (const [a, b] of cases) assert.strictEqual(sameRecordValue(a, b), recordValue(a) === recordValue(b), `${a} ${b}`);
  });

  it('brotli blocks read too (the codec is in the header)', () => {
    const rows = [trainerRow(random(2), 40)];
    assert.deepStrictEqual(decodeTokenBlock(encodeTokenBlock(1, rows, { ...K3, codec: 'brotli' })), decodeTokenBlock(encodeTokenBlock(1, rows, K3)));
  });

  it('a stored line points at its block and reads back as the record the trainer produced; old inline lines pass through', () => {
    const next = random(5);
    const record: RolloutsRecord = {
      step: 4,
      groups: [0, 1].map((g) => ({ prompt: `p${g}`, prompt_id: `${g}`, rollouts: [0, 1, 2].map((r) => ({ completion: `c${g}${r}`, reward: r, rewards: { a: r }, advantage: r - 1, finish_reason: 'stop' as const, tokens: trainerRow(next, 5 + r) })) })),
    };
    const block = encodeTokenBlock(4, tokenRows(record), {});
    const line = JSON.parse(JSON.stringify(storedRolloutsLine(record, { file: 'rollouts.tokens.bin', offset: 100, length: block.length }))) as Record<string, unknown>;
    assert.strictEqual(JSON.stringify(line).slice(0, 10), '{"step":4,');
    assert.ok(!JSON.stringify(line).includes('"tokens"'));
    const resolved = resolveTokenBlock(line, (ref) => (ref.offset === 100 ? block : undefined));
    assert.deepStrictEqual(resolved, JSON.parse(JSON.stringify(roundRolloutsRecord(record))));
    const inline = JSON.parse(JSON.stringify(roundRolloutsRecord(record))) as unknown;
    assert.strictEqual(resolveTokenBlock(inline, () => assert.fail('an inline line reads no block')), inline);
    assert.throws(() => resolveTokenBlock(line, () => undefined), /rollouts.tokens.bin at byte 100: the token block is missing/);
    assert.throws(() => resolveTokenBlock({ ...line, token_block: { file: '../x', offset: 0, length: 1 } }, () => block), /a file name of the run directory/);
    assert.throws(() => resolveTokenBlock({ ...line, step: 5 }, () => block), /expected step 5/);
  });

  it('tokenBlockOptions: kl recomputable at token level with a sampled estimator only', () => {
    const base = { name: 'w', task: { type: 'bandit' } };
    assert.deepStrictEqual(tokenBlockOptions(validateRunConfig(base)), { kl: { estimator: 'k3', log_ratio_clamp: 20, value_clamp: 10 } });
    assert.deepStrictEqual(tokenBlockOptions(validateRunConfig({ ...base, algorithm: { kl_estimator: 'full' } })), {});
    assert.deepStrictEqual(tokenBlockOptions(validateRunConfig({ ...base, algorithm: { importance_sampling_level: 'sequence' } })), {});
    assert.deepStrictEqual(tokenBlockOptions(undefined), {});
  });

  it('scripts/read_token_blocks.py (numpy + the standard library) reads a step as this reader does', function () {
    const probe = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
    if (probe.status !== 0) this.skip(); // no python3 with numpy here: nothing to compare against
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-py-'));
    try {
      const next = random(9);
      const record: RolloutsRecord = { step: 2, groups: [{ prompt: 'p', rollouts: [0, 1, 2].map((r) => ({ completion: 'c', reward: r, rewards: {}, advantage: 0, finish_reason: 'stop' as const, tokens: trainerRow(next, 30 + r) })) }] };
      const block = encodeTokenBlock(2, tokenRows(record), K3);
      fs.writeFileSync(path.join(dir, 'rollouts.tokens.bin'), Buffer.concat([Buffer.from('orphan bytes of a crashed write'), block]));
      fs.writeFileSync(path.join(dir, 'rollouts.jsonl'), JSON.stringify(storedRolloutsLine(record, { file: 'rollouts.tokens.bin', offset: 31, length: block.length })) + '\n');
      const script = path.resolve(__dirname, '../../../scripts');
      const run = spawnSync('python3', ['-c', `import sys, json; sys.path.insert(0, ${JSON.stringify(script)}); from read_token_blocks import read_step; print(json.dumps(read_step(sys.argv[1], 2)))`, dir], { encoding: 'utf8' });
      assert.strictEqual(run.status, 0, run.stderr);
      const python = JSON.parse(run.stdout) as RolloutsRecord;
      const ours = decodeTokenBlock(block);
      python.groups[0].rollouts.forEach((r, i) => {
        for (const [key, values] of Object.entries(r.tokens)) {
          const expected = ours[i][key as keyof TokenColumns] as unknown[];
          (values as unknown[]).forEach((v, t) => {
            if (typeof v !== 'number') return assert.deepStrictEqual(v, expected[t], `${key}[${t}]`);
            const e = expected[t] as number;
            // Python gives the stored values; a record shows them to 6 significant digits.
            assert.ok(Math.abs(Number(v.toPrecision(6)) - e) <= 1e-6 * Math.max(1, Math.abs(e)), `rollout ${i} ${key}[${t}]: python ${v}, here ${e}`);
          });
        }
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
