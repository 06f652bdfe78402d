/**
 * Line charts of per-step metrics (chart.js). Colours come from the VS Code theme's chart palette, so the charts
 * follow light, dark and high-contrast themes.
 */
import { CategoryScale, Chart, ChartDataset, Filler, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip } from 'chart.js';
import type { MetricsRecord } from '../src/protocol/records';

Chart.register(LineController, LineElement, PointElement, LinearScale, CategoryScale, Filler, Tooltip, Legend);

export interface SeriesSpec {
  /** Metric key, e.g. `reward`. */
  key: string;
  label: string;
  /** A VS Code theme colour variable, e.g. `--vscode-charts-blue`. */
  color: string;
  /** Metric holding a ± band around this series, e.g. `reward_std`. */
  band?: string;
}

type Point = { x: number; y: number };

function themeColor(variable: string, fallback: string): string {
  return getComputedStyle(document.body).getPropertyValue(variable).trim() || fallback;
}

function withAlpha(color: string, alpha: number): string {
  const hex = /^#([0-9a-f]{6})$/i.exec(color);
  if (!hex) return color;
  const n = parseInt(hex[1], 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

export class MetricChart {
  readonly canvas: HTMLCanvasElement;
  private readonly chart: Chart<'line', Point[]>;

  constructor(container: HTMLElement, title: string, private readonly series: SeriesSpec[]) {
    const figure = document.createElement('figure');
    figure.className = 'chart';
    const caption = document.createElement('figcaption');
    caption.textContent = title;
    this.canvas = document.createElement('canvas');
    this.canvas.setAttribute('aria-label', title);
    figure.append(caption, this.canvas);
    container.append(figure);

    const foreground = themeColor('--vscode-foreground', '#cccccc');
    const grid = withAlpha(themeColor('--vscode-editorWidget-border', '#454545'), 0.6);
    const datasets: ChartDataset<'line', Point[]>[] = [];
    for (const s of series) {
      const color = themeColor(s.color, '#3794ff');
      if (s.band) {
        // Upper and lower edges of the ± band; the lower fills up to the upper ('-1').
        datasets.push({ label: `${s.label} + std`, data: [], borderWidth: 0, pointRadius: 0, backgroundColor: 'transparent' });
        datasets.push({ label: `${s.label} − std`, data: [], borderWidth: 0, pointRadius: 0, fill: '-1', backgroundColor: withAlpha(color, 0.18) });
      }
      datasets.push({ label: s.label, data: [], borderColor: color, backgroundColor: color, borderWidth: 1.5, pointRadius: 0, tension: 0 });
    }
    this.chart = new Chart<'line', Point[]>(this.canvas, {
      type: 'line',
      data: { datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        parsing: false,
        normalized: true,
        interaction: { mode: 'nearest', axis: 'x', intersect: false },
        scales: {
          x: { type: 'linear', title: { display: true, text: 'step', color: foreground }, ticks: { color: foreground }, grid: { color: grid } },
          y: { ticks: { color: foreground }, grid: { color: grid } },
        },
        plugins: {
          legend: { labels: { color: foreground, filter: (item) => !/ [+−] std$/.test(item.text) } },
          tooltip: { filter: (item) => !/ [+−] std$/.test(item.dataset.label ?? '') },
        },
      },
    });
  }

  /** Number of points drawn for the main (first) series: what tests check. */
  get pointCount(): number {
    return this.mainData(0).length;
  }

  setRecords(records: MetricsRecord[]): void {
    for (const dataset of this.chart.data.datasets) dataset.data = [];
    this.addPoints(records);
  }

  append(record: MetricsRecord): void {
    this.addPoints([record]);
  }

  destroy(): void {
    this.chart.destroy();
    this.canvas.closest('figure')?.remove();
  }

  private mainData(seriesIndex: number): Point[] {
    let index = 0;
    for (let i = 0; i < seriesIndex; i++) index += this.series[i].band ? 3 : 1;
    if (this.series[seriesIndex].band) index += 2;
    return this.chart.data.datasets[index].data;
  }

  private addPoints(records: MetricsRecord[]): void {
    const datasets = this.chart.data.datasets;
    for (const record of records) {
      let index = 0;
      for (const s of this.series) {
        const y = record.metrics[s.key];
        if (s.band) {
          const spread = record.metrics[s.band];
          if (y !== undefined && spread !== undefined) {
            datasets[index].data.push({ x: record.step, y: y + spread });
            datasets[index + 1].data.push({ x: record.step, y: y - spread });
          }
          index += 2;
        }
        if (y !== undefined && Number.isFinite(y)) datasets[index].data.push({ x: record.step, y });
        index += 1;
      }
    }
    this.chart.update('none');
    // Exposed for tests and tooling: how many points the main series draws.
    this.canvas.closest('figure')?.setAttribute('data-points', String(this.pointCount));
  }
}
