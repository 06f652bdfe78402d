/**
 * The rollout browser: a step scrubber over every step that has rollouts (training or validation), that step's
 * groups (each prompt with its G completions, wrapped onto as many lines as the width needs; a compact list when
 * every group holds one completion, as validation samples do), sort and filter, and the per-token view of the
 * selected completion. The group list is virtualised (only rows in view exist), so a step with thousands of
 * rollouts opens as fast as a small one. A filter that hides everything says so and offers to clear itself.
 * Keyboard: ←/→ completion, ↑/↓ group, PageUp/PageDown step, Home/End first/last group, H the prompt's history.
 */
import type { StdEstimator } from '../src/protocol/config';
import type { RolloutSource, TokenColumns } from '../src/protocol/records';
import type { GroupSort, GroupSummary, RevealTarget, RolloutBrowserState, RolloutSummary, RolloutFilter, RolloutSteps, StepRollouts, TokenQuantity } from '../src/protocol/webview';
import { formatValue } from './charts';
import { CARD_LAYOUT, CardContent, cardPosition, groupLayout, GroupLayout, rowOffsets, rowsInView } from './cardLayout';
import { CardLines, CardMeasurer } from './cardMetrics';
import { nearest } from './ranges';
import { DEFAULT_FILTER, visibleGroups, VisibleGroup } from './rolloutFilter';
import { Domain, RunTokenFacts } from './tokenColors';
import { TokenView } from './tokenView';
import { button, checkbox, labelled, select, smallButton, textField } from './toolkit';

export const DEFAULT_BROWSER_STATE: RolloutBrowserState = {
  source: 'train',
  step: undefined,
  group: undefined,
  rollout: undefined,
  colorBy: 'advantage',
  sort: 'index',
  filter: DEFAULT_FILTER,
  followLatest: true,
};

const OVERSCAN = 2;

export interface RolloutBrowserHost {
  fetch(step: number, source: RolloutSource): Promise<StepRollouts | undefined>;
  fetchTokens(step: number, source: RolloutSource, group: number, rollout: number): Promise<TokenColumns | undefined>;
  onStateChange(state: RolloutBrowserState): void;
  openPromptHistory(prompt: string): void;
}

function text(tag: string, className: string, content: string): HTMLElement {
  const el = document.createElement(tag);
  el.className = className;
  el.textContent = content;
  return el;
}

/**
 * A completion's text as its card shows it: with the special tokens its text leaves out put back where they were,
 * boxed as the token view draws them ("2<pad>2", not "22"); "∅ (empty)" for an empty one.
 */
function completionText(tag: string, rollout: RolloutSummary): HTMLElement {
  if (!rollout.shown) return text(tag, 'card-text', rollout.completion.length ? rollout.completion : '∅ (empty)');
  const el = document.createElement(tag);
  el.className = 'card-text';
  for (const segment of rollout.shown) {
    if (!segment.special) el.append(segment.text);
    else el.append(text('span', 'special-token', segment.text));
  }
  return el;
}

/** The text a card's completion takes up: what completionText draws. */
function shownText(rollout: RolloutSummary): string {
  if (rollout.shown) return rollout.shown.map((s) => s.text).join('');
  return rollout.completion.length ? rollout.completion : '∅ (empty)';
}

function signClass(value: number): string {
  return value > 0 ? 'positive' : value < 0 ? 'negative' : 'zero';
}

export class RolloutBrowser {
  readonly element = document.createElement('section');
  private state: RolloutBrowserState;
  private steps: RolloutSteps = { train: [], eval: [] };
  private record: StepRollouts | undefined;
  private groups: VisibleGroup[] = [];
  /** Each listed group's card lines, and each row's top (plus the total height last); see cardLayout.ts. */
  private layouts: GroupLayout[] = [];
  private offsets: number[] = [0];
  /** Every group of the step holds one completion (validation samples): one line per prompt. */
  private compact = false;
  private readonly rows = new Map<number, HTMLElement>();
  /** The list's width and height as last laid out (its ResizeObserver's): reading them would force a layout. */
  private listWidth = 0;
  private listHeight = 0;
  private readonly measurer: CardMeasurer;
  /** A relayout for changed fonts is waiting for the next frame. */
  private relayoutFrame: number | undefined;
  private loadToken = 0;
  private visible = true;
  /** The newest followed live record, not shown yet: the browser was out of sight when it came. */
  private unseen: StepRollouts | undefined;
  private stdEstimator: StdEstimator = 'unbiased';
  private scrubTimer: number | undefined;

