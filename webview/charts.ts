/**
 * One chart.js line chart per ChartSpec. Each (run, series) pair is a trace: its raw values, optionally an EMA of
 * them, and a ± band. Points keep their step, so a click on a chart (drawn by step or by wall time) can send the
 * rollout browser to that step. Long runs stay smooth: each trace is min-max decimated as points arrive (every
 * spike kept, a few thousand points drawn whatever the run's length, a live point costing O(1) to add), and the
 * caller coalesces live records into one draw per frame.
 */
import {
  Chart,
  ChartDataset,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  LogarithmicScale,
  Plugin,
  PointElement,
  Tooltip,
  TooltipItem,
} from 'chart.js';
import { finiteValue, MetricsRecord, RolloutSource, StoredNumber } from '../src/protocol/records';
import type { CurveSettings } from '../src/protocol/webview';
import { ChartSpec, SERIES_COLORS, SERIES_DASHES, SeriesSpec } from './chartSpecs';
import { EmaSmoother, formatElapsed, MinMaxDecimator, toCsv } from './series';
import { themeColor, withAlpha } from './theme';

Chart.register(LineController, LineElement, PointElement, LinearScale, LogarithmicScale, Filler, Tooltip, Legend);

export interface ChartRun {
  runId: string;
  label: string;
  /** When the run started (ms since the epoch): the origin of the wall-time axis. */
  startTime: number | undefined;
}

export interface ChartOptions {
  /** Several runs: colour tells runs apart and dashes tell series apart. */
  compare: boolean;
  onStepClick?: (runId: string, step: number, source: RolloutSource) => void;
  /** The chart scrolled (or its tab switched) into view with changes it skipped drawing meanwhile. */
  onNeedsDraw: () => void;
}

interface Point {
  x: number;
  y: number;
  step: number;
}

type LineDataset = ChartDataset<'line', Point[]>;
type DatasetRole = 'upper' | 'lower' | 'raw' | 'smoothed';
type TracedDataset = LineDataset & { trace: Trace; role: DatasetRole };

class Trace {
  readonly steps: number[] = [];
  readonly times: number[] = [];
  readonly values: number[] = [];
  readonly spreads: number[] = [];
  readonly shown: Record<DatasetRole, MinMaxDecimator<Point>> = Trace.decimators();
  private ema: EmaSmoother;

  private static decimators(): Record<DatasetRole, MinMaxDecimator<Point>> {
    return { raw: new MinMaxDecimator(), smoothed: new MinMaxDecimator(), upper: new MinMaxDecimator(), lower: new MinMaxDecimator() };
  }

  constructor(
    readonly run: ChartRun,
    readonly series: SeriesSpec,
    readonly label: string,
    readonly colorVariable: string,
    readonly dash: number[],
    private settings: CurveSettings,
  ) {
    this.ema = new EmaSmoother(settings.smoothing);
  }

  /** Adds the record's value of this series, if it has one; false when it does not. */
  add(record: MetricsRecord): boolean {
    const value = finiteValue(record.metrics[this.series.key]);
    if (value === undefined) return false;
    this.steps.push(record.step);
    this.times.push(record.time);
    this.values.push(value);
    const spread = this.series.band ? finiteValue(record.metrics[this.series.band]) : undefined;
    this.spreads.push(spread ?? NaN);
    this.pushPoints(this.values.length - 1);
    return true;
  }

  reset(settings: CurveSettings): void {
    this.settings = settings;
    this.ema = new EmaSmoother(settings.smoothing);
    Object.assign(this.shown, Trace.decimators());
    for (let i = 0; i < this.values.length; i++) this.pushPoints(i);
  }

  private pushPoints(i: number): void {
    const step = this.steps[i];
    const x = this.settings.xAxis === 'step' ? step : (this.times[i] - (this.run.startTime ?? this.times[0])) / 1000;
    const value = this.values[i];
    const plotted = (y: number) => (this.settings.logScale && !(y > 0) ? NaN : y);
    this.shown.raw.add({ x, y: plotted(value), step });
    if (this.settings.smoothing > 0) this.shown.smoothed.add({ x, y: plotted(this.ema.next(value)), step });
    const spread = this.spreads[i];
    if (Number.isFinite(spread)) {
      this.shown.upper.add({ x, y: plotted(value + spread), step });
      this.shown.lower.add({ x, y: plotted(value - spread), step });
    }
  }
}

