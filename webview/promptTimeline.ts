/**
 * One prompt over time: every completion of every step it was sampled in (training, or validation: the fixed
 * prompts of each evaluation), one row per completion grouped by step, tokens in columns by position, each token
 * coloured by the chosen per-token quantity; above it, the prompt's mean reward and its reward std within each
 * sampling (the mean advantage would be 0 at every step: GRPO centres each group's advantages on its mean).
 *
 * The grid is one canvas the size of the viewport over a scroller the size of the whole grid: only the rows and
 * columns in view are drawn, and only the steps in view are fetched from the host (getPromptTokens), so a prompt
 * sampled at 1,000 steps opens as fast as one sampled at 10. Click two completions to diff them, or one and a
 * completion of the same prompt in another run (PeerDiffPicker).
 */
import { Chart, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip } from 'chart.js';
import type { RolloutSource, TokenColumns } from '../src/protocol/records';
import {
  MAX_PROMPT_TOKEN_STEPS,
  PromptListing,
  PromptPeer,
  PromptStepTokens,
  PromptTimeline,
  PromptTimelineState,
  RevealTarget,
  TimelineOccurrence,
  TokenDomains,
  TokenQuantity,
} from '../src/protocol/webview';
import { formatValue } from './charts';
import { onThemeChange, themeColor } from './theme';
import { layoutRows, mergeDomains, rowAt, stepAggregates, stepsToFetch, TIMELINE_GEOMETRY, TimelineLayout, visibleColumns, visibleRows } from './timelineLayout';
import { completionScore } from './promptHistory';
import { displayToken, isDegenerate, offeredQuantities, QUANTITIES, QUANTITY_ORDER, quantityDescription, RunTokenFacts, tokenColor, tokenValue } from './tokenColors';
import { PeerDiffPicker } from './peerDiff';
import { DiffSide, TokenDiffView } from './tokenDiffView';
import { fillCard, flatLegend, legendStops, placeCard, themePalette, tokenFacts, visibleBounds } from './tokenView';
import { labelled, select, setOptions } from './toolkit';

Chart.register(LineController, LineElement, PointElement, LinearScale, Tooltip, Legend);

export const DEFAULT_TIMELINE_STATE: PromptTimelineState = { source: 'train', colorBy: 'advantage' };

export interface PromptTimelineHost {
  fetchTimeline(prompt: string): Promise<PromptTimeline>;
  fetchTokens(prompt: string, source: RolloutSource, steps: number[]): Promise<PromptStepTokens[]>;
  /** The run's prompts for the search box (asked for on first focus: listing them reads every step once). */
  listPrompts(): Promise<PromptListing[]>;
  /** The user picked a prompt from the list: the caller loads its history (and shows it here). */
  pickPrompt(prompt: string): void;
  open(target: RevealTarget): void;
  onStateChange(state: PromptTimelineState): void;
  /** Other runs that sampled the prompt, and one sampling's tokens there, for the cross-run diff. */
  fetchPeers(prompt: string): Promise<PromptPeer[]>;
  fetchPeerTokens(peerId: string, prompt: string, source: RolloutSource, step: number): Promise<PromptStepTokens | undefined>;
}

const { rowHeight: ROW_HEIGHT, stepGap: STEP_GAP, cellWidth: CELL_WIDTH, gutter: GUTTER, rolloutLabel: ROLLOUT_LABEL } = TIMELINE_GEOMETRY;
/** Rows fetched beyond the viewport, so a small scroll finds them loaded. */
const OVERSCAN_ROWS = 24;

interface Selected {
  occurrence: number;
  rollout: number;
}

