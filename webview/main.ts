/**
 * The dashboard app: a header with the run's status and backend, live charts of reward and KL (and loss,
 * entropy), and the latest rollouts. All state comes from the host (src/protocol/webview.ts).
 */
import type { MetricsRecord, RunEvent, RunSnapshot, RunStatus } from '../src/protocol/records';
import type { HostToWebviewMessage } from '../src/protocol/webview';
import { MetricChart, SeriesSpec } from './charts';
import { RolloutTable } from './rollouts';
import { listen, request, vscode } from './rpc';
import { button, setDisabled, tag } from './toolkit';

const CHARTS: { title: string; series: SeriesSpec[] }[] = [
  { title: 'Reward (mean ± std)', series: [{ key: 'reward', label: 'reward', color: '--vscode-charts-green', band: 'reward_std' }] },
  { title: 'KL', series: [{ key: 'kl', label: 'kl', color: '--vscode-charts-orange' }] },
  { title: 'Loss', series: [{ key: 'loss', label: 'loss', color: '--vscode-charts-blue' }] },
  { title: 'Entropy', series: [{ key: 'entropy', label: 'entropy', color: '--vscode-charts-purple' }] },
];

class Dashboard {
  private runId: string | undefined;
  private lastStep = 0;
  private loading = false;
  private status: RunStatus = 'running';
  private maxSteps: number | undefined;
  private readonly title = document.createElement('h1');
  private readonly statusSlot = document.createElement('span');
  private readonly details = document.createElement('span');
  private readonly progress = document.createElement('span');
  private readonly stopButton = button('Stop', () => this.stop());
  private readonly message = document.createElement('pre');
  private readonly charts: MetricChart[];
  private readonly rollouts: RolloutTable;

  constructor(root: HTMLElement) {
    const header = document.createElement('header');
    this.details.className = 'details';
    this.progress.className = 'progress';
    this.message.className = 'message';
    this.message.hidden = true;
    header.append(this.title, this.statusSlot, this.progress, this.details, this.stopButton);
    const chartGrid = document.createElement('div');
    chartGrid.className = 'charts';
    root.append(header, this.message, chartGrid);
    this.charts = CHARTS.map((c) => new MetricChart(chartGrid, c.title, c.series));
    this.rollouts = new RolloutTable(root);
    this.title.textContent = 'GRPO Dashboard';
  }

  onMessage(message: Exclude<HostToWebviewMessage, { type: 'response' }>): void {
    if (message.type === 'show') {
      void this.load(message.runId);
      return;
    }
    if (message.runId !== this.runId || this.loading) return;
    switch (message.type) {
      case 'metrics':
        this.addMetrics(message.record);
        break;
      case 'rollouts':
        this.rollouts.show(message.record);
        break;
      case 'event':
        this.applyEvent(message.event);
        break;
      case 'status':
        this.setStatus(message.status);
        break;
    }
  }

  private async load(runId: string): Promise<void> {
    this.runId = runId;
    this.loading = true;
    vscode.setState({ runId });
    this.title.textContent = runId;
    try {
      this.render(await request('getSnapshot', { runId }));
    } catch (err) {
      this.showMessage(`Cannot read run ${runId}: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      this.loading = false;
    }
  }

  private render(snapshot: RunSnapshot): void {
    this.maxSteps = snapshot.config?.optimization?.max_steps;
    this.title.textContent = snapshot.config?.name ?? snapshot.runId;
    this.title.title = snapshot.runDir;
    this.message.hidden = true;
    for (const event of snapshot.events) this.applyEvent(event);
    this.setStatus(snapshot.status);
    this.charts.forEach((chart) => chart.setRecords(snapshot.metrics));
    this.lastStep = snapshot.metrics.at(-1)?.step ?? 0;
    this.updateProgress();
    this.rollouts.show(snapshot.latestRollouts);
  }

  private addMetrics(record: MetricsRecord): void {
    if (record.step <= this.lastStep) return;
    this.lastStep = record.step;
    this.charts.forEach((chart) => chart.append(record));
    this.updateProgress();
  }

  private applyEvent(event: RunEvent): void {
    switch (event.type) {
      case 'started':
        this.details.textContent = `backend ${event.backend} · ${event.device}`;
        this.details.title = event.fallbacks.length ? `Skipped: ${event.fallbacks.join('; ')}` : '';
        break;
      case 'finished':
        this.setStatus(event.outcome);
        break;
      case 'error':
        this.setStatus('failed');
        this.showMessage(event.message);
        break;
      case 'log':
        break;
    }
  }

  private setStatus(status: RunStatus): void {
    this.status = status;
    this.statusSlot.replaceChildren(tag(status));
    this.statusSlot.className = `status status-${status}`;
    setDisabled(this.stopButton, status !== 'running');
  }

  private updateProgress(): void {
    this.progress.textContent = `step ${this.lastStep}${this.maxSteps ? ` / ${this.maxSteps}` : ''}`;
  }

  private showMessage(text: string): void {
    this.message.textContent = text;
    this.message.hidden = false;
  }

  private async stop(): Promise<void> {
    if (!this.runId || this.status !== 'running') return;
    setDisabled(this.stopButton, true);
    await request('stopRun', { runId: this.runId });
  }
}

const root = document.getElementById('app');
if (root) {
  const dashboard = new Dashboard(root);
  listen((message) => dashboard.onMessage(message));
  vscode.postMessage({ type: 'ready' });
}
