/**
 * Where the rollout browser puts its groups and cards. Pure: unit tests run it in Node.
 *
 * A group's completions wrap onto as many lines as the list's width needs (balanced: 8 cards in a row of 5 columns
 * go 4 + 4, not 5 + 3), so a whole group of 8 is in view at once instead of 3 cards and a scrollbar. Cards are as
 * tall as their content needs (up to a maximum, cut at a whole line) and as narrow as their one-line parts allow.
 * The widths of the fonts come from the page (measureCardMetrics in cardMetrics.ts): estimates for one font cut
 * text in another (code-server's fonts wrapped "r 1" and hid half of "apple"). A step whose
 * groups all hold one completion (validation samples: one per prompt) is a compact list, one line per prompt.
 * Rows differ in height (groups filtered down to fewer cards take fewer lines), so the virtualised list finds the
 * rows in view from their offsets.
 */

/** Sizes in px; dashboard.css sizes .group-row, .card and .group-row.compact to match. */
export const CARD_LAYOUT = {
  minCardWidth: 168,
  /** The narrowest a card gets when its lines are short (answers like "42"). */
  narrowCardWidth: 112,
  /** The tallest card (long completions are cut there, at a whole line); short ones are as tall as their lines. */
  cardHeight: 128,
  /** One line of a card: dashboard.css fixes every card line's line-height to it, so heights do not depend on fonts. */
  lineHeight: 16,
  /** Defaults of the measured font metrics (CardMetrics), for Node and a list not laid out yet. */
  charWidth: 7.2,
  labelCharWidth: 6.4,
  /** A card's padding (4 px) and border (1 px), top and bottom together. */
  cardChrome: 10,
  /** The gap between a card's lines (head, reward functions, error, text, foot): the card's flex gap. */
  lineGap: 2,
  /** A card's padding and border left and right together: what its text box is narrower than the card. */
  cardInset: 14,
  /** The gaps between the head's three parts (index, reward, advantage) beyond a space: 2 × 8 px. */
  headGaps: 16,
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
  /** The text lines a card shows (dashboard.css clamps its text there, with an ellipsis). */
  textLines: number;
  height: number;
}

/** What a group's cards hold, for sizing them (without it, every card is the widest minimum and the full height). */
export interface CardContent {
  /** The completions' texts (they wrap). */
  texts: readonly string[];
  /** The longest one-line part of any card (its head, reward functions or foot), in characters: sets the narrowest card. */
  lineChars: number;
  /** The widest one-line part in px as the page renders it (cardMetrics.ts), where measured: preferred to lineChars. */
  lineWidth?: number;
  /**
   * Lines each card has besides its text: head and foot, reward functions, a failed reward's reason. Each is one
   * flex item of the card (an empty reward-functions line is not displayed).
   */
  otherLines: number;
}

/** The widths of a card's fonts as the page renders them (cardMetrics.ts measures them). */
export interface CardMetrics {
  /** One character of the monospace completion text. */
  charWidth: number;
  /** A character of the one-line parts (proportional font; measured on digits, the widest of what they hold). */
  labelCharWidth: number;
}

export const DEFAULT_CARD_METRICS: CardMetrics = { charWidth: CARD_LAYOUT.charWidth, labelCharWidth: CARD_LAYOUT.labelCharWidth };

/**
 * The lines, card width and card height of a group of `count` cards in a list `width` px wide. Cards of short
 * lines may be narrower than the minimum, and cards of short completions are only as tall as their lines, so a
 * group of 8 answers in a list beside the detail pane takes two short lines rather than three tall, empty ones.
 */