export class PromptTimelineView {
  readonly element = document.createElement('section');
  private readonly promptInput = document.createElement('input');
  private readonly promptList = document.createElement('datalist');
  private readonly sourceSelect: HTMLSelectElement;
  private readonly quantitySelect: HTMLSelectElement;
  private readonly legend = document.createElement('div');
  private readonly summary = document.createElement('p');
  private readonly chartCanvas = document.createElement('canvas');
  private readonly chartBox = document.createElement('div');
  private chart: Chart<'line', { x: number; y: number }[]> | undefined;
  private readonly gridBox = document.createElement('div');
  private readonly canvas = document.createElement('canvas');
  private readonly scroller = document.createElement('div');
  private readonly sizer = document.createElement('div');
  private readonly card = document.createElement('div');
  private readonly diff: TokenDiffView;
  private readonly peerPicker: PeerDiffPicker;
  /** The other run's completion picked for the diff (side B), if any. */
  private peer: DiffSide | undefined;

  private history: PromptTimeline | undefined;
  private occurrences: TimelineOccurrence[] = [];
  private layout: TimelineLayout = { rows: [], height: 0, columns: 0 };
  private domains: TokenDomains = {};
  /**
   * What colours the tokens: the user's choice (state.colorBy) when these completions offer it, else the first one
   * they offer (a validation prompt has no advantage; an on-policy run's ratio is 1).
   */
  private shownQuantity: TokenQuantity;
  /** The run's supervision mode and policy facts (from its config), for the legend's wording. */
  private runFacts: RunTokenFacts | undefined;
  /** Per-token columns by `step:group`; a pending fetch is marked with null. */
  private readonly tokens = new Map<string, (TokenColumns | undefined)[] | null>();
  private selected: Selected[] = [];
  private drawQueued = false;
  private promptsRequested = false;
  /** Resolves show()'s promise: set while the first rows of a prompt are being fetched. */
  private whenDrawn: (() => void) | undefined;
  /** Bumped when the prompt or source changes: replies for the one before are dropped. */
  private generation = 0;

  constructor(
    private state: PromptTimelineState,
    private readonly host: PromptTimelineHost,
  ) {
    this.element.className = 'prompt-timeline';
    this.shownQuantity = state.colorBy;
    this.promptInput.type = 'search';
    this.promptInput.className = 'prompt-search';
    this.promptInput.placeholder = 'Search prompts…';
    this.promptInput.setAttribute('list', 'timeline-prompts');
    this.promptList.id = 'timeline-prompts';
    this.promptInput.addEventListener('change', () => this.onPromptTyped());
    this.promptInput.addEventListener('focus', () => void this.loadPrompts());
    this.sourceSelect = select<RolloutSource>(
      [
        { value: 'train', label: 'training steps' },
        { value: 'eval', label: 'validation (each evaluation)' },
      ],
      state.source,
      (source) => this.setState({ source }),
    );
    this.quantitySelect = select(
      QUANTITY_ORDER.map((q) => ({ value: q, label: QUANTITIES[q].label })),
      state.colorBy,
      (colorBy) => this.setState({ colorBy }),
    );
    const toolbar = document.createElement('div');
    toolbar.className = 'toolbar';
    toolbar.append(labelled('Prompt', this.promptInput), this.promptList, labelled('Samples', this.sourceSelect), labelled('Colour by', this.quantitySelect), this.legend);
    this.legend.className = 'legend';
    this.summary.className = 'summary';
    this.chartBox.className = 'timeline-chart';
    this.chartCanvas.setAttribute('role', 'img');
    this.chartBox.append(this.chartCanvas);
    this.buildGrid();
    this.diff = new TokenDiffView();
    this.peerPicker = new PeerDiffPicker({
      fetchPeers: (prompt) => host.fetchPeers(prompt),
      fetchTokens: (peerId, prompt, source, step) => host.fetchPeerTokens(peerId, prompt, source, step),
      onChange: (side) => {
        this.peer = side;
        this.updateDiff();
      },
    });
    this.element.append(toolbar, this.summary, this.chartBox, this.gridBox, this.peerPicker.element, this.diff.element);
    this.clear();
    onThemeChange(() => {
      this.renderChart();
      this.scheduleDraw();
    });
  }

