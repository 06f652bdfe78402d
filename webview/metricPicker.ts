/**
 * Every metric the shown runs logged, searchable, each with a pin: a pinned metric gets its own chart at the top
 * of the curves (whether or not a standard chart already draws it). Pins are kept with the webview's state and by
 * the host for the workspace, so a closed and reopened dashboard keeps them.
 */
export class MetricPicker {
  readonly element = document.createElement('details');
  private readonly summary = document.createElement('summary');
  private readonly search = document.createElement('input');
  private readonly list = document.createElement('ul');
  private keys: string[] = [];
  private pinned: Set<string>;

  constructor(
    pinned: readonly string[],
    /** Which standard chart draws a metric, if any (shown beside it). */
    private readonly chartOf: (key: string) => string | undefined,
    private readonly onPinsChange: (pinned: string[]) => void,
  ) {
    this.pinned = new Set(pinned);
    this.element.className = 'metric-picker';
    this.search.type = 'search';
    this.search.className = 'metric-search';
    this.search.placeholder = 'Filter metrics';
    this.search.setAttribute('aria-label', 'Filter metrics');
    this.search.addEventListener('input', () => this.filter());
    this.list.className = 'metric-list';
    this.element.append(this.summary, this.search, this.list);
    this.render();
  }

  get pins(): string[] {
    return [...this.pinned];
  }

  /** The metric keys logged so far, listed alphabetically; re-lists only when a new key appears. */
  setKeys(keys: readonly string[]): void {
    const sorted = [...keys].sort();
    if (sorted.length === this.keys.length && sorted.every((k, i) => k === this.keys[i])) return;
    this.keys = sorted;
    this.render();
  }

  private render(): void {
    this.summary.textContent = `Metrics (${this.keys.length}) · ${this.pinned.size} pinned`;
    this.list.replaceChildren(...this.keys.map((key) => this.item(key)));
    this.filter();
  }

  private item(key: string): HTMLLIElement {
    const li = document.createElement('li');
    li.dataset.metric = key;
    const pin = document.createElement('button');
    pin.type = 'button';
    pin.className = 'small-button pin';
    const pinned = this.pinned.has(key);
    pin.textContent = pinned ? 'Unpin' : 'Pin';
    pin.setAttribute('aria-pressed', String(pinned));
    pin.title = pinned ? `Remove the pinned chart of ${key}` : `Chart ${key} at the top`;
    pin.addEventListener('click', () => this.toggle(key));
    const name = document.createElement('span');
    name.className = 'metric-name';
    name.textContent = key;
    const where = document.createElement('span');
    where.className = 'metric-chart';
    where.textContent = this.chartOf(key) ?? 'not in a standard chart';
    li.append(pin, name, where);
    return li;
  }

  /** Replaces the pins (those the host kept), without reporting a change. */
  replace(pins: readonly string[]): void {
    this.pinned = new Set(pins);
    this.render();
  }

  /** Unpins a metric (its chart's own Unpin button). */
  unpin(key: string): void {
    if (this.pinned.has(key)) this.toggle(key);
  }

  private toggle(key: string): void {
    if (this.pinned.has(key)) this.pinned.delete(key);
    else this.pinned.add(key);
    this.render();
    this.onPinsChange(this.pins);
  }

  /** Case-insensitive substring match on the key; items that do not match are hidden, not removed. */
  private filter(): void {
    const query = this.search.value.trim().toLowerCase();
    for (const li of this.list.children as HTMLCollectionOf<HTMLLIElement>) li.hidden = query !== '' && !(li.dataset.metric ?? '').toLowerCase().includes(query);
  }
}
