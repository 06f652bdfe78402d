/**
 * One chart.js line chart per ChartSpec. Each (run, series) pair is a trace: its raw values, optionally an EMA of
 * them, and a ± band. Points keep their step, so a click on a chart (drawn by step or by wall time) can send the
 * rollout browser to that step. Long runs stay smooth: each trace is min-max decimated as points arrive (every
 * spike kept, a few thousand points drawn whatever the run's length, a live point costing O(1) to add), and the
 * caller coalesces live records into one draw per frame. The y axis is robust (ranges.ts: a few outliers are clipped
 * and marked at the edge instead of stretching it); "log y" is a true log scale for positive series and symlog for
 * series with zeros or negative values; one crosshair follows the pointer across every chart.
 */
import {
  Chart,
  ChartDataset,
  Filler,
  FontSpec,
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
import { toFont } from 'chart.js/helpers';
import { finiteValue, MetricsRecord, RolloutSource, StoredNumber } from '../src/protocol/records';
import type { CurveSettings } from '../src/protocol/webview';
import { ChartSpec, paletteColor, SERIES_COLORS, SERIES_DASHES, SeriesSpec } from './chartSpecs';
import { AxisRange, formatCompact, formatTick, logTicks, robustRangeOfSorted, SortedValues, symlog, symlogConstant, symlogInverse, symlogTicks, tickNotation } from './ranges';
import { DecimatorChange, DecimatorCursor, EmaSmoother, Extent, formatElapsed, MinMaxDecimator, toCsv } from './series';
import { themeColor, withAlpha } from './theme';

Chart.register(LineController, LineElement, PointElement, LinearScale, LogarithmicScale, Filler, Tooltip, Legend);

export interface ChartRun {
  runId: string;
  label: string;
  /** When the run started (ms since the epoch): the origin of the wall-time axis. */
  startTime: number | undefined;
  /**
   * What the run's reward can be (from its config: every reward function built in), or undefined when unknown;
   * each run's own, so a run and the same run in Compare keep its band within the same range. A live run's config
   * may arrive after its first draw (CurvesView.setRewardRange).
   */
  rewardRange?: readonly [number, number];
}

/**
 * The x position of the one crosshair all charts draw (in the x axis's units: step or seconds), shared so that
 * pointing at one chart shows the same step on every other.
 */
export class Crosshair {
  private x: number | undefined;
  private readonly charts = new Set<MetricChart>();
  private frame: number | undefined;

  get value(): number | undefined {
    return this.x;
  }

  add(chart: MetricChart): void {
    this.charts.add(chart);
  }

  remove(chart: MetricChart): void {
    this.charts.delete(chart);
  }

  /** Moves the crosshair; every chart on screen redraws once, on the next frame. */
  set(x: number | undefined): void {
    if (x === this.x) return;
    this.x = x;
    this.frame ??= requestAnimationFrame(() => {
      this.frame = undefined;
      this.charts.forEach((c) => c.redrawCrosshair());
    });
  }
}

export interface ChartOptions {
  /** Several runs: colour tells runs apart and dashes tell series apart. */
  compare: boolean;
  crosshair: Crosshair;
  onStepClick?: (runId: string, step: number, source: RolloutSource) => void;
  /** The chart scrolled (or its tab switched) into view with changes it skipped drawing meanwhile. */
  onNeedsDraw: () => void;
}

/** An x range, in the axis's units (steps, or seconds since the run's start). */
export type XExtent = readonly [number, number];

interface Point {
  x: number;
  /** As plotted: the value, or its symlog. */
  y: number;
  step: number;
  /** The logged value (tooltips show it whatever the scale). */
  value: number;
  /** The band's half-width at this point (its std), for the tooltip: the band may reach beyond the view. */
  spread?: number;
}

/** How values map to the y axis: as they are, chart.js's log scale (positive series), or symlog (any sign). */
type YMode = { kind: 'linear' } | { kind: 'log' } | { kind: 'symlog'; c: number };

type LineDataset = ChartDataset<'line', Point[]>;
type DatasetRole = 'upper' | 'lower' | 'raw' | 'smoothed';
/**
 * `beyondView`: a band dataset whose band reaches past the y axis (drawn up to it; the legend says how far it goes).
 * `cursor`: what of its decimator's points `data` holds; `extent`: a band's extent (settled points, then with the
 * last bucket's); `spliced`: where syncPoints last replaced points of `data`, for movePoints to place them.
 */
type TracedDataset = LineDataset & { trace: Trace; role: DatasetRole; beyondView?: boolean; noRunLogs?: boolean; cursor?: DecimatorCursor<Point>; settledExtent?: Extent; extent?: Extent; spliced?: Splice };

/** `removed` points of a dataset's data at `start` replaced by `added` ones. */
interface Splice {
  start: number;
  removed: number;
  added: number;
}

const isLine = (dataset: TracedDataset) => dataset.role === 'raw' || dataset.role === 'smoothed';
const isBand = (dataset: TracedDataset) => dataset.role === 'upper' || dataset.role === 'lower';

class Trace {
  readonly steps: number[] = [];
  readonly times: number[] = [];
  readonly values: number[] = [];
  readonly spreads: number[] = [];
  /** Some value is 0 or negative: a log scale would drop it, so "log y" draws this chart as symlog. */
  nonPositive = false;
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
    private mode: YMode,
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
    if (value <= 0) this.nonPositive = true;
    const spread = this.series.band ? finiteValue(record.metrics[this.series.band]) : undefined;
    this.spreads.push(spread ?? NaN);
    this.pushPoints(this.values.length - 1);
    return true;
  }

  reset(settings: CurveSettings, mode: YMode): void {
    this.settings = settings;
    this.mode = mode;
    this.ema = new EmaSmoother(settings.smoothing);
    Object.assign(this.shown, Trace.decimators());
    for (let i = 0; i < this.values.length; i++) this.pushPoints(i);
  }

  private pushPoints(i: number): void {
    const step = this.steps[i];
    const x = this.settings.xAxis === 'step' ? step : (this.times[i] - (this.run.startTime ?? this.times[0])) / 1000;
    const value = this.values[i];
    const point = (v: number): Point => ({ x, y: this.plotted(v), step, value: v });
    const spread = this.spreads[i];
    this.shown.raw.add(Number.isFinite(spread) ? { ...point(value), spread } : point(value));
    if (this.settings.smoothing > 0) this.shown.smoothed.add(point(this.ema.next(value)));
    if (Number.isFinite(spread)) {
      // Band ends beyond what the run's reward can be are drawn at its bound.
      const [low, high] = (this.series.bounded ? this.run.rewardRange : undefined) ?? [-Infinity, Infinity];
      this.shown.upper.add(point(Math.min(high, value + spread)));
      this.shown.lower.add(point(Math.max(low, value - spread)));
    }
  }

  private plotted(v: number): number {
    if (this.mode.kind === 'log') return v > 0 ? v : NaN;
    return this.mode.kind === 'symlog' ? symlog(v, this.mode.c) : v;
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

/** The legend's label font as chart.js resolved it (the defaults' until the legend exists). */
function legendFont(chart: Chart<'line', Point[]>): ReturnType<typeof toFont> {
  const resolved = (chart.legend as unknown as { options?: { labels?: { font?: Partial<FontSpec> } } } | undefined)?.options?.labels?.font;
  return toFont(resolved ?? {});
}

/** Room left in a legend row beside an item's text: its swatch, the gap after it, and the row's padding. */
function legendTextRoom(chart: Chart<'line', Point[]>): number {
  const labels = chart.options.plugins?.legend?.labels;
  const font = legendFont(chart);
  const boxWidth = labels?.boxWidth ?? 40;
  const padding = labels?.padding ?? 10;
  // chart.js starts a new row where width + 2 × padding passes the chart's; a pixel of slack for rounding.
  return chart.width - boxWidth - font.size / 2 - 2 * padding - 2;
}

/**
 * Legend items that fit the chart's width: chart.js draws a row of one item wider than the chart centred, cut
 * on both sides, and its swatches overlap. A label too long loses its middle ("…"); a band's item (its trace's
 * name, then how far it reaches) loses only from the name: the numbers stay whole. A dashed series' swatch is a
 * short dashed line (a filled box stroked with dashes reads as a jagged blob).
 */
function fittedLegendLabels(chart: Chart<'line', Point[]>): ReturnType<typeof Chart.defaults.plugins.legend.labels.generateLabels> {
  const items = Chart.defaults.plugins.legend.labels.generateLabels(chart);
  const room = legendTextRoom(chart);
  const { ctx } = chart;
  ctx.save();
  ctx.font = legendFont(chart).string;
  const measure = (text: string) => ctx.measureText(text).width;
  for (const item of items) {
    const dataset = chart.data.datasets[item.datasetIndex ?? -1] as TracedDataset | undefined;
    item.text = dataset?.beyondView ? fitBandLabel(item.text, dataset.trace.label, room, measure) : fitText(item.text, room, measure);
    // As point styles chart.js takes a swatch's fill, stroke and width from the dataset's points, which have no dashes.
    const dash = dataset?.trace.dash ?? [];
    item.lineDash = dash;
    item.pointStyle = dash.length > 0 && (item.lineWidth ?? 0) > 0 ? 'line' : 'rect';
  }
  ctx.restore();
  return items;
}

/** The end of a band's legend item that says why its numbers pass the axis: the first words dropped where room is short. */
const BEYOND_AXIS = ' (beyond axis)';

/** A band's legend item: `${name} ± std: <min> to <max> (beyond axis)`, its reach in 3 significant digits. */
export function bandLabel(name: string, min: number, max: number): string {
  return `${name} ± std: ${formatCompact(min, 3)} to ${formatCompact(max, 3)}${BEYOND_AXIS}`;
}

/**
 * A band's legend item fitted to `room`: the name (`text`'s start) is cut ("…" in its middle, as fitText) so that
 * the reach after it stays whole; where even "…" and the reach do not fit, "(beyond axis)" goes, never a number.
 */
export function fitBandLabel(text: string, name: string, room: number, measure: (text: string) => number): string {
  if (measure(text) <= room || !text.startsWith(name)) return fitText(text, room, measure);
  const reach = text.slice(name.length);
  const short = reach.endsWith(BEYOND_AXIS) ? reach.slice(0, -BEYOND_AXIS.length) : reach;
  for (const tail of [reach, short]) {
    const nameRoom = room - measure(tail);
    if (measure('…') <= nameRoom) return fitText(name, nameRoom, measure) + tail;
  }
  return `…${short}`;
}

/** `text`, or its start and end around "…", as long as `measure` says fits in `room`. */
export function fitText(text: string, room: number, measure: (text: string) => number): string {
  if (measure(text) <= room) return text;
  // The most characters kept (half from each end) whose cut text fits: measuring is monotone in the count.
  let lo = 0;
  let hi = text.length - 1;
  const cut = (kept: number) => `${text.slice(0, Math.ceil(kept / 2))}…${text.slice(text.length - Math.floor(kept / 2))}`;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (measure(cut(mid)) <= room) lo = mid;
    else hi = mid - 1;
  }
  return cut(lo);
}

/** Where chart.js put the legend's items (its hit boxes, in canvas pixels): [left, top, width] each. */
function legendBoxes(chart: Chart<'line', Point[]>): [number, number, number][] {
  const boxes = (chart.legend as unknown as { legendHitBoxes?: { left: number; top: number; width: number }[] } | undefined)?.legendHitBoxes ?? [];
  return boxes.map((b) => [Math.round(b.left), Math.round(b.top), Math.round(b.width)]);
}

/** A series of one or two points has no line to see: its points are drawn as dots. */
function pointRadiusOf(trace: Trace): number {
  return trace.values.length < 3 ? 3 : 0;
}

/** A value for display; '—' for what a record stores as null (NaN: a failed reward, an undefined metric). */
export function formatValue(value: StoredNumber | undefined): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  return formatCompact(value, 4);
}

