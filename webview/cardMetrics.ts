/**
 * The widths of the rollout cards' text as this page renders it, for cardLayout's sizes. The webview takes its
 * fonts from VS Code (code-server's differ from the desktop's, and users set their own): cards sized for one
 * font's digits wrapped "r 1" in another and pushed half of the answer out of the card.
 *
 * The page is laid out to measure once per set of fonts, not per step: each character of the cards' one-line parts
 * and each pair of them is measured in the page (in an invisible card, with the cards' CSS), kept by the fonts'
 * computed style, and a line's width is their sum (textWidths.ts). Laying out a probe of every group's lines on each
 * open cost a forced layout of the page per step (~40 ms of a 1,000-rollout step's open).
 */
import { CardMetrics, DEFAULT_CARD_METRICS } from './cardLayout';
import { emptyGlyphWidths, GlyphWidths, missingGlyphs, summable, summedWidth } from './textWidths';

const MONO_SAMPLE = 'abcdefghijklmnopqrstuvwxyz0123456789';
/** Digits and the signs of numbers, the widest characters of a card's one-line parts in most fonts. */
const LABEL_SAMPLE = '0123456789 +-.e r A';
/** Measured with the first card of a set of fonts: what numbers, names and feet are made of. */
const FIRST_CHARS = [...Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)), '·', '−', '—', '…', '∞'];
/** And every pair of what numbers are made of, so that later steps' numbers need no measuring. */
const NUMBER_CHARS = [...'0123456789.+-e −'];
const FIRST_PAIRS = NUMBER_CHARS.flatMap((a) => NUMBER_CHARS.map((b) => a + b));
/** Whole lines kept per set of fonts at most (lines of characters that combine; rare): then they are measured again. */
const MAX_WHOLE_LINES = 5000;
/** Texts whose widths are kept per set of fonts at most (a step's distinct lines are a few hundred). */
const MAX_TEXTS = 50_000;

/** Marked each time the page is laid out to measure card text (tests: once per set of fonts, not per step). */
export const CARD_FONTS_MEASURED = 'grpo:card-fonts-measured';

/** A card's one-line parts, as the card shows them: the head's parts (index, reward, advantage), and the others. */
export interface CardLines {
  head: readonly string[];
  /** Reward functions and the foot (smaller type). */
  small: readonly string[];
}

/** What one set of card fonts measures. */
interface FontMeasures {
  metrics: CardMetrics;
  /** The gap between the head's parts (its flex gap). */
  headGap: number;
  head: GlyphWidths;
  small: GlyphWidths;
  /**
   * Widths of the texts seen so far (a head's parts, the other lines), summed once: the same "r 0.75" and
   * "100 tok · stop" come back on most cards. NaN for a text that is not summable (measured as a whole line).
   */
  headTexts: Map<string, number>;
  smallTexts: Map<string, number>;
  /** Lines measured whole (their characters combine), by kind and text. */
  whole: Map<string, number>;
}

/** The whole-line key of a head and of a small line. */
const headKey = (parts: readonly string[]) => `h\u0000${parts.join('\u0000')}`;
const smallKey = (text: string) => `s\u0000${text}`;

function line(className: string, parts: readonly string[], pre = false): HTMLElement {
  const element = document.createElement('div');
  element.className = className;
  for (const part of parts) {
    const span = document.createElement('span');
    span.textContent = part;
    // A lone space keeps its width (a line's edge would drop it).
    if (pre) span.style.whiteSpace = 'pre';
    element.append(span);
  }
  return element;
}

/** Width of a line's content: its parts and the gaps between them as the CSS lays them out. */
function contentWidth(element: HTMLElement): number {
  const spans = [...element.children];
  if (spans.length === 0) return 0;
  return spans[spans.length - 1].getBoundingClientRect().right - spans[0].getBoundingClientRect().left;
}

/** The properties of a line's computed style that set its text's widths. */
function fontOf(element: HTMLElement): string {
  const s = getComputedStyle(element);
  return [s.fontFamily, s.fontSize, s.fontWeight, s.fontStyle, s.fontStretch, s.fontVariant, s.fontFeatureSettings, s.fontVariationSettings, s.fontKerning, s.letterSpacing, s.wordSpacing, s.textTransform].join('|');
}

