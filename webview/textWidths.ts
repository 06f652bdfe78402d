/**
 * A one-line text's width from its characters' widths and the kerning of each adjacent pair, each measured once per
 * font (cardMetrics.ts measures them in the page): a step's 1,000 cards are then sized without laying out any of
 * their lines. Pure: unit tests run it in Node.
 *
 * Kerning moves a pair by up to ~2 px either way ("Tj" is 1.8 px wider than T and j apart in DejaVu Sans at 13 px),
 * so pairs are measured too; with them the sum is the text's width to a fraction of a pixel. Texts whose characters
 * combine beyond pairs (marks, joiners, joining scripts, emoji sequences) or steer their layout are not summed: the
 * page measures those whole.
 */

/** Widths in px of one kind of line's characters, and how much wider each measured pair is together than apart. */
export interface GlyphWidths {
  chars: Map<string, number>;
  /** Kerning (and ligatures) of a pair of characters: its width together less the two widths apart. */
  pairs: Map<string, number>;
}

export const emptyGlyphWidths = (): GlyphWidths => ({ chars: new Map(), pairs: new Map() });

/**
 * Characters whose width depends on more than their neighbour or that are not one glyph: combining marks, format
 * characters (joiners, bidi controls, soft hyphen), controls (tab, newline), astral characters (emoji and their
 * sequences), and the joining scripts (Arabic, Syriac, N'Ko, Mongolian …), whose letters change shape with the next.
 */
const NOT_SUMMABLE = /[\p{M}\p{Cf}\p{Cc}\p{Cs}\u{10000}-\u{10FFFF}\p{Script=Arabic}\p{Script=Syriac}\p{Script=Nko}\p{Script=Mongolian}\p{Script=Mandaic}\p{Script=Adlam}]/u;

/** Whether `text` is as wide as its characters and their pairs together (else it is measured whole). */
export function summable(text: string): boolean {
  return !NOT_SUMMABLE.test(text);
}

/** The characters and adjacent pairs of the summable `texts` that `widths` lacks, each once. */
export function missingGlyphs(texts: Iterable<string>, widths: GlyphWidths): { chars: string[]; pairs: string[] } {
  const chars = new Set<string>();
  const pairs = new Set<string>();
  for (const text of texts) {
    if (!summable(text)) continue;
    let previous = '';
    for (const char of text) {
      if (!widths.chars.has(char)) chars.add(char);
      const pair = previous + char;
      if (previous && !widths.pairs.has(pair)) pairs.add(pair);
      previous = char;
    }
  }
  return { chars: [...chars], pairs: [...pairs] };
}

/** The width of `text` from its characters and pairs; undefined when it is not summable or one is not measured. */
export function summedWidth(text: string, widths: GlyphWidths): number | undefined {
  if (!summable(text)) return undefined;
  let width = 0;
  let previous = '';
  for (const char of text) {
    const w = widths.chars.get(char);
    const kerning = previous ? widths.pairs.get(previous + char) : 0;
    if (w === undefined || kerning === undefined) return undefined;
    width += w + kerning;
    previous = char;
  }
  return width;
}
