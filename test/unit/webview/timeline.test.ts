import * as assert from 'assert';
import type { PromptOccurrence, RolloutSummary } from '../../../src/protocol';
import { layoutRows, mergeDomains, rowAt, stepAggregates, stepsToFetch, visibleColumns, visibleRows } from '../../../webview/timelineLayout';
import { diffCounts, diffTokens } from '../../../webview/tokenDiff';

const metrics = { rowHeight: 10, stepGap: 4 };

function summary(reward: number | null, advantage: number, length: number): RolloutSummary {
  return { completion: '', reward, rewards: {}, advantage, finish_reason: 'stop', length, tokensRecorded: true };
}

function occurrence(step: number, rollouts: RolloutSummary[], domains?: PromptOccurrence['domains']): PromptOccurrence {
  return { source: 'train', step, group: 0, rollouts, domains };
}

/** Applies a diff to `a` and checks it yields `b`, and that "same" pairs hold equal tokens. */
function replay(a: string[], b: string[]): string[] {
  const ops = diffTokens(a, b);
  const out: string[] = [];
  for (const op of ops) {
    if (op.kind === 'same') {
      assert.strictEqual(a[op.a], b[op.b]);
      out.push(a[op.a]);
    } else if (op.kind === 'added') out.push(b[op.b]);
  }
  assert.deepStrictEqual(out, b);
  assert.deepStrictEqual(ops.filter((o) => o.kind !== 'added').map((o) => (o as { a: number }).a), a.map((_, i) => i), 'every token of a, in order');
  return out;
}

describe('prompt × step view helpers (pure)', () => {
  const occurrences = [occurrence(2, [summary(1, 0.5, 3), summary(0, -0.5, 7)]), occurrence(4, [summary(null, 0, 2)]), occurrence(9, [summary(0.5, 1, 4), summary(0.25, -1, 1), summary(1, 0, 5)])];

  it('lays out one row per completion, grouped by step with a gap between steps; columns = the longest completion', () => {
    const layout = layoutRows(occurrences, metrics);
    assert.deepStrictEqual(layout.rows.map((r) => [r.step, r.rollout, r.top, r.firstOfStep]), [
      [2, 0, 0, true],
      [2, 1, 10, false],
      [4, 0, 24, true],
      [9, 0, 38, true],
      [9, 1, 48, false],
      [9, 2, 58, false],
    ]);
    assert.strictEqual(layout.height, 68);
    assert.strictEqual(layout.columns, 7);
  });

  it('finds the rows and columns in a viewport, and the row under a point (none in a gap)', () => {
    const layout = layoutRows(occurrences, metrics);
    assert.deepStrictEqual(visibleRows(layout, 10, 0, 15), { first: 0, end: 2 });
    assert.deepStrictEqual(visibleRows(layout, 10, 25, 20), { first: 2, end: 4 });
    assert.deepStrictEqual(visibleRows(layout, 10, 60, 100), { first: 5, end: 6 });
    assert.deepStrictEqual(visibleRows(layout, 10, 1000, 100), { first: 6, end: 6 });
    assert.strictEqual(rowAt(layout, 10, 12), 1);
    assert.strictEqual(rowAt(layout, 10, 21), undefined, 'the gap before step 4');
    assert.strictEqual(rowAt(layout, 10, 68), undefined, 'past the end');
    assert.deepStrictEqual(visibleColumns(30, 64, 0, 200), { first: 0, end: 4 });
    assert.deepStrictEqual(visibleColumns(30, 64, 640, 200), { first: 10, end: 14 });
    assert.deepStrictEqual(visibleColumns(12, 64, 640, 200), { first: 10, end: 12 });
  });

  it('aggregates each step: mean of the scored rewards and their std within the sampling (not the mean advantage, 0 by construction)', () => {
    const aggregates = stepAggregates(occurrences);
    assert.deepStrictEqual(aggregates.map((a) => [a.step, a.completions]), [[2, 2], [4, 1], [9, 3]]);
    assert.strictEqual(aggregates[0].meanReward, 0.5);
    assert.ok(Number.isNaN(aggregates[1].meanReward), 'a step whose only reward failed has no mean');
    assert.strictEqual(aggregates[2].meanReward, 1.75 / 3);
    // Unbiased by default (torch.std, TRL's reward_std): rewards 1 and 0 → √0.5.
    assert.ok(Math.abs(aggregates[0].rewardStd - Math.SQRT1_2) < 1e-12, String(aggregates[0].rewardStd));
    assert.ok(Number.isNaN(aggregates[1].rewardStd), 'no spread without two scored rewards');
    const mean = 1.75 / 3;
    const squares = [0.5, 0.25, 1].reduce((a, r) => a + (r - mean) ** 2, 0);
    assert.ok(Math.abs(aggregates[2].rewardStd - Math.sqrt(squares / 2)) < 1e-12);
    // The run's own estimator: population (n) where its config says so.
    assert.strictEqual(stepAggregates(occurrences, 'population')[0].rewardStd, 0.5);
  });

  it('merges the samplings\' colour domains into one scale per quantity', () => {
    const merged = mergeDomains([
      occurrence(1, [], { advantage: { min: -1, max: 0.5, low: -1, high: 0.5 }, kl: { min: 0, max: 9.46, low: 0, high: 0.05 } }),
      occurrence(2, [], { advantage: { min: -0.2, max: 3, low: -0.2, high: 2 } }),
      occurrence(3, []),
    ]);
    // The robust bounds span every step's; step 1's KL outlier (9.46) still saturates.
    assert.deepStrictEqual(merged, { advantage: { min: -1, max: 3, low: -1, high: 2 }, kl: { min: 0, max: 9.46, low: 0, high: 0.05 } });
  });

  it('lists the steps of a row range that still need fetching, each once', () => {
    const layout = layoutRows(occurrences, metrics);
    assert.deepStrictEqual(stepsToFetch(layout, 0, 6, () => false), [2, 4, 9]);
    assert.deepStrictEqual(stepsToFetch(layout, 1, 4, (s) => s === 4), [2, 9]);
    assert.deepStrictEqual(stepsToFetch(layout, 3, 3, () => false), []);
  });
});

