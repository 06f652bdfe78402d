/**
 * Where the rollout browser puts its groups and cards. Pure: unit tests run it in Node.
 *
 * A group's completions wrap onto as many lines as the list's width needs (balanced: 8 cards in a row of 5 columns
 * go 4 + 4, not 5 + 3), so a whole group of 8 is in view at once instead of 3 cards and a scrollbar. Cards are as
 * tall as their content needs (up to a maximum) and as narrow as their one-line parts allow. A step whose
 * groups all hold one completion (validation samples: one per prompt) is a compact list, one line per prompt.
 * Rows differ in height (groups filtered down to fewer cards take fewer lines), so the virtualised list finds the
 * rows in view from their offsets.
 */

/** Sizes in px; dashboard.css sizes .group-row, .card and .group-row.compact to match. */
export const CARD_LAYOUT = {
  minCardWidth: 168,
  /** The narrowest a card gets when its lines are short (answers like "42"). */
  narrowCardWidth: 112,
  /** The tallest card (long completions are cut there); short ones are as tall as their lines. */
  cardHeight: 112,
  /** One line of a card, and the width of one character of its monospace text, as dashboard.css sets them. */
  lineHeight: 16,
  charWidth: 7.2,
  /** The average width of a character of a card's one-line parts (head, reward functions, foot: proportional font). */
  labelCharWidth: 6.4,
  /** A card's padding, border and the gaps between its lines, beyond the lines themselves. */
  cardChrome: 12,
  lineGap: 2,
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
  /** Every card of the group is this tall: its tallest card's lines, at most CARD_LAYOUT.cardHeight. */
  cardHeight: number;
  height: number;
}

/** What a group's cards hold, for sizing them (without it, every card is the widest minimum and the full height). */
export interface CardContent {
  /** The completions' texts (they wrap). */
  texts: readonly string[];
  /** The longest one-line part of any card (its head, reward functions or foot), in characters: sets the narrowest card. */
  lineChars: number;
  /** Lines each card has besides its text: head and foot, reward functions, a failed reward's reason. */
  otherLines: number;
}

/**
 * The lines, card width and card height of a group of `count` cards in a list `width` px wide. Cards of short
 * lines may be narrower than the minimum, and cards of short completions are only as tall as their lines, so a
 * group of 8 answers in a list beside the detail pane takes two short lines rather than three tall, empty ones.
 */
export function groupLayout(count: number, width: number, content?: CardContent): GroupLayout {
  const { minCardWidth, narrowCardWidth, gap, headerHeight, rowPadding, rowInset } = CARD_LAYOUT;
  const minWidth = content ? Math.min(minCardWidth, Math.max(narrowCardWidth, Math.ceil(content.lineChars * CARD_LAYOUT.labelCharWidth) + 14)) : minCardWidth;
  const inner = Math.max(minWidth, width - rowInset);
  const columns = Math.max(1, Math.floor((inner + gap) / (minWidth + gap)));
  const lines = Math.max(1, Math.ceil(count / columns));
  const perLine = Math.max(1, Math.ceil(count / lines));
  const cardWidth = Math.floor((inner - (perLine - 1) * gap) / perLine);
  const cardHeight = content ? fittedCardHeight(content, cardWidth) : CARD_LAYOUT.cardHeight;
  return { perLine, lines, cardWidth, cardHeight, height: headerHeight + lines * (cardHeight + gap) + rowPadding };
}

/** The height of the group's tallest card: its other lines and its text wrapped at `cardWidth`, at most the full height. */
function fittedCardHeight(content: CardContent, cardWidth: number): number {
  const { lineHeight, charWidth, cardChrome, lineGap, cardHeight } = CARD_LAYOUT;
  const perLine = Math.max(1, Math.floor((cardWidth - 14) / charWidth));
  const textLines = Math.max(1, ...content.texts.map((text) => text.replace(/\n$/, '').split('\n').reduce((n, part) => n + Math.max(1, Math.ceil(part.length / perLine)), 0)));
  const lines = content.otherLines + textLines;
  return Math.min(cardHeight, cardChrome + lines * lineHeight + (lines - 1) * lineGap);
}

/** Where card `position` of a group sits within its row's card area. */
export function cardPosition(position: number, layout: GroupLayout): { left: number; top: number } {
  const { gap } = CARD_LAYOUT;
  return { left: (position % layout.perLine) * (layout.cardWidth + gap), top: Math.floor(position / layout.perLine) * (layout.cardHeight + gap) };
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
