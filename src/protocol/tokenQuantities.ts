/**
 * Reading per-token quantities out of TokenColumns, shared by the host (which computes each step's colour domains
 * once, so the webview need not receive every token of a step) and the webview (which colours tokens by them).
 */
import type { GroupRecord, TokenColumns } from './records';
import type { TokenDomain, TokenDomains, TokenQuantity } from './webview';

export const TOKEN_QUANTITIES: readonly TokenQuantity[] = ['advantage', 'logprob', 'old_logprob', 'ref_logprob', 'ratio', 'clipped', 'kl', 'entropy'];

/** The value a token is coloured by: the ratio as log ratio; clip flags as −1 (low), +1 (high), 0. */
export function tokenValue(tokens: TokenColumns, quantity: TokenQuantity, i: number): number | undefined {
  switch (quantity) {
    case 'ratio': {
      const r = tokens.ratio?.[i];
      return r === undefined ? undefined : Math.log(r);
    }
    case 'clipped': {
      if (!tokens.clipped_low && !tokens.clipped_high) return undefined;
      return tokens.clipped_low?.[i] ? -1 : tokens.clipped_high?.[i] ? 1 : 0;
    }
    default:
      return tokens[quantity]?.[i];
  }
}

export function hasQuantity(tokens: TokenColumns, quantity: TokenQuantity): boolean {
  return quantity === 'clipped' ? Boolean(tokens.clipped_low || tokens.clipped_high) : tokens[quantity] !== undefined;
}

/** Tukey's far-out fence: a value more than 3 interquartile ranges beyond the quartiles is an outlier. */
const FENCE_IQRS = 3;
/** The share of values at each end the colour scale may leave out (saturated) however the quartiles lie. */
const TAIL_SHARE = 0.01;

/**
 * The colour scale's bounds over `values` (reordered in place): the box plot's whisker ends (the most extreme values
 * within Tukey's far-out fences, 3 interquartile ranges beyond the quartiles), so that one outlier (a KL of 9.46
 * among tokens of 0.01) saturates instead of washing out every other token. A bound never leaves out more than the
 * outer 1 % of values (a step whose quartiles coincide, most tokens at 0, keeps its tail); on data without outliers
 * the bounds are the extremes themselves. The order statistics are selected, not sorted for: a 1,000-rollout step
 * has 100,000 values per quantity, and sorting eight such arrays took most of a step's summary on the host.
 */
function robustBounds(values: Float64Array): TokenDomain {
  const n = values.length;
  const rank = (q: number) => Math.round(q * (n - 1));
  const ranks = { tailLow: Math.ceil(TAIL_SHARE * (n - 1)), q1: rank(0.25), q3: rank(0.75), tailHigh: Math.floor((1 - TAIL_SHARE) * (n - 1)) };
  const at = orderStatistics(values, Object.values(ranks));
  const q1 = at.get(ranks.q1)!;
  const q3 = at.get(ranks.q3)!;
  const spread = FENCE_IQRS * (q3 - q1);
  // The whisker ends: the most extreme values inside the fences (the quartiles themselves are, so both exist).
  let min = Infinity;
  let max = -Infinity;
  let top = -Infinity;
  let bottom = Infinity;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v < min) min = v;
    if (v > max) max = v;
    if (v <= q3 + spread && v > top) top = v;
    if (v >= q1 - spread && v < bottom) bottom = v;
  }
  return { min, max, low: Math.min(bottom, at.get(ranks.tailLow)!), high: Math.max(top, at.get(ranks.tailHigh)!) };
}

/**
 * The values of the given ranks (0-based positions in sorted order) of `values`, which it reorders: selection
 * (Hoare's partitioning, which splits runs of equal values evenly), each rank searched for above the one before.
 * A range that partitions badly for too long is sorted instead, so the worst case stays O(n log n).
 */
export function orderStatistics(values: Float64Array, ranks: readonly number[]): Map<number, number> {
  const found = new Map<number, number>();
  let lo = 0;
  for (const k of [...new Set(ranks)].sort((a, b) => a - b)) {
    if (!(k >= 0 && k < values.length)) throw new RangeError(`orderStatistics: rank ${k} of ${values.length} values`);
    selectRank(values, k, lo, values.length - 1);
    found.set(k, values[k]);
    // Everything after k is at least values[k]: the next (larger) rank is among them.
    lo = k;
  }
  return found;
}

/** Moves the k-th smallest of values[lo..hi] to index k, the smaller ones before it and the larger after. */
function selectRank(values: Float64Array, k: number, lo: number, hi: number): void {
  let rounds = 2 * Math.ceil(Math.log2(hi - lo + 2)) + 8;
  while (hi > lo) {
    if (--rounds < 0) {
      values.subarray(lo, hi + 1).sort();
      return;
    }
    const pivot = medianOfThree(values[lo], values[(lo + hi) >> 1], values[hi]);
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i] < pivot) i++;
      while (values[j] > pivot) j--;
      if (i <= j) {
        const t = values[i];
        values[i++] = values[j];
        values[j--] = t;
      }
    }
    // values[lo..j] ≤ pivot ≤ values[i..hi], and anything between them equals the pivot.
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return;
  }
}

function medianOfThree(a: number, b: number, c: number): number {
  return a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
}

/** The finite values of `quantity` over many completions, read column by column (as tokenValue reads one). */
function finiteValues(completions: readonly TokenColumns[], quantity: TokenQuantity): Float64Array {
  let total = 0;
  for (const tokens of completions) total += tokens.text.length;
  const values = new Float64Array(total);
  let n = 0;
  for (const tokens of completions) {
    const length = tokens.text.length;
    if (quantity === 'clipped') {
      const { clipped_low: low, clipped_high: high } = tokens;
      if (!low && !high) continue;
      for (let i = 0; i < length; i++) values[n++] = low?.[i] ? -1 : high?.[i] ? 1 : 0;
      continue;
    }
    const column = tokens[quantity];
    if (!column) continue;
    const log = quantity === 'ratio';
    for (let i = 0; i < length; i++) {
      const raw = column[i];
      // A missing entry is no value; a stored NaN (JSON null) or a ratio of 0 is not finite.
      if (raw === undefined) continue;
      const v = log ? Math.log(raw) : raw;
      if (Number.isFinite(v)) values[n++] = v;
    }
  }
  return values.subarray(0, n);
}

/**
 * The colour domain of `quantity` over many completions: min and max of the finite values, and the robust bounds
 * the colours use (low ≤ high; values beyond them saturate). Undefined when no completion has the quantity.
 */
export function domainOf(completions: readonly TokenColumns[], quantity: TokenQuantity): TokenDomain | undefined {
  const values = finiteValues(completions, quantity);
  return values.length === 0 ? undefined : robustBounds(values);
}

/** The domain of every quantity present in a step, so colours compare across all of its completions. */
export function stepDomains(groups: readonly GroupRecord[]): TokenDomains {
  const completions = groups.flatMap((g) => g.rollouts.map((r) => r.tokens));
  const domains: TokenDomains = {};
  for (const quantity of TOKEN_QUANTITIES) {
    const domain = domainOf(completions, quantity);
    if (domain) domains[quantity] = domain;
  }
  return domains;
}