  private readonly sourceSelect: HTMLSelectElement;
  private readonly scrubber: HTMLInputElement;
  private readonly stepInput: HTMLInputElement;
  private readonly stepCount = document.createElement('span');
  private readonly followCheckbox: HTMLInputElement;
  private readonly summary = document.createElement('span');
  /** A step without per-token data in a run that has it at other steps (prime-rl's token exports): says which do. */
  private readonly tokenNote = document.createElement('span');
  private readonly list = document.createElement('div');
  private readonly spacer = document.createElement('div');
  /** Shown instead of an empty list when the filter hides every completion of the step. */
  private readonly emptyNotice = document.createElement('div');
  private readonly filterControls: { search: HTMLInputElement; minReward: HTMLInputElement; maxReward: HTMLInputElement; tied: HTMLSelectElement; truncatedOnly: HTMLInputElement };
  private readonly tokenView: TokenView;

  constructor(
    initial: RolloutBrowserState,
    private readonly host: RolloutBrowserHost,
  ) {
    this.state = { ...initial, filter: { ...initial.filter } };
    this.element.className = 'rollout-browser';
    this.sourceSelect = select<RolloutSource>(
      [
        { value: 'train', label: 'training' },
        { value: 'eval', label: 'validation' },
      ],
      this.state.source,
      (source) => this.switchSource(source),
    );
    this.scrubber = document.createElement('input');
    this.scrubber.type = 'range';
    this.scrubber.className = 'scrubber';
    this.scrubber.min = '0';
    this.scrubber.setAttribute('aria-label', 'step');
    this.scrubber.addEventListener('input', () => this.scrubTo(Number(this.scrubber.value)));
    this.stepInput = textField('step', '', () => undefined, 'number');
    this.stepInput.className = 'step-input';
    this.stepInput.addEventListener('change', () => this.goToStep(Number(this.stepInput.value)));
    this.followCheckbox = checkbox(this.state.followLatest, (follow) => {
      this.setState({ followLatest: follow });
      const latest = this.currentSteps().at(-1);
      if (follow && latest !== undefined) this.goToStep(latest);
    });

    const scrubBar = document.createElement('div');
    scrubBar.className = 'toolbar scrub-bar';
    scrubBar.append(
      labelled('Samples', this.sourceSelect),
      smallButton('◀', 'Previous step (PageUp)', () => this.stepBy(-1)),
      this.scrubber,
      smallButton('▶', 'Next step (PageDown)', () => this.stepBy(1)),
      labelled('step', this.stepInput),
      this.stepCount,
      labelled('follow latest', this.followCheckbox),
    );

    const filterBar = document.createElement('div');
    filterBar.className = 'toolbar filter-bar';
    const f = this.state.filter;
    const numberOrUndefined = (v: string) => (v.trim() === '' || !Number.isFinite(Number(v)) ? undefined : Number(v));
    const search = textField('search prompt and completions', f.search, (search) => this.setFilter({ search }));
    search.className = 'search';
    search.setAttribute('aria-label', 'search prompts and completions');
    const minReward = textField('min', f.minReward === undefined ? '' : String(f.minReward), (v) => this.setFilter({ minReward: numberOrUndefined(v) }), 'number');
    minReward.setAttribute('aria-label', 'minimum reward');
    const maxReward = textField('max', f.maxReward === undefined ? '' : String(f.maxReward), (v) => this.setFilter({ maxReward: numberOrUndefined(v) }), 'number');
    maxReward.setAttribute('aria-label', 'maximum reward');
    const tied = select<RolloutFilter['tied']>(
      [
        { value: 'any', label: 'show' },
        { value: 'hide', label: 'hide' },
        { value: 'only', label: 'only' },
      ],
      f.tied,
      (tied) => this.setFilter({ tied }),
    );
    const truncatedOnly = checkbox(f.truncatedOnly, (truncatedOnly) => this.setFilter({ truncatedOnly }));
    this.filterControls = { search, minReward, maxReward, tied, truncatedOnly };
    filterBar.append(
      search,
      labelled('reward ≥', minReward),
      labelled('≤', maxReward),
      labelled('tied groups', tied),
      labelled('truncated only', truncatedOnly),
      labelled(
        'sort',
        select<GroupSort>(
          [
            { value: 'index', label: 'as sampled' },
            { value: 'reward-desc', label: 'mean reward ↓' },
            { value: 'reward-asc', label: 'mean reward ↑' },
            { value: 'std-desc', label: 'reward spread ↓' },
            { value: 'length-desc', label: 'length ↓' },
          ],
          this.state.sort,
          (sort) => {
            this.setState({ sort });
            this.refilter();
          },
        ),
      ),
      this.summary,
      this.tokenNote,
    );
    this.summary.className = 'summary';
    this.tokenNote.className = 'token-note';
    this.tokenNote.hidden = true;

    this.list.className = 'group-list';
    this.list.tabIndex = 0;
    this.list.setAttribute('role', 'listbox');
    this.list.setAttribute('aria-label', 'groups and completions');
    this.spacer.className = 'spacer';
    this.emptyNotice.className = 'empty-filter';
    this.emptyNotice.setAttribute('role', 'status');
    this.emptyNotice.hidden = true;
    this.list.append(this.spacer, this.emptyNotice);
    this.list.addEventListener('scroll', () => this.renderWindow());
    this.measurer = new CardMeasurer(this.list);
    this.list.addEventListener('keydown', (e) => this.onKey(e));
    this.tokenView = new TokenView(this.state.colorBy, (q) => this.domainOf(q), (colorBy) => this.setState({ colorBy }));

    const body = document.createElement('div');
    body.className = 'browser-body';
    body.append(this.list, this.tokenView.element);
    this.element.append(scrubBar, filterBar, body);
    // Rows are laid out for the list's width: lay them out again when it changes (a tab shown, the panel resized).
    // Read here, where the page has just been laid out, and kept: reading it while rendering a step forced a layout.
    new ResizeObserver(() => {
      this.listHeight = this.list.clientHeight;
      if (this.list.clientWidth !== this.listWidth) {
        this.listWidth = this.list.clientWidth;
        this.layoutRows();
      }
      this.renderWindow();
    }).observe(this.list);
    // Cards are sized in the page's fonts: VS Code changes them (theme, font settings) on <html>'s style and
    // <body>'s class; a web font that finishes loading changes them too.
    const refit = () => this.relayoutNextFrame();
    const fontsChange = new MutationObserver(refit);
    fontsChange.observe(document.documentElement, { attributes: true, attributeFilter: ['style', 'class'] });
    fontsChange.observe(document.body, { attributes: true, attributeFilter: ['style', 'class'] });
    document.fonts.addEventListener('loadingdone', refit);
  }