/** Fills the canvas with the editor background first, so exported PNGs are not transparent. */
const backgroundPlugin: Plugin<'line'> = {
  id: 'grpoBackground',
  beforeDraw: (chart) => {
    const { ctx, width, height } = chart;
    ctx.save();
    ctx.fillStyle = themeColor('--vscode-editor-background', '#1e1e1e');
    ctx.fillRect(0, 0, width, height);
    ctx.restore();
  },
};

/** A value for display; '—' for what a record stores as null (NaN: a failed reward, an undefined metric). */
export function formatValue(value: StoredNumber | undefined): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  return magnitude >= 1e4 || magnitude < 1e-3 ? value.toExponential(3) : String(Number(value.toPrecision(4)));
}

export class MetricChart {
  readonly figure = document.createElement('figure');
  readonly canvas = document.createElement('canvas');
  private readonly chart: Chart<'line', Point[]>;
  private traces: Trace[] = [];
  private runs: ChartRun[] = [];
  private dirty = false;
  /** Charts out of view (scrolled away, another tab shown) skip drawing until they come back. */
  private onScreen = true;

  constructor(
    container: HTMLElement,
    readonly spec: ChartSpec,
    private settings: CurveSettings,
    private readonly options: ChartOptions,
    captionTools: HTMLElement[],
  ) {
    this.figure.className = 'chart';
    this.figure.dataset.chart = spec.id;
    this.figure.hidden = true;
    const caption = document.createElement('figcaption');
    const title = document.createElement('span');
    title.textContent = spec.title;
    caption.append(title, ...captionTools);
    this.canvas.setAttribute('aria-label', spec.title);
    this.canvas.setAttribute('role', 'img');
    this.figure.append(caption, this.canvas);
    container.append(this.figure);
    this.chart = new Chart<'line', Point[]>(this.canvas, { type: 'line', data: { datasets: [] }, options: this.chartOptions(), plugins: [backgroundPlugin] });
    this.visibility.observe(this.figure);
  }

  private readonly visibility = new IntersectionObserver(([entry]) => {
    this.onScreen = entry.isIntersecting;
    if (this.onScreen && this.dirty) this.options.onNeedsDraw();
  });

  get hasData(): boolean {
    return this.traces.some((t) => t.values.length > 0);
  }

  /** Points of the first trace (what tests check). */
  get pointCount(): number {
    return this.traces[0]?.values.length ?? 0;
  }

  setRuns(runs: ChartRun[]): void {
    this.runs = runs;
    this.traces = [];
    runs.forEach((run) => this.spec.series.forEach((series) => this.addTrace(run, series)));
    this.rebuildDatasets();
  }

  addRecords(runId: string, records: readonly MetricsRecord[]): void {
    const run = this.runs.find((r) => r.runId === runId);
    if (!run) return;
    if (this.spec.pattern) this.discoverSeries(run, records);
    const traces = this.traces.filter((t) => t.run === run);
    for (const record of records) for (const trace of traces) if (trace.add(record)) this.dirty = true;
  }

  applySettings(settings: CurveSettings): void {
    this.settings = settings;
    this.traces.forEach((t) => t.reset(settings));
    const scales = this.chart.options.scales;
    if (scales?.y) scales.y.type = settings.logScale ? 'logarithmic' : 'linear';
    if (scales?.x && scales.x.type === 'linear') scales.x.title = { display: true, text: settings.xAxis === 'step' ? 'step' : 'wall time' };
    this.rebuildDatasets();
    this.applyTheme();
  }

