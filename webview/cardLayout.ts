/**
 * Where the rollout browser puts its groups and cards. Pure: unit tests run it in Node.
 *
 * A group's completions wrap onto as many lines as the list's width needs (balanced: 8 cards in a row of 5 columns
 * go 4 + 4, not 5 + 3), so a whole group of 8 is in view at once instead of 3 cards and a scrollbar. A step whose
 * groups all hold one completion (validation samples: one per prompt) is a compact list, one line per prompt.
 * Rows differ in height (groups filtered down to fewer cards take fewer lines), so the virtualised list finds the
 * rows in view from their offsets.
 */

/** Sizes in px; dashboard.css sizes .group-row, .card and .group-row.compact to match. */
export const CARD_LAYOUT = {
  minCardWidth: 168,
  cardHeight: 112,
  gap: 6,
  /** The group header line, and the row's padding and border above and below the cards. */
  headerHeight: 28,
  rowPadding: 14,
  /** Horizontal padding of a row (both sides together). */
  rowInset: 16,
  compactRowHeight: 30,
} as const;

export interface GroupLayout {
  /** Cards per line (the last line may hold fewer). */
  perLine: number;
  lines: number;
  cardWidth: number;
  height: number;
}

/** The lines and card width of a group of `count` cards in a list `width` px wide. */
export function groupLayout(count: number, width: number): GroupLayout {
  const { minCardWidth, cardHeight, gap, headerHeight, rowPadding, rowInset } = CARD_LAYOUT;
  const inner = Math.max(minCardWidth, width - rowInset);
  const columns = Math.max(1, Math.floor((inner + gap) / (minCardWidth + gap)));
  const lines = Math.max(1, Math.ceil(count / columns));
  const perLine = Math.max(1, Math.ceil(count / lines));
  const cardWidth = Math.floor((inner - (perLine - 1) * gap) / perLine);
  return { perLine, lines, cardWidth, height: headerHeight + lines * (cardHeight + gap) + rowPadding };
}

/** Where card `position` of a group sits within its row's card area. */
export function cardPosition(position: number, layout: GroupLayout): { left: number; top: number } {
  const { cardHeight, gap } = CARD_LAYOUT;
  return { left: (position % layout.perLine) * (layout.cardWidth + gap), top: Math.floor(position / layout.perLine) * (cardHeight + gap) };
}

/** The top of each row and, last, the total height: `offsets[i]` to `offsets[i + 1]` is row i. */
export function rowOffsets(heights: readonly number[]): number[] {
  const offsets = [0];
  for (const h of heights) offsets.push(offsets[offsets.length - 1] + h);
  return offsets;
}

/** The row range [first, last) that intersects the viewport, widened by `overscan` rows each side. */
export function rowsInView(offsets: readonly number[], scroll: number, viewport: number, overscan: number): [number, number] {
  const count = offsets.length - 1;
  if (count <= 0) return [0, 0];
  // The first row whose bottom is below the top of the viewport, then the rows that start above its bottom.
  let lo = 0;
  let hi = count - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (offsets[mid + 1] <= scroll) lo = mid + 1;
    else hi = mid;
  }
  let last = lo;
  while (last < count && offsets[last] < scroll + viewport) last++;
  return [Math.max(0, lo - overscan), Math.min(count, last + overscan)];
}
