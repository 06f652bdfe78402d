/** Plain data helpers for the curves: EMA smoothing, x coordinates, CSV. No DOM, so unit tests run them in Node. */

/**
 * TensorBoard's debiased exponential moving average: s_t = w s_{t−1} + (1 − w) v_t, divided by 1 − w^t so the
 * first points are not pulled toward 0. Non-finite values pass through and do not disturb the average.
 */
export class EmaSmoother {
  private last = 0;
  private count = 0;

  constructor(readonly weight: number) {}

  next(value: number): number {
    if (!Number.isFinite(value) || this.weight <= 0) return value;
    this.count += 1;
    this.last = this.last * this.weight + (1 - this.weight) * value;
    return this.last / (1 - Math.pow(this.weight, this.count));
  }
}

export function smooth(values: readonly number[], weight: number): number[] {
  const ema = new EmaSmoother(weight);
  return values.map((v) => ema.next(v));
}

/** A formatted elapsed time, e.g. 75 → "1:15", 3725 → "1:02:05". */
export function formatElapsed(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh > 0 ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

function csvField(value: string | number | undefined): string {
  if (value === undefined) return '';
  const text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** CSV text with a header row; rows may be ragged (missing values become empty fields). */
export function toCsv(header: readonly string[], rows: readonly (readonly (string | number | undefined)[])[]): string {
  return [header, ...rows].map((row) => row.map(csvField).join(',')).join('\n') + '\n';
}

/** Every metric key of the records, in the order each first appears. */
export function metricKeys(records: readonly { metrics: Record<string, unknown> }[]): string[] {
  const keys = new Set<string>();
  for (const record of records) for (const key of Object.keys(record.metrics)) keys.add(key);
  return [...keys];
}

/**
 * Every logged column of every run as CSV: run, step, ISO time, then each metric key (first-seen order). A NaN the
 * record stores as null is an empty field, like a metric the step did not log. A resumed run's repeated step
 * keeps its later row, as the run folder's readers do.
 */
export function metricsCsv(runs: readonly { runId: string; records: readonly { step: number; time: number; metrics: Record<string, number | null> }[] }[]): string {
  const keys = metricKeys(runs.flatMap((r) => r.records));
  const rows = runs.flatMap(({ runId, records }) => {
    const byStep = new Map(records.map((record) => [record.step, record]));
    return [...byStep.values()]
      .sort((a, b) => a.step - b.step)
      .map((record) => [runId, record.step, new Date(record.time).toISOString(), ...keys.map((key) => record.metrics[key] ?? undefined)]);
  });
  return toCsv(['run', 'step', 'time', ...keys], rows);
}

export interface XY {
  x: number;
  y: number;
}

/**
 * The least and greatest plotted y (NaN left out: a log axis's non-positive values) and logged value of points,
 * accumulated as they come: a live band's extent without a pass over its points.
 */
export class Extent {
  minY = Infinity;
  maxY = -Infinity;
  minValue = Infinity;
  maxValue = -Infinity;
  count = 0;

  static of(points: Iterable<XY & { value: number }>): Extent {
    return new Extent().addAll(points);
  }

  addAll(points: Iterable<XY & { value: number }>): this {
    for (const p of points) {
      this.count += 1;
      if (p.y < this.minY) this.minY = p.y;
      if (p.y > this.maxY) this.maxY = p.y;
      if (p.value < this.minValue) this.minValue = p.value;
      if (p.value > this.maxValue) this.maxValue = p.value;
    }
    return this;
  }

  merge(other: Extent): this {
    this.count += other.count;
    this.minY = Math.min(this.minY, other.minY);
    this.maxY = Math.max(this.maxY, other.maxY);
    this.minValue = Math.min(this.minValue, other.minValue);
    this.maxValue = Math.max(this.maxValue, other.maxValue);
    return this;
  }
}

/**
 * Min-max decimation kept up to date as points are appended: points fall into buckets of equal count; each bucket
 * is drawn as its first, lowest, highest and last point (in x order), so every spike survives. When the buckets
 * outnumber `maxBuckets`, neighbours merge and the bucket size doubles. Appending touches only the last bucket,
 * so a live update costs O(buckets), not O(points) as re-decimating the whole series would.
 */
export class MinMaxDecimator<P extends XY> {
  private bucketSize = 1;
  /** Each bucket's representative points, in x order; all but the last are final until the next merge. */
  private buckets: P[][] = [];
  private lastBucketCount = 0;
  private settled: P[] = [];
  private merges = 0;

  constructor(private readonly maxBuckets = 500) {}

  add(point: P): void {
    if (this.buckets.length === 0 || this.lastBucketCount >= this.bucketSize) {
      if (this.buckets.length) this.settled.push(...this.buckets[this.buckets.length - 1]);
      this.buckets.push([point]);
      this.lastBucketCount = 1;
      if (this.buckets.length > this.maxBuckets) this.merge();
      return;
    }
    const last = this.buckets[this.buckets.length - 1];
    this.buckets[this.buckets.length - 1] = representatives([...last, point]);
    this.lastBucketCount += 1;
  }

  /** The points to draw: at most 4 per bucket. */
  points(): P[] {
    return this.settled.concat(this.tail);
  }

  /** The drawn points of the full buckets: only appended to, until a merge replaces them (`generation` changes). */
  get settledPoints(): readonly P[] {
    return this.settled;
  }

  /** The drawn points of the last bucket, which the next point may change. */
  get tail(): readonly P[] {
    return this.buckets[this.buckets.length - 1] ?? [];
  }

  /** Counts the merges: settled points of an older generation are no longer drawn. */
  get generation(): number {
    return this.merges;
  }

  private merge(): void {
    const merged: P[][] = [];
    for (let i = 0; i < this.buckets.length; i += 2) merged.push(representatives(this.buckets.slice(i, i + 2).flat()));
    this.bucketSize *= 2;
    // The last merged bucket may be only partly full: it holds one old bucket (if their number was odd) or two.
    this.lastBucketCount = this.buckets.length % 2 === 1 ? this.lastBucketCount : this.bucketSize / 2 + this.lastBucketCount;
    this.buckets = merged;
    this.settled = merged.slice(0, -1).flat();
    this.merges += 1;
  }
}

/**
 * How the points a decimator draws changed since the cursor last looked: either wholesale (`replaced`: its first
 * look, or a merge) or as points newly settled after the ones seen, and the last bucket's points swapped. A live
 * chart updates its y range, band extents and chart.js's data array from these few points instead of every one.
 */
export interface DecimatorChange<P> {
  replaced: boolean;
  /** The drawn points before this change, at `[start, start + removed.length)` (none when replaced). */
  start: number;
  removed: readonly P[];
  /** The points now drawn from `start` on (every point when replaced). */
  added: readonly P[];
  /** Of `added`, the settled ones (all but the last bucket's). */
  settledAdded: readonly P[];
}

export class DecimatorCursor<P extends XY> {
  private generation = -1;
  private settledSeen = 0;
  private tailSeen: readonly P[] = [];

  constructor(readonly source: MinMaxDecimator<P>) {}

  /** What changed since the previous call (the first call: everything, as replaced). */
  next(): DecimatorChange<P> {
    const { source } = this;
    const settled = source.settledPoints;
    const tail = source.tail;
    let change: DecimatorChange<P>;
    if (source.generation !== this.generation) {
      change = { replaced: true, start: 0, removed: [], added: settled.concat(tail), settledAdded: settled };
    } else {
      const settledAdded = settled.slice(this.settledSeen);
      change = { replaced: false, start: this.settledSeen, removed: this.tailSeen, added: settledAdded.concat(tail), settledAdded };
    }
    this.generation = source.generation;
    this.settledSeen = settled.length;
    this.tailSeen = [...tail];
    return change;
  }
}

/** First, min, max and last of points in x order (fewer when they coincide), still in x order. */
function representatives<P extends XY>(points: P[]): P[] {
  if (points.length <= 4) return points;
  let min = points[0];
  let max = points[0];
  for (const p of points) {
    if (p.y < min.y || Number.isNaN(min.y)) min = p;
    if (p.y > max.y || Number.isNaN(max.y)) max = p;
  }
  const chosen = new Set([points[0], min, max, points[points.length - 1]]);
  return points.filter((p) => chosen.has(p));
}
