/**
 * Status-bar item while a run is live: "GRPO running · step 12/50 · reward 0.650" (paused, stopping …: the run's
 * state as the tree and the dashboard show it, updated on the same state event); click to open its dashboard. The
 * run shown is remembered by its folder (liveRuns.ts): a same-named folder elsewhere is another run. Once the run
 * ends, the item keeps its final state ("GRPO completed · step 200/200") until another run starts or it is clicked
 * (which opens that run's dashboard and clears it).
 */
import * as fs from 'fs';
import * as vscode from 'vscode';
import { endedStatusBarView, statusBarRun, statusBarView, StatusBarView } from './liveRuns';
import { RunManager } from './runManager';
import { readSummary } from '../protocol/runStore';

/** The ended run's item: opens the run's dashboard and clears the item. Internal (not in the palette). */
const OPEN_ENDED_RUN = 'grpo.statusBar.openEndedRun';

export class RunStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 10);
  private readonly disposables: vscode.Disposable[] = [this.item];
  /** The folder of the run shown: the live run that sent the latest message, then, once it ended, that run. */
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
      runs.onDidChangeRunState(() => this.update()),
      vscode.commands.registerCommand(OPEN_ENDED_RUN, async (runDir: string) => {
        this.dismiss();
        // Its folder may have been deleted since (Delete Run): then the click only clears the item.
        if (fs.existsSync(runDir)) await vscode.commands.executeCommand('grpo.openDashboard', runDir);
      }),
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

  /** Clears the ended run's item (a live run's stays). */
  dismiss(): void {
    if (this.shownRunDir !== undefined && this.runs.isLive(this.shownRunDir)) return;
    this.shownRunDir = undefined;
    this.item.hide();
  }

  private update(): void {
    const run = statusBarRun(this.runs.liveRuns, this.shownRunDir);
    if (run) {
      this.shownRunDir = run.runDir;
      const view = statusBarView(run, readSummary(run.runDir, true, this.runs.isStopping(run.runDir)), !this.runs.isAttached(run.runDir));
      this.show(view, { command: 'grpo.openDashboard', title: 'Open Dashboard', arguments: [view.runDir] });
      return;
    }
    if (this.shownRunDir === undefined) {
      this.item.hide();
      return;
    }
    // No run is live: the last one shown stays with its final state, read from its folder as the tree reads it.
    const view = endedStatusBarView(readSummary(this.shownRunDir));
    this.show(view, { command: OPEN_ENDED_RUN, title: 'Open Dashboard', arguments: [view.runDir] });
  }

  private show(view: StatusBarView, command: vscode.Command): void {
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    this.item.command = command;
    this.item.show();
  }

  dispose(): void {
    this.disposables.forEach((d) => d.dispose());
  }
}