  /** Lays the rows out again (for new fonts) before the next frame, once however many changes come first. */
  private relayoutNextFrame(): void {
    this.relayoutFrame ??= requestAnimationFrame(() => {
      this.relayoutFrame = undefined;
      if (!this.record) return;
      this.layoutRows();
      this.renderWindow();
    });
  }

  get currentState(): RolloutBrowserState {
    return this.state;
  }

  /** The run's `algorithm.std_estimator`, so a group's std is the one its advantages were divided by. */
  setStdEstimator(estimator: StdEstimator): void {
    if (estimator === this.stdEstimator) return;
    this.stdEstimator = estimator;
    // The groups' std on screen was computed with the other estimator (a live run's config arrives after its steps).
    if (this.record) this.refilter();
  }

  /** What the run's config says about its tokens (the advantage's mode, on-policy or not), for the token view. */
  setRunFacts(facts: RunTokenFacts | undefined): void {
    this.tokenView.setRunFacts(facts);
  }

  /** The steps on disk (from the host); shows the saved step, or the latest one. */
  setSteps(steps: RolloutSteps): void {
    this.steps = steps;
    this.sourceSelect.hidden = steps.eval.length === 0;
    if (steps.eval.length === 0 && this.state.source === 'eval') this.state.source = 'train';
    this.updateScrubber();
    const target = this.state.followLatest || this.state.step === undefined ? this.currentSteps().at(-1) : this.state.step;
    if (target !== undefined) this.goToStep(target, { group: this.state.group, rollout: this.state.rollout });
    else this.showRecord(undefined);
  }

  /**
   * A live record from the worker (a training step or a validation): added to the scrubber, shown if followed.
   * Out of sight (another tab in front, the panel hidden) the newest followed record waits to be shown when the
   * browser is: rendering its list and fetching its tokens every step would only compete with the training.
   */
  addLiveRecord(record: StepRollouts): void {
    const steps = this.steps[record.source];
    if (steps.at(-1) === undefined || record.step > (steps.at(-1) ?? -Infinity)) steps.push(record.step);
    else if (!steps.includes(record.step)) this.steps[record.source] = [...steps, record.step].sort((a, b) => a - b);
    this.sourceSelect.hidden = this.steps.eval.length === 0;
    this.updateScrubber();
    if (this.state.followLatest && this.state.source === record.source) {
      this.loadToken++;
      if (this.inSight()) this.showRecord(record, { group: this.state.group, rollout: this.state.rollout });
      else this.unseen = record;
    }
  }

  /**
   * Whether the browser's tab is the one shown (called again when the page's visibility changes); a followed
   * record that came meanwhile is shown when it is.
   */
  setVisible(visible: boolean): void {
    this.visible = visible;
    this.showUnseen();
  }