  private buildGrid(): void {
    this.gridBox.className = 'timeline-grid';
    this.canvas.className = 'timeline-canvas';
    this.scroller.className = 'timeline-scroller';
    this.scroller.tabIndex = 0;
    this.scroller.setAttribute('role', 'grid');
    this.scroller.setAttribute('aria-label', 'Completions of the prompt by step (rows) and token position (columns); hover a token for its values, click two rows to diff them');
    this.sizer.className = 'timeline-sizer';
    this.scroller.append(this.sizer);
    this.card.className = 'timeline-card';
    this.card.hidden = true;
    this.gridBox.append(this.canvas, this.scroller, this.card);
    this.scroller.addEventListener('scroll', () => this.scheduleDraw());
    this.scroller.addEventListener('mousemove', (e) => this.onHover(e));
    this.scroller.addEventListener('mouseleave', () => (this.card.hidden = true));
    this.scroller.addEventListener('click', (e) => this.onClick(e));
    this.scroller.addEventListener('dblclick', (e) => this.onOpen(e));
    new ResizeObserver(() => this.scheduleDraw()).observe(this.scroller);
  }

  /** Another run: its prompts are listed afresh on the next focus of the search box. */
  forgetPrompts(): void {
    this.promptsRequested = false;
    this.setPrompts([]);
  }

  private async loadPrompts(): Promise<void> {
    if (this.promptsRequested) return;
    this.promptsRequested = true;
    try {
      this.setPrompts(await this.host.listPrompts());
    } catch (err) {
      this.promptsRequested = false;
      this.summary.textContent = `Cannot list the prompts: ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  /** The run's prompts, offered by the search box. */
  private setPrompts(prompts: readonly PromptListing[]): void {
    this.promptList.replaceChildren(
      ...prompts.map((p) => {
        const option = document.createElement('option');
        option.value = p.prompt;
        option.label = `${p.train} training · ${p.eval} validation`;
        return option;
      }),
    );
  }

  /** The run's supervision mode (the advantage legend's wording), as the rollout browser has it. */
  setRunFacts(facts: RunTokenFacts | undefined): void {
    this.runFacts = facts;
    this.offerQuantities();
    this.renderChart();
    this.renderLegend();
    this.scheduleDraw();
  }

  clear(): void {
    this.settle();
    this.generation++;
    this.history = undefined;
    this.promptInput.value = '';
    this.peerPicker.setPrompt(undefined);
    this.summary.textContent = 'Pick a prompt: search above, "history" on a rollout group, or H in the rollout browser.';
    this.setOccurrences([]);
  }

  /**
   * Shows `prompt`: its samplings, then the tokens of the rows in view. Resolves once those are drawn (or failed), so
   * the caller can load slower things (the history table) after.
   */
  async show(prompt: string): Promise<void> {
    this.settle();
    const generation = ++this.generation;
    this.history = undefined;
    this.promptInput.value = prompt;
    this.peerPicker.setPrompt(prompt);
    this.summary.textContent = 'Reading every step…';
    this.setOccurrences([]);
    let timeline: PromptTimeline;
    try {
      timeline = await this.host.fetchTimeline(prompt);
    } catch (err) {
      if (generation === this.generation) this.summary.textContent = `Cannot read the prompt's samplings: ${err instanceof Error ? err.message : String(err)}`;
      return;
    }
    if (generation !== this.generation) return; // another prompt was picked meanwhile
    const drawn = new Promise<void>((resolve) => (this.whenDrawn = resolve));
    this.history = timeline;
    const sources = new Set(timeline.occurrences.map((o) => o.source));
    // A prompt only ever sampled in validation (or only in training) shows what it has.
    if (!sources.has(this.state.source) && sources.size > 0) this.setState({ source: [...sources][0] });
    else this.rebuild();
    if (timeline.occurrences.length === 0) this.whenDrawn?.();
    await drawn;
  }

