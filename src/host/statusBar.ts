/** Status-bar item while a run is live: "GRPO step 12/50 · reward 0.650"; click to open its dashboard. */
import * as vscode from 'vscode';
import { finiteValue } from '../protocol';
import { RunManager } from './runManager';

export class RunStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 10);
  private readonly disposables: vscode.Disposable[] = [this.item];

  constructor(runs: RunManager) {
    this.item.name = 'GRPO Run';
    this.disposables.push(
      runs.onMessage(({ runId, message }) => {
        if (message.type !== 'metrics') return;
        const run = runs.liveRuns.find((r) => r.runId === runId);
        const maxSteps = run?.config.optimization.max_steps;
        const reward = finiteValue(message.record.metrics.reward);
        this.item.text = `$(pulse) GRPO step ${message.record.step}${maxSteps ? `/${maxSteps}` : ''}${reward === undefined ? '' : ` · reward ${reward.toFixed(3)}`}`;
        this.item.tooltip = `${runId}: click to open the dashboard`;
        this.item.command = { command: 'grpo.openDashboard', title: 'Open Dashboard', arguments: [run?.runDir] };
        this.item.show();
      }),
      runs.onDidChangeRuns(() => {
        if (runs.liveRuns.length === 0) this.item.hide();
      }),
    );
  }

  dispose(): void {
    this.disposables.forEach((d) => d.dispose());
  }
}
