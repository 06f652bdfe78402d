import * as assert from 'assert';
import { generate, loadPolicy, Policy, Random } from '../../../src/model';
import { chooseToken } from '../../../src/model/sampling';
import { sequenceLogits, useWasm, writeCheckpoint } from './helpers';

describe('sampling', () => {
  let policy: Policy;
  const prompts = [[10, 20, 30], [40, 50], [60, 70, 80, 90]];

  before(async () => {
    await useWasm();
    policy = loadPolicy(writeCheckpoint('qwen2', 21));
  });
  after(() => policy.dispose());

  function argmax(row: number[]): number {
    return row.reduce((best, x, i) => (x > row[best] ? i : best), 0);
  }

  it('temperature 0 picks the argmax of the full-forward logits at every step', async () => {
    const out = await generate(policy, prompts, { maxNewTokens: 6, temperature: 0, stopTokenIds: [] });
    prompts.forEach((prompt, b) => {
      const logits = sequenceLogits(policy, [[...prompt, ...out.tokens[b]]])[0];
      out.tokens[b].forEach((token, j) => assert.strictEqual(token, argmax(logits[prompt.length - 1 + j])));
      assert.strictEqual(out.finishReasons[b], 'length');
      assert.strictEqual(out.tokens[b].length, 6);
    });
  });

  it('top-k 1 equals greedy, whatever the temperature and seed', async () => {
    const greedy = await generate(policy, prompts, { maxNewTokens: 6, temperature: 0, stopTokenIds: [] });
    const topK = await generate(policy, prompts, { maxNewTokens: 6, temperature: 1.5, topK: 1, seed: 99, stopTokenIds: [] });
    assert.deepStrictEqual(topK.tokens, greedy.tokens);
  });

  it('same seed → same samples and log-probs; another seed → different samples', async () => {
    const opts = { maxNewTokens: 8, temperature: 1.5, topP: 0.95, stopTokenIds: [] };
    const a = await generate(policy, prompts, { ...opts, seed: 5 });
    const b = await generate(policy, prompts, { ...opts, seed: 5 });
    const c = await generate(policy, prompts, { ...opts, seed: 6 });
    assert.deepStrictEqual(a, b);
    assert.notDeepStrictEqual(a.tokens, c.tokens);
  });

  it('the KV cache and re-running the prefix sample the same tokens', async () => {
    const opts = { maxNewTokens: 8, temperature: 1, seed: 3, stopTokenIds: [] };
    const cached = await generate(policy, prompts, opts);
    const uncached = await generate(policy, prompts, { ...opts, noCache: true });
    assert.deepStrictEqual(cached.tokens, uncached.tokens);
    cached.logProbs.flat().forEach((x, i) => assert.ok(Math.abs(x - uncached.logProbs.flat()[i]) < 1e-4));
  });

  it('a stop token ends its row only: kept in the output, finish reason "stop"', async () => {
    const greedy = await generate(policy, prompts, { maxNewTokens: 6, temperature: 0, stopTokenIds: [] });
    // Make row 1's third greedy token a stop token: row 1 ends there, the others go on unless they meet it too.
    const stop = greedy.tokens[1][2];
    const out = await generate(policy, prompts, { maxNewTokens: 6, temperature: 0, stopTokenIds: [stop] });
    out.tokens.forEach((row, b) => {
      const first = greedy.tokens[b].indexOf(stop);
      const expected = first === -1 ? greedy.tokens[b] : greedy.tokens[b].slice(0, first + 1);
      assert.deepStrictEqual(row, expected);
      assert.strictEqual(out.finishReasons[b], first === -1 ? 'length' : 'stop');
    });
    assert.strictEqual(out.finishReasons[1], 'stop');
  });

  it('stop strings end a row once the decoded completion contains them', async () => {
    const greedy = await generate(policy, [prompts[0]], { maxNewTokens: 6, temperature: 0, stopTokenIds: [] });
    const text = policy.tokenizer.decode(greedy.tokens[0].slice(0, 3));
    const out = await generate(policy, [prompts[0]], { maxNewTokens: 6, temperature: 0, stopTokenIds: [], stopStrings: [text] });
    assert.ok(out.tokens[0].length <= 3);
    assert.strictEqual(out.finishReasons[0], 'stop');
  });

  it('draws the token and log-prob of the textbook procedure, bit for bit (temperature, top-k, top-p, ties)', () => {
    // softmax(logits / T) in float64, the k most likely by probability then id, cut where their mass reaches top-p,
    // then NumPy's choice: cdf = cumsum / total, the first index with cdf > u.
    const reference = (logits: Float32Array, T: number, topK: number, topP: number, u: number) => {
      const scaled = Array.from(logits, (x) => x / T);
      const max = Math.max(...scaled);
      const e = scaled.map((x) => Math.exp(x - max));
      const sum = e.reduce((a, b) => a + b, 0);
      const p = e.map((x) => x / sum);
      const order = p.map((_, i) => i).sort((a, b) => p[b] - p[a] || a - b);
      const kept = new Array<number>(p.length).fill(0);
      let mass = 0;
      for (let r = 0; r < (topK > 0 ? topK : p.length); r++) {
        kept[order[r]] = p[order[r]];
        mass += p[order[r]];
        if (mass >= topP) break;
      }
      const total = kept.reduce((a, b) => a + b, 0);
      let running = 0;
      const token = kept.findIndex((q) => (running += q) / total > u);
      return { token, logProb: Math.log(p[token]) };
    };
    const values = new Random(31);
    for (let n = 0; n < 400; n++) {
      const vocab = 2 + values.int(300);
      // Logits in steps of 0.5: many ties, at the cut too.
      const logits = Float32Array.from({ length: vocab }, () => Math.round(6 * values.normal()) / 2);
      const [T, topK, topP] = [[1, 0.7, 1.3][n % 3], [0, 1, 5, 50][n % 4], [1, 0.9, 0.5, 0.95][(n >> 2) % 4]];
      const draws = new Random(n);
      const got = chooseToken(logits, { maxNewTokens: 1, temperature: T, topK, topP }, new Random(n));
      const want = reference(logits, T, topK, topP, draws.random());
      assert.deepStrictEqual(got, want, `row ${n}: T ${T}, top-k ${topK}, top-p ${topP}`);
    }
  });

  it('top-p keeps the nucleus only, renormalised; top-k the k most likely (large vocabulary too)', () => {
    for (const vocab of [32, 150000]) {
      const logits = new Float32Array(vocab).fill(-30);
      [0.5, 0.3, 0.15, 0.05].forEach((p, i) => (logits[i * 7] = Math.log(p)));
      const rng = new Random(9);
      const counts = new Map<number, number>();
      const draws = vocab > 1000 ? 300 : 4000;
      for (let n = 0; n < draws; n++) {
        const { token } = chooseToken(logits, { maxNewTokens: 1, topP: 0.7 }, rng);
        counts.set(token, (counts.get(token) ?? 0) + 1);
      }
      assert.deepStrictEqual([...counts.keys()].sort((a, b) => a - b), [0, 7]);
      assert.ok(Math.abs(counts.get(0)! / draws - 0.5 / 0.8) < 0.08);
      for (let n = 0; n < 50; n++) assert.ok([0, 7, 14].includes(chooseToken(logits, { maxNewTokens: 1, topK: 3 }, rng).token));
    }
  });

  it('on a flat distribution (an untrained model, 150 k tokens) top-p and top-k keep the lowest ids among the ties', () => {
    const vocab = 150000;
    const logits = new Float32Array(vocab);
    // Two levels: 1,000 tokens twice as likely as the rest, so the nucleus cut falls among the ties of the lower level.
    for (let i = 0; i < 1000; i++) logits[i * 150] = Math.log(2);
    // Reference: walk all tokens by descending probability, ties by id, until the mass reaches top-p.
    const z = vocab + 1000;
    const order = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a] || a - b);
    const nucleus = new Set<number>();
    let mass = 0;
    for (const id of order) {
      nucleus.add(id);
      mass += Math.exp(logits[id]) / z;
      if (mass >= 0.5) break;
    }
    const lastLow = Math.max(...[...nucleus].filter((id) => id % 150 !== 0));
    const rng = new Random(10);
    let highestLow = 0;
    for (let n = 0; n < 120; n++) {
      const { token } = chooseToken(logits, { maxNewTokens: 1, topP: 0.5 }, rng);
      assert.ok(nucleus.has(token), `token ${token} is outside the nucleus`);
      if (token % 150 !== 0) highestLow = Math.max(highestLow, token);
    }
    assert.ok(highestLow > lastLow * 0.9, `draws reach the end of the nucleus (${highestLow} of ${lastLow})`);
    for (let n = 0; n < 50; n++) assert.ok(chooseToken(new Float32Array(vocab), { maxNewTokens: 1, topK: 5 }, rng).token < 5);
  });

  it('log-probs of sampled tokens are those of the sampling temperature', async () => {
    const out = await generate(policy, [prompts[0]], { maxNewTokens: 4, temperature: 0.8, seed: 1, stopTokenIds: [] });
    const logits = sequenceLogits(policy, [[...prompts[0], ...out.tokens[0]]])[0];
    out.tokens[0].forEach((token, j) => {
      const row = logits[prompts[0].length - 1 + j].map((x) => x / 0.8);
      const max = Math.max(...row);
      const logZ = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
      assert.ok(Math.abs(out.logProbs[0][j] - (row[token] - logZ)) < 1e-4);
    });
  });
});

describe('sampling in row chunks (maxRows)', () => {
  let policy: Policy;
  // Seven rows of different lengths: each chunk keeps the padding of the whole batch.
  const prompts = [3, 9, 100, 1, 7, 110, 5].map((n, b) => Array.from({ length: n }, (_, t) => 3 + ((t * 5 + b * 11) % 90)));

  before(async () => {
    await useWasm();
    policy = loadPolicy(writeCheckpoint('llama', 4));
  });
  after(() => policy.dispose());

  for (const maxRows of [1, 3]) {
    it(`${maxRows} row(s) per forward: the same tokens, log-probs and finish reasons as all rows at once, bit for bit`, async () => {
      const options = { maxNewTokens: 12, temperature: 1, topK: 20, seed: 9, stopTokenIds: [4] };
      const whole = await generate(policy, prompts, options);
      const split = await generate(policy, prompts, { ...options, maxRows });
      assert.deepStrictEqual(split, whole);
    });
  }

  it('a row count below 1 is refused', async () => {
    await assert.rejects(generate(policy, prompts, { maxNewTokens: 2, maxRows: 0 }), /rows per forward pass must be at least 1, got 0/);
  });
});
