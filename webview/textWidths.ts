/**
 * A one-line text's width as the sum of its characters' widths, each measured once per font (cardMetrics.ts
 * measures them in the page): a step's 1,000 cards are then sized without laying out any of their lines. Pure:
 * unit tests run it in Node.
 *
 * The sum is what the text measures where its characters do not change each other's shapes; kerning moves a pair
 * by a fraction of a pixel (mostly closer), which the cards' 2 px of slack covers. Texts whose characters do
 * combine (marks, joiners, joining scripts, emoji sequences) or control their layout are not summed: the page
 * measures those whole.
 */

/** Width in px of single characters of one kind of line, as the page's fonts draw them. */
export type CharWidths = ReadonlyMap<string, number>;

/**
 * Characters whose width depends on their neighbours or that are not one glyph: combining marks, format characters
 * (joiners, bidi controls, soft hyphen), controls (tab, newline), astral characters (emoji and their sequences),
 * and the joining scripts (Arabic, Syriac, N'Ko, Mongolian …), whose letters change shape with the next.
 */
const NOT_SUMMABLE = /[\p{M}\p{Cf}\p{Cc}\p{Cs}\u{10000}-\u{10FFFF}\p{Script=Arabic}\p{Script=Syriac}\p{Script=Nko}\p{Script=Mongolian}\p{Script=Mandaic}\p{Script=Adlam}]/u;

/** Whether `text` is as wide as its characters together (else it is measured whole). */
export function summable(text: string): boolean {
  return !NOT_SUMMABLE.test(text);
}

/** The characters of the summable `texts` that `widths` lacks, each once. */
export function missingChars(texts: Iterable<string>, widths: CharWidths): string[] {
  const missing = new Set<string>();
  for (const text of texts) {
    if (!summable(text)) continue;
    for (const char of text) if (!widths.has(char)) missing.add(char);
  }
  return [...missing];
}

/** The width of `text` from its characters' widths; undefined when it is not summable or a character is missing. */
export function summedWidth(text: string, widths: CharWidths): number | undefined {
  if (!summable(text)) return undefined;
  let width = 0;
  for (const char of text) {
    const w = widths.get(char);
    if (w === undefined) return undefined;
    width += w;
  }
  return width;
}
