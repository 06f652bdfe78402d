import { loraSummary } from '../../../webview/runSummary';
import * as assert from 'assert';
import type { StepRollouts, TokenColumns } from '../../../src/protocol';
import { nearest, visibleRange } from '../../../webview/ranges';
import { DEFAULT_FILTER, visibleGroups } from '../../../webview/rolloutFilter';
import { DecimatorCursor, Extent, formatElapsed, MinMaxDecimator, smooth, toCsv } from '../../../webview/series';
import { robustRange, robustRangeOfSorted, SortedValues } from '../../../webview/ranges';
import { displayToken, domainOf, tokenColor, tokenValue, TokenPalette } from '../../../webview/tokenColors';

const PALETTE: TokenPalette = { positive: [0, 200, 0], negative: [200, 0, 0], high: [0, 0, 200] };

describe('webview helpers (pure)', () => {
  it('EMA smoothing is debiased (a constant stays constant) and passes non-finite values through', () => {
    assert.deepStrictEqual(smooth([2, 2, 2], 0.9).map((v) => Number(v.toFixed(12))), [2, 2, 2]);
    const s = smooth([0, 1, NaN, 1], 0.5);
    assert.strictEqual(s[0], 0);
    assert.ok(Math.abs(s[1] - 2 / 3) < 1e-12);
    assert.ok(Number.isNaN(s[2]));
    assert.ok(Math.abs(s[3] - 6 / 7) < 1e-12);
    assert.deepStrictEqual(smooth([1, 5], 0), [1, 5]);
  });

  it('formats elapsed time and quotes CSV fields', () => {
    assert.strictEqual(formatElapsed(75), '1:15');
    assert.strictEqual(formatElapsed(3725), '1:02:05');
    assert.strictEqual(toCsv(['a', 'b'], [['x,y', 1], ['"q"', undefined]]), 'a,b\n"x,y",1\n"""q""",\n');
  });

  it('visible ranges and nearest steps', () => {
    assert.deepStrictEqual(visibleRange(0, 500, 100, 1000, 2), [0, 7]);
    assert.deepStrictEqual(visibleRange(1000, 300, 100, 12, 1), [9, 12]);
    assert.deepStrictEqual(visibleRange(0, 500, 100, 0, 2), [0, 0]);
    assert.strictEqual(nearest([2, 4, 8], 5), 4);
    assert.strictEqual(nearest([2, 4, 8], 7), 8);
    assert.strictEqual(nearest([2, 4, 8], 100), 8);
    assert.strictEqual(nearest([], 1), undefined);
  });

  it('token colours: sign picks the hue, |value| the alpha; sequential scales darken the unusual end', () => {
    const tokens: TokenColumns = { text: ['a', 'b', 'c'], logprob: [-0.1, -2, -4], advantage: [1, -0.5, 0], ratio: [1, 2, 0.5], clipped_low: [false, false, true], clipped_high: [false, true, false] };
    const domain = domainOf([tokens], 'advantage');
    assert.deepStrictEqual(domain, { min: -0.5, max: 1, low: -0.5, high: 1 });
    assert.strictEqual(tokenColor('advantage', tokenValue(tokens, 'advantage', 0), domain, PALETTE), 'rgba(0, 200, 0, 0.8)');
    assert.strictEqual(tokenColor('advantage', tokenValue(tokens, 'advantage', 1), domain, PALETTE), 'rgba(200, 0, 0, 0.44)');
    assert.strictEqual(tokenColor('advantage', 0, domain, PALETTE), '');
    const lp = domainOf([tokens], 'logprob');
    assert.strictEqual(tokenColor('logprob', -4, lp, PALETTE), 'rgba(0, 0, 200, 0.8)');
    assert.strictEqual(tokenColor('logprob', -0.1, lp, PALETTE), '');
    assert.strictEqual(tokenValue(tokens, 'ratio', 1), Math.log(2));
    assert.deepStrictEqual([0, 1, 2].map((i) => tokenValue(tokens, 'clipped', i)), [0, 1, -1]);
    assert.strictEqual(tokenValue(tokens, 'kl', 0), undefined);
    assert.strictEqual(tokenColor('kl', undefined, undefined, PALETTE), '');
  });

  it('whitespace and special tokens are made visible', () => {
    assert.deepStrictEqual(displayToken(' a\tb\n'), { shown: '·a→b↵', special: false, lineBreak: true });
    assert.strictEqual(displayToken('<|im_end|>').special, true);
    assert.strictEqual(displayToken('<script>').special, false);
    assert.strictEqual(displayToken('').shown, '∅');
  });

  it('filters rollouts and sorts groups', () => {
    const rollout = (reward: number, completion: string, finish: 'stop' | 'length' = 'stop') => ({ completion, reward, rewards: {}, advantage: 0, finish_reason: finish, length: 1, tokensRecorded: true });
    const record: Pick<StepRollouts, 'groups'> = {
      groups: [
        { prompt: 'first', rollouts: [rollout(0, 'x'), rollout(1, 'needle', 'length')] },
        { prompt: 'second', rollouts: [rollout(1, 'y'), rollout(1, 'z')] },
      ],
    };
    assert.deepStrictEqual(visibleGroups(record, DEFAULT_FILTER, 'reward-desc').map((g) => g.index), [1, 0]);
    assert.deepStrictEqual(visibleGroups(record, { ...DEFAULT_FILTER, search: 'NEEDLE' }, 'index').map((g) => [g.index, g.rollouts]), [[0, [1]]]);
    assert.deepStrictEqual(visibleGroups(record, { ...DEFAULT_FILTER, search: 'second' }, 'index').map((g) => g.rollouts), [[0, 1]]);
    assert.deepStrictEqual(visibleGroups(record, { ...DEFAULT_FILTER, tied: 'only' }, 'index').map((g) => g.index), [1]);
    assert.deepStrictEqual(visibleGroups(record, { ...DEFAULT_FILTER, truncatedOnly: true }, 'index').map((g) => g.rollouts), [[1]]);
    assert.deepStrictEqual(visibleGroups(record, { ...DEFAULT_FILTER, maxReward: 0.5 }, 'index').map((g) => [g.index, g.rollouts]), [[0, [0]]]);
  });

  it('group statistics are the trainer\'s: its std estimator, failed (null) rewards left out, one completion never tied', () => {
    const rollout = (reward: number | null) => ({ completion: 'c', reward, rewards: { f: reward }, advantage: 0, finish_reason: 'stop' as const, length: 1, tokensRecorded: true });
    const record: Pick<StepRollouts, 'groups'> = {
      groups: [
        { prompt: 'a', rollouts: [rollout(1), rollout(0), rollout(0), rollout(0)] },
        { prompt: 'b', rollouts: [rollout(1)] },
        { prompt: 'c', rollouts: [rollout(null), rollout(0.5), rollout(0.5)] },
        { prompt: 'd', rollouts: [rollout(null), rollout(null)] },
      ],
    };
    const [a, b, c, d] = visibleGroups(record, DEFAULT_FILTER, 'index', 'unbiased');
    // [1, 0, 0, 0]: mean 1/4; Σ(r − mean)² = 3/4, over n − 1 = 3 → std 0.5 (the advantages' denominator), 0.433 over n.
    assert.strictEqual(a.meanReward, 0.25);
    assert.strictEqual(a.stdReward, 0.5);
    assert.strictEqual(visibleGroups(record, DEFAULT_FILTER, 'index', 'population')[0].stdReward, Math.sqrt(0.1875));
    assert.ok(!b.tied && Number.isNaN(b.stdReward), 'a single completion: not tied, no unbiased std');
    assert.deepStrictEqual([c.meanReward, c.stdReward, c.tied], [0.5, 0, true]);
    assert.ok(Number.isNaN(d.meanReward) && d.tied);
    // Sorting puts groups without a number last in both directions; reward bounds drop failed completions.
    assert.deepStrictEqual(visibleGroups(record, DEFAULT_FILTER, 'reward-desc').map((g) => g.index), [1, 2, 0, 3]);
    assert.deepStrictEqual(visibleGroups(record, DEFAULT_FILTER, 'reward-asc').map((g) => g.index), [0, 2, 1, 3]);
    assert.deepStrictEqual(visibleGroups(record, { ...DEFAULT_FILTER, minReward: 0 }, 'index').map((g) => [g.index, g.rollouts]), [[0, [0, 1, 2, 3]], [1, [0]], [2, [1, 2]]]);
  });
});