  private inSight(): boolean {
    return this.visible && !document.hidden;
  }

  private showUnseen(): void {
    const record = this.unseen;
    if (!record || !this.inSight()) return;
    this.unseen = undefined;
    if (this.state.followLatest && this.state.source === record.source) this.showRecord(record, { group: this.state.group, rollout: this.state.rollout });
  }

  reveal(target: RevealTarget): void {
    if (target.source !== this.state.source) {
      this.state.source = target.source;
      this.sourceSelect.value = target.source;
      this.updateScrubber();
    }
    this.setState({ followLatest: false });
    this.followCheckbox.checked = false;
    this.goToStep(target.step, { group: target.group, rollout: target.rollout });
  }

  /** Loads the step nearest to `step` that has rollouts, then selects `select` (or keeps the selection). */
  goToStep(step: number, select: { group?: number; rollout?: number } = {}): void {
    const target = nearest(this.currentSteps(), step);
    if (target === undefined) return;
    this.unseen = undefined;
    const token = ++this.loadToken;
    const source = this.state.source;
    performance.mark('grpo:open-step:start');
    this.setState({ step: target });
    this.updateScrubber();
    void this.host.fetch(target, source).then(
      (record) => {
        if (token !== this.loadToken) return;
        performance.mark('grpo:render-step:start');
        this.showRecord(record, { group: select.group ?? this.state.group, rollout: select.rollout ?? this.state.rollout });
        performance.measure('grpo:render-step', 'grpo:render-step:start');
        performance.measure('grpo:open-step', 'grpo:open-step:start');
      },
      (err: unknown) => {
        if (token === this.loadToken) this.summary.textContent = `Cannot read step ${target}: ${err instanceof Error ? err.message : String(err)}`;
      },
    );
  }

  focusList(): void {
    this.list.focus();
  }

  private currentSteps(): number[] {
    return this.steps[this.state.source];
  }

  private switchSource(source: RolloutSource): void {
    this.setState({ source });
    this.updateScrubber();
    const steps = this.currentSteps();
    const target = this.state.step ?? steps.at(-1);
    if (target !== undefined) this.goToStep(target);
    else this.showRecord(undefined);
  }

  private stepBy(delta: number): void {
    const steps = this.currentSteps();
    const index = this.state.step === undefined ? steps.length - 1 : steps.indexOf(this.state.step) + delta;
    if (index >= 0 && index < steps.length) {
      this.setFollow(index === steps.length - 1 && this.state.followLatest);
      this.goToStep(steps[index]);
    }
  }

  private scrubTo(index: number): void {
    const steps = this.currentSteps();
    this.stepInput.value = String(steps[index] ?? '');
    // Dragging fires many input events: load only where the thumb rests.
    if (this.scrubTimer !== undefined) clearTimeout(this.scrubTimer);
    this.scrubTimer = window.setTimeout(() => {
      this.setFollow(index === steps.length - 1 && this.state.followLatest);
      this.goToStep(steps[index]);
    }, 60);
  }

  private setFollow(follow: boolean): void {
    this.followCheckbox.checked = follow;
    this.setState({ followLatest: follow });
  }

  private updateScrubber(): void {
    const steps = this.currentSteps();
    this.scrubber.max = String(Math.max(0, steps.length - 1));
    const index = this.state.step === undefined ? steps.length - 1 : steps.indexOf(this.state.step);
    this.scrubber.value = String(Math.max(0, index));
    this.scrubber.disabled = steps.length < 2;
    if (this.state.step !== undefined) this.stepInput.value = String(this.state.step);
    const first = steps[0];
    const last = steps.at(-1);
    this.stepCount.textContent = steps.length ? `${steps.length} steps with samples (${first}–${last})` : 'no samples yet';
  }

  private setState(change: Partial<RolloutBrowserState>): void {
    this.state = { ...this.state, ...change };
    this.host.onStateChange(this.state);
  }

  private setFilter(change: Partial<RolloutFilter>): void {
    this.setState({ filter: { ...this.state.filter, ...change } });
    this.refilter();
  }

  /** Back to the unfiltered step: the state and every filter control. */
  private clearFilter(): void {
    const c = this.filterControls;
    c.search.value = '';
    c.minReward.value = '';
    c.maxReward.value = '';
    c.tied.value = DEFAULT_FILTER.tied;
    c.truncatedOnly.checked = DEFAULT_FILTER.truncatedOnly;
    this.setFilter({ ...DEFAULT_FILTER });
    this.list.focus({ preventScroll: true });
  }

