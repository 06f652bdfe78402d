/**
 * One completion, token by token, each token coloured by a chosen quantity, with a legend and a hover card that
 * shows every quantity of the token under the pointer. Token text is model output: textContent only. Whitespace
 * and special tokens are drawn visibly (· for a space, ↵ for a newline, a box around `<|…|>`).
 */
import type { TokenColumns } from '../src/protocol/records';
import type { GroupSummary, RolloutSummary, TokenQuantity } from '../src/protocol/webview';
import { formatValue } from './charts';
import { onThemeChange, parseHex, themeColor } from './theme';
import { cellColors, displayToken, Domain, hasQuantity, isDegenerate, maxLogRatio, QUANTITIES, QUANTITY_ORDER, quantityDescription, RATIO_QUANTITIES, ratioIsOne, Rgb, RunTokenFacts, saturates, tokenFill, TokenPalette, tokenValue } from './tokenColors';
import { labelled, select, setOptions } from './toolkit';

function rgbOf(variable: string, fallback: Rgb): Rgb {
  return parseHex(themeColor(variable, '')) ?? fallback;
}

export function themePalette(): TokenPalette {
  return {
    positive: rgbOf('--vscode-charts-green', [137, 209, 133]),
    negative: rgbOf('--vscode-charts-red', [241, 76, 76]),
    high: rgbOf('--vscode-charts-orange', [209, 134, 22]),
  };
}

/** The colours a token cell is painted over and its text's own colour, to keep text readable on every fill. */
function themeText(): { canvas: Rgb; text: Rgb } {
  return { canvas: rgbOf('--vscode-editor-background', [30, 30, 30]), text: rgbOf('--vscode-editor-foreground', rgbOf('--vscode-foreground', [204, 204, 204])) };
}

export interface TokenViewSubject {
  group: GroupSummary;
  rollout: RolloutSummary;
  label: string;
}

export class TokenView {
  readonly element = document.createElement('section');
  private readonly heading = document.createElement('h3');
  private readonly facts = document.createElement('dl');
  private readonly quantitySelect: HTMLSelectElement;
  private readonly legend = document.createElement('div');
  /** Why the ratio and clip colours are missing, when they are. */
  private readonly ratioNote = document.createElement('p');
  private runFacts: RunTokenFacts | undefined;
  private readonly tokensElement = document.createElement('div');
  /** Colour by and its legend: hidden for a completion without per-token data. */
  private readonly controls = document.createElement('div');
  /** Why there is nothing to colour, for a completion whose trainer kept only its text. */
  private readonly textOnlyNote = document.createElement('p');
  private readonly card = document.createElement('div');
  private subject: TokenViewSubject | undefined;
  /** The subject's per-token columns; undefined while they are being fetched. */
  private tokens: TokenColumns | undefined;
  private domain: Domain | undefined;
  /** What colours the tokens: the chosen quantity, or the first one the completion has when it lacks that one. */
  private shownQuantity: TokenQuantity;
  /** The token the keyboard is on (Left/Right in the token strip); -1 before any. */
  private cursor = -1;