  /** Draws pending changes; returns whether anything was drawn. */
  draw(): boolean {
    // A chart without data is hidden, so never on screen: it is drawn once data arrives, which shows it.
    if (!this.dirty || (!this.onScreen && !this.figure.hidden)) return false;
    this.dirty = false;
    const wasHidden = this.figure.hidden;
    this.figure.hidden = !this.hasData;
    if (this.figure.hidden) return false;
    // A chart created hidden has no size yet; measure it now rather than on chart.js's next resize event.
    if (wasHidden) this.chart.resize();
    for (const dataset of this.chart.data.datasets as TracedDataset[]) dataset.data = this.pointsOf(dataset);
    const legend = this.chart.options.plugins?.legend;
    if (legend) legend.display = this.traces.filter((t) => t.values.length > 0).length > 1;
    this.chart.update('none');
    this.figure.dataset.points = String(this.pointCount);
    this.figure.dataset.traces = String(this.traces.filter((t) => t.values.length > 0).length);
    // Where the plot area lies and what it spans: lets tests (and tools) turn a step into a pixel to click.
    const { chartArea, scales } = this.chart;
    // Also the y scale's type and the first smoothed line's last value: what the settings change, for tests to check.
    const smoothed = (this.chart.data.datasets as TracedDataset[]).find((d) => d.role === 'smoothed');
    this.figure.dataset.plot = JSON.stringify({
      left: chartArea.left, right: chartArea.right, top: chartArea.top, bottom: chartArea.bottom, min: scales.x.min, max: scales.x.max,
      yScale: scales.y.type, smoothedLast: smoothed?.data.at(-1)?.y,
    });
    return true;
  }

  /** Re-reads the theme's colours (the body's theme class changed). */
  applyTheme(): void {
    const foreground = themeColor('--vscode-foreground', '#cccccc');
    const grid = withAlpha(themeColor('--vscode-editorWidget-border', '#454545'), 0.5);
    const scales = this.chart.options.scales ?? {};
    for (const scale of [scales.x, scales.y]) {
      if (!scale) continue;
      if (scale.ticks) scale.ticks.color = foreground;
      if (scale.grid) scale.grid.color = grid;
      if ('title' in scale && scale.title) scale.title.color = foreground;
    }
    const legend = this.chart.options.plugins?.legend?.labels;
    if (legend) legend.color = foreground;
    for (const dataset of this.chart.data.datasets as TracedDataset[]) this.styleDataset(dataset);
    this.dirty = true;
  }

  /** The chart as a PNG data URL, drawn as on screen. */
  toPng(): string {
    return this.chart.toBase64Image('image/png');
  }

  /** Raw (unsmoothed) values of every trace, one row per step. */
  toCsv(): string {
    const traces = this.traces.filter((t) => t.values.length > 0);
    const header = ['run', 'step', 'time', ...new Set(traces.map((t) => t.series.key))];
    const rows: (string | number | undefined)[][] = [];
    for (const run of this.runs) {
      const byStep = new Map<number, (string | number | undefined)[]>();
      for (const trace of traces.filter((t) => t.run === run)) {
        const column = header.indexOf(trace.series.key);
        trace.steps.forEach((step, i) => {
          const row = byStep.get(step) ?? [run.runId, step, new Date(trace.times[i]).toISOString()];
          row[column] = trace.values[i];
          byStep.set(step, row);
        });
      }
      rows.push(...[...byStep.entries()].sort((a, b) => a[0] - b[0]).map(([, row]) => row));
    }
    return toCsv(header, rows);
  }

  destroy(): void {
    this.visibility.disconnect();
    this.chart.destroy();
    this.figure.remove();
  }

  private addTrace(run: ChartRun, series: SeriesSpec): void {
    const seriesIndex = this.traces.filter((t) => t.run === run).length;
    const runIndex = this.runs.indexOf(run);
    const compare = this.options.compare;
    const label = compare ? (this.spec.series.length === 1 && !this.spec.pattern ? run.label : `${run.label} · ${series.label}`) : series.label;
    const color = SERIES_COLORS[(compare ? runIndex : seriesIndex) % SERIES_COLORS.length];
    const dash = compare ? SERIES_DASHES[seriesIndex % SERIES_DASHES.length] : [];
    this.traces.push(new Trace(run, series, label, color, dash, this.settings));
  }

  private discoverSeries(run: ChartRun, records: readonly MetricsRecord[]): void {
    const pattern = this.spec.pattern;
    if (!pattern) return;
    const known = new Set(this.traces.filter((t) => t.run === run).map((t) => t.series.key));
    let added = false;
    for (const record of records) {
      for (const key of Object.keys(record.metrics)) {
        const match = pattern.exec(key);
        if (!match || known.has(key)) continue;
        known.add(key);
        this.addTrace(run, { key, label: match[1] ?? key });
        added = true;
      }
    }
    if (added) this.rebuildDatasets();
  }

