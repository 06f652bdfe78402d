/**
 * Two completions side by side at the token level: which tokens the second keeps, drops and adds, and for each
 * token the chosen per-token quantity in both (and the change), so "the model stopped writing ` think` at step 80
 * and its advantage there was −1.2" reads off one table. Token text is model output: textContent only.
 */
import type { TokenColumns } from '../src/protocol/records';
import type { TokenQuantity } from '../src/protocol/webview';
import { formatValue } from './charts';
import { diffCounts, diffTokens } from './tokenDiff';
import { displayToken, Domain, QUANTITIES, tokenColor, tokenValue } from './tokenColors';
import { themePalette } from './tokenView';

export interface DiffSide {
  label: string;
  tokens: TokenColumns;
}

const KIND_MARK = { same: ' ', removed: '−', added: '+' } as const;

export class TokenDiffView {
  readonly element = document.createElement('section');
  private readonly heading = document.createElement('h3');
  private readonly note = document.createElement('p');
  private readonly strip = document.createElement('div');
  private readonly table = document.createElement('table');

  constructor() {
    this.element.className = 'token-diff';
    this.note.className = 'summary';
    this.strip.className = 'tokens diff-strip';
    this.table.className = 'diff-table';
    this.element.append(this.heading, this.note, this.strip, this.table);
    this.clear();
  }

  clear(): void {
    this.prompt('');
  }

  /** No diff yet: a hint (or nothing). */
  prompt(text: string): void {
    this.element.dataset.state = 'empty';
    this.heading.textContent = text ? 'Diff' : '';
    this.note.textContent = text;
    this.strip.replaceChildren();
    this.table.replaceChildren();
    this.element.hidden = text === '';
  }

  show(a: DiffSide, b: DiffSide, quantity: TokenQuantity, domain: Domain | undefined): void {
    const ops = diffTokens(a.tokens.text, b.tokens.text);
    const counts = diffCounts(ops);
    this.element.hidden = false;
    this.element.dataset.state = 'ready';
    this.heading.textContent = 'Diff';
    this.note.textContent = `A: ${a.label} → B: ${b.label}. ${counts.same} unchanged, ${counts.removed} removed, ${counts.added} added tokens; values: ${QUANTITIES[quantity].label}.`;
    const palette = themePalette();
    const valueOf = (side: DiffSide, i: number | undefined) => (i === undefined ? undefined : tokenValue(side.tokens, quantity, i));
    // The table reads in the quantity's own units (tokenValue gives the ratio as its log, for the colour scale).
    const shown = (v: number | undefined) => (v !== undefined && quantity === 'ratio' ? Math.exp(v) : v);
    const strip = document.createDocumentFragment();
    const head = document.createElement('tr');
    for (const title of ['', 'A #', 'B #', 'token', `A ${QUANTITIES[quantity].label}`, `B ${QUANTITIES[quantity].label}`, 'B − A']) {
      const th = document.createElement('th');
      th.textContent = title;
      head.append(th);
    }
    const body = document.createElement('tbody');
    for (const op of ops) {
      const ia = op.kind === 'added' ? undefined : op.a;
      const ib = op.kind === 'removed' ? undefined : op.b;
      const text = ia !== undefined ? a.tokens.text[ia] : b.tokens.text[ib as number];
      const va = valueOf(a, ia);
      const vb = valueOf(b, ib);
      // The strip colours each token as its own completion does: B's value where B has it, else A's.
      const span = document.createElement('span');
      span.className = `token diff-${op.kind}`;
      span.textContent = displayToken(text).shown;
      const color = tokenColor(quantity, vb ?? va, domain, palette);
      if (color) span.style.backgroundColor = color;
      strip.append(span);
      const row = body.insertRow();
      row.className = `diff-${op.kind}`;
      row.dataset.kind = op.kind;
      const [sa, sb] = [shown(va), shown(vb)];
      const cells = [KIND_MARK[op.kind], ia ?? '', ib ?? '', JSON.stringify(text), cellValue(sa), cellValue(sb), sa !== undefined && sb !== undefined ? formatValue(sb - sa) : ''];
      for (const content of cells) row.insertCell().textContent = String(content);
    }
    this.strip.replaceChildren(strip);
    this.table.replaceChildren(head, body);
  }
}

function cellValue(value: number | undefined): string {
  return value === undefined ? '' : formatValue(value);
}