  constructor(
    /** The user's choice, kept while completions without that quantity (validation samples) are shown. */
    private quantity: TokenQuantity,
    private readonly domainOf: (quantity: TokenQuantity) => Domain | undefined,
    private readonly onQuantityChange: (quantity: TokenQuantity) => void,
  ) {
    this.element.className = 'token-view';
    this.shownQuantity = quantity;
    this.quantitySelect = select(QUANTITY_ORDER.map((q) => ({ value: q, label: QUANTITIES[q].label })), quantity, (q) => {
      this.quantity = q;
      this.onQuantityChange(q);
      this.render();
    });
    const controls = this.controls;
    controls.className = 'toolbar';
    controls.append(labelled('Colour by', this.quantitySelect), this.legend);
    this.textOnlyNote.className = 'text-only-note';
    this.textOnlyNote.hidden = true;
    this.legend.className = 'legend';
    this.tokensElement.className = 'tokens';
    this.tokensElement.addEventListener('mouseover', (e) => {
      if (e.target instanceof HTMLElement && e.target.classList.contains('token')) this.showCard(e.target);
    });
    this.tokensElement.addEventListener('mouseleave', () => (this.card.hidden = document.activeElement !== this.tokensElement));
    // Keyboard: the strip is one tab stop; Left/Right/Home/End move between tokens and the card reads out the values.
    this.tokensElement.tabIndex = 0;
    this.tokensElement.setAttribute('role', 'group');
    this.tokensElement.setAttribute('aria-label', 'Completion tokens: Left and Right arrows read each token\'s values');
    this.tokensElement.addEventListener('keydown', (e) => this.onKey(e));
    this.tokensElement.addEventListener('focus', () => this.moveCursor(Math.max(0, this.cursor)));
    this.tokensElement.addEventListener('blur', () => (this.card.hidden = true));
    this.card.className = 'token-card';
    this.card.setAttribute('role', 'status');
    this.card.setAttribute('aria-live', 'polite');
    this.card.hidden = true;
    this.facts.className = 'facts';
    this.ratioNote.className = 'ratio-note';
    this.ratioNote.hidden = true;
    this.element.append(this.heading, this.facts, controls, this.textOnlyNote, this.ratioNote, this.tokensElement, this.card);
    this.clear();
    // Token colours come from the theme's chart palette.
    onThemeChange(() => this.render());
  }

  /** The run's supervision mode and whether it is on-policy (from its config; undefined: unknown). */
  setRunFacts(facts: RunTokenFacts | undefined): void {
    this.runFacts = facts;
    this.render();
  }

  clear(): void {
    this.subject = undefined;
    this.heading.textContent = 'Select a completion';
    this.facts.replaceChildren();
    this.tokensElement.replaceChildren();
    this.legend.replaceChildren();
    this.ratioNote.hidden = true;
    this.textOnlyNote.hidden = true;
    this.controls.hidden = false;
    this.card.hidden = true;
  }

  show(subject: TokenViewSubject, tokens: TokenColumns | undefined): void {
    this.subject = subject;
    this.tokens = tokens;
    this.cursor = -1;
    this.render();
  }

  showError(message: string): void {
    this.tokens = undefined;
    this.tokensElement.dataset.state = 'error';
    this.tokensElement.textContent = `Cannot read the tokens: ${message}`;
    this.card.hidden = true;
  }

  private render(): void {
    const subject = this.subject;
    if (!subject) return;
    this.heading.textContent = subject.label;
    this.renderFacts(subject);
    const textOnly = !subject.rollout.tokensRecorded;
    this.controls.hidden = textOnly;
    this.textOnlyNote.hidden = !textOnly;
    if (textOnly) {
      this.renderText(subject.rollout.completion);
      return;
    }
    const tokens = this.tokens;
    // 'loading' until the columns arrive, then 'ready' (tests and tools wait on it).
    this.tokensElement.dataset.state = tokens ? 'ready' : 'loading';
    if (!tokens) {
      this.tokensElement.textContent = 'Reading tokens…';
      this.card.hidden = true;
      return;
    }
    const ratioOne = ratioIsOne(this.domainOf('ratio'), this.runFacts);
    this.ratioNote.hidden = !ratioOne || !hasQuantity(tokens, 'ratio');
    this.ratioNote.textContent = ratioNote(this.domainOf('ratio'), this.runFacts);
    const available = QUANTITY_ORDER.filter((q) => hasQuantity(tokens, q) && !(ratioOne && RATIO_QUANTITIES.includes(q)));
    this.shownQuantity = available.includes(this.quantity) || available.length === 0 ? this.quantity : available[0];
    setOptions(this.quantitySelect, available.map((q) => ({ value: q, label: QUANTITIES[q].label })), this.shownQuantity);
    this.domain = this.domainOf(this.shownQuantity);
    this.renderLegend();
    this.renderTokens(tokens);
  }