  private rebuildDatasets(): void {
    const datasets: TracedDataset[] = [];
    for (const trace of this.traces) {
      const make = (role: DatasetRole): TracedDataset => ({ trace, role, label: trace.label, data: [], pointRadius: 0, borderWidth: 1.5, tension: 0 }) as TracedDataset;
      if (trace.series.band) datasets.push(make('upper'), make('lower'));
      datasets.push(make('raw'));
      if (this.settings.smoothing > 0) datasets.push(make('smoothed'));
    }
    datasets.forEach((d) => this.styleDataset(d));
    this.chart.data.datasets = datasets;
    this.dirty = true;
  }

  private styleDataset(dataset: TracedDataset): void {
    const color = themeColor(dataset.trace.colorVariable, '#3794ff');
    const smoothing = this.settings.smoothing > 0;
    dataset.borderDash = dataset.trace.dash;
    switch (dataset.role) {
      case 'upper':
      case 'lower':
        dataset.borderWidth = 0;
        dataset.backgroundColor = withAlpha(color, 0.16);
        dataset.fill = dataset.role === 'lower' ? '-1' : false;
        dataset.label = `${dataset.trace.label} ${dataset.role === 'upper' ? '+' : '−'} std`;
        break;
      case 'raw':
        dataset.borderColor = smoothing ? withAlpha(color, 0.3) : color;
        dataset.backgroundColor = color;
        dataset.label = dataset.trace.label;
        break;
      case 'smoothed':
        dataset.borderColor = color;
        dataset.backgroundColor = color;
        dataset.label = `${dataset.trace.label} (smoothed)`;
        break;
    }
  }

  private pointsOf(dataset: TracedDataset): Point[] {
    return dataset.trace.shown[dataset.role].points();
  }

  private chartOptions(): NonNullable<Chart<'line', Point[]>['options']> {
    const isShown = (dataset: TracedDataset) => dataset.role === 'raw' || dataset.role === 'smoothed';
    return {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      parsing: false,
      normalized: true,
      // chart.js's performance advice: no gap checks while drawing, a fixed tick rotation, few ticks measured.
      spanGaps: true,
      interaction: { mode: 'nearest', axis: 'x', intersect: false },
      onClick: (event, _elements, chart) => {
        if (!this.options.onStepClick || !event.native) return;
        const [item] = chart.getElementsAtEventForMode(event.native, 'nearest', { intersect: false, axis: 'x' }, false);
        if (!item) return;
        const dataset = chart.data.datasets[item.datasetIndex] as TracedDataset;
        const point = dataset.data[item.index];
        if (point) this.options.onStepClick(dataset.trace.run.runId, point.step, this.spec.opens ?? 'train');
      },
      scales: {
        x: {
          type: 'linear',
          title: { display: true, text: this.settings.xAxis === 'step' ? 'step' : 'wall time' },
          ticks: { minRotation: 0, maxRotation: 0, sampleSize: 8, callback: (value) => (this.settings.xAxis === 'time' ? formatElapsed(Number(value)) : String(value)) },
        },
        y: { type: this.settings.logScale ? 'logarithmic' : 'linear', ticks: { sampleSize: 8, callback: (value) => formatValue(Number(value)) } },
      },
      plugins: {
        legend: { display: true, labels: { boxWidth: 12, filter: (item, data) => isShown(data.datasets[item.datasetIndex ?? 0] as TracedDataset) } },
        tooltip: {
          filter: (item) => isShown(item.dataset as TracedDataset),
          callbacks: {
            title: (items: TooltipItem<'line'>[]) => {
              const point = items[0]?.raw as Point | undefined;
              if (!point) return '';
              return this.settings.xAxis === 'time' ? `step ${point.step} · ${formatElapsed(point.x)}` : `step ${point.step}`;
            },
            label: (item: TooltipItem<'line'>) => `${item.dataset.label}: ${formatValue((item.raw as Point).y)}`,
          },
        },
      },
    };
  }
}