  private setState(change: Partial<PromptTimelineState>): void {
    this.state = { ...this.state, ...change };
    this.sourceSelect.value = this.state.source;
    this.quantitySelect.value = this.state.colorBy;
    this.host.onStateChange(this.state);
    if (change.source !== undefined) this.rebuild();
    else {
      this.offerQuantities();
      this.scheduleDraw();
      this.updateDiff();
    }
    this.renderLegend();
  }

  private onPromptTyped(): void {
    const prompt = this.promptInput.value;
    const known = [...this.promptList.options].some((o) => o.value === prompt);
    if (known) this.host.pickPrompt(prompt);
    else if (prompt) this.summary.textContent = `No prompt of this run is exactly "${prompt}": pick one from the list.`;
  }

  /** Lays out the current source's samplings and starts over fetching. */
  private rebuild(): void {
    this.generation++;
    const occurrences = (this.history?.occurrences ?? []).filter((o) => o.source === this.state.source);
    this.setOccurrences(occurrences);
    if (this.history && occurrences.length === 0) this.summary.textContent = this.notSampledHere();
    else if (this.history) {
      const completions = occurrences.reduce((n, o) => n + o.rollouts.length, 0);
      const what = this.state.source === 'train' ? 'training step' : 'evaluation';
      this.summary.textContent = `${occurrences.length} ${what}${occurrences.length === 1 ? '' : 's'}, ${completions} completions, up to ${this.layout.columns} tokens. Hover a token for its values; click two completions to diff them; double-click to open one.`;
    }
  }

  /** Why the chosen samples show nothing: the prompt was sampled only in the other source (a validation prompt). */
  private notSampledHere(): string {
    const elsewhere = (this.history?.occurrences ?? []).length;
    return this.state.source === 'train'
      ? `Not sampled in training: this prompt is a validation prompt${elsewhere ? ` (pick "validation" to see its ${elsewhere} evaluation${elsewhere === 1 ? '' : 's'})` : ''}.`
      : `Not sampled in validation: this prompt is a training prompt${elsewhere ? ` (pick "training steps" to see its ${elsewhere} sampling${elsewhere === 1 ? '' : 's'})` : ''}.`;
  }

  /** The colour choices these completions offer (offeredQuantities), and the one shown. */
  private offerQuantities(): void {
    const offered = offeredQuantities(this.domains, this.runFacts, this.state.source === 'eval');
    this.shownQuantity = offered.includes(this.state.colorBy) || offered.length === 0 ? this.state.colorBy : offered[0];
    const options = offered.length ? offered : [this.state.colorBy];
    setOptions(this.quantitySelect, options.map((q) => ({ value: q, label: QUANTITIES[q].label })), this.shownQuantity);
    this.quantitySelect.disabled = offered.length === 0;
  }

  private setOccurrences(occurrences: TimelineOccurrence[]): void {
    this.occurrences = occurrences;
    this.layout = layoutRows(occurrences, { rowHeight: ROW_HEIGHT, stepGap: STEP_GAP });
    this.domains = mergeDomains(occurrences);
    this.offerQuantities();
    this.tokens.clear();
    this.selected = [];
    this.diff.clear();
    this.sizer.style.width = `${GUTTER + this.layout.columns * CELL_WIDTH}px`;
    this.sizer.style.height = `${this.layout.height}px`;
    // A few rows (validation: one per evaluation) get a short grid; many scroll within 60 % of the window.
    this.gridBox.style.height = `min(60vh, 520px, ${this.layout.height + 20}px)`;
    this.scroller.scrollTo(0, 0);
    this.gridBox.hidden = occurrences.length === 0;
    this.chartBox.hidden = occurrences.length === 0;
    this.renderChart();
    this.renderLegend();
    this.scheduleDraw();
  }