  private renderFacts({ group, rollout }: TokenViewSubject): void {
    const rows: [string, string][] = [
      ['prompt', group.prompt],
      ...(group.ground_truth !== undefined ? ([['ground truth', group.ground_truth]] as [string, string][]) : []),
      ['reward', formatValue(rollout.reward)],
      // A failed sample's reason in full (the card has room for its first words only).
      ...(rollout.error !== undefined ? ([['reward failed', rollout.error]] as [string, string][]) : []),
      ...Object.entries(rollout.rewards).map(([name, value]): [string, string] => [`  ${name}`, formatValue(value)]),
      ['advantage', formatValue(rollout.advantage)],
      ['length', rollout.tokensRecorded ? `${rollout.length} tokens` : 'not recorded'],
      ['finish', rollout.finish_reason],
    ];
    this.facts.replaceChildren(
      ...rows.flatMap(([term, value]) => {
        const dt = document.createElement('dt');
        dt.textContent = term;
        const dd = document.createElement('dd');
        dd.textContent = value;
        return [dt, dd];
      }),
    );
  }

  /**
   * A completion the trainer kept as text only (verl, TRL, a prime-rl step without a token export): the text as it
   * is, and why there is no per-token colouring instead of a Colour by that colours nothing.
   */
  private renderText(completion: string): void {
    this.textOnlyNote.textContent = 'Tokens not recorded: the trainer kept this completion as text only, so there are no per-token values (log-prob, advantage, …) to colour by.';
    this.ratioNote.hidden = true;
    this.card.hidden = true;
    this.tokensElement.dataset.state = 'text';
    const text = document.createElement('span');
    text.className = 'completion-text';
    text.textContent = completion;
    this.tokensElement.replaceChildren(text);
  }

  private renderTokens(tokens: TokenColumns): void {
    const palette = themePalette();
    const { canvas, text: textColor } = themeText();
    const fragment = document.createDocumentFragment();
    tokens.text.forEach((text, i) => {
      const { shown, special, lineBreak } = displayToken(text);
      const span = document.createElement('span');
      span.className = special ? 'token special' : 'token';
      span.textContent = shown;
      span.dataset.index = String(i);
      const value = tokenValue(tokens, this.shownQuantity, i);
      if (value !== undefined) span.dataset.value = String(value);
      const { background, color } = cellColors(tokenFill(this.shownQuantity, value, this.domain, palette), canvas, textColor);
      span.style.backgroundColor = background;
      span.style.color = color;
      fragment.append(span);
      if (lineBreak) fragment.append(document.createElement('br'));
    });
    this.tokensElement.replaceChildren(fragment);
  }

  private renderLegend(): void {
    const spec = QUANTITIES[this.shownQuantity];
    const domain = this.domain;
    const title = document.createElement('span');
    title.textContent = domain && isDegenerate(domain) ? flatLegend(this.shownQuantity, domain) : quantityDescription(this.shownQuantity, this.runFacts);
    title.className = 'legend-title';
    if (!domain || isDegenerate(domain)) {
      this.legend.replaceChildren(title);
      return;
    }
    const palette = themePalette();
    const { canvas, text: textColor } = themeText();
    const stops = legendStops(this.shownQuantity, domain);
    const swatches = stops.map(({ value, label }) => {
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      const { background, color } = cellColors(tokenFill(this.shownQuantity, value, domain, palette), canvas, textColor);
      swatch.style.backgroundColor = background;
      swatch.style.color = color;
      swatch.textContent = label;
      swatch.title = `${spec.label} ${label}`;
      return swatch;
    });
    this.legend.replaceChildren(title, ...swatches, ...(saturates(domain) ? [saturationNote(this.shownQuantity, domain)] : []));
  }

  private onKey(event: KeyboardEvent): void {
    const count = this.tokens?.text.length ?? 0;
    if (count === 0) return;
    const moves: Record<string, number> = { ArrowRight: this.cursor + 1, ArrowLeft: this.cursor - 1, Home: 0, End: count - 1 };
    if (!(event.key in moves)) return;
    event.preventDefault();
    this.moveCursor(Math.min(count - 1, Math.max(0, moves[event.key])));
  }

