/**
 * Status-bar item while a run is live: "GRPO running · step 12/50 · reward 0.650" (paused, stopping …: the run's
 * state as the tree and the dashboard show it); click to open its dashboard. The run shown is remembered by its
 * folder (liveRuns.ts): a same-named folder elsewhere is another run.
 */
import * as vscode from 'vscode';
import { statusBarRun, statusBarView } from './liveRuns';
import { RunManager } from './runManager';
import { readSummary } from '../protocol/runStore';

export class RunStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 10);
  private readonly disposables: vscode.Disposable[] = [this.item];
  /** The folder of the run shown: the live run that sent the latest message. */
  private shownRunDir: string | undefined;

  constructor(private readonly runs: RunManager) {
    this.item.name = 'GRPO Run';
    this.disposables.push(
      runs.onMessage(({ runDir, message }) => {
        // Rollouts and info logs change nothing shown here.
        if (message.type === 'rollouts' || message.type === 'eval_rollouts' || message.type === 'log') return;
        this.shownRunDir = runDir;
        this.update();
      }),
      runs.onDidChangeRuns(() => this.update()),
    );
  }

  /** The text shown now, or undefined while hidden (tests read it). */
  get text(): string | undefined {
    return this.shownRunDir === undefined ? undefined : this.item.text;
  }

  /** The folder of the run shown, or undefined while hidden (tests read it). */
  get runDir(): string | undefined {
    return this.shownRunDir;
  }

  private update(): void {
    const run = statusBarRun(this.runs.liveRuns, this.shownRunDir);
    if (!run) {
      this.shownRunDir = undefined;
      this.item.hide();
      return;
    }
    this.shownRunDir = run.runDir;
    const view = statusBarView(run, readSummary(run.runDir, true, this.runs.isStopping(run.runDir)), !this.runs.isAttached(run.runDir));
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    this.item.command = { command: 'grpo.openDashboard', title: 'Open Dashboard', arguments: [view.runDir] };
    this.item.show();
  }

  dispose(): void {
    this.disposables.forEach((d) => d.dispose());
  }
}