  private renderChart(): void {
    const aggregates = stepAggregates(this.occurrences, this.runFacts?.stdEstimator);
    const series = (pick: (a: (typeof aggregates)[number]) => number) => aggregates.filter((a) => Number.isFinite(pick(a))).map((a) => ({ x: a.step, y: pick(a) }));
    const spread = series((a) => a.rewardStd);
    const datasets = [
      { label: 'mean reward', data: series((a) => a.meanReward), borderColor: themeColor('--vscode-charts-green', '#89d185') },
      // The reward std within each sampling (see StepAggregate.rewardStd), not drawn where no sampling has two
      // scored completions (validation: one completion per prompt).
      ...(spread.length ? [{ label: 'reward std (within group)', data: spread, borderColor: themeColor('--vscode-charts-blue', '#3794ff') }] : []),
    ].map((d) => ({ ...d, backgroundColor: d.borderColor, borderWidth: 1.5, pointRadius: aggregates.length > 60 ? 0 : 2, tension: 0 }));
    this.chartBox.dataset.points = String(aggregates.length);
    this.chartBox.dataset.series = datasets.map((d) => d.label).join('|');
    this.chartCanvas.setAttribute('aria-label', `Mean reward${spread.length ? ' and reward std within the group' : ''} of the prompt at ${aggregates.length} samplings`);
    const text = themeColor('--vscode-foreground', '#cccccc');
    const grid = themeColor('--vscode-editorWidget-border', '#454545');
    if (this.chart) {
      this.chart.data.datasets = datasets;
      this.chart.update('none');
      return;
    }
    this.chart = new Chart(this.chartCanvas, {
      type: 'line',
      data: { datasets },
      options: {
        animation: false,
        maintainAspectRatio: false,
        parsing: false,
        interaction: { mode: 'nearest', axis: 'x', intersect: false },
        scales: {
          // Steps are whole numbers: no 2.2, 2.4 … ticks between two samplings.
          x: { type: 'linear', title: { display: true, text: 'step', color: text }, ticks: { color: text, precision: 0 }, grid: { color: grid } },
          y: { type: 'linear', ticks: { color: text }, grid: { color: grid } },
        },
        plugins: { legend: { display: true, labels: { color: text, boxWidth: 12 } }, tooltip: { enabled: true } },
        onClick: (_event, elements) => {
          const hit = elements[0];
          if (hit) this.scrollToStep(datasets[hit.datasetIndex].data[hit.index].x);
        },
      },
    });
  }

  /** A click on the curve: the grid scrolls to that step's completions. */
  scrollToStep(step: number): void {
    const row = this.layout.rows.find((r) => r.step === step);
    if (row) this.scroller.scrollTop = row.top;
  }

  private renderLegend(): void {
    const quantity = this.shownQuantity;
    const domain = this.domains[quantity];
    const title = document.createElement('span');
    title.className = 'legend-title';
    const flat = domain !== undefined && isDegenerate(domain);
    // No samplings of this source (a validation-only prompt's training side): the summary says why; nothing to colour.
    if (this.occurrences.length === 0) {
      this.legend.replaceChildren();
      return;
    }
    title.textContent = !domain
      ? `${QUANTITIES[quantity].label}: not recorded for these completions`
      : flat
        ? flatLegend(quantity, domain)
        : quantityDescription(quantity, this.runFacts);
    const palette = themePalette();
    const swatches = domain && !flat
      ? legendStops(quantity, domain).map(({ value, label }) => {
          const swatch = document.createElement('span');
          swatch.className = 'swatch';
          const color = tokenColor(quantity, value, domain, palette);
          if (color) swatch.style.backgroundColor = color;
          swatch.textContent = label;
          return swatch;
        })
      : [];
    this.legend.replaceChildren(title, ...swatches);
  }

  private scheduleDraw(): void {
    if (this.drawQueued) return;
    this.drawQueued = true;
    requestAnimationFrame(() => {
      this.drawQueued = false;
      this.draw();
    });
  }

  private viewport(): { width: number; height: number } {
    return { width: this.scroller.clientWidth, height: this.scroller.clientHeight };
  }

