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