describe('incremental min-max decimation', () => {
  const series = (n: number) => Array.from({ length: n }, (_, i) => ({ x: i, y: Math.sin(i / 7) * (i % 97 === 0 ? 10 : 1) }));

  it('keeps every point while they fit, then at most 4 per bucket, in x order', () => {
    const small = new MinMaxDecimator<{ x: number; y: number }>(50);
    series(40).forEach((p) => small.add(p));
    assert.deepStrictEqual(small.points(), series(40));
    const big = new MinMaxDecimator<{ x: number; y: number }>(50);
    const all = series(10007);
    all.forEach((p) => big.add(p));
    const shown = big.points();
    assert.ok(shown.length <= 4 * 51, `${shown.length} points`);
    assert.deepStrictEqual(shown.map((p) => p.x), [...shown.map((p) => p.x)].sort((a, b) => a - b));
    assert.strictEqual(shown[0], all[0]);
    assert.strictEqual(shown.at(-1), all.at(-1));
  });

  it('keeps the extremes of every bucket: a lone spike survives, wherever it falls', () => {
    for (const at of [0, 1, 777, 4095, 4096, 4999]) {
      const decimator = new MinMaxDecimator<{ x: number; y: number }>(64);
      const all = Array.from({ length: 5000 }, (_, i) => ({ x: i, y: i === at ? 100 : i === 4999 - at ? -100 : Math.sin(i) }));
      all.forEach((p) => decimator.add(p));
      const shown = decimator.points();
      assert.ok(shown.includes(all[at]) && shown.includes(all[4999 - at]), `spikes at ${at} and ${4999 - at}`);
    }
  });
});

