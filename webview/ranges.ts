/** Index arithmetic for the virtualised lists. Pure: unit tests run it in Node. */

/** The index range [first, last) of fixed-size items that intersect a viewport, widened by `overscan` items. */
export function visibleRange(scroll: number, viewport: number, itemSize: number, count: number, overscan: number): [number, number] {
  const first = Math.max(0, Math.floor(scroll / itemSize) - overscan);
  const last = Math.min(count, Math.ceil((scroll + viewport) / itemSize) + overscan);
  return [first, Math.max(first, last)];
}

/** The element of `sorted` closest to `target` (ties go to the earlier one). */
export function nearest(sorted: readonly number[], target: number): number | undefined {
  if (sorted.length === 0) return undefined;
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < target) lo = mid + 1;
    else hi = mid;
  }
  return lo > 0 && target - sorted[lo - 1] <= sorted[lo] - target ? sorted[lo - 1] : sorted[lo];
}

/** The y axis a chart draws: its bounds, and whether values beyond them were left out (drawn as edge markers). */
export interface AxisRange {
  min: number;
  max: number;
  clipped: boolean;
}

/** Linear-interpolated quantile of ascending values (numpy's default). */
export function quantile(sorted: readonly number[], q: number): number {
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
}

/** Tukey's "far out" fences: beyond 3 IQR of the quartiles a value is an outlier, not the shape of the curve. */
const FENCE_IQRS = 3;
/** More points than this share beyond the fences are the data itself (a bimodal metric), not outliers. */
const MAX_OUTLIER_SHARE = 0.05;
/** A value past the fences is a spike when its gap to the values kept is more than this many times their reach. */
const GAP_FACTOR = 4;
/** Quartiles of fewer points say little: short series are drawn whole. */
const MIN_POINTS_TO_CLIP = 8;

/**
 * A y range that a few outliers do not stretch (the 25 s warm-start step among 1 s steps; one KL spike): values past
 * Tukey's far-out fences are clipped when they are at most 5% of the points and a gap wider than the bulk's span
 * parts them from it (a spike, not the start of a decaying loss). A constant series gets a small range
 * around its value ([0, 1] for all zeros) instead of chart.js's −1…1; a range that starts at 0 or more is not
 * padded below 0. `bounds` (what the metric can be, e.g. a reward's range) caps the range. undefined: no values.
 */
export function robustRange(values: readonly number[], bounds?: readonly [number, number]): AxisRange | undefined {
  return robustRangeOfSorted(values.filter(Number.isFinite).sort((a, b) => a - b), bounds);
}

/** robustRange of finite values already in ascending order (SortedValues keeps them so): O(log n), no copy. */
export function robustRangeOfSorted(sorted: readonly number[], bounds?: readonly [number, number]): AxisRange | undefined {
  if (sorted.length === 0) return undefined;
  let low = sorted[0];
  let high = sorted[sorted.length - 1];
  let clipped = false;
  if (sorted.length >= MIN_POINTS_TO_CLIP) {
    const q1 = quantile(sorted, 0.25);
    const q3 = quantile(sorted, 0.75);
    const iqr = q3 - q1;
    // The values within the fences are the run [first, end) of the sorted values.
    const first = lowerBound(sorted, q1 - FENCE_IQRS * iqr);
    const end = upperBound(sorted, q3 + FENCE_IQRS * iqr);
    const outliers = sorted.length - (end - first);
    if (iqr > 0 && outliers > 0 && first < end && outliers <= Math.max(1, MAX_OUTLIER_SHARE * sorted.length)) {
      // A trend's early values (a loss falling from 3.7 to 1.8 before settling) lie past the fences too, but each
      // near the next, the steps growing as the curve steepens: a value joins the range while its step from the
      // last one kept is at most GAP_FACTOR × (the bulk's span, or the distance already walked from it, if more).
      // A spike is a lone jump far wider than both. The walk visits at most the outliers (≤ 5% of the points).
      const span = sorted[end - 1] - sorted[first];
      let lo = first;
      while (lo > 0 && sorted[lo] - sorted[lo - 1] <= GAP_FACTOR * Math.max(span, sorted[first] - sorted[lo])) lo--;
      let hi = end - 1;
      while (hi < sorted.length - 1 && sorted[hi + 1] - sorted[hi] <= GAP_FACTOR * Math.max(span, sorted[hi] - sorted[end - 1])) hi++;
      low = sorted[lo];
      high = sorted[hi];
      clipped = lo > 0 || hi < sorted.length - 1;
    }
  }
  let range = padded(low, high);
  if (bounds) range = [Math.max(range[0], bounds[0]), Math.min(range[1], bounds[1])];
  return { min: range[0], max: range[1], clipped };
}

