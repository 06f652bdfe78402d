/**
 * The curves view: a toolbar (EMA smoothing, x axis by step or wall time, log scale, CSV of every metric), the
 * health alerts strip, a searchable list of every logged metric with pins, then the pinned charts and a grid of
 * standard charts (one per ChartSpec), for one run or 2–4 runs overlaid. Live records are queued and drawn together
 * on an animation frame, at most a few times a second (drawGap: the page's drawing stays a small share of a core,
 * which training shares), only charts on screen draw, and a hidden page draws nothing; each draw is measured as
 * `grpo:charts-update` (performance timeline; the bench reads it).
 */
import { DEFAULT_HEALTH_THRESHOLDS, healthAlerts, HealthThresholds } from '../src/protocol/health';
import type { MetricsRecord, RolloutSource, WarmStartEvent } from '../src/protocol/records';
import type { CurveSettings } from '../src/protocol/webview';
import { CHARTS, ChartSpec } from './chartSpecs';
import { ChartRun, Crosshair, MetricChart, XExtent } from './charts';
import { HealthStrip } from './healthStrip';
import { MetricPicker } from './metricPicker';
import { metricKeys, metricsCsv } from './series';
import { onThemeChange } from './theme';
import { checkbox, labelled, select, slider, smallButton } from './toolkit';

export const DEFAULT_CURVE_SETTINGS: CurveSettings = { smoothing: 0, xAxis: 'step', logScale: false };

/** Health rules scan every row: on a live run, at most once a second. */
const HEALTH_INTERVAL_MS = 1000;

/** Live draws: at least this far apart (a few a second is live enough for training curves)… */
const MIN_DRAW_GAP_MS = 250;
/** …and, where a draw takes longer, far enough apart that drawing takes at most this share of the page's time… */
const DRAW_DUTY = 0.04;
/** …but at least once a second while records arrive, however slow the machine. */
const MAX_DRAW_GAP_MS = 1000;

/** How long a live draw waits after the previous one, which took `drawMs`. */
export function drawGap(drawMs: number): number {
  return Math.min(MAX_DRAW_GAP_MS, Math.max(MIN_DRAW_GAP_MS, drawMs / DRAW_DUTY));
}

export interface CurvesCallbacks {
  onSettingsChange(settings: CurveSettings): void;
  onPinsChange(pinned: string[]): void;
  onStepClick(runId: string, step: number, source: RolloutSource): void;
  /** Saves an export through the host (webviews cannot download); resolves to where it went, undefined if cancelled. */
  save(fileName: string, content: string, encoding: 'utf8' | 'base64'): Promise<string | undefined>;
}

/** What the host tells about the runs shown, beside their records. */
export interface CurvesContext {
  health?: HealthThresholds;
}

/** The chart of one pinned metric. */
function pinnedSpec(key: string): ChartSpec {
  return { id: `pin:${key}`, title: key, series: [{ key, label: key, bounded: key === 'reward' }] };
}

/** The title of the standard chart that draws a metric, if one does. */
function standardChartOf(key: string): string | undefined {
  return CHARTS.find((spec) => spec.series.some((s) => s.key === key || s.band === key) || spec.pattern?.test(key))?.title;
}

export class CurvesView {
  readonly element = document.createElement('section');
  private readonly grid = document.createElement('div');
  private readonly pinnedGrid = document.createElement('div');
  private readonly smoothingValue = document.createElement('span');
  private readonly smoothingSlider: HTMLInputElement;
  private readonly xAxisSelect: HTMLSelectElement;
  private readonly logCheckbox: HTMLInputElement;
  private readonly empty = document.createElement('p');
  private readonly exportNote = document.createElement('span');
  private readonly health: HealthStrip;
  private readonly picker: MetricPicker;
  private readonly crosshair = new Crosshair();
  private charts: MetricChart[] = [];
  private pinnedCharts = new Map<string, MetricChart>();
  private runs: { run: ChartRun; records: MetricsRecord[] }[] = [];
  private compare = false;
  private context: CurvesContext = {};
  private pending = new Map<string, MetricsRecord[]>();
  /** Warm-start points queued for the next frame, as rows of `sft/loss` by SFT step. */
  private pendingWarmStart = new Map<string, MetricsRecord[]>();
  /** The newest SFT step charted per run: a live event that raced the snapshot's read is not drawn twice. */
  private warmStartSteps = new Map<string, number>();
  private frame: number | undefined;
  /** A live draw waiting for its gap after the previous draw (drawGap). */
  private liveTimer: ReturnType<typeof setTimeout> | undefined;
  private lastDraw = { end: -Infinity, ms: 0 };
  private healthTimer: ReturnType<typeof setTimeout> | undefined;
  private healthCheckedAt = -Infinity;
  private fileStem = 'run';
  private waiting = 'No metrics yet.';
  /** Every metric key logged so far, kept as records arrive (rescanning 10,000 rows a frame would cost the budget). */
  private readonly keys = new Set<string>();