  /** Draws the rows and columns in view, then fetches the steps in (and near) view that are not loaded. */
  private draw(): void {
    const { width, height } = this.viewport();
    if (width === 0 || height === 0) {
      this.settle(); // tab hidden: drawn when shown (the resize observer fires); nothing to wait for meanwhile
      return;
    }
    const ratio = window.devicePixelRatio || 1;
    if (this.canvas.width !== Math.round(width * ratio) || this.canvas.height !== Math.round(height * ratio)) {
      this.canvas.width = Math.round(width * ratio);
      this.canvas.height = Math.round(height * ratio);
      this.canvas.style.width = `${width}px`;
      this.canvas.style.height = `${height}px`;
    }
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.fillStyle = themeColor('--vscode-editor-background', '#1e1e1e');
    ctx.fillRect(0, 0, width, height);
    const { scrollTop, scrollLeft } = this.scroller;
    const rows = visibleRows(this.layout, ROW_HEIGHT, scrollTop, height);
    const columns = visibleColumns(this.layout.columns, CELL_WIDTH, scrollLeft, width - GUTTER);
    let missing = 0;
    for (let r = rows.first; r < rows.end; r++) {
      if (!this.drawRow(ctx, r, columns, this.layout.rows[r].top - scrollTop, scrollLeft)) missing++;
    }
    // What is drawn, for tests and tools: the row and column ranges, and whether every row in view has its tokens.
    this.scroller.dataset.rows = `${rows.first}-${rows.end}`;
    this.scroller.dataset.columns = `${columns.first}-${columns.end}`;
    this.scroller.dataset.state = missing === 0 ? 'ready' : 'loading';
    if (missing === 0) this.settle();
    this.fetchNear(rows.first, rows.end);
  }

  private settle(): void {
    this.whenDrawn?.();
    this.whenDrawn = undefined;
  }

  /** One completion's row; false when its tokens are not loaded yet (drawn as a placeholder). */
  private drawRow(ctx: CanvasRenderingContext2D, index: number, columns: { first: number; end: number }, y: number, scrollLeft: number): boolean {
    const row = this.layout.rows[index];
    const occurrence = this.occurrences[row.occurrence];
    const tokens = this.tokens.get(`${occurrence.step}:${occurrence.group}`)?.[row.rollout];
    const foreground = themeColor('--vscode-foreground', '#cccccc');
    const muted = themeColor('--vscode-descriptionForeground', '#9d9d9d');
    ctx.font = `12px ${themeColor('--vscode-editor-font-family', 'monospace')}`;
    ctx.textBaseline = 'middle';
    const loaded = Boolean(this.tokens.get(`${occurrence.step}:${occurrence.group}`));
    if (tokens) this.drawTokens(ctx, tokens, columns, y, scrollLeft, foreground);
    else if (!loaded) {
      // Not fetched yet: a bar as long as the completion, so the layout does not jump when the tokens arrive.
      ctx.fillStyle = themeColor('--vscode-editorWidget-background', '#252526');
      const length = occurrence.rollouts[row.rollout].length * CELL_WIDTH - scrollLeft;
      ctx.fillRect(GUTTER, y + 2, Math.max(0, Math.min(length, this.viewport().width - GUTTER)), ROW_HEIGHT - 4);
    }
    this.drawLabel(ctx, row.firstOfStep, occurrence, row.rollout, y, foreground, muted);
    if (this.selected.some((s) => s.occurrence === row.occurrence && s.rollout === row.rollout)) {
      ctx.strokeStyle = themeColor('--vscode-focusBorder', '#007fd4');
      ctx.lineWidth = 2;
      ctx.strokeRect(1, y + 1, this.viewport().width - 2, ROW_HEIGHT - 2);
    }
    return loaded;
  }