  /** The filter in words, for the notice that nothing matches it. */
  private describeFilter(): string {
    const f = this.state.filter;
    return [
      ...(f.search.trim() ? [`text “${f.search.trim()}”`] : []),
      ...(f.minReward !== undefined ? [`reward ≥ ${f.minReward}`] : []),
      ...(f.maxReward !== undefined ? [`reward ≤ ${f.maxReward}`] : []),
      ...(f.tied === 'only' ? ['tied groups only'] : f.tied === 'hide' ? ['tied groups hidden'] : []),
      ...(f.truncatedOnly ? ['truncated only'] : []),
    ].join(', ');
  }

  private showEmptyNotice(record: StepRollouts | undefined): void {
    const hiddenByFilter = record !== undefined && record.groups.length > 0 && this.groups.length === 0;
    this.emptyNotice.hidden = !hiddenByFilter;
    if (!hiddenByFilter) return;
    const where = record.source === 'eval' ? `validation after step ${record.step}` : `step ${record.step}`;
    const message = text('p', '', `No completion of ${where} matches the filter (${this.describeFilter()}).`);
    this.emptyNotice.replaceChildren(message, button('Clear filter', () => this.clearFilter(), 'primary'));
  }

  /** Lines and offsets of the listed groups for the list's current width. */
  private layoutRows(): void {
    const width = this.listWidth || 800;
    // Sized by the text as this page's fonts render it (measured once per set of fonts: cardMetrics.ts).
    const lines = this.compact ? [] : this.groups.map(cardLinesOf);
    const { lineWidths, metrics } = this.measurer.measure(lines);
    this.layouts = this.compact ? [] : this.groups.map((g, i) => groupLayout(g.rollouts.length, width, cardContent(g, lines[i], lineWidths[i]), metrics));
    this.offsets = rowOffsets(this.compact ? this.groups.map(() => CARD_LAYOUT.compactRowHeight) : this.layouts.map((l) => l.height));
    this.spacer.style.height = `${this.offsets[this.offsets.length - 1]}px`;
    this.clearRows();
  }

  private showRecord(record: StepRollouts | undefined, select: { group?: number; rollout?: number } = {}): void {
    this.record = record;
    if (record) this.setState({ step: record.step });
    this.updateScrubber();
    this.refilter(select);
  }

  /**
   * A training step without per-token data while others have it (prime-rl exports tokens at an interval): says so
   * on the step, names the steps that have it, and offers the nearest one.
   */
  private showTokenNote(record: StepRollouts | undefined): void {
    const tokenSteps = this.steps.tokenSteps;
    const lacking = record !== undefined && record.source === 'train' && tokenSteps !== undefined && !tokenSteps.includes(record.step);
    this.tokenNote.hidden = !lacking;
    if (!lacking || !record) return;
    const closest = [...tokenSteps].sort((a, b) => Math.abs(a - record.step) - Math.abs(b - record.step))[0];
    const where = tokenSteps.length ? `per-token data at ${stepList(tokenSteps)}` : 'no step has per-token data';
    this.tokenNote.replaceChildren(`No token export at step ${record.step} (${where}).`);
    if (closest !== undefined) {
      this.tokenNote.append(
        ' ',
        smallButton(`go to step ${closest}`, `Step ${closest} has the per-token view`, () => {
          this.setFollow(false);
          this.goToStep(closest);
        }),
      );
    }
  }

  private refilter(select: { group?: number; rollout?: number } = { group: this.state.group, rollout: this.state.rollout }): void {
    const record = this.record;
    this.groups = record ? visibleGroups(record, this.state.filter, this.state.sort, this.stdEstimator) : [];
    this.compact = record !== undefined && record.groups.length > 0 && record.groups.every((g) => g.rollouts.length === 1);
    this.list.classList.toggle('compact', this.compact);
    this.layoutRows();
    this.showEmptyNotice(record);
    const total = record?.groups.reduce((n, g) => n + g.rollouts.length, 0) ?? 0;
    const shown = this.groups.reduce((n, g) => n + g.rollouts.length, 0);
    this.summary.textContent = record
      ? `${record.source === 'eval' ? 'validation after step' : 'step'} ${record.step}: ${record.groups.length} groups, ${total} completions${shown !== total ? ` (${shown} shown)` : ''}`
      : 'No rollouts at this step.';
    this.showTokenNote(record);
    const row = this.groups.findIndex((g) => g.index === select.group);
    const target = row >= 0 ? this.groups[row] : this.groups[0];
    const rollout = target && select.rollout !== undefined && target.rollouts.includes(select.rollout) ? select.rollout : target?.rollouts[0];
    if (target && rollout !== undefined) this.select(target.index, rollout);
    else {
      this.tokenView.clear();
      this.renderWindow();
    }
  }