  constructor(
    private settings: CurveSettings,
    pinned: readonly string[],
    private readonly callbacks: CurvesCallbacks,
  ) {
    this.element.className = 'curves';
    const toolbar = document.createElement('div');
    toolbar.className = 'toolbar';
    this.smoothingSlider = slider(0, 0.99, 0.01, settings.smoothing, (value) => this.update({ smoothing: value }));
    this.smoothingSlider.className = 'smoothing';
    this.xAxisSelect = select(
      [
        { value: 'step', label: 'step' },
        { value: 'time', label: 'wall time' },
      ],
      settings.xAxis,
      (xAxis) => this.update({ xAxis }),
    );
    this.logCheckbox = checkbox(settings.logScale, (logScale) => this.update({ logScale }));
    const logLabel = labelled('log y', this.logCheckbox);
    logLabel.title = 'Log scale; series with zeros or negative values use symlog (linear near 0) instead of losing those points';
    this.exportNote.className = 'export-note';
    this.exportNote.setAttribute('role', 'status');
    toolbar.append(
      labelled('Smoothing', this.smoothingSlider),
      this.smoothingValue,
      labelled('x axis', this.xAxisSelect),
      logLabel,
      smallButton('CSV (all metrics)', 'Export every logged metric of every step as CSV', () => void this.exportAllCsv()),
      this.exportNote,
    );
    this.health = new HealthStrip((step, source) => this.openStep(step, source));
    this.picker = new MetricPicker(pinned, standardChartOf, (pins) => this.setPins(pins));
    this.grid.className = 'charts';
    this.pinnedGrid.className = 'charts pinned';
    this.empty.className = 'empty';
    this.empty.textContent = this.waiting;
    this.element.append(toolbar, this.health.element, this.picker.element, this.empty, this.pinnedGrid, this.grid);
    this.showSettings();
    onThemeChange(() => {
      this.allCharts().forEach((c) => c.applyTheme());
      this.scheduleDraw();
    });
    // A hidden panel (another editor tab in front) draws nothing and checks no health: it catches up when shown.
    document.addEventListener('visibilitychange', () => {
      if (document.hidden) return;
      if (this.pending.size || this.pendingWarmStart.size) this.scheduleDraw();
      if (this.healthDue) this.checkHealth();
    });
  }

  /** The pins the host kept (a dashboard opened again), charted from the next `show`. */
  usePins(pins: readonly string[]): void {
    this.picker.replace(pins);
  }

  get chartList(): readonly MetricChart[] {
    return this.allCharts();
  }

  /** Replaces the charts: one run, or several overlaid (`compare`), each with its full history. */
  show(runs: { run: ChartRun; records: MetricsRecord[] }[], compare: boolean, context: CurvesContext = {}): void {
    this.allCharts().forEach((c) => c.destroy());
    this.pinnedCharts.clear();
    this.pending.clear();
    this.pendingWarmStart.clear();
    this.warmStartSteps.clear();
    this.runs = runs.map((r) => ({ run: r.run, records: [...r.records] }));
    this.compare = compare;
    this.context = context;
    this.fileStem = runs.length === 1 ? runs[0].run.runId : 'comparison';
    this.charts = CHARTS.map((spec) => this.newChart(spec, this.grid));
    this.keys.clear();
    this.addKeys(this.runs.flatMap((r) => r.records));
    for (const key of this.picker.pins) this.pinnedCharts.set(key, this.newChart(pinnedSpec(key), this.pinnedGrid, key));
    for (const { run, records } of this.runs) this.metricCharts().forEach((c) => c.addRecords(run.runId, records));
    this.checkHealth();
    this.drawNow();
  }

  /** Queues a live record; the charts redraw on an animation frame once the gap after the previous draw has passed. */
  append(runId: string, record: MetricsRecord): void {
    const queue = this.pending.get(runId) ?? [];
    queue.push(record);
    this.pending.set(runId, queue);
    this.scheduleLiveDraw();
  }

  /** Points of the SFT warm start's loss curve (from the run's events, or live); drawn on the next frame. */
  addWarmStart(runId: string, events: readonly WarmStartEvent[]): void {
    const queue = this.pendingWarmStart.get(runId) ?? [];
    for (const event of events) {
      if (event.step <= (this.warmStartSteps.get(runId) ?? 0)) continue;
      this.warmStartSteps.set(runId, event.step);
      queue.push({ step: event.step, time: event.time, metrics: { 'sft/loss': event.loss } });
    }
    this.pendingWarmStart.set(runId, queue);
    this.scheduleLiveDraw();
  }

