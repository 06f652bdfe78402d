/**
 * The Runs tree's warning badge: run items carry a `grpo-run:` resource URI (runHealthUri), and this decoration
 * provider badges those whose metrics raise health alerts, with the alerts in the tooltip. It refreshes with the
 * tree and when the `grpo.health.*` settings change.
 */
import * as vscode from 'vscode';
import { healthBadge, RunHealthScanner } from './runHealth';
import { healthSettings } from './settings';

const SCHEME = 'grpo-run';

/** The resource URI of a run item: what the decoration provider is asked about. */
export function runHealthUri(runDir: string): vscode.Uri {
  return vscode.Uri.from({ scheme: SCHEME, path: runDir });
}

export class RunHealthDecorations implements vscode.FileDecorationProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<undefined>();
  readonly onDidChangeFileDecorations = this.changed.event;
  private readonly scanner = new RunHealthScanner();
  private readonly disposables: vscode.Disposable[];

  constructor(treeChanged: vscode.Event<unknown>, runsChanged: vscode.Event<unknown>) {
    this.disposables = [
      this.changed,
      vscode.window.registerFileDecorationProvider(this),
      treeChanged(() => this.changed.fire(undefined)),
      // A started or resumed run rewrites steps after its checkpoint: read its rows again.
      runsChanged(() => this.scanner.clear()),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('grpo.health')) this.changed.fire(undefined);
      }),
    ];
  }

  provideFileDecoration(uri: vscode.Uri): vscode.FileDecoration | undefined {
    if (uri.scheme !== SCHEME) return undefined;
    const badge = healthBadge(this.scanner.alerts(uri.fsPath, healthSettings()));
    return badge && { badge: badge.badge, tooltip: badge.tooltip, color: new vscode.ThemeColor('list.warningForeground') };
  }

  dispose(): void {
    this.disposables.forEach((d) => d.dispose());
  }
}