/** The first index of ascending `sorted` whose value is ≥ `value` (sorted.length if none). */
function lowerBound(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The first index of ascending `sorted` whose value is > `value` (sorted.length if none). */
function upperBound(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * A multiset of finite numbers kept in ascending order as values come and go: a live chart's y range needs the
 * quartiles of the points it draws, and one appended step changes only a few of them (sorting every point on
 * every draw was a fifth of a live update).
 */
export class SortedValues {
  private readonly items: number[] = [];

  get sorted(): readonly number[] {
    return this.items;
  }

  /** Adds a value; non-finite ones are not kept (robustRange leaves them out). */
  add(value: number): void {
    if (Number.isFinite(value)) this.items.splice(upperBound(this.items, value), 0, value);
  }

  /** Removes one occurrence of a value added before; false if it is not there. */
  remove(value: number): boolean {
    if (!Number.isFinite(value)) return false;
    const at = lowerBound(this.items, value);
    if (at >= this.items.length || this.items[at] !== value) return false;
    this.items.splice(at, 1);
    return true;
  }

  /** Replaces every value (sorted once). */
  reset(values: Iterable<number>): void {
    this.items.length = 0;
    for (const value of values) if (Number.isFinite(value)) this.items.push(value);
    this.items.sort((a, b) => a - b);
  }
}

/** Values this close (relative to their size) differ by float noise only: ESS 0.99999999999992 beside 1 is constant. */
const NOISE = 1e-9;

function padded(low: number, high: number): [number, number] {
  if (high - low <= NOISE * Math.max(Math.abs(low), Math.abs(high))) {
    low = (low + high) / 2;
    if (low === 0) return [0, 1];
    const pad = Math.abs(low) * 0.1;
    return [low - pad, low + pad];
  }
  const pad = (high - low) * 0.05;
  return [low >= 0 && low - pad < 0 ? 0 : low - pad, high + pad];
}

/**
 * Symmetric log (matplotlib's symlog): linear within ±c, logarithmic beyond, defined for 0 and negative values, so
 * a log-scaled chart of a loss or an advantage keeps its negative points instead of dropping them.
 */
export function symlog(y: number, c: number): number {
  return Math.sign(y) * Math.log10(1 + Math.abs(y) / c);
}

export function symlogInverse(t: number, c: number): number {
  return Math.sign(t) * c * (10 ** Math.abs(t) - 1);
}

/** The linear threshold c: the power of ten at the low end (10th percentile) of the non-zero magnitudes. */
export function symlogConstant(values: readonly number[]): number {
  const magnitudes = values.filter((v) => Number.isFinite(v) && v !== 0).map(Math.abs).sort((a, b) => a - b);
  if (magnitudes.length === 0) return 1;
  return 10 ** Math.floor(Math.log10(quantile(magnitudes, 0.1)));
}

/**
 * Tick values for a symlog axis over [min, max] (in symlog units): 0, ±c·10^k, then ±5·c·10^k and ±2·c·10^k where
 * they fit, no two closer than 1/maxTicks of the axis (±c sits 0.3 units from 0: on a wide axis "1e-9 / 0 / -1e-9"
 * would overlap), so an axis within one decade (a grad norm of 0…3) still gets more than 0 and 1.
 */
export function symlogTicks(min: number, max: number, c: number, maxTicks = 7): number[] {
  const minGap = (max - min) / maxTicks;
  const top = Math.max(Math.abs(min), Math.abs(max));
  const within = (value: number) => {
    const t = symlog(value, c);
    return t >= min - 1e-9 && t <= max + 1e-9;
  };
  // Candidates in order of preference: 0, powers of ten, then 5× and 2× them.
  const candidates: number[] = [0];
  for (const mantissa of [1, 5, 2]) {
    for (let magnitude = c; symlog(magnitude, c) <= top + 1e-9; magnitude *= 10) {
      const value = Number((mantissa * magnitude).toPrecision(12));
      candidates.push(value, -value);
    }
  }
  const kept: number[] = [];
  for (const value of candidates) {
    if (!within(value)) continue;
    const t = symlog(value, c);
    if (kept.every((k) => Math.abs(symlog(k, c) - t) >= minGap - 1e-9)) kept.push(value);
  }
  return kept.sort((a, b) => a - b);
}

const COMPACT = new Intl.NumberFormat('en', { notation: 'compact', maximumSignificantDigits: 3 });

/**
 * A number in few characters: "0", "0.25", "1.5e-7" (not "1.500e-7"), "12.3K", "4.5M". `digits` significant digits
 * (3 by default; ticks ask for more when neighbours would otherwise read alike).
 */
export function formatCompact(value: number, digits = 3, notation: TickNotation = 'auto'): string {
  if (!Number.isFinite(value)) return Number.isNaN(value) ? '—' : value > 0 ? '∞' : '−∞';
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  const rounded = Number(value.toPrecision(digits));
  if (notation === 'exponent') return rounded.toExponential();
  if (magnitude >= 1e4 && magnitude < 1e15) return digits === 3 ? COMPACT.format(value) : new Intl.NumberFormat('en', { notation: 'compact', maximumSignificantDigits: digits }).format(value);
  if (magnitude >= 1e-3) return String(rounded);
  return rounded.toExponential();
}

/**
 * How an axis writes its ticks: 'auto' picks per number (0.001 but 5e-4); 'exponent' writes every one as 4e-3, so
 * an axis whose ticks cross 1e-3 does not mix "5e-4" with "0.001".
 */
export type TickNotation = 'auto' | 'exponent';

/** One notation for a whole axis: exponents when some non-zero tick is below 1e-3 (ticks at float noise of 0 aside). */
export function tickNotation(ticks: readonly number[], step = 0): TickNotation {
  return ticks.some((v) => v !== 0 && Math.abs(v) < 1e-3 && Math.abs(v) >= step * 1e-9) ? 'exponent' : 'auto';
}

/**
 * A tick label: enough significant digits that ticks `step` apart read differently (0.2001 and 0.2002, not 0.2 twice);
 * a tick within float noise of 0 (relative to `step`) reads 0.
 */
export function formatTick(value: number, step: number, notation: TickNotation = 'auto'): string {
  if (value === 0 || !(step > 0)) return formatCompact(value, 3, notation);
  // A tick at 0 that float arithmetic left at 1e-23 (min + k·step): 0, not a magnitude the data never had.
  if (Math.abs(value) < step * 1e-9) return '0';
  const digits = Math.min(15, Math.max(3, Math.floor(Math.log10(Math.abs(value))) - Math.floor(Math.log10(step)) + 1));
  return formatCompact(value, digits, notation);
}

/** About `count` round ticks (1, 2 or 5 × 10^k apart, the one nearest the rough step) within [min, max]. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) return Number.isFinite(min) ? [min] : [];
  const rough = (max - min) / Math.max(1, count - 1);
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const normalized = rough / magnitude;
  const step = (normalized < 1.5 ? 1 : normalized < 3 ? 2 : normalized < 7 ? 5 : 10) * magnitude;
  const ticks: number[] = [];
  for (let k = Math.ceil(min / step); k * step <= max + step * 1e-9; k++) ticks.push(Number((k * step).toPrecision(12)));
  return ticks;
}

/**
 * Ticks of a log axis over [min, max] (min > 0): 1, 2 and 5 × 10^k when the range spans a decade or more (only
 * powers of ten when those are too many), else round linear ticks — chart.js labels every 1…9 × 10^k and both
 * ends ("0.195", "0.542"), which crowd a short axis.
 */
export function logTicks(min: number, max: number, maxTicks = 8): number[] {
  if (!(min > 0) || !(max > min)) return niceTicks(min, max);
  if (max / min < 10) return niceTicks(min, max, 4);
  const ticks: number[] = [];
  for (let exponent = Math.floor(Math.log10(min)); 10 ** exponent <= max; exponent++) {
    for (const mantissa of [1, 2, 5]) {
      const value = Number((mantissa * 10 ** exponent).toPrecision(12));
      if (value >= min && value <= max) ticks.push(value);
    }
  }
  return ticks.length > maxTicks ? ticks.filter((v) => Number.isInteger(Math.log10(v)) || Math.abs(Math.log10(v) - Math.round(Math.log10(v))) < 1e-9) : ticks;
}
