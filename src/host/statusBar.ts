/**
 * Status-bar item while a run is live: "GRPO running · step 12/50 · reward 0.650" (paused, stopping …: the run's
 * state as the tree and the dashboard show it); click to open its dashboard.
 */
import * as vscode from 'vscode';
import { RunStatus } from '../protocol';
import { RunManager } from './runManager';
import { readSummary, RunSummary } from '../protocol/runStore';

const STATUS_ICONS: Partial<Record<RunStatus, string>> = { running: '$(pulse)', paused: '$(debug-pause)', stopping: '$(loading~spin)' };

/** The status bar's text for a run: its state label, step (of max_steps) and mean reward. */
export function statusBarText(summary: RunSummary): string {
  const steps = summary.maxSteps ? `${summary.step}/${summary.maxSteps}` : `${summary.step}`;
  const reward = summary.reward === undefined ? '' : ` · reward ${summary.reward.toFixed(3)}`;
  return `${STATUS_ICONS[summary.status] ?? '$(circle-large-outline)'} GRPO ${summary.status} · step ${steps}${reward}`;
}

export class RunStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 10);
  private readonly disposables: vscode.Disposable[] = [this.item];
  /** The run shown: the live run that sent the latest message. */
  private shownRunId: string | undefined;

  constructor(private readonly runs: RunManager) {
    this.item.name = 'GRPO Run';
    this.disposables.push(
      runs.onMessage(({ runId, message }) => {
        // Rollouts and info logs change nothing shown here.
        if (message.type === 'rollouts' || message.type === 'eval_rollouts' || message.type === 'log') return;
        this.shownRunId = runId;
        this.update();
      }),
      runs.onDidChangeRuns(() => this.update()),
    );
  }

  /** The text shown now, or undefined while hidden (tests read it). */
  get text(): string | undefined {
    return this.shownRunId === undefined ? undefined : this.item.text;
  }

  private update(): void {
    const live = this.runs.liveRuns;
    const run = live.find((r) => r.runId === this.shownRunId) ?? live[0];
    if (!run) {
      this.shownRunId = undefined;
      this.item.hide();
      return;
    }
    this.shownRunId = run.runId;
    // Until its worker answers (it does between training steps) nothing live comes: say so, not a frozen step.
    const attaching = !this.runs.isAttached(run.runId);
    this.item.text = statusBarText(readSummary(run.runDir, true, this.runs.isStopping(run.runId))) + (attaching ? ' · attaching…' : '');
    this.item.tooltip = attaching
      ? `${run.runId}: this window is attaching to its worker, which answers between training steps; click to open the dashboard`
      : `${run.runId}: click to open the dashboard`;
    this.item.command = { command: 'grpo.openDashboard', title: 'Open Dashboard', arguments: [run.runDir] };
    this.item.show();
  }

  dispose(): void {
    this.disposables.forEach((d) => d.dispose());
  }
}