  private drawTokens(ctx: CanvasRenderingContext2D, tokens: TokenColumns, columns: { first: number; end: number }, y: number, scrollLeft: number, foreground: string): void {
    const palette = themePalette();
    const quantity = this.shownQuantity;
    const domain = this.domains[quantity];
    ctx.save();
    ctx.beginPath();
    ctx.rect(GUTTER, y, this.viewport().width - GUTTER, ROW_HEIGHT);
    ctx.clip();
    const end = Math.min(columns.end, tokens.text.length);
    for (let c = columns.first; c < end; c++) {
      const x = GUTTER + c * CELL_WIDTH - scrollLeft;
      const color = tokenColor(quantity, tokenValue(tokens, quantity, c), domain, palette);
      if (color) {
        ctx.fillStyle = color;
        ctx.fillRect(x, y + 1, CELL_WIDTH - 1, ROW_HEIGHT - 2);
      }
      ctx.fillStyle = foreground;
      ctx.fillText(fitText(ctx, displayToken(tokens.text[c]).shown, CELL_WIDTH - 6), x + 3, y + ROW_HEIGHT / 2);
    }
    ctx.restore();
  }

  private drawLabel(ctx: CanvasRenderingContext2D, firstOfStep: boolean, occurrence: TimelineOccurrence, rollout: number, y: number, foreground: string, muted: string): void {
    ctx.fillStyle = themeColor('--vscode-editor-background', '#1e1e1e');
    ctx.fillRect(0, y, GUTTER, ROW_HEIGHT);
    if (firstOfStep) {
      ctx.fillStyle = foreground;
      ctx.fillText(`step ${occurrence.step}`, 4, y + ROW_HEIGHT / 2);
    }
    ctx.fillStyle = muted;
    // Completions are numbered from 1 everywhere (the rollout cards, the history chips, the diffs).
    ctx.fillText(`#${rollout + 1} r=${formatValue(occurrence.rollouts[rollout].reward)}`, ROLLOUT_LABEL, y + ROW_HEIGHT / 2);
  }

  /** Asks the host for the tokens of the steps in view (and a margin around it) that are not loaded or pending. */
  private fetchNear(first: number, end: number): void {
    const prompt = this.history?.prompt;
    if (prompt === undefined) return;
    const from = Math.max(0, first - OVERSCAN_ROWS);
    const to = Math.min(this.layout.rows.length, end + OVERSCAN_ROWS);
    const keyOf = (step: number) => this.occurrences.filter((o) => o.step === step).map((o) => `${o.step}:${o.group}`);
    const steps = stepsToFetch(this.layout, from, to, (step) => keyOf(step).every((k) => this.tokens.has(k))).slice(0, MAX_PROMPT_TOKEN_STEPS);
    if (steps.length === 0) return;
    for (const step of steps) for (const key of keyOf(step)) this.tokens.set(key, null);
    const generation = this.generation;
    this.host.fetchTokens(prompt, this.state.source, steps).then(
      (replies) => {
        if (generation !== this.generation) return;
        for (const reply of replies) this.tokens.set(`${reply.step}:${reply.group}`, reply.tokens);
        // A step the host no longer has (a replaced run folder) stays blank rather than being asked for forever.
        for (const step of steps) for (const key of keyOf(step)) if (this.tokens.get(key) === null) this.tokens.set(key, []);
        this.scheduleDraw();
      },
      (err: unknown) => {
        if (generation !== this.generation) return;
        this.summary.textContent = `Cannot read the tokens: ${err instanceof Error ? err.message : String(err)}`;
        this.settle();
      },
    );
  }

  /** The completion and token position under a mouse event, if any. */
  private hit(event: MouseEvent): { row: number; column: number | undefined } | undefined {
    const box = this.scroller.getBoundingClientRect();
    const x = event.clientX - box.left;
    const y = event.clientY - box.top + this.scroller.scrollTop;
    const row = rowAt(this.layout, ROW_HEIGHT, y);
    if (row === undefined) return undefined;
    const column = x < GUTTER ? undefined : Math.floor((x - GUTTER + this.scroller.scrollLeft) / CELL_WIDTH);
    return { row, column };
  }