  private select(groupIndex: number, rolloutIndex: number): void {
    this.setState({ group: groupIndex, rollout: rolloutIndex });
    const row = this.groups.findIndex((g) => g.index === groupIndex);
    const position = this.groups[row]?.rollouts.indexOf(rolloutIndex) ?? -1;
    this.scrollCardIntoView(row, position);
    this.renderWindow();
    for (const el of this.list.querySelectorAll('.card.selected')) {
      el.classList.remove('selected');
      el.setAttribute('aria-selected', 'false');
    }
    const card = this.cardElement(groupIndex, rolloutIndex);
    card?.classList.add('selected');
    card?.setAttribute('aria-selected', 'true');
    // Screen readers follow the selection through the list's active descendant (focus stays on the list).
    this.list.setAttribute('aria-activedescendant', cardId(groupIndex, rolloutIndex));
    const record = this.record;
    const group = record?.groups[groupIndex];
    const rollout = group?.rollouts[rolloutIndex];
    if (!record || !group || !rollout) return;
    const where = record.source === 'eval' ? `validation after step ${record.step}` : `step ${record.step}`;
    const subject = { group, rollout, label: `${where} · group ${groupIndex + 1} · completion ${rolloutIndex + 1} of ${group.rollouts.length}` };
    this.tokenView.show(subject, undefined);
    // Only if the selection has not moved on meanwhile.
    const stillSelected = () => this.record === record && this.state.group === groupIndex && this.state.rollout === rolloutIndex;
    void this.host.fetchTokens(record.step, record.source, groupIndex, rolloutIndex).then(
      (tokens) => {
        if (!stillSelected()) return;
        if (tokens) this.tokenView.show(subject, tokens);
        else this.tokenView.showError(`${where}, group ${groupIndex + 1}, completion ${rolloutIndex + 1} is not in the run directory`);
      },
      (err: unknown) => {
        if (stillSelected()) this.tokenView.showError(err instanceof Error ? err.message : String(err));
      },
    );
  }

  private cardElement(groupIndex: number, rolloutIndex: number): HTMLElement | null {
    return this.list.querySelector(`.card[data-group="${groupIndex}"][data-rollout="${rolloutIndex}"]`);
  }

  private domainOf(quantity: TokenQuantity): Domain | undefined {
    return this.record?.domains[quantity];
  }

  /** Scrolls the list so that card `position` of row `row` is in view (its group's header too, where it fits). */
  private scrollCardIntoView(row: number, position: number): void {
    if (row < 0 || position < 0) return;
    const rowTop = this.offsets[row];
    let top = rowTop;
    let bottom = this.offsets[row + 1];
    if (!this.compact) {
      const card = cardPosition(position, this.layouts[row]);
      const { cardHeight } = this.layouts[row];
      bottom = rowTop + CARD_LAYOUT.headerHeight + card.top + cardHeight + CARD_LAYOUT.rowPadding / 2;
      // The header when the card is on the row's first lines; on later lines the card alone.
      if (bottom - rowTop > this.viewportHeight()) top = bottom - cardHeight - CARD_LAYOUT.gap;
    }
    if (top < this.list.scrollTop) this.list.scrollTop = top;
    else if (bottom > this.list.scrollTop + this.viewportHeight()) this.list.scrollTop = bottom - this.viewportHeight();
  }

  /** The list's height as last laid out; asked of the page only before it was (or while the list has none). */
  private viewportHeight(): number {
    return this.listHeight || this.list.clientHeight;
  }

  private clearRows(): void {
    this.rows.forEach((row) => row.remove());
    this.rows.clear();
  }

  /** Creates the rows in view (and drops the others). */
  private renderWindow(): void {
    const [first, last] = rowsInView(this.offsets, this.list.scrollTop, this.viewportHeight() || 600, OVERSCAN);
    for (const [index, row] of this.rows) {
      if (index < first || index >= last) {
        row.remove();
        this.rows.delete(index);
      }
    }
    for (let index = first; index < last; index++) {
      if (this.rows.has(index)) continue;
      const row = this.compact ? this.compactRow(this.groups[index]) : this.groupRow(this.groups[index], this.layouts[index]);
      row.style.transform = `translateY(${this.offsets[index]}px)`;
      row.style.height = `${this.offsets[index + 1] - this.offsets[index]}px`;
      this.rows.set(index, row);
      this.list.append(row);
    }
  }

  private historyButton(visible: VisibleGroup): HTMLButtonElement {
    return smallButton('history', 'This prompt at every step it was sampled (H)', () => this.host.openPromptHistory(visible.group.prompt));
  }