/**
 * Sizes cards in `container`'s fonts. Asking for the fonts' computed style is all a step costs once its
 * characters are known; a new set of fonts (theme, font settings, zoom of the editor font) or new characters lay the
 * page out once to measure them.
 */
export class CardMeasurer {
  private readonly fonts = new Map<string, FontMeasures>();

  constructor(private readonly container: HTMLElement) {
    // A web font that finished loading draws the same computed style in other glyphs.
    document.fonts.addEventListener('loadingdone', () => this.fonts.clear());
  }

  /**
   * The widest one-line part of each group's cards (px) and the fonts' character widths. Without a layout (a
   * hidden tab: widths 0) and fonts not measured before, the widths are undefined and the metrics the defaults:
   * cardLayout then estimates from characters.
   */
  measure(groups: readonly (readonly CardLines[])[]): { lineWidths: (number | undefined)[]; metrics: CardMetrics } {
    const card = document.createElement('div');
    card.className = 'card';
    card.style.visibility = 'hidden';
    card.style.width = 'max-content';
    card.style.height = 'auto';
    card.setAttribute('aria-hidden', 'true');
    const styleLines = { head: line('card-head', ['0']), small: line('card-foot', ['0']), text: line('card-text', ['0']) };
    card.append(styleLines.head, styleLines.small, styleLines.text);
    this.container.append(card);
    try {
      const key = [fontOf(styleLines.head.firstElementChild as HTMLElement), fontOf(styleLines.small), fontOf(styleLines.text)].join('\n');
      // While fonts load, text draws in a fallback: measured for this layout only, neither read from nor kept.
      const settled = document.fonts.status === 'loaded';
      const known = settled ? this.fonts.get(key) : undefined;
      const fonts: FontMeasures = known ?? { metrics: DEFAULT_CARD_METRICS, headGap: 0, head: emptyGlyphWidths(), small: emptyGlyphWidths(), headTexts: new Map(), smallTexts: new Map(), whole: new Map() };
      // The texts not seen before in these fonts, each once (all of them again after too many to keep).
      if (fonts.headTexts.size > MAX_TEXTS || fonts.smallTexts.size > MAX_TEXTS || fonts.whole.size > MAX_WHOLE_LINES) {
        fonts.headTexts.clear();
        fonts.smallTexts.clear();
        fonts.whole.clear();
      }
      const cards = groups.flat();
      const newHead = new Set<string>();
      const newSmall = new Set<string>();
      for (const c of cards) {
        for (const part of c.head) if (!fonts.headTexts.has(part)) newHead.add(part);
        for (const text of c.small) if (!fonts.smallTexts.has(text)) newSmall.add(text);
      }
      const first = known ? [] : [FIRST_CHARS.join(''), ...FIRST_PAIRS];
      const head = missingGlyphs([...first, ...newHead], fonts.head);
      const small = missingGlyphs([...first, ...newSmall], fonts.small);
      const notSummable = (part: string) => {
        const width = fonts.headTexts.get(part);
        return width === undefined ? !summable(part) : Number.isNaN(width);
      };
      const wholeHeads = new Map(cards.filter((c) => c.head.some(notSummable) && !fonts.whole.has(headKey(c.head))).map((c) => [headKey(c.head), c.head]));
      const wholeSmall = new Set([...newSmall].filter((text) => !summable(text) && !fonts.whole.has(smallKey(text))));
      const missing = [head.chars, head.pairs, small.chars, small.pairs].some((list) => list.length > 0);
      if (!known || missing || wholeHeads.size > 0 || wholeSmall.size > 0) {
        card.replaceChildren();
        const measured = this.layOut(card, fonts, head, small, wholeHeads, wholeSmall);
        if (!measured) return { lineWidths: groups.map(() => undefined), metrics: known?.metrics ?? DEFAULT_CARD_METRICS };
        if (settled) this.fonts.set(key, fonts);
      }
      remember(fonts.headTexts, newHead, fonts.head);
      remember(fonts.smallTexts, newSmall, fonts.small);
      return { lineWidths: groups.map((group) => widestLine(group, fonts)), metrics: fonts.metrics };
    } finally {
      card.remove();
    }
  }