  private moveCursor(index: number): void {
    const spans = this.tokensElement.querySelectorAll<HTMLElement>('.token');
    if (spans.length === 0) return;
    spans[this.cursor]?.classList.remove('current');
    this.cursor = Math.min(index, spans.length - 1);
    const span = spans[this.cursor];
    span.classList.add('current');
    span.scrollIntoView({ block: 'nearest' });
    this.showCard(span);
  }

  /**
   * The hover card: every per-token quantity of the token `target`, below it, or above it near the bottom of the
   * view (the view scrolls, so a card below its edge would be cut off).
   */
  private showCard(target: HTMLElement): void {
    const tokens = this.tokens;
    if (!tokens) return;
    const rows = tokenFacts(tokens, Number(target.dataset.index));
    fillCard(this.card, rows);
    placeCard(this.card, this.element, target.getBoundingClientRect(), visibleBounds(this.element));
  }
}

/** Why the ratio and clip colours are not offered: the ratio is 1 (and how far the stored values stray, if at all). */
function ratioNote(ratioDomain: Domain | undefined, facts: RunTokenFacts | undefined): string {
  const stray = ratioDomain ? maxLogRatio(ratioDomain) : 0;
  const rounding = stray > 0 ? ` (stored values within ×(1 ± ${formatValue(Math.expm1(stray))}): float rounding between the sampling and training passes)` : '';
  return facts?.onPolicy
    ? `π_θ / π_old = 1 at every token: the run is on-policy (num_iterations μ = 1, one step per generation)${rounding}, so nothing is clipped; ratio and clipping are not offered as colours.`
    : 'π_θ / π_old = 1 at every token of this step (nothing clipped): ratio and clipping are not offered as colours.';
}

/** How a value of `quantity` reads in the legend: the ratio as ×r, the others as themselves. */
function legendValue(quantity: TokenQuantity, value: number): string {
  return quantity === 'ratio' ? `×${formatValue(Math.exp(value))}` : formatValue(value);
}

/** The legend's word that outliers saturate: where the scale ends, and how far the step's values go beyond it. */
function saturationNote(quantity: TokenQuantity, domain: Domain): HTMLElement {
  const note = document.createElement('span');
  note.className = 'legend-saturation';
  const beyond = [
    ...(domain.low > domain.min ? [`min ${legendValue(quantity, domain.min)}`] : []),
    ...(domain.high < domain.max ? [`max ${legendValue(quantity, domain.max)}`] : []),
  ];
  note.textContent = `outliers saturate (step ${beyond.join(', ')})`;
  note.title = 'The scale spans the step\'s values without its outliers (beyond 3 interquartile ranges, at most the outer 1 %), so one extreme token does not wash out the rest; tokens beyond it take the end colour.';
  return note;
}

/** Every per-token quantity of token `i`, as the hover cards list them: name, formatted value. */
export function tokenFacts(tokens: TokenColumns, i: number): [string, string][] {
  const rows: [string, string][] = [
    ['token', JSON.stringify(tokens.text[i])],
    ['position', String(i)],
  ];
  const number = (value: number | undefined) => (value === undefined ? undefined : formatValue(value));
  const add = (name: string, value: string | undefined) => value !== undefined && rows.push([name, value]);
  add('log-prob', number(tokens.logprob[i]));
  add('probability', number(Math.exp(tokens.logprob[i])));
  add('old log-prob', number(tokens.old_logprob?.[i]));
  add('ref log-prob', number(tokens.ref_logprob?.[i]));
  add('advantage', number(tokens.advantage?.[i]));
  add('ratio', number(tokens.ratio?.[i]));
  if (tokens.clipped_low || tokens.clipped_high) add('clipped', tokens.clipped_low?.[i] ? 'low' : tokens.clipped_high?.[i] ? 'high' : 'no');
  add('KL', number(tokens.kl?.[i]));
  add('entropy', number(tokens.entropy?.[i]));
  return rows;
}