  /** A group: its header, then every completion's card, wrapped onto the lines `layout` gives. */
  private groupRow(visible: VisibleGroup, layout: GroupLayout): HTMLElement {
    const row = document.createElement('div');
    row.className = 'group-row';
    row.dataset.group = String(visible.index);
    const header = document.createElement('div');
    header.className = 'group-header';
    header.append(
      text('span', 'group-index', `#${visible.index + 1}`),
      text('span', 'prompt', visible.group.prompt),
      text('span', 'group-stats', `mean ${formatValue(visible.meanReward)} · std ${formatValue(visible.stdReward)}`),
      ...(visible.tied ? [text('span', 'tag tied', 'tied')] : []),
      ...(visible.group.dropped ? [droppedTag()] : []),
      this.historyButton(visible),
    );
    const grid = document.createElement('div');
    grid.className = 'card-grid';
    grid.style.height = `${layout.lines * (layout.cardHeight + CARD_LAYOUT.gap)}px`;
    visible.rollouts.forEach((rolloutIndex, position) => {
      const card = this.card(visible.group, visible.index, rolloutIndex);
      const { left, top } = cardPosition(position, layout);
      card.dataset.position = String(position);
      card.style.width = `${layout.cardWidth}px`;
      card.style.height = `${layout.cardHeight}px`;
      card.style.setProperty('--text-lines', String(layout.textLines));
      card.style.transform = `translate(${left}px, ${top}px)`;
      grid.append(card);
    });
    row.append(header, grid);
    return row;
  }

  /** A one-completion group (a validation sample) as one line: prompt, completion, reward, length. */
  private compactRow(visible: VisibleGroup): HTMLElement {
    const row = document.createElement('div');
    row.className = 'group-row compact';
    row.dataset.group = String(visible.index);
    const rolloutIndex = visible.rollouts[0];
    const rollout = visible.group.rollouts[rolloutIndex];
    const card = this.selectableCard(visible.group, visible.index, rolloutIndex);
    card.classList.add('compact');
    const prompt = text('span', 'prompt', visible.group.prompt);
    prompt.title = visible.group.prompt;
    const completion = completionText('span', rollout);
    completion.title = shownText(rollout);
    const rewards = text('span', 'card-rewards', rewardsLine(rollout));
    card.append(
      text('span', 'group-index', `#${visible.index + 1}`),
      prompt,
      completion,
      text('span', 'reward', `r ${formatValue(rollout.reward)}`),
      rewards,
      text('span', `card-foot finish-${rollout.finish_reason}`, cardFoot(rollout)),
    );
    if (rollout.error !== undefined) {
      card.classList.add('failed');
      card.title = `reward failed: ${rollout.error}`;
    }
    row.append(card, this.historyButton(visible));
    return row;
  }

  /** A completion's card frame: an option of the list, selected on click. */
  private selectableCard(group: GroupSummary, groupIndex: number, rolloutIndex: number): HTMLElement {
    const rollout = group.rollouts[rolloutIndex];
    const card = document.createElement('div');
    card.className = 'card';
    card.setAttribute('role', 'option');
    card.id = cardId(groupIndex, rolloutIndex);
    card.dataset.group = String(groupIndex);
    card.dataset.rollout = String(rolloutIndex);
    const selected = groupIndex === this.state.group && rolloutIndex === this.state.rollout;
    card.classList.toggle('selected', selected);
    card.setAttribute('aria-selected', String(selected));
    card.setAttribute('aria-label', `group ${groupIndex + 1}, completion ${rolloutIndex + 1} of ${group.rollouts.length}: reward ${formatValue(rollout.reward)}, advantage ${formatValue(rollout.advantage)}, ${rollout.tokensRecorded ? `${rollout.length} tokens` : 'tokens not recorded'}`);
    card.addEventListener('click', () => {
      this.select(groupIndex, rolloutIndex);
      this.list.focus({ preventScroll: true });
    });
    return card;
  }

  private card(group: GroupSummary, groupIndex: number, rolloutIndex: number): HTMLElement {
    const rollout = group.rollouts[rolloutIndex];
    const card = this.selectableCard(group, groupIndex, rolloutIndex);
    const head = document.createElement('div');
    head.className = 'card-head';
    const [index, reward, advantage] = cardHead(rollout, rolloutIndex);
    head.append(text('span', 'card-index', index), text('span', 'reward', reward), text('span', `advantage ${signClass(rollout.advantage)}`, advantage));
    const rewards = text('div', 'card-rewards', rewardsLine(rollout));
    const preview = completionText('div', rollout);
    const foot = text('div', `card-foot finish-${rollout.finish_reason}`, cardFoot(rollout));
    card.append(head, rewards);
    // A failed sample says why, where its reward would be: it has none (and advantage 0).
    if (rollout.error !== undefined) {
      card.classList.add('failed');
      const error = text('div', 'card-error', `reward failed: ${rollout.error}`);
      error.title = rollout.error;
      card.append(error);
    }
    card.append(preview, foot);
    return card;
  }

