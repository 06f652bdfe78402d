/**
 * The geometry and numbers of the prompt × step view, with no DOM: one row per completion, grouped by step (a gap
 * between steps), tokens in columns by position; which rows and columns a viewport shows (the view draws and
 * fetches only those); the prompt's mean reward and reward spread at each step; one colour scale for all steps.
 */
import type { StdEstimator } from '../src/protocol/config';
import { groupRewardStats } from '../src/protocol/records';
import type { TimelineOccurrence, TokenDomain, TokenDomains, TokenQuantity } from '../src/protocol/webview';

/** The grid's geometry in CSS pixels (the tests locate a token's cell with it). */
export const TIMELINE_GEOMETRY = {
  rowHeight: 20,
  /** Extra space above each step's first row but the first, so steps read as blocks. */
  stepGap: 6,
  cellWidth: 64,
  /** The step labels' column at the left of the grid (it does not scroll sideways): "step 10000", "#7 r=0.1875". */
  gutter: 168,
  /** Where the completion's label starts in the gutter. */
  rolloutLabel: 80,
} as const;

export interface TimelineRow {
  /** Index of the occurrence (one step's sampling of the prompt) in the list laid out. */
  occurrence: number;
  /** Index of the completion within that occurrence. */
  rollout: number;
  step: number;
  /** Pixels from the top of the whole grid. */
  top: number;
  /** The first row of its step (where the step label goes). */
  firstOfStep: boolean;
}

export interface TimelineLayout {
  rows: TimelineRow[];
  /** Height of the whole grid in pixels. */
  height: number;
  /** Token columns: the longest completion's length. */
  columns: number;
}

export interface RowMetrics {
  rowHeight: number;
  /** Extra space above each step's first row but the first, so steps read as blocks. */
  stepGap: number;
}

export function layoutRows(occurrences: readonly TimelineOccurrence[], { rowHeight, stepGap }: RowMetrics): TimelineLayout {
  const rows: TimelineRow[] = [];
  let top = 0;
  let columns = 0;
  occurrences.forEach((occurrence, index) => {
    if (index > 0) top += stepGap;
    occurrence.rollouts.forEach((rollout, i) => {
      rows.push({ occurrence: index, rollout: i, step: occurrence.step, top, firstOfStep: i === 0 });
      top += rowHeight;
      columns = Math.max(columns, rollout.length);
    });
  });
  return { rows, height: top, columns };
}

/** The rows that intersect [scrollTop, scrollTop + height): indices [first, end), by binary search. */
export function visibleRows(layout: TimelineLayout, rowHeight: number, scrollTop: number, height: number): { first: number; end: number } {
  const rows = layout.rows;
  const firstBelow = (y: number) => {
    let lo = 0;
    let hi = rows.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (rows[mid].top + rowHeight <= y) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const first = firstBelow(scrollTop);
  let end = first;
  while (end < rows.length && rows[end].top < scrollTop + height) end++;
  return { first, end };
}

/** The token columns that intersect the viewport to the right of the label gutter: [first, end). */
export function visibleColumns(columns: number, cellWidth: number, scrollLeft: number, width: number): { first: number; end: number } {
  const first = Math.max(0, Math.floor(scrollLeft / cellWidth));
  return { first: Math.min(first, columns), end: Math.min(columns, Math.ceil((scrollLeft + width) / cellWidth)) };
}

/** The row under a point of the grid (y in grid pixels), or undefined in a gap between steps or past the end. */
export function rowAt(layout: TimelineLayout, rowHeight: number, y: number): number | undefined {
  const { first } = visibleRows(layout, rowHeight, y, 1);
  const row = layout.rows[first];
  return row && row.top <= y && y < row.top + rowHeight ? first : undefined;
}

export interface StepAggregate {
  step: number;
  /** Mean of the scored rewards (NaN when none was scored). */
  meanReward: number;
  /**
   * The std of the scored rewards within the sampling (NaN for fewer than two, or one with the unbiased estimator).
   * Not the mean advantage: GRPO centres each group's advantages on its mean, so theirs is 0 by construction. The
   * reward std is what divides them, and TRL logs it per step as `reward_std`: 0 means every completion tied, so
   * the prompt taught nothing at that step (advantages all 0); a large one means it still separates good from bad.
   */
  rewardStd: number;
  completions: number;
}

/** The prompt's mean reward and within-sampling reward std at each sampling, in the order given. */
export function stepAggregates(occurrences: readonly TimelineOccurrence[], estimator: StdEstimator = 'unbiased'): StepAggregate[] {
  return occurrences.map((o) => {
    const { mean, std } = groupRewardStats(o.rollouts.map((r) => r.reward), estimator);
    return { step: o.step, meanReward: mean, rewardStd: std, completions: o.rollouts.length };
  });
}

/**
 * One colour scale per quantity over all the samplings, so a colour means the same value at every step: the
 * extremes of all, and the robust bounds spanning every step's (a step's outliers still saturate).
 */
export function mergeDomains(occurrences: readonly TimelineOccurrence[]): TokenDomains {
  const merged: TokenDomains = {};
  for (const { domains } of occurrences) {
    for (const [quantity, domain] of Object.entries(domains ?? {}) as [TokenQuantity, TokenDomain][]) {
      const seen = merged[quantity];
      merged[quantity] = seen
        ? { min: Math.min(seen.min, domain.min), max: Math.max(seen.max, domain.max), low: Math.min(seen.low, domain.low), high: Math.max(seen.high, domain.high) }
        : { ...domain };
    }
  }
  return merged;
}

/** The steps of rows [first, end) whose tokens are not loaded yet, each once, in row order. */
export function stepsToFetch(layout: TimelineLayout, first: number, end: number, loaded: (step: number) => boolean): number[] {
  const steps: number[] = [];
  for (let i = first; i < end; i++) {
    const step = layout.rows[i].step;
    if (!loaded(step) && steps.at(-1) !== step && !steps.includes(step)) steps.push(step);
  }
  return steps;
}
