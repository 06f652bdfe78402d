/**
 * A step's colour domains (stepDomains / domainOf) are selected in linear time, not sorted for: property tests
 * against the definition over sorted values (the code before, kept here as the reference), on values with ties,
 * outliers, stored NaNs and missing columns, and the inputs that make naive selection quadratic.
 */
import * as assert from 'assert';
import * as fc from 'fast-check';
import type { TokenColumns, TokenDomain, TokenQuantity } from '../../../src/protocol';
import { domainOf, orderStatistics, stepDomains, TOKEN_QUANTITIES, tokenValue } from '../../../src/protocol/tokenQuantities';

/** The domain as defined: every finite value sorted, quartiles and tails read off by index. */
function referenceDomain(completions: readonly TokenColumns[], quantity: TokenQuantity): TokenDomain | undefined {
  const values: number[] = [];
  for (const tokens of completions) {
    for (let i = 0; i < tokens.text.length; i++) {
      const v = tokenValue(tokens, quantity, i);
      if (v !== undefined && Number.isFinite(v)) values.push(v);
    }
  }
  if (values.length === 0) return undefined;
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  const at = (q: number) => sorted[Math.round(q * (n - 1))];
  const [q1, q3] = [at(0.25), at(0.75)];
  const spread = 3 * (q3 - q1);
  let top = n - 1;
  while (sorted[top] > q3 + spread) top--;
  let bottom = 0;
  while (sorted[bottom] < q1 - spread) bottom++;
  return {
    min: sorted[0],
    max: sorted[n - 1],
    low: Math.min(sorted[bottom], sorted[Math.ceil(0.01 * (n - 1))]),
    high: Math.max(sorted[top], sorted[Math.floor(0.99 * (n - 1))]),
  };
}

/** -0 and 0 compare equal in the scale; deepStrictEqual would tell them apart. */
const plain = (d: TokenDomain | undefined) => d && { min: d.min + 0, max: d.max + 0, low: d.low + 0, high: d.high + 0 };

/** Values as trainers store them: few distinct ones (ties), a spread, rare outliers, NaN stored as null. */
const value = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(0, 1, -1, 0.5) },
  { weight: 6, arbitrary: fc.double({ min: -5, max: 5, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(1e6, -1e6, 9.46, Number.MAX_VALUE, -Number.MAX_VALUE) },
  { weight: 1, arbitrary: fc.constant(null as unknown as number) },
);

const completion: fc.Arbitrary<TokenColumns> = fc.nat({ max: 60 }).chain((length) => {
  const column = fc.array(value, { minLength: length, maxLength: length });
  const flags = fc.array(fc.boolean(), { minLength: length, maxLength: length });
  return fc.record(
    {
      text: fc.constant(Array.from({ length }, () => 't')),
      logprob: column,
      old_logprob: column,
      // Ratios: positive mostly, a 0 (log −∞) or a negative one (log NaN) now and then.
      ratio: fc.array(fc.oneof(fc.double({ min: 0.5, max: 2, noNaN: true }), fc.constantFrom(0, -1, 1)), { minLength: length, maxLength: length }),
      clipped_low: flags,
      clipped_high: flags,
      // A column shorter than the text: the missing entries are no values.
      kl: fc.array(value, { maxLength: length }),
      entropy: column,
    },
    { requiredKeys: ['text', 'logprob'] },
  );
});

describe('step colour domains (selection, not sorting)', () => {
  it('every quantity of random completions: the same domain as sorting every value', () => {
    fc.assert(
      fc.property(fc.array(completion, { maxLength: 8 }), (completions) => {
        for (const quantity of TOKEN_QUANTITIES) {
          assert.deepStrictEqual(plain(domainOf(completions, quantity)), plain(referenceDomain(completions, quantity)), quantity);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('order statistics of large inputs that make naive selection quadratic: equal, sorted, reversed, organ-pipe', () => {
    const n = 200_000;
    const shapes: Record<string, (i: number) => number> = {
      equal: () => 0,
      sorted: (i) => i,
      reversed: (i) => n - i,
      'organ pipe': (i) => Math.min(i, n - i),
      'two values': (i) => i % 2,
    };
    for (const [name, shape] of Object.entries(shapes)) {
      const values = Float64Array.from({ length: n }, (_, i) => shape(i));
      const sorted = Float64Array.from(values).sort();
      const ranks = [0, 1999, 50_000, 150_000, 197_999, n - 1];
      const started = Date.now();
      const found = orderStatistics(values, ranks);
      // Linear time is a few ms here; quadratic would be minutes. The bound leaves room for a loaded machine.
      assert.ok(Date.now() - started < 5000, `${name}: ${Date.now() - started} ms`);
      for (const k of ranks) assert.strictEqual(found.get(k), sorted[k], `${name}: rank ${k}`);
    }
    assert.throws(() => orderStatistics(new Float64Array(3), [3]), /rank 3 of 3 values/);
  });

  it("a step's domains: every quantity present, none for one no completion has", () => {
    const tokens: TokenColumns = { text: ['a', 'b', 'c'], logprob: [-1, -2, -3], kl: [0.1, 0.2, 9.46] };
    const domains = stepDomains([{ prompt: 'p', rollouts: [{ completion: 'abc', reward: 1, rewards: {}, advantage: 0, finish_reason: 'stop', tokens }] }]);
    assert.deepStrictEqual(Object.keys(domains).sort(), ['kl', 'logprob']);
    assert.deepStrictEqual(domains.logprob, referenceDomain([tokens], 'logprob'));
    assert.deepStrictEqual(domains.kl, referenceDomain([tokens], 'kl'));
  });

  it('a value exactly on a fence (3 interquartile ranges out) is inside the scale; one beyond it saturates', () => {
    // Quartiles 0 and 1: the fences are at −3 and 4.
    const values = [...Array.from({ length: 100 }, () => 0), ...Array.from({ length: 98 }, () => 1), -3, 4];
    const onFence = domainOf([{ text: values.map(() => 't'), logprob: values }], 'logprob');
    assert.deepStrictEqual(onFence, { min: -3, max: 4, low: -3, high: 4 });
    const beyond = values.map((v) => (v === 4 ? 4.5 : v === -3 ? -3.5 : v));
    assert.deepStrictEqual(domainOf([{ text: beyond.map(() => 't'), logprob: beyond }], 'logprob'), { min: -3.5, max: 4.5, low: 0, high: 1 });
  });
});