describe('live chart updates from what changed (agree with recomputing from every drawn point)', () => {
  type P = { x: number; y: number; value: number };
  let state = 11;
  const random = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  // Noise with rare spikes (robust ranges clip them), a drift, NaN now and then (a log axis's non-positive values).
  const pointAt = (i: number): P => {
    const value = i / 500 + random() + (random() < 0.01 ? 50 : 0);
    return { x: i, y: random() < 0.02 ? NaN : value, value };
  };

  it('a cursor\'s changes rebuild the drawn points, their sorted values, extents and robust range, through merges', () => {
    for (const maxBuckets of [8, 64, 500]) {
      const decimator = new MinMaxDecimator<P>(maxBuckets);
      const cursor = new DecimatorCursor(decimator);
      let drawn: P[] = [];
      const values = new SortedValues();
      let settled = new Extent();
      let replacedSeen = 0;
      let i = 0;
      for (let look = 0; look < 400; look++) {
        // One point a frame mostly; sometimes several arrive between two draws.
        const arriving = look % 50 === 0 ? 37 : 1;
        for (let k = 0; k < arriving; k++) decimator.add(pointAt(i++));
        const change = cursor.next();
        if (change.replaced) {
          replacedSeen += 1;
          drawn = change.added.slice();
          values.reset(drawn.map((p) => p.y));
          settled = Extent.of(change.settledAdded);
        } else {
          assert.deepStrictEqual(drawn.slice(change.start), change.removed, 'removed: the points after the settled ones seen');
          drawn.splice(change.start, change.removed.length, ...change.added);
          change.removed.forEach((p) => assert.ok(values.remove(p.y) || Number.isNaN(p.y)));
          change.added.forEach((p) => values.add(p.y));
          settled.addAll(change.settledAdded);
        }
        const points = decimator.points();
        assert.deepStrictEqual(drawn, points, `points after look ${look} (${maxBuckets} buckets)`);
        const ys = points.map((p) => p.y).filter(Number.isFinite);
        assert.deepStrictEqual(values.sorted, [...ys].sort((a, b) => a - b));
        assert.deepStrictEqual(robustRangeOfSorted(values.sorted), robustRange(points.map((p) => p.y)));
        assert.deepStrictEqual(robustRangeOfSorted(values.sorted, [0, 3]), robustRange(points.map((p) => p.y), [0, 3]));
        const extent = Extent.of(decimator.tail).merge(settled);
        assert.deepStrictEqual([extent.minY, extent.maxY, extent.minValue, extent.maxValue, extent.count], [Math.min(...ys), Math.max(...ys), Math.min(...points.map((p) => p.value)), Math.max(...points.map((p) => p.value)), points.length]);
      }
      // The first look, and one per merge once the buckets outgrow the maximum.
      assert.ok(replacedSeen > (maxBuckets < 500 ? 2 : 0), `${replacedSeen} replacements with ${maxBuckets} buckets`);
    }
  });

  it('robust ranges of a few clipped outliers agree, sorted once or kept sorted', () => {
    const values = new SortedValues();
    const all: number[] = [];
    for (let i = 0; i < 300; i++) {
      const v = i === 100 ? 1e6 : i === 200 ? -1e6 : Math.round(random() * 20) / 4;
      all.push(v);
      values.add(v);
    }
    values.add(NaN);
    assert.strictEqual(values.sorted.length, 300, 'NaN is not kept');
    assert.strictEqual(values.remove(123.456), false);
    const range = robustRangeOfSorted(values.sorted);
    assert.ok(range?.clipped && range.max < 10 && range.min > -1, JSON.stringify(range));
    assert.deepStrictEqual(range, robustRange(all));
  });
});

describe('loraSummary (dashboard header)', () => {
  it('says full fine-tuning runs nothing, and a LoRA run\'s rank, alpha and targets with PEFT\'s defaults', () => {
    assert.strictEqual(loraSummary(undefined), undefined);
    assert.strictEqual(loraSummary({ r: 16, lora_alpha: 32, target_modules: 'all-linear' }), 'LoRA r 16 · α 32 · all-linear');
    assert.strictEqual(loraSummary({ target_modules: ['q_proj', 'v_proj'] }), 'LoRA r 8 · α 8 · q_proj, v_proj');
    assert.strictEqual(loraSummary({}), 'LoRA r 8 · α 8 · default targets');
    assert.strictEqual(loraSummary({ adapter_path: '/runs/a/checkpoints/step-40/policy' }), 'LoRA from policy');
  });
});