/** A rectangle in viewport coordinates (a DOMRect is one). */
export interface ViewportBox {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/** Where a hover card can be seen: the viewport, within `clip`'s inside where given (an element that scrolls). */
export function visibleBounds(clip?: HTMLElement): ViewportBox {
  const root = document.documentElement;
  const viewport = { left: 0, top: 0, right: root.clientWidth, bottom: root.clientHeight };
  if (!clip) return viewport;
  const rect = clip.getBoundingClientRect();
  const left = rect.left + clip.clientLeft;
  const top = rect.top + clip.clientTop;
  return {
    left: Math.max(viewport.left, left),
    top: Math.max(viewport.top, top),
    right: Math.min(viewport.right, left + clip.clientWidth),
    bottom: Math.min(viewport.bottom, top + clip.clientHeight),
  };
}

/**
 * Shows a hover card, absolutely positioned in `container`, by `anchor` (what it describes, in viewport
 * coordinates) and within `bounds`: below the anchor, or above it where there is no room below (clamped to the
 * bounds where neither side has room); from the anchor's left edge, moved left as far as its width needs.
 */
export function placeCard(card: HTMLElement, container: HTMLElement, anchor: ViewportBox, bounds: ViewportBox, gap = 4): void {
  // Measured at the container's corner: an absolute box near the right edge would shrink to the room left there.
  card.style.left = '0px';
  card.style.top = '0px';
  card.hidden = false;
  const { offsetWidth: width, offsetHeight: height } = card;
  const below = anchor.bottom + gap;
  const above = anchor.top - gap - height;
  const top = below + height <= bounds.bottom || above < bounds.top ? below : above;
  const y = Math.max(bounds.top, Math.min(top, bounds.bottom - height));
  const x = Math.max(bounds.left, Math.min(anchor.left, bounds.right - width));
  // From the viewport to the container's padding box, which its absolute children are placed in.
  const box = container.getBoundingClientRect();
  card.style.left = `${x - box.left - container.clientLeft + container.scrollLeft}px`;
  card.style.top = `${y - box.top - container.clientTop + container.scrollTop}px`;
}

/** Fills a hover card with name/value lines (text only: token text is model output). */
export function fillCard(card: HTMLElement, rows: readonly [string, string][]): void {
  card.replaceChildren(
    ...rows.map(([name, value]) => {
      const row = document.createElement('div');
      const key = document.createElement('span');
      key.className = 'key';
      key.textContent = name;
      const val = document.createElement('span');
      val.textContent = value;
      row.append(key, val);
      return row;
    }),
  );
}

/** The legend of a quantity with one value at every token: that value, and that nothing is coloured. */
export function flatLegend(quantity: TokenQuantity, domain: Domain): string {
  return `${QUANTITIES[quantity].label}: ${legendValue(quantity, domain.min)} at every token (nothing to colour)`;
}

/** Legend swatches: a few values spanning the scale, each labelled with its value (≤ / ≥ where outliers saturate). */
export function legendStops(quantity: TokenQuantity, domain: Domain): { value: number; label: string }[] {
  const scale = QUANTITIES[quantity].scale;
  // One value everywhere: no scale to show (five swatches would all read "×1").
  if (scale !== 'categorical' && isDegenerate(domain)) return [];
  if (scale === 'categorical') {
    return [
      { value: -1, label: 'low' },
      { value: 0, label: 'none' },
      { value: 1, label: 'high' },
    ];
  }
  let values: number[];
  if (scale === 'diverging') {
    const extent = Math.max(Math.abs(domain.low), Math.abs(domain.high));
    values = [-1, -0.5, 0, 0.5, 1].map((f) => f * extent);
  } else {
    values = [0, 0.25, 0.5, 0.75, 1].map((f) => domain.low + f * (domain.high - domain.low));
    if (scale === 'sequential-low') values.reverse();
  }
  const top = Math.max(...values);
  const bottom = Math.min(...values);
  // An end stop with outliers beyond it stands for them too.
  const prefix = (v: number) => (v === top && v < domain.max ? '≥' : v === bottom && v > domain.min ? '≤' : '');
  return values.map((v) => ({ value: v, label: `${prefix(v)}${legendValue(quantity, v)}` }));
}