  /** Measures what `fonts` lacks in one layout of `card`; false when the page has no layout for it (a hidden tab). */
  private layOut(card: HTMLElement, fonts: FontMeasures, head: Glyphs, small: Glyphs, wholeHeads: Map<string, readonly string[]>, wholeSmall: Set<string>): boolean {
    const mono = line('card-text', [MONO_SAMPLE]);
    const label = line('card-head', [LABEL_SAMPLE]);
    const gap = line('card-head', ['0', '0']);
    // Characters and pairs, each in its own span: a head's parts are flex items, the other lines' text is inline.
    const heads = line('card-head', [...head.chars, ...head.pairs], true);
    const smalls = line('card-foot', [...small.chars, ...small.pairs], true);
    const headLines = new Map([...wholeHeads].map(([key, parts]) => [key, line('card-head', parts)]));
    const smallLines = new Map([...wholeSmall].map((text) => [smallKey(text), line('card-foot', [text])]));
    card.append(mono, label, gap, heads, smalls, ...headLines.values(), ...smallLines.values());
    const charWidth = contentWidth(mono) / MONO_SAMPLE.length;
    const labelCharWidth = contentWidth(label) / LABEL_SAMPLE.length;
    if (!(charWidth > 0 && labelCharWidth > 0)) return false;
    performance.mark(CARD_FONTS_MEASURED);
    // A little over for the wrapped text: a card a pixel too wide costs nothing, one too narrow wraps a line.
    fonts.metrics = { charWidth: charWidth * 1.02, labelCharWidth };
    const [first, second] = [...gap.children].map((span) => span.getBoundingClientRect());
    fonts.headGap = second.left - first.right;
    readGlyphs(heads, head, fonts.head);
    readGlyphs(smalls, small, fonts.small);
    for (const [key, element] of [...headLines, ...smallLines]) fonts.whole.set(key, contentWidth(element));
    return true;
  }
}

/** Characters and pairs to measure. */
interface Glyphs {
  chars: string[];
  pairs: string[];
}

/** Reads the widths of `glyphs`' spans in `element` (the characters', then the pairs') into `widths`. */
function readGlyphs(element: HTMLElement, glyphs: Glyphs, widths: GlyphWidths): void {
  const spans = [...element.children].map((span) => span.getBoundingClientRect().width);
  glyphs.chars.forEach((char, i) => widths.chars.set(char, spans[i]));
  glyphs.pairs.forEach((pair, i) => {
    const [a, b] = [...pair];
    widths.pairs.set(pair, spans[glyphs.chars.length + i] - (widths.chars.get(a) ?? 0) - (widths.chars.get(b) ?? 0));
  });
}

/** Keeps the summed widths of `texts` (NaN where they are not summable). */
function remember(widths: Map<string, number>, texts: Set<string>, glyphs: GlyphWidths): void {
  for (const text of texts) widths.set(text, summedWidth(text, glyphs) ?? NaN);
}

/** The widest one-line part of a group's cards, from the measured characters (whole lines where they combine). */
function widestLine(group: readonly CardLines[], fonts: FontMeasures): number {
  let widest = 0;
  for (const card of group) {
    let head = (card.head.length - 1) * fonts.headGap;
    for (const part of card.head) head += fonts.headTexts.get(part) ?? NaN;
    widest = Math.max(widest, Number.isNaN(head) ? (fonts.whole.get(headKey(card.head)) ?? 0) : head);
    for (const text of card.small) {
      const width = fonts.smallTexts.get(text) ?? NaN;
      widest = Math.max(widest, Number.isNaN(width) ? (fonts.whole.get(smallKey(text)) ?? 0) : width);
    }
  }
  // A little over: a card a pixel too wide costs nothing, one too narrow wraps a line.
  return Math.ceil(widest) + 2;
}
