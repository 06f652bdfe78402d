/**
 * The widths of the rollout cards' text as this page renders it, for cardLayout's sizes. The webview takes its
 * fonts from VS Code (code-server's differ from the desktop's, and users set their own): cards sized for one
 * font's digits wrapped "r 1" in another and pushed half of the answer out of the card.
 */
import { CardMetrics, DEFAULT_CARD_METRICS } from './cardLayout';

const MONO_SAMPLE = 'abcdefghijklmnopqrstuvwxyz0123456789';
/** Digits and the signs of numbers, the widest characters of a card's one-line parts in most fonts. */
const LABEL_SAMPLE = '0123456789 +-.e r A';

/** A card's one-line parts, as the card shows them: the head's parts (index, reward, advantage), and the others. */
export interface CardLines {
  head: readonly string[];
  /** Reward functions and the foot (smaller type). */
  small: readonly string[];
}

/**
 * A group's lines that can be its widest: of the lines that differ only in their numbers (a digit's width is the same
 * in a card's fonts), the longest. Measuring those, not every card's lines, keeps a 1,000-card step to one small
 * layout (every line of every card took ~100 ms).
 */
function longestLines(group: readonly CardLines[]): CardLines[] {
  const longestOfEachShape = (texts: readonly string[]) => {
    const byShape = new Map<string, string>();
    for (const text of texts) {
      const shape = text.replace(/[0-9]+/g, '0');
      if ((byShape.get(shape)?.length ?? -1) < text.length) byShape.set(shape, text);
    }
    return [...byShape.values()];
  };
  const heads = new Map(group.map((card) => [card.head.join('\u0000'), card.head]));
  const keptHeads = new Set(longestOfEachShape([...heads.keys()]));
  const small = longestOfEachShape(group.flatMap((card) => card.small));
  return [...keptHeads].map((key, i) => ({ head: heads.get(key)!, small: i === 0 ? small : [] }));
}

function line(className: string, parts: readonly string[]): HTMLElement {
  const element = document.createElement('div');
  element.className = className;
  for (const part of parts) {
    const span = document.createElement('span');
    span.textContent = part;
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

/**
 * Measures, with the page's CSS and fonts, the widest one-line part of each group's cards (px) and the fonts'
 * character widths, in an invisible card in `container` (one layout for all). Without a layout (a hidden tab: widths
 * 0) the widths are undefined and the metrics the defaults: cardLayout then estimates from characters.
 */
export function measureCards(container: HTMLElement, groups: readonly (readonly CardLines[])[]): { lineWidths: (number | undefined)[]; metrics: CardMetrics } {
  const candidates = groups.map(longestLines);
  const cards = candidates.flat();
  const probe = document.createElement('div');
  probe.className = 'card';
  probe.style.visibility = 'hidden';
  probe.style.width = 'max-content';
  probe.style.height = 'auto';
  probe.setAttribute('aria-hidden', 'true');
  // Each distinct line once: a bandit group's 20 heads are mostly the same text.
  const heads = new Map(cards.map((c) => [c.head.join('\u0000'), c.head]));
  const smalls = new Set(cards.flatMap((c) => c.small).filter((s) => s.length > 0));
  const headLines = new Map([...heads].map(([key, parts]) => [key, line('card-head', parts)]));
  const smallLines = new Map([...smalls].map((text) => [text, line('card-foot', [text])]));
  const mono = line('card-text', [MONO_SAMPLE]);
  const label = line('card-head', [LABEL_SAMPLE]);
  probe.append(mono, label, ...headLines.values(), ...smallLines.values());
  container.append(probe);
  try {
    const charWidth = contentWidth(mono) / MONO_SAMPLE.length;
    const labelCharWidth = contentWidth(label) / LABEL_SAMPLE.length;
    if (!(charWidth > 0 && labelCharWidth > 0)) return { lineWidths: groups.map(() => undefined), metrics: DEFAULT_CARD_METRICS };
    const widths = new Map([...headLines, ...smallLines].map(([key, element]) => [key, contentWidth(element)]));
    const widest = (card: CardLines) => Math.max(widths.get(card.head.join('\u0000')) ?? 0, ...card.small.map((s) => widths.get(s) ?? 0));
    // A little over: a card a pixel too wide costs nothing, one too narrow wraps a line.
    const lineWidths = candidates.map((group) => Math.ceil(Math.max(0, ...group.map(widest))) + 2);
    return { lineWidths, metrics: { charWidth: charWidth * 1.02, labelCharWidth } };
  } finally {
    probe.remove();
  }
}