  private tokensOf(row: number): TokenColumns | undefined {
    const { occurrence, rollout } = this.layout.rows[row];
    const o = this.occurrences[occurrence];
    return this.tokens.get(`${o.step}:${o.group}`)?.[rollout];
  }

  private onHover(event: MouseEvent): void {
    const hit = this.hit(event);
    const tokens = hit && this.tokensOf(hit.row);
    if (!hit || hit.column === undefined || !tokens || hit.column >= tokens.text.length) {
      this.card.hidden = true;
      return;
    }
    const { step } = this.layout.rows[hit.row];
    const value = tokenValue(tokens, this.shownQuantity, hit.column);
    fillCard(this.card, [['step', String(step)], ['completion', `#${this.layout.rows[hit.row].rollout + 1}`], ...tokenFacts(tokens, hit.column)]);
    // The colour drawn for the token, for tests (they recompute it from the fixture's values).
    this.card.dataset.color = tokenColor(this.shownQuantity, value, this.domains[this.shownQuantity], themePalette());
    this.card.dataset.step = String(step);
    this.card.dataset.position = String(hit.column);
    // Below and right of the pointer, or above it near the bottom of the view, within the page's right edge.
    const pointer = { left: event.clientX + 12, right: event.clientX + 12, top: event.clientY - 8, bottom: event.clientY + 12 };
    placeCard(this.card, this.gridBox, pointer, visibleBounds());
  }

  /** Click: picks the completion for the diff (the two most recent picks are compared); again: unpicks it. */
  private onClick(event: MouseEvent): void {
    const hit = this.hit(event);
    if (!hit) return;
    const { occurrence, rollout } = this.layout.rows[hit.row];
    const at = this.selected.findIndex((s) => s.occurrence === occurrence && s.rollout === rollout);
    if (at >= 0) this.selected.splice(at, 1);
    else this.selected = [...this.selected, { occurrence, rollout }].slice(-2);
    this.scheduleDraw();
    this.updateDiff();
  }

  private onOpen(event: MouseEvent): void {
    const hit = this.hit(event);
    if (!hit) return;
    const { occurrence, rollout } = this.layout.rows[hit.row];
    const o = this.occurrences[occurrence];
    this.host.open({ step: o.step, source: o.source, group: o.group, rollout });
  }

  private updateDiff(): void {
    const sides = this.selected.map((s): DiffSide | undefined => {
      const o = this.occurrences[s.occurrence];
      const tokens = this.tokens.get(`${o.step}:${o.group}`)?.[s.rollout];
      const rollout = o.rollouts[s.rollout];
      const where = o.source === 'train' ? 'step' : 'validation at step';
      return tokens && { label: `${where} ${o.step} #${s.rollout + 1} (${completionScore(o.source, rollout.reward, rollout.advantage)})`, tokens };
    });
    if (this.peer) {
      // Across runs: this run's last clicked completion against the other run's.
      const own = sides.at(-1);
      if (own) this.diff.show({ ...own, label: `this run, ${own.label}` }, this.peer, this.shownQuantity, this.domains[this.shownQuantity]);
      else this.diff.prompt(`Other run: ${this.peer.label}. Click a completion above to diff it against that one.`);
      return;
    }
    const [a, b] = sides;
    if (sides.length === 2 && a && b) this.diff.show(a, b, this.shownQuantity, this.domains[this.shownQuantity]);
    else this.diff.prompt(sides.length === 1 ? `Picked ${a?.label ?? 'one completion'}: click another to diff them.` : '');
  }
}

/** The text cut to fit `width` pixels, with an ellipsis when cut. */
function fitText(ctx: CanvasRenderingContext2D, text: string, width: number): string {
  if (ctx.measureText(text).width <= width) return text;
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (ctx.measureText(text.slice(0, mid) + '…').width <= width) lo = mid;
    else hi = mid - 1;
  }
  return text.slice(0, lo) + '…';
}