  private onKey(event: KeyboardEvent): void {
    const row = this.groups.findIndex((g) => g.index === this.state.group);
    const current = this.groups[row];
    const position = current && this.state.rollout !== undefined ? current.rollouts.indexOf(this.state.rollout) : -1;
    const moveTo = (r: number, p: number) => {
      const target = this.groups[Math.max(0, Math.min(this.groups.length - 1, r))];
      if (!target) return;
      const rollout = target.rollouts[Math.max(0, Math.min(target.rollouts.length - 1, p))];
      this.select(target.index, rollout);
    };
    const handlers: Record<string, () => void> = {
      ArrowRight: () => moveTo(row, position + 1),
      ArrowLeft: () => moveTo(row, position - 1),
      ArrowDown: () => moveTo(row + 1, position),
      ArrowUp: () => moveTo(row - 1, position),
      Home: () => moveTo(0, 0),
      End: () => moveTo(this.groups.length - 1, 0),
      PageUp: () => this.stepBy(-1),
      PageDown: () => this.stepBy(1),
      h: () => current && this.host.openPromptHistory(current.group.prompt),
    };
    const handler = handlers[event.key];
    if (!handler) return;
    event.preventDefault();
    handler();
  }
}

/** The DOM id of a completion's card (the list's aria-activedescendant). */
function cardId(groupIndex: number, rolloutIndex: number): string {
  return `card-${groupIndex}-${rolloutIndex}`;
}

/** Dynamic sampling left this group out of the step: its rewards tied, so it was generated but never trained. */
function droppedTag(): HTMLElement {
  const tag = text('span', 'tag dropped', 'dropped');
  tag.title = 'Dropped by dynamic sampling (filter_groups): every reward tied, so this group was not trained';
  return tag;
}

/** A card's last line: the length in tokens (or that the trainer kept none) and how the completion ended. */
function cardFoot(rollout: RolloutSummary): string {
  const length = rollout.tokensRecorded ? `${rollout.length} tok` : 'tokens not recorded';
  const end = rollout.finish_reason === 'length' ? 'truncated' : rollout.finish_reason === 'unknown' ? 'end not recorded' : 'stop';
  return `${length} · ${end}`;
}

/** Steps as a short list: "step 4", "steps 1, 5 and 9", "steps 1, 5, … 95 (20 steps)". */
function stepList(steps: readonly number[]): string {
  if (steps.length === 1) return `step ${steps[0]}`;
  if (steps.length <= 5) return `steps ${steps.slice(0, -1).join(', ')} and ${steps.at(-1)}`;
  return `steps ${steps.slice(0, 2).join(', ')}, … ${steps.at(-1)} (${steps.length} steps)`;
}

/** A card's head: its number, reward and advantage. */
function cardHead(rollout: RolloutSummary, rolloutIndex: number): [string, string, string] {
  return [`${rolloutIndex + 1}`, `r ${formatValue(rollout.reward)}`, `A ${rollout.advantage >= 0 ? '+' : ''}${formatValue(rollout.advantage)}`];
}

/** A card's reward functions line: "correct 1 · format 0". */
function rewardsLine(rollout: RolloutSummary): string {
  return Object.entries(rollout.rewards)
    .map(([name, value]) => `${name} ${formatValue(value)}`)
    .join(' · ');
}

/** The one-line parts of a group's visible cards as they show them, for sizing the cards (CardMeasurer). */
function cardLinesOf(visible: VisibleGroup): CardLines[] {
  return visible.rollouts.map((i) => {
    const rollout = visible.group.rollouts[i];
    return { head: cardHead(rollout, i), small: [rewardsLine(rollout), cardFoot(rollout)] };
  });
}

/** What a group's visible cards hold, for sizing them: texts, their longest one-line part, their other lines. */
function cardContent(visible: VisibleGroup, lines: readonly CardLines[], lineWidth?: number): CardContent {
  const rollouts = visible.rollouts.map((i) => visible.group.rollouts[i]);
  const lineChars = Math.max(0, ...lines.map((card) => Math.max(card.head.join(' ').length, ...card.small.map((s) => s.length))));
  const hasRewards = rollouts.some((r) => Object.keys(r.rewards).length > 0);
  const hasError = rollouts.some((r) => r.error !== undefined);
  return { texts: rollouts.map(shownText), lineChars, lineWidth, otherLines: 2 + (hasRewards ? 1 : 0) + (hasError ? 1 : 0) };
}