describe('token diff (LCS)', () => {
  it('keeps the common tokens and marks the removed and added ones', () => {
    const ops = diffTokens(['The', ' answer', ' is', ' 4'], ['The', ' answer', ' was', ' 4', '.']);
    assert.deepStrictEqual(ops, [
      { kind: 'same', a: 0, b: 0 },
      { kind: 'same', a: 1, b: 1 },
      { kind: 'removed', a: 2 },
      { kind: 'added', b: 2 },
      { kind: 'same', a: 3, b: 3 },
      { kind: 'added', b: 4 },
    ]);
    assert.deepStrictEqual(diffCounts(ops), { same: 3, removed: 1, added: 2 });
  });

  it('finds a longest common subsequence, not just a common prefix and suffix', () => {
    const a = ['a', 'b', 'c', 'd', 'e', 'f'];
    const b = ['x', 'b', 'y', 'd', 'f', 'z'];
    assert.strictEqual(diffCounts(diffTokens(a, b)).same, 3);
    replay(a, b);
  });

  it('handles empty and identical completions, and random pairs replay exactly', () => {
    assert.deepStrictEqual(diffTokens([], []), []);
    assert.deepStrictEqual(diffCounts(diffTokens([], ['a', 'b'])), { same: 0, removed: 0, added: 2 });
    assert.deepStrictEqual(diffCounts(diffTokens(['a'], [])), { same: 0, removed: 1, added: 0 });
    assert.deepStrictEqual(diffCounts(diffTokens(['a', 'b'], ['a', 'b'])), { same: 2, removed: 0, added: 0 });
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let trial = 0; trial < 50; trial++) {
      const make = () => Array.from({ length: Math.floor(random() * 20) }, () => 'abcd'[Math.floor(random() * 4)]);
      replay(make(), make());
    }
  });
});