  /**
   * A shown run's reward range (ChartRun.rewardRange) learnt after `show`: a live run opened before its config
   * was written gets it from its `started` event. Its reward band is drawn again within it.
   */
  setRewardRange(runId: string, range: readonly [number, number] | undefined): void {
    const run = this.runs.find((r) => r.run.runId === runId)?.run;
    if (!run || (run.rewardRange?.[0] === range?.[0] && run.rewardRange?.[1] === range?.[1])) return;
    run.rewardRange = range;
    this.metricCharts().forEach((c) => c.rewardRangeChanged(runId));
    this.scheduleDraw();
  }

  /** What the run is doing before its first metrics (the SFT warm start, loading a model): shown instead of "No metrics yet." */
  setActivity(text: string | undefined): void {
    this.waiting = text ? `No metrics yet — ${text}` : 'No metrics yet.';
    this.empty.textContent = this.waiting;
  }

  applySettings(settings: CurveSettings): void {
    this.settings = settings;
    this.showSettings();
    this.allCharts().forEach((c) => c.applySettings(settings));
    this.scheduleDraw();
  }

  /** Draws everything queued now (tests and the bench call it through a frame; the live path through rAF). */
  drawNow(): void {
    if (this.frame !== undefined) cancelAnimationFrame(this.frame);
    this.frame = undefined;
    if (this.liveTimer !== undefined) clearTimeout(this.liveTimer);
    this.liveTimer = undefined;
    const start = performance.now();
    performance.mark('grpo:charts-update:start');
    const arrived = this.pending.size > 0;
    for (const [runId, records] of this.pending) {
      this.runs.find((r) => r.run.runId === runId)?.records.push(...records);
      this.addKeys(records);
      this.metricCharts().forEach((c) => c.addRecords(runId, records));
    }
    this.pending.clear();
    if (this.compare) {
      const extent = sharedXExtent(this.runs, this.settings.xAxis);
      this.metricCharts().forEach((c) => c.setXExtent(extent));
    }
    for (const [runId, rows] of this.pendingWarmStart) this.charts.filter((c) => c.spec.warmStart).forEach((c) => c.addRecords(runId, rows));
    this.pendingWarmStart.clear();
    this.allCharts().forEach((c) => c.draw());
    if (arrived) this.checkHealthSoon();
    performance.measure('grpo:charts-update', 'grpo:charts-update:start');
    this.empty.hidden = this.allCharts().some((c) => c.hasData);
    this.lastDraw = { end: performance.now(), ms: performance.now() - start };
  }

  /** Lists new metric keys in the picker (it re-renders only when there is one). */
  private addKeys(records: readonly MetricsRecord[]): void {
    const before = this.keys.size;
    for (const key of metricKeys(records)) this.keys.add(key);
    if (this.keys.size !== before || before === 0) this.picker.setKeys([...this.keys]);
  }

  private allCharts(): MetricChart[] {
    return [...this.pinnedCharts.values(), ...this.charts];
  }

  /** The charts drawn from metrics rows (all but the warm start's, which has its own x). */
  private metricCharts(): MetricChart[] {
    return this.allCharts().filter((c) => !c.spec.warmStart);
  }

  private newChart(spec: ChartSpec, container: HTMLElement, pinnedKey?: string): MetricChart {
    const unpin = pinnedKey === undefined ? [] : [smallButton('Unpin', `Remove the pinned chart of ${pinnedKey}`, () => this.picker.unpin(pinnedKey))];
    const tools = [...unpin, smallButton('PNG', `Export "${spec.title}" as PNG`, () => this.exportPng(chart)), smallButton('CSV', `Export "${spec.title}" as CSV`, () => this.exportCsv(chart))];
    const onStepClick = this.compare ? undefined : (runId: string, step: number, source: RolloutSource) => this.callbacks.onStepClick(runId, step, source);
    const chart = new MetricChart(container, spec, this.settings, { compare: this.compare, crosshair: this.crosshair, onStepClick, onNeedsDraw: () => this.scheduleDraw() }, tools);
    chart.setRuns(this.runs.map((r) => r.run));
    return chart;
  }

  private setPins(pins: string[]): void {
    for (const [key, chart] of this.pinnedCharts) {
      if (pins.includes(key)) continue;
      chart.destroy();
      this.pinnedCharts.delete(key);
    }
    for (const key of pins) {
      if (this.pinnedCharts.has(key)) continue;
      const chart = this.newChart(pinnedSpec(key), this.pinnedGrid, key);
      // Rows still queued for the next frame reach it then, with the other charts.
      for (const { run, records } of this.runs) chart.addRecords(run.runId, records);
      this.pinnedCharts.set(key, chart);
    }
    // Keep the pinned charts in pin order.
    this.pinnedGrid.append(...pins.map((key) => this.pinnedCharts.get(key)?.figure).filter((f): f is HTMLElement => f !== undefined));
    this.callbacks.onPinsChange(pins);
    this.scheduleDraw();
  }

