/**
 * The curves view: a toolbar (EMA smoothing, x axis by step or wall time, log scale) over a grid of charts, one
 * per ChartSpec, for one run or 2–4 runs overlaid. Live records are queued and drawn once per animation frame,
 * whatever their rate; each draw is measured as `grpo:charts-update` (performance timeline; the bench reads it).
 */
import type { MetricsRecord, RolloutSource } from '../src/protocol/records';
import type { CurveSettings } from '../src/protocol/webview';
import { CHARTS } from './chartSpecs';
import { ChartRun, MetricChart } from './charts';
import { onThemeChange } from './theme';
import { checkbox, labelled, select, slider, smallButton } from './toolkit';

export const DEFAULT_CURVE_SETTINGS: CurveSettings = { smoothing: 0, xAxis: 'step', logScale: false };

export interface CurvesCallbacks {
  onSettingsChange(settings: CurveSettings): void;
  onStepClick(runId: string, step: number, source: RolloutSource): void;
  /** Saves an export through the host (webviews cannot download). */
  save(fileName: string, content: string, encoding: 'utf8' | 'base64'): void;
}

export class CurvesView {
  readonly element = document.createElement('section');
  private readonly grid = document.createElement('div');
  private readonly smoothingValue = document.createElement('span');
  private readonly smoothingSlider: HTMLInputElement;
  private readonly xAxisSelect: HTMLSelectElement;
  private readonly logCheckbox: HTMLInputElement;
  private readonly empty = document.createElement('p');
  private charts: MetricChart[] = [];
  private pending = new Map<string, MetricsRecord[]>();
  private frame: number | undefined;
  private fileStem = 'run';

  constructor(
    private settings: CurveSettings,
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
    toolbar.append(
      labelled('Smoothing', this.smoothingSlider),
      this.smoothingValue,
      labelled('x axis', this.xAxisSelect),
      labelled('log y', this.logCheckbox),
    );
    this.grid.className = 'charts';
    this.empty.className = 'empty';
    this.empty.textContent = 'No metrics yet.';
    this.element.append(toolbar, this.empty, this.grid);
    this.showSettings();
    onThemeChange(() => {
      this.charts.forEach((c) => c.applyTheme());
      this.scheduleDraw();
    });
  }

  get chartList(): readonly MetricChart[] {
    return this.charts;
  }

  /** Replaces the charts: one run, or several overlaid (`compare`), each with its full history. */
  show(runs: { run: ChartRun; records: MetricsRecord[] }[], compare: boolean): void {
    this.charts.forEach((c) => c.destroy());
    this.pending.clear();
    this.fileStem = runs.length === 1 ? runs[0].run.runId : 'comparison';
    this.charts = CHARTS.map((spec) => {
      const tools = [smallButton('PNG', `Export "${spec.title}" as PNG`, () => this.exportPng(chart)), smallButton('CSV', `Export "${spec.title}" as CSV`, () => this.exportCsv(chart))];
      const chart = new MetricChart(this.grid, spec, this.settings, { compare, onStepClick: compare ? undefined : this.callbacks.onStepClick, onNeedsDraw: () => this.scheduleDraw() }, tools);
      chart.setRuns(runs.map((r) => r.run));
      return chart;
    });
    for (const { run, records } of runs) this.charts.forEach((c) => c.addRecords(run.runId, records));
    this.drawNow();
  }

  /** Queues a live record; the charts redraw on the next animation frame. */
  append(runId: string, record: MetricsRecord): void {
    const queue = this.pending.get(runId) ?? [];
    queue.push(record);
    this.pending.set(runId, queue);
    this.scheduleDraw();
  }

  applySettings(settings: CurveSettings): void {
    this.settings = settings;
    this.showSettings();
    this.charts.forEach((c) => c.applySettings(settings));
    this.scheduleDraw();
  }

  /** Draws everything queued now (tests and the bench call it through a frame; the live path through rAF). */
  drawNow(): void {
    if (this.frame !== undefined) cancelAnimationFrame(this.frame);
    this.frame = undefined;
    performance.mark('grpo:charts-update:start');
    for (const [runId, records] of this.pending) this.charts.forEach((c) => c.addRecords(runId, records));
    this.pending.clear();
    this.charts.forEach((c) => c.draw());
    performance.measure('grpo:charts-update', 'grpo:charts-update:start');
    this.empty.hidden = this.charts.some((c) => c.hasData);
  }

  private scheduleDraw(): void {
    this.frame ??= requestAnimationFrame(() => this.drawNow());
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
    this.callbacks.save(`${this.fileStem}-${chart.spec.id}.png`, base64, 'base64');
  }

  private exportCsv(chart: MetricChart): void {
    this.callbacks.save(`${this.fileStem}-${chart.spec.id}.csv`, chart.toCsv(), 'utf8');
  }
}