/** Dispatched on a chart's figure, it writes `data-drawn-data`: each dataset's drawn points as [step, y]. */
export const DESCRIBE_DATA_EVENT = 'grpo:describe-data';
/**
 * Dispatched on a chart's figure, it lays the chart out and draws it anew with chart.js's full update (tests
 * compare the pixels with those of the live draws, which move points within the last layout).
 */
export const LAY_OUT_EVENT = 'grpo:lay-out';

export class MetricChart {
  readonly figure = document.createElement('figure');
  readonly canvas = document.createElement('canvas');
  private readonly chart: Chart<'line', Point[]>;
  private traces: Trace[] = [];
  private runs: ChartRun[] = [];
  private dirty = false;
  /** Charts out of view (scrolled away, another tab shown) skip drawing until they come back. */
  private onScreen = true;
  private mode: YMode = { kind: 'linear' };
  private range: AxisRange | undefined;
  /** The lines' drawn y values in axis units (log10 on a log axis), sorted: the robust y range's input. */
  private readonly lineValues = new SortedValues();
  /** The axis lineValues were taken for; another one (or new datasets) takes them again from every point. */
  private lineValuesAxis: YMode['kind'] | undefined;
  /** Compare: the x range every chart shows (all runs' steps), so a metric one run lacks does not narrow it. */
  private xExtent: XExtent | undefined;
  /**
   * What chart.js laid the chart out from at its last full update besides the points (frameKey), and the x ticks
   * it built then: while both stay, a live draw moves points within the same frame (movePoints).
   */
  private laidOut: { key: string; xTicks: number[] } | undefined;
  private xTicksBuilt: number[] = [];
  /** The canvas as chart.js last drew it up to the datasets (background, grid, axes, legend): movePoints draws over it. */
  private readonly frame = document.createElement('canvas');
  private frameKept = false;
  /** chart.js updated the chart since the frame was kept: its next draw keeps it again (a crosshair's redraw does not). */
  private frameStale = true;
  private drawingOverFrame = false;
  private layouts = 0;
  private moves = 0;

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
    this.chart = new Chart<'line', Point[]>(this.canvas, { type: 'line', data: { datasets: [] }, options: this.chartOptions(), plugins: [backgroundPlugin, this.edgeMarkers(), this.crosshairLine(), this.frameKeeper()] });
    this.visibility.observe(this.figure);
    // Tests ask for every point each dataset hands chart.js (on demand: a live draw stays O(changed points)).
    this.figure.addEventListener(DESCRIBE_DATA_EVENT, () => {
      this.figure.dataset.drawnData = JSON.stringify((this.chart.data.datasets as TracedDataset[]).map((d) => [`${d.trace.label} ${d.role}`, d.data.map((p) => [p.step, p.y])]));
    });
    this.figure.addEventListener(LAY_OUT_EVENT, () => {
      if (!this.figure.hidden) this.layOut(this.chart.data.datasets as TracedDataset[]);
    });
    options.crosshair.add(this);
    if (!spec.warmStart) this.canvas.addEventListener('mousemove', (event) => options.crosshair.set(this.xAt(event.offsetX, event.offsetY)));
    this.canvas.addEventListener('mouseleave', () => options.crosshair.set(undefined));
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
    this.mode = this.modeFor(settings);
    this.traces.forEach((t) => t.reset(settings, this.mode));
    const scales = this.chart.options.scales;
    if (scales?.x && scales.x.type === 'linear') scales.x.title = { display: true, text: this.xTitle() };
    this.rebuildDatasets();
    this.applyTheme();
  }

  /** Compare: the x range shared by every chart; a change redraws the chart even without new points. */
  setXExtent(extent: XExtent | undefined): void {
    // The warm start's x is an SFT step, another axis.
    if (this.spec.warmStart || (extent?.[0] === this.xExtent?.[0] && extent?.[1] === this.xExtent?.[1])) return;
    this.xExtent = extent;
    this.dirty = true;
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
    this.updateMode();
    // chart.js keeps a dataset's point options once resolved: a trace that outgrew its dots gets new datasets.
    if ((this.chart.data.datasets as TracedDataset[]).some((d) => d.role === 'raw' && d.pointRadius !== pointRadiusOf(d.trace))) this.rebuildDatasets();
    const datasets = this.chart.data.datasets as TracedDataset[];
    const spliced = this.prepare(datasets);
    if (spliced && this.framed(datasets)) this.movePoints(datasets);
    else this.layOut(datasets);
    // How each draw went, for tests: full layouts, and draws that moved points within the last one.
    this.figure.dataset.draws = `${this.layouts} ${this.moves}`;
    this.figure.dataset.points = String(this.pointCount);
    this.figure.dataset.traces = String(this.traces.filter((t) => t.values.length > 0).length);
    this.describePlot(datasets);
    return true;
  }

  /**
   * Brings the datasets and the options chart.js draws from up to date: points, y range, bands, legend, x range.
   * False when some dataset's points were replaced whole (a new decimator, or a merge of its buckets).
   */
  private prepare(datasets: TracedDataset[]): boolean {
    const spliced = this.syncPoints(datasets);
    this.setYRange();
    const bandBeyond = this.markBands(datasets);
    const shownTraces = this.traces.filter((t) => t.values.length > 0).length;
    const legend = this.chart.options.plugins?.legend;
    // Compare: every chart names every run, a run without this metric as "(no kl)", so no line goes unexplained.
    // A chart of discovered series (reward extras: `rewards/<fn>/<extra>`) names even a lone one: its title cannot.
    if (legend) legend.display = this.options.compare || shownTraces > 1 || bandBeyond || (this.spec.pattern !== undefined && shownTraces > 0);
    if (this.options.compare) this.labelMissing(datasets);
    const x = this.chart.options.scales?.x;
    if (x) {
      x.min = this.xExtent?.[0];
      x.max = this.xExtent?.[1];
    }
    return spliced;
  }

  /** A full chart.js update: scales, ticks, legend and layout computed again, then every point placed and drawn. */
  private layOut(datasets: TracedDataset[]): void {
    this.layouts += 1;
    this.chart.update('none');
    this.laidOut = { key: this.frameKey(datasets), xTicks: this.xTicksBuilt };
  }

  /**
   * Everything besides the points that chart.js lays a chart out from: its size, the axes' bounds we set (the y
   * axis's are the robust range), the legend's items and each dataset's style and visibility. Theme and settings
   * changes, which restyle the axes, forget the layout instead (applyTheme, applySettings).
   */
  private frameKey(datasets: TracedDataset[]): string {
    const { width, height, options } = this.chart;
    const { x, y } = options.scales ?? {};
    const styles = datasets.map((d, i) => [d.label, d.backgroundColor, d.borderColor, d.beyondView, d.noRunLogs, d.pointRadius, this.chart.isDatasetVisible(i)].join('|'));
    return JSON.stringify([width, height, x?.min, x?.max, y?.type, y?.min, y?.max, options.plugins?.legend?.display, styles]);
  }

  /**
   * Whether the points can move within the frame (axes, ticks, legend, plot area) chart.js last laid out: our
   * inputs to it are unchanged, the x axis has no bounds of ours (Compare's shared range moves with every step),
   * nothing is hovered (an update re-targets the tooltip), every dataset spliced has points drawn before (their
   * shared options), and chart.js, asked for the x axis's data limits and ticks over the points now, builds the
   * same ticks (a run's next step stays within the axis's last round tick): its x axis is then where it was too.
   */
  private framed(datasets: TracedDataset[]): boolean {
    if (!this.laidOut || this.xExtent !== undefined || this.laidOut.key !== this.frameKey(datasets)) return false;
    if (this.chart.getActiveElements().length > 0 || (this.chart.tooltip?.getActiveElements().length ?? 0) > 0) return false;
    if (datasets.some((d, i) => d.spliced && this.chart.getDatasetMeta(i).data.length === 0)) return false;
    const x = this.chart.scales.x;
    const [min, max] = [x.min, x.max];
    x.determineDataLimits();
    const ticks = x.buildTicks();
    const same = x.min === min && x.max === max && ticks.length === this.laidOut.xTicks.length && ticks.every((t, i) => t.value === this.laidOut?.xTicks[i]);
    // buildTicks set the scale's bounds to its ticks': where they differ, the full update that follows sets them.
    return same;
  }

  /**
   * A live draw within the same frame: the scales are where they were, so every point kept is too; only the few
   * spliced in at the end of each dataset get elements, placed as chart.js's line controller places points (pixel
   * of x and y, skipped where either is NaN, its options shared by every point of the dataset), and the chart is
   * drawn. chart.js's own update would lay everything out again and place every point.
   */
  private movePoints(datasets: TracedDataset[]): void {
    this.moves += 1;
    const { x, y } = this.chart.scales;
    datasets.forEach((dataset, i) => {
      const splice = dataset.spliced;
      if (!splice) return;
      const meta = this.chart.getDatasetMeta(i);
      const elements = meta.data as PointElement[];
      const options = elements[0]?.options;
      const added = dataset.data.slice(splice.start, splice.start + splice.added).map((p) => {
        const [px, py] = [x.getPixelForValue(p.x), y.getPixelForValue(p.y)];
        return new PointElement({ x: px, y: py, skip: Number.isNaN(px) || Number.isNaN(py), stop: false, options });
      });
      elements.splice(splice.start, splice.removed, ...added);
      // The line's path and segments are built again from its points.
      if (meta.dataset) (meta.dataset as LineElement).points = elements;
      // The controller draws the points its last update counted in view: every point, as the x axis has no bounds of ours.
      (meta.controller as unknown as { _drawCount?: number })._drawCount = elements.length;
    });
    this.drawOverFrame();
  }

  /**
   * Draws the datasets over the frame kept from chart.js's last draw, as its draw() does after drawing the frame
   * (its layers, nothing of which depends on the points): the grid, ticks, titles and legend are not drawn again.
   * Without the frame, or in a chart.js without _drawDatasets, it draws the whole chart.
   * _drawDatasets and the controller's _drawCount are chart.js internals: package.json pins chart.js to 4.6.x
   * (`~`), and the live-vs-whole webview test compares these canvases pixel for pixel with a full update.
   */
  private drawOverFrame(): void {
    const chart = this.chart as unknown as Chart<'line', Point[]> & { _drawDatasets?: () => void };
    if (!this.frameKept || typeof chart._drawDatasets !== 'function' || this.frame.width !== this.canvas.width || this.frame.height !== this.canvas.height) {
      chart.render();
      return;
    }
    const { ctx } = chart;
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.globalCompositeOperation = 'copy';
    ctx.drawImage(this.frame, 0, 0);
    ctx.restore();
    this.drawingOverFrame = true;
    try {
      chart._drawDatasets();
    } finally {
      this.drawingOverFrame = false;
    }
    chart.notifyPlugins('afterDraw');
  }

  /**
   * Keeps the canvas as chart.js drew it just before the datasets (drawOverFrame starts from it), at the first draw
   * after each update: what it draws before the datasets is laid out and styled by the update.
   */
  private frameKeeper(): Plugin<'line'> {
    return {
      id: 'grpoFrameKeeper',
      afterUpdate: () => {
        this.frameStale = true;
      },
      beforeDatasetsDraw: (chart) => {
        if (this.drawingOverFrame || !this.frameStale) return;
        this.frameStale = false;
        const { canvas } = chart;
        if (this.frame.width !== canvas.width || this.frame.height !== canvas.height) [this.frame.width, this.frame.height] = [canvas.width, canvas.height];
        const ctx = this.frame.getContext('2d');
        if (!ctx) return;
        ctx.globalCompositeOperation = 'copy';
        ctx.drawImage(canvas, 0, 0);
        this.frameKept = true;
      },
    };
  }

  /** Redraws the crosshair alone (the pointer moved over some chart); charts out of view wait. */
  redrawCrosshair(): void {
    if (this.figure.hidden || !this.onScreen) return;
    this.chart.draw();
    const x = this.options.crosshair.value;
    if (x === undefined) delete this.figure.dataset.crosshair;
    else this.figure.dataset.crosshair = String(x);
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
    // Axis colours are no part of frameKey: the next draw lays the chart out.
    this.laidOut = undefined;
    this.dirty = true;
  }

  /** The chart as a PNG data URL, drawn as on screen. */
  toPng(): string {
    return this.chart.toBase64Image('image/png');
  }

  /** Raw (unsmoothed) values of every trace, one row per step, with each band's metric (e.g. `reward_std`) beside it. */
  toCsv(): string {
    const traces = this.traces.filter((t) => t.values.length > 0);
    const columns = [...new Set(traces.flatMap((t) => (t.series.band ? [t.series.key, t.series.band] : [t.series.key])))];
    const header = ['run', 'step', 'time', ...columns];
    const rows: (string | number | undefined)[][] = [];
    for (const run of this.runs) {
      const byStep = new Map<number, (string | number | undefined)[]>();
      for (const trace of traces.filter((t) => t.run === run)) {
        const column = header.indexOf(trace.series.key);
        const bandColumn = trace.series.band ? header.indexOf(trace.series.band) : -1;
        trace.steps.forEach((step, i) => {
          const row = byStep.get(step) ?? [run.runId, step, new Date(trace.times[i]).toISOString()];
          row[column] = trace.values[i];
          if (bandColumn >= 0 && Number.isFinite(trace.spreads[i])) row[bandColumn] = trace.spreads[i];
          byStep.set(step, row);
        });
      }
      rows.push(...[...byStep.entries()].sort((a, b) => a[0] - b[0]).map(([, row]) => row));
    }
    return toCsv(header, rows);
  }

  destroy(): void {
    this.options.crosshair.remove(this);
    this.visibility.disconnect();
    this.chart.destroy();
    this.figure.remove();
  }

  private addTrace(run: ChartRun, series: SeriesSpec): void {
    const seriesIndex = this.traces.filter((t) => t.run === run).length;
    const runIndex = this.runs.indexOf(run);
    const compare = this.options.compare;
    const label = compare ? (this.spec.series.length === 1 && !this.spec.pattern ? run.label : `${run.label} · ${series.label}`) : series.label;
    // Colours cycle only past the palette's length, and a second lap is dashed: no two series of a chart look alike.
    const colorIndex = compare ? runIndex : seriesIndex;
    const color = SERIES_COLORS[colorIndex % SERIES_COLORS.length];
    const lap = Math.floor(colorIndex / SERIES_COLORS.length);
    const dash = compare ? SERIES_DASHES[seriesIndex % SERIES_DASHES.length] : SERIES_DASHES[lap % SERIES_DASHES.length];
    this.traces.push(new Trace(run, series, label, color, dash, this.settings, this.mode));
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
      const make = (role: DatasetRole): TracedDataset => ({ trace, role, label: trace.label, data: [], pointRadius: role === 'raw' ? pointRadiusOf(trace) : 0, borderWidth: 1.5, tension: 0 }) as TracedDataset;
      if (trace.series.band) datasets.push(make('upper'), make('lower'));
      datasets.push(make('raw'));
      if (this.settings.smoothing > 0) datasets.push(make('smoothed'));
    }
    datasets.forEach((d) => this.styleDataset(d));
    this.chart.data.datasets = datasets;
    this.dirty = true;
  }

  private styleDataset(dataset: TracedDataset): void {
    const color = paletteColor(dataset.trace.colorVariable);
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

  /**
   * Brings each dataset's data to its decimator's points from what changed since the last draw: a live step
   * changes a few points at the end, so chart.js keeps its elements for the rest (one splice), the lines' sorted
   * values take the few out and in, and a band's extent grows by its newly settled points. Marks the datasets
   * whose points changed; false when some dataset's were replaced whole (its first look, or a merge).
   */
  private syncPoints(datasets: TracedDataset[]): boolean {
    let retake = this.lineValuesAxis !== this.mode.kind;
    let spliced = true;
    const lineChanges: DecimatorChange<Point>[] = [];
    for (const dataset of datasets) {
      const decimator = dataset.trace.shown[dataset.role];
      if (dataset.cursor?.source !== decimator) dataset.cursor = new DecimatorCursor(decimator);
      const change = dataset.cursor.next();
      dataset.spliced = undefined;
      // A trace without a new point (a metric logged every 10th step) gives back the same last bucket.
      if (!change.replaced && change.removed.length === change.added.length && change.removed.every((p, i) => p === change.added[i])) continue;
      spliced &&= !change.replaced;
      if (change.replaced) dataset.data = change.added.slice();
      else {
        // Past chart.js's hooks on the array: they would move every element to its base and want all placed again.
        // A full update counts the elements again and places every one; movePoints splices them as the data.
        Array.prototype.splice.call(dataset.data, change.start, change.removed.length, ...change.added);
        dataset.spliced = { start: change.start, removed: change.removed.length, added: change.added.length };
      }
      if (isLine(dataset)) {
        retake ||= change.replaced;
        lineChanges.push(change);
      } else {
        dataset.settledExtent = change.replaced ? Extent.of(change.settledAdded) : (dataset.settledExtent ?? new Extent()).addAll(change.settledAdded);
        dataset.extent = Extent.of(decimator.tail).merge(dataset.settledExtent);
      }
    }
    const axisValue = this.mode.kind === 'log' ? (y: number) => (y > 0 ? Math.log10(y) : NaN) : (y: number) => y;
    if (retake) {
      this.lineValues.reset(datasets.filter(isLine).flatMap((d) => d.data.map((p) => axisValue(p.y))));
      this.lineValuesAxis = this.mode.kind;
      return spliced;
    }
    for (const change of lineChanges) {
      for (const p of change.removed) this.lineValues.remove(axisValue(p.y));
      for (const p of change.added) this.lineValues.add(axisValue(p.y));
    }
    return spliced;
  }

  /** Log y: chart.js's log scale when every value is positive, symlog when some are zero or negative. */
  private modeFor(settings: CurveSettings): YMode {
    if (!settings.logScale) return { kind: 'linear' };
    if (!this.traces.some((t) => t.nonPositive)) return { kind: 'log' };
    return { kind: 'symlog', c: symlogConstant(this.traces.flatMap((t) => t.values)) };
  }

  /** A live value can turn a positive series mixed-sign: the scale changes with it (its points re-plotted once). */
  private updateMode(): void {
    const kind = !this.settings.logScale ? 'linear' : this.traces.some((t) => t.nonPositive) ? 'symlog' : 'log';
    if (kind === this.mode.kind) return;
    this.mode = this.modeFor(this.settings);
    // New decimators: the next syncPoints takes every point again.
    this.traces.forEach((t) => t.reset(this.settings, this.mode));
  }

  /** The y axis from the drawn lines (not the bands), robust to outliers; a log axis is robust in log space. */
  private setYRange(): void {
    const bounded = this.rewardBounds();
    const scale = this.chart.options.scales?.y;
    if (!scale) return;
    if (this.mode.kind === 'log') {
      const logRange = robustRangeOfSorted(this.lineValues.sorted);
      this.range = logRange && { ...logRange, min: 10 ** logRange.min, max: 10 ** logRange.max };
      // padded() maps a constant log value v to [v − 10%, v + 10%] in decades: fine for a log axis.
    } else {
      const bounds = bounded && this.mode.kind === 'symlog' ? ([symlog(bounded[0], this.mode.c), symlog(bounded[1], this.mode.c)] as const) : bounded;
      this.range = robustRangeOfSorted(this.lineValues.sorted, bounds);
    }
    scale.type = this.mode.kind === 'log' ? 'logarithmic' : 'linear';
    scale.min = this.range?.min;
    scale.max = this.range?.max;
  }

  /**
   * The range a bounded series (the reward) can take on this chart: the union of its runs' reward ranges, or
   * undefined when the chart has no bounded series or some run's range is unknown (nothing to cap it at).
   */
  private rewardBounds(): readonly [number, number] | undefined {
    const traces = this.traces.filter((t) => t.series.bounded && t.values.length > 0);
    if (traces.length === 0) return undefined;
    let low = Infinity;
    let high = -Infinity;
    for (const { run } of traces) {
      if (!run.rewardRange) return undefined;
      low = Math.min(low, run.rewardRange[0]);
      high = Math.max(high, run.rewardRange[1]);
    }
    return [low, high];
  }

  /** A run's reward range became known (its config arrived): its bounded traces are plotted again within it. */
  rewardRangeChanged(runId: string): void {
    const traces = this.traces.filter((t) => t.run.runId === runId && t.series.bounded);
    if (traces.length === 0) return;
    traces.forEach((t) => t.reset(this.settings, this.mode));
    this.dirty = true;
  }

  /** A trace's band: the extent of its upper and lower datasets' points. */
  private bandExtent(datasets: TracedDataset[], trace: Trace): Extent | undefined {
    const band = datasets.filter((d) => d.trace === trace && isBand(d));
    return band.length ? band.reduce((extent, d) => (d.extent ? extent.merge(d.extent) : extent), new Extent()) : undefined;
  }

  /**
   * Bands within the y axis, like the lines: a band wider than the robust range (a reward std of 0.4 around 0.8
   * when the axis spans 0.55–1) is drawn up to the axis's ends (the plot area clips its fill), fainter so the line
   * over it stays readable, and the legend says how far it really reaches. True when some band does.
   */
  private markBands(datasets: TracedDataset[]): boolean {
    const range = this.range;
    let beyond = false;
    for (const trace of this.traces) {
      const extent = this.bandExtent(datasets, trace);
      if (!extent) continue;
      const traceBeyond = range !== undefined && (extent.minY < range.min || extent.maxY > range.max);
      for (const dataset of datasets) {
        if (dataset.trace !== trace || !isBand(dataset)) continue;
        dataset.beyondView = traceBeyond && dataset.role === 'upper';
        dataset.backgroundColor = withAlpha(paletteColor(trace.colorVariable), traceBeyond ? 0.08 : 0.16);
        if (dataset.role === 'upper') dataset.label = traceBeyond ? bandLabel(trace.label, extent.minValue, extent.maxValue) : `${trace.label} + std`;
      }
      beyond ||= traceBeyond;
    }
    return beyond;
  }

  /** Compare: a run without a series is named "(no <metric>)"; a series no run logs is left out of the legend. */
  private labelMissing(datasets: TracedDataset[]): void {
    const logged = new Set(this.traces.filter((t) => t.values.length > 0).map((t) => t.series.key));
    for (const dataset of datasets) {
      if (dataset.role !== 'raw') continue;
      const { trace } = dataset;
      dataset.noRunLogs = !logged.has(trace.series.key);
      dataset.label = trace.values.length ? trace.label : `${trace.label} (no ${trace.series.key})`;
    }
  }

  /** Where the plot area lies and what it spans: lets tests (and tools) turn a step into a pixel, and check the y axis. */
  private describePlot(datasets: TracedDataset[]): void {
    const { chartArea, scales } = this.chart;
    const smoothed = datasets.find((d) => d.role === 'smoothed');
    const raw = datasets.filter((d) => d.role === 'raw' && d.trace.values.length > 0);
    const band = datasets.filter(isBand).reduce((extent, d) => (d.extent ? extent.merge(d.extent) : extent), new Extent());
    // What the plot area shows of the bands: their extent within the y axis.
    const within = (y: number) => (this.range ? Math.min(this.range.max, Math.max(this.range.min, y)) : y);
    this.figure.dataset.plot = JSON.stringify({
      left: chartArea.left, right: chartArea.right, top: chartArea.top, bottom: chartArea.bottom, min: scales.x.min, max: scales.x.max,
      yScale: this.mode.kind === 'log' ? 'logarithmic' : this.mode.kind === 'symlog' ? 'symlog' : 'linear',
      yMin: scales.y.min, yMax: scales.y.max, clipped: this.range?.clipped ?? false, smoothedLast: smoothed?.data.at(-1)?.value,
      yTicks: scales.y.ticks.map((t) => String(t.label)),
      colors: raw.map((d) => `${paletteColor(d.trace.colorVariable)} ${d.trace.dash.join(',')}`),
      band: band.count ? [band.minValue, band.maxValue] : undefined,
      bandDrawn: band.count ? [within(band.minY), within(band.maxY)] : undefined,
      legend: this.chart.options.plugins?.legend?.display ? this.chart.legend?.legendItems?.map((item) => item.text) : undefined,
      // Each legend item's box (left, top, width) and the chart's width: tests check none overflows or overlaps.
      width: this.chart.width,
      legendBoxes: this.chart.options.plugins?.legend?.display ? legendBoxes(this.chart) : undefined,
      // Points each dataset hands chart.js, and the last one's step: a live chart's data kept up to date checks against them.
      drawn: datasets.map((d) => `${d.data.length}@${d.data.at(-1)?.step ?? '-'}`),
    });
  }

  /** The x value under the pointer, or undefined outside the plot area. */
  private xAt(offsetX: number, offsetY: number): number | undefined {
    const { chartArea, scales } = this.chart;
    if (offsetX < chartArea.left || offsetX > chartArea.right || offsetY < chartArea.top || offsetY > chartArea.bottom) return undefined;
    return scales.x.getValueForPixel(offsetX);
  }

  /** Small triangles at the top or bottom edge where a value lies beyond the robust range (it is not hidden). */
  private edgeMarkers(): Plugin<'line'> {
    return {
      id: 'grpoEdgeMarkers',
      afterDatasetsDraw: (chart) => {
        const range = this.range;
        if (!range?.clipped) return;
        const { ctx, chartArea, scales } = chart;
        ctx.save();
        for (const dataset of chart.data.datasets as TracedDataset[]) {
          if (dataset.role !== 'raw') continue;
          ctx.fillStyle = paletteColor(dataset.trace.colorVariable);
          for (const point of dataset.data) {
            const above = point.y > range.max;
            if (!above && !(point.y < range.min)) continue;
            const x = scales.x.getPixelForValue(point.x);
            if (x < chartArea.left || x > chartArea.right) continue;
            const edge = above ? chartArea.top : chartArea.bottom;
            const base = above ? edge + 7 : edge - 7;
            ctx.beginPath();
            ctx.moveTo(x, edge);
            ctx.lineTo(x - 4, base);
            ctx.lineTo(x + 4, base);
            ctx.closePath();
            ctx.fill();
          }
        }
        ctx.restore();
      },
    };
  }

  private crosshairLine(): Plugin<'line'> {
    return {
      id: 'grpoCrosshair',
      afterDraw: (chart) => {
        const x = this.options.crosshair.value;
        // The warm start's x is an SFT step, not a GRPO step: the same number is another moment.
        if (x === undefined || this.spec.warmStart) return;
        const { ctx, chartArea, scales } = chart;
        const pixel = scales.x.getPixelForValue(x);
        if (pixel < chartArea.left || pixel > chartArea.right) return;
        ctx.save();
        ctx.strokeStyle = withAlpha(themeColor('--vscode-foreground', '#cccccc'), 0.5);
        ctx.setLineDash([3, 3]);
        ctx.beginPath();
        ctx.moveTo(pixel, chartArea.top);
        ctx.lineTo(pixel, chartArea.bottom);
        ctx.stroke();
        ctx.restore();
      },
    };
  }

  private xTitle(): string {
    if (this.settings.xAxis === 'time') return 'wall time';
    return this.spec.warmStart ? 'SFT step' : 'step';
  }

  /** A y tick's label, in one notation for the whole axis (not "5e-4" under "0.001"). */
  private yTick(value: number, ticks: readonly { value: number }[]): string {
    if (this.mode.kind === 'symlog') {
      const c = this.mode.c;
      const values = ticks.map((t) => symlogInverse(t.value, c));
      return formatCompact(symlogInverse(value, c), 3, tickNotation(values));
    }
    const step = ticks.length > 1 ? Math.abs(ticks[1].value - ticks[0].value) : 0;
    return formatTick(value, step, tickNotation(ticks.map((t) => t.value), step));
  }

  private chartOptions(): NonNullable<Chart<'line', Point[]>['options']> {
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
          // Steps and elapsed seconds start at 0: every chart starts there (the crosshair lines up), never at −1.
          min: 0,
          title: { display: true, text: this.xTitle() },
          ticks: { minRotation: 0, maxRotation: 0, sampleSize: 8, precision: 0, maxTicksLimit: 7, callback: (value) => (this.settings.xAxis === 'time' ? formatElapsed(Number(value)) : String(value)) },
          // The ticks as built, before chart.js skips some whose labels would collide: what framed() compares.
          afterBuildTicks: (scale) => {
            this.xTicksBuilt = scale.ticks.map((t) => t.value);
          },
        },
        y: {
          type: 'linear',
          // Round ticks only: the robust range's ends are arbitrary numbers ("8.39e-7") that would read as data.
          // At most 6: chart.js fits up to 11 in a 190 px axis (one a line of text), each measured and drawn every update.
          ticks: { sampleSize: 8, includeBounds: false, maxTicksLimit: 6, callback: (value, _index, ticks) => this.yTick(Number(value), ticks) },
          afterBuildTicks: (scale) => {
            if (this.mode.kind === 'symlog') {
              const c = this.mode.c;
              scale.ticks = symlogTicks(scale.min, scale.max, c).map((v) => ({ value: symlog(v, c) }));
            } else if (this.mode.kind === 'log') {
              scale.ticks = logTicks(scale.min, scale.max).map((value) => ({ value }));
            }
          },
        },
      },
      plugins: {
        legend: {
          display: true,
          labels: {
            boxWidth: 12,
            // Swatches drawn as point styles (fittedLegendLabels picks each: a box, or a dashed series' line), 12 px wide.
            usePointStyle: true,
            pointStyleWidth: 12,
            generateLabels: fittedLegendLabels,
            filter: (item, data) => {
              const dataset = data.datasets[item.datasetIndex ?? 0] as TracedDataset;
              return (isLine(dataset) && !dataset.noRunLogs) || dataset.beyondView === true;
            },
          },
        },
        tooltip: {
          filter: (item) => isLine(item.dataset as TracedDataset),
          callbacks: {
            title: (items: TooltipItem<'line'>[]) => {
              const point = items[0]?.raw as Point | undefined;
              if (!point) return '';
              return this.settings.xAxis === 'time' ? `step ${point.step} · ${formatElapsed(point.x)}` : `step ${point.step}`;
            },
            label: (item: TooltipItem<'line'>) => {
              const point = item.raw as Point;
              return `${item.dataset.label}: ${formatValue(point.value)}${point.spread !== undefined ? ` ± ${formatValue(point.spread)}` : ''}`;
            },
          },
        },
      },
    };
  }
}