  /** Health alerts are for one run: a comparison shows none. */
  private checkHealth(): void {
    if (this.healthTimer !== undefined) clearTimeout(this.healthTimer);
    this.healthTimer = undefined;
    this.healthCheckedAt = performance.now();
    if (this.compare || this.runs.length !== 1) {
      this.health.hide();
      return;
    }
    this.health.show(healthAlerts(this.runs[0].records, this.context.health ?? DEFAULT_HEALTH_THRESHOLDS));
  }

  /** New rows came while the page was hidden: the rules run when it is shown. */
  private healthDue = false;

  private checkHealthSoon(): void {
    if (this.healthTimer !== undefined) return;
    const wait = Math.max(0, this.healthCheckedAt + HEALTH_INTERVAL_MS - performance.now());
    this.healthTimer = setTimeout(() => {
      this.healthTimer = undefined;
      this.healthDue = document.hidden;
      if (!this.healthDue) this.checkHealth();
    }, wait);
  }

  private openStep(step: number, source: RolloutSource): void {
    const run = this.runs[0]?.run;
    if (run) this.callbacks.onStepClick(run.runId, step, source);
  }

  /** Draws on the next frame (what the user changed, a chart scrolled into view). */
  private scheduleDraw(): void {
    if (this.liveTimer !== undefined) clearTimeout(this.liveTimer);
    this.liveTimer = undefined;
    this.frame ??= requestAnimationFrame(() => this.drawNow());
  }

  /**
   * Draws live records on a frame at least drawGap after the previous draw: records that come faster are drawn
   * together. A hidden page gets no frames (the browser holds them back), so it draws when shown.
   */
  private scheduleLiveDraw(): void {
    if (this.frame !== undefined || this.liveTimer !== undefined) return;
    const wait = this.lastDraw.end + drawGap(this.lastDraw.ms) - performance.now();
    if (wait <= 0) this.frame = requestAnimationFrame(() => this.drawNow());
    else
      this.liveTimer = setTimeout(() => {
        this.liveTimer = undefined;
        this.frame ??= requestAnimationFrame(() => this.drawNow());
      }, wait);
  }

  private update(change: Partial<CurveSettings>): void {
    this.applySettings({ ...this.settings, ...change });
    this.callbacks.onSettingsChange(this.settings);
  }

  private showSettings(): void {
    this.smoothingSlider.value = String(this.settings.smoothing);
    this.smoothingValue.textContent = this.settings.smoothing.toFixed(2);
    this.xAxisSelect.value = this.settings.xAxis;
    this.logCheckbox.checked = this.settings.logScale;
  }

  private exportPng(chart: MetricChart): void {
    const base64 = chart.toPng().replace(/^data:image\/png;base64,/, '');
    void this.save(`${this.fileStem}-${chart.spec.id.replace(/[^\w.-]+/g, '_')}.png`, base64, 'base64');
  }

  private exportCsv(chart: MetricChart): void {
    void this.save(`${this.fileStem}-${chart.spec.id.replace(/[^\w.-]+/g, '_')}.csv`, chart.toCsv(), 'utf8');
  }

  private async exportAllCsv(): Promise<void> {
    // Queued live rows first, so the file has every step drawn.
    this.drawNow();
    await this.save(`${this.fileStem}-metrics.csv`, metricsCsv(this.runs.map((r) => ({ runId: r.run.runId, records: r.records }))), 'utf8');
  }

  /** Saves through the host and says where the file went (the host also offers to open it). */
  private async save(fileName: string, content: string, encoding: 'utf8' | 'base64'): Promise<void> {
    const savedTo = await this.callbacks.save(fileName, content, encoding);
    this.exportNote.textContent = savedTo ? `Saved ${fileName} to ${savedTo}` : '';
  }
}

/**
 * Compare: the x range of every run's records, which every chart shows — a metric only some runs log (KL with
 * beta 0 elsewhere) would otherwise get an x axis of its own. Steps, or seconds since each run's start.
 */
export function sharedXExtent(runs: readonly { run: ChartRun; records: readonly MetricsRecord[] }[], xAxis: CurveSettings['xAxis']): XExtent | undefined {
  let min = Infinity;
  let max = -Infinity;
  for (const { run, records } of runs) {
    if (records.length === 0) continue;
    const origin = run.startTime ?? records[0].time;
    const first = xAxis === 'step' ? records[0].step : (records[0].time - origin) / 1000;
    const last = xAxis === 'step' ? records[records.length - 1].step : (records[records.length - 1].time - origin) / 1000;
    min = Math.min(min, first, last);
    max = Math.max(max, first, last);
  }
  return max > min ? [min, max] : undefined;
}