export function groupLayout(count: number, width: number, content?: CardContent, metrics: CardMetrics = DEFAULT_CARD_METRICS): GroupLayout {
  const { minCardWidth, narrowCardWidth, gap, headerHeight, rowPadding, rowInset, cardInset, headGaps } = CARD_LAYOUT;
  const lineWidth = !content ? minCardWidth : (content.lineWidth ?? Math.ceil(content.lineChars * metrics.labelCharWidth) + headGaps) + cardInset;
  const minWidth = Math.min(minCardWidth, Math.max(narrowCardWidth, lineWidth));
  const inner = Math.max(minWidth, width - rowInset);
  const columns = Math.max(1, Math.floor((inner + gap) / (minWidth + gap)));
  const lines = Math.max(1, Math.ceil(count / columns));
  const perLine = Math.max(1, Math.ceil(count / lines));
  const cardWidth = Math.floor((inner - (perLine - 1) * gap) / perLine);
  const { cardHeight, textLines } = fittedCard(content ?? { texts: [], lineChars: 0, otherLines: 3 }, cardWidth, metrics, content === undefined);
  return { perLine, lines, cardWidth, cardHeight, textLines, height: headerHeight + lines * (cardHeight + gap) + rowPadding };
}

/**
 * The height of the group's tallest card and the text lines it shows: its other lines and its text wrapped at
 * `cardWidth`, at most as many text lines as fit in the full height. The height is exact (padding, border, one gap
 * per line besides the text, whole lines), so the text box holds whole lines: never a line cut through its letters.
 */
function fittedCard(content: CardContent, cardWidth: number, metrics: CardMetrics, full: boolean): { cardHeight: number; textLines: number } {
  const { lineHeight, cardChrome, lineGap, cardHeight, cardInset } = CARD_LAYOUT;
  const fixed = cardChrome + content.otherLines * (lineHeight + lineGap);
  const fitting = Math.max(1, Math.floor((cardHeight - fixed) / lineHeight));
  const perLine = Math.max(1, Math.floor((cardWidth - cardInset) / metrics.charWidth));
  // The tallest text decides, up to the lines that fit: counting stops there (a 1,000-card step's long completions
  // are each counted to a few lines, not to the end).
  let needed = full ? fitting : 1;
  for (const text of content.texts) {
    if (needed >= fitting) break;
    needed = Math.max(needed, wrappedLines(text, perLine, fitting));
  }
  const textLines = Math.min(fitting, needed);
  return { cardHeight: fixed + textLines * lineHeight, textLines };
}

/**
 * How many lines `text` takes wrapped at `perLine` monospace characters as the card's CSS wraps it (pre-wrap,
 * break-word): at spaces where a word fits, mid-word only for a word longer than a line; every newline starts a
 * line (a trailing one adds none). Counting stops at `limit` (the lines a card can show): the answer is then `limit`.
 */
export function wrappedLines(text: string, perLine: number, limit = Infinity): number {
  const paragraphs = text.replace(/\n$/, '').split('\n');
  let lines = 0;
  for (const paragraph of paragraphs) {
    lines += paragraphLines(paragraph, perLine, limit - lines);
    if (lines >= limit) return limit;
  }
  return lines;
}

/** The lines of one paragraph, counted up to `limit`. */
function paragraphLines(paragraph: string, perLine: number, limit: number): number {
  // A paragraph that fits on its line whole needs no word by word count.
  if (paragraph.length <= perLine) return 1;
  let lines = 1;
  let used = 0;
  // Words with the spaces after them: pre-wrap lets spaces hang past the line's end.
  for (const [, word, spaces] of paragraph.matchAll(/([^ ]*)( *)/g)) {
    if (lines >= limit) return limit;
    if (word.length === 0 && spaces.length === 0) continue;
    if (used > 0 && used + word.length > perLine) {
      lines++;
      used = 0;
    }
    if (used === 0 && word.length > perLine) {
      // A word longer than a line breaks across lines; the last piece (1 … perLine characters) starts the next.
      const pieces = Math.ceil(word.length / perLine);
      lines += pieces - 1;
      used = word.length - (pieces - 1) * perLine;
    } else used += word.length;
    used += spaces.length;
  }
  return lines;
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
