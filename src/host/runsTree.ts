/**
 * The "Runs" tree in the GRPO activity-bar container: every run folder under the runs directory, newest first,
 * with its status, step and latest mean reward. Clicking a run opens it in the dashboard.
 */
import * as vscode from 'vscode';
import { RunStatus } from '../protocol';
import { listRunDirectories, readSummary, RunSummary } from './runStore';
import { RunManager } from './runManager';

const STATUS_ICONS: Record<RunStatus, vscode.ThemeIcon> = {
  running: new vscode.ThemeIcon('sync~spin', new vscode.ThemeColor('charts.blue')),
  completed: new vscode.ThemeIcon('pass', new vscode.ThemeColor('charts.green')),
  stopped: new vscode.ThemeIcon('debug-stop', new vscode.ThemeColor('charts.yellow')),
  failed: new vscode.ThemeIcon('error', new vscode.ThemeColor('charts.red')),
  interrupted: new vscode.ThemeIcon('warning', new vscode.ThemeColor('charts.orange')),
};

export class RunItem extends vscode.TreeItem {
  constructor(readonly summary: RunSummary) {
    super(summary.runId, vscode.TreeItemCollapsibleState.None);
    const steps = summary.maxSteps ? `${summary.step}/${summary.maxSteps}` : `${summary.step}`;
    const reward = summary.reward === undefined ? '' : ` · reward ${summary.reward.toFixed(3)}`;
    this.description = `${summary.status} · step ${steps}${reward}`;
    this.iconPath = STATUS_ICONS[summary.status];
    this.tooltip = new vscode.MarkdownString(`**${summary.name}** — ${summary.status}\n\n${summary.runDir}`);
    this.contextValue = summary.status === 'running' ? 'grpoRun.running' : 'grpoRun';
    this.command = { command: 'grpo.openDashboard', title: 'Open Dashboard', arguments: [summary.runDir] };
  }
}

export class RunsTreeProvider implements vscode.TreeDataProvider<RunItem>, vscode.Disposable {
  private readonly changeEmitter = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changeEmitter.event;
  private readonly disposables: vscode.Disposable[] = [this.changeEmitter];
  private refreshTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly runsDir: () => string,
    private readonly runs: RunManager,
  ) {
    this.disposables.push(
      runs.onDidChangeRuns(() => this.refresh()),
      // Step counts and rewards change with every metrics message: coalesce them into one refresh a second.
      runs.onMessage(() => this.refreshSoon()),
    );
  }

  refresh(): void {
    this.changeEmitter.fire();
  }

  getTreeItem(element: RunItem): vscode.TreeItem {
    return element;
  }

  getChildren(element?: RunItem): RunItem[] {
    if (element) return [];
    return listRunDirectories(this.runsDir()).map((dir) => new RunItem(readSummary(dir, this.runs.isLive(pathTail(dir)))));
  }

  dispose(): void {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.disposables.forEach((d) => d.dispose());
  }

  private refreshSoon(): void {
    if (this.refreshTimer) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      this.refresh();
    }, 1000);
  }
}

function pathTail(dir: string): string {
  return dir.split(/[\\/]/).pop() ?? dir;
}
