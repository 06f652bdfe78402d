/**
 * One completion, token by token, each token coloured by a chosen quantity, with a legend and a hover card that
 * shows every quantity of the token under the pointer. Token text is model output: textContent only. Whitespace
 * and special tokens are drawn visibly (· for a space, ↵ for a newline, a box around `<|…|>`).
 */
import type { TokenColumns } from '../src/protocol/records';
import type { GroupSummary, RolloutSummary, TokenQuantity } from '../src/protocol/webview';
import { formatValue } from './charts';
import { onThemeChange, parseHex, themeColor } from './theme';
import { displayToken, Domain, hasQuantity, QUANTITIES, QUANTITY_ORDER, Rgb, tokenColor, TokenPalette, tokenValue } from './tokenColors';
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
  private readonly tokensElement = document.createElement('div');
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
    const controls = document.createElement('div');
    controls.className = 'toolbar';
    controls.append(labelled('Colour by', this.quantitySelect), this.legend);
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
    this.element.append(this.heading, this.facts, controls, this.tokensElement, this.card);
    this.clear();
    // Token colours come from the theme's chart palette.
    onThemeChange(() => this.render());
  }

  clear(): void {
    this.subject = undefined;
    this.heading.textContent = 'Select a completion';
    this.facts.replaceChildren();
    this.tokensElement.replaceChildren();
    this.legend.replaceChildren();
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
    const tokens = this.tokens;
    // 'loading' until the columns arrive, then 'ready' (tests and tools wait on it).
    this.tokensElement.dataset.state = tokens ? 'ready' : 'loading';
    if (!tokens) {
      this.tokensElement.textContent = 'Reading tokens…';
      this.card.hidden = true;
      return;
    }
    const available = QUANTITY_ORDER.filter((q) => hasQuantity(tokens, q));
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
      ['length', `${rollout.length} tokens`],
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

  private renderTokens(tokens: TokenColumns): void {
    const palette = themePalette();
    const fragment = document.createDocumentFragment();
    tokens.text.forEach((text, i) => {
      const { shown, special, lineBreak } = displayToken(text);
      const span = document.createElement('span');
      span.className = special ? 'token special' : 'token';
      span.textContent = shown;
      span.dataset.index = String(i);
      const value = tokenValue(tokens, this.shownQuantity, i);
      if (value !== undefined) span.dataset.value = String(value);
      const color = tokenColor(this.shownQuantity, value, this.domain, palette);
      if (color) span.style.backgroundColor = color;
      fragment.append(span);
      if (lineBreak) fragment.append(document.createElement('br'));
    });
    this.tokensElement.replaceChildren(fragment);
  }

  private renderLegend(): void {
    const spec = QUANTITIES[this.shownQuantity];
    const domain = this.domain;
    const title = document.createElement('span');
    title.textContent = spec.description;
    title.className = 'legend-title';
    if (!domain) {
      this.legend.replaceChildren(title);
      return;
    }
    const palette = themePalette();
    const stops = legendStops(this.shownQuantity, domain);
    const swatches = stops.map(({ value, label }) => {
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      const color = tokenColor(this.shownQuantity, value, domain, palette);
      if (color) swatch.style.backgroundColor = color;
      swatch.textContent = label;
      swatch.title = `${spec.label} ${label}`;
      return swatch;
    });
    this.legend.replaceChildren(title, ...swatches);
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

  /** The hover card: every per-token quantity of the token `target`, below it. */
  private showCard(target: HTMLElement): void {
    const tokens = this.tokens;
    if (!tokens) return;
    const rows = tokenFacts(tokens, Number(target.dataset.index));
    fillCard(this.card, rows);
    const box = this.element.getBoundingClientRect();
    const rect = target.getBoundingClientRect();
    this.card.style.left = `${Math.max(0, Math.min(rect.left - box.left, box.width - 220))}px`;
    this.card.style.top = `${rect.bottom - box.top + this.element.scrollTop + 4}px`;
    this.card.hidden = false;
  }
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

/** Legend swatches: a few values spanning the scale, each labelled with its value. */
export function legendStops(quantity: TokenQuantity, domain: Domain): { value: number; label: string }[] {
  const scale = QUANTITIES[quantity].scale;
  if (scale === 'categorical') {
    return [
      { value: -1, label: 'low' },
      { value: 0, label: 'none' },
      { value: 1, label: 'high' },
    ];
  }
  let values: number[];
  if (scale === 'diverging') {
    const extent = Math.max(Math.abs(domain.min), Math.abs(domain.max));
    values = [-1, -0.5, 0, 0.5, 1].map((f) => f * extent);
  } else {
    values = [0, 0.25, 0.5, 0.75, 1].map((f) => domain.min + f * (domain.max - domain.min));
    if (scale === 'sequential-low') values.reverse();
  }
  const shown = (v: number) => (quantity === 'ratio' ? `×${formatValue(Math.exp(v))}` : formatValue(v));
  return values.map((v) => ({ value: v, label: shown(v) }));
}
