/**
 * Activation: wires the run manager (workers), the runs tree, the status bar, the dashboard and the commands.
 * Every disposable goes on `context.subscriptions`. The returned API is what the extension tests drive.
 */
import * as path from 'path';
import * as vscode from 'vscode';
import { WebviewState } from '../protocol';
import { registerCommands } from './commands';
import { DASHBOARD_VIEW_TYPE, DashboardPanel } from './dashboard';
import { registerGpuCheck } from './gpuCheck';
import { RayLaunchApi, registerRayCommands } from './rayLaunch';
import { RunManager } from './runManager';
import { RunHealthDecorations } from './healthDecorations';
import { RunsTreeProvider } from './runsTree';
import { runsDirectory, watchFolders } from './settings';
import { RunStatusBar } from './statusBar';

export interface GrpoStudioApi {
  runs: RunManager;
  tree: RunsTreeProvider;
  runsDirectory(): string;
  dashboard(): DashboardPanel | undefined;
  ray: RayLaunchApi;
  /** The Compare panel (apart from the run dashboard). */
  comparison(): DashboardPanel | undefined;
}

export function activate(context: vscode.ExtensionContext): GrpoStudioApi {
  const output = vscode.window.createOutputChannel('GRPO');
  const runs = new RunManager(vscode.Uri.joinPath(context.extensionUri, 'dist', 'worker.js').fsPath, output);
  const tree = new RunsTreeProvider(() => runsDirectory(context), runs, watchFolders);
  const treeView = vscode.window.createTreeView('grpo.runs', { treeDataProvider: tree, showCollapseAll: true, canSelectMany: true });

  context.subscriptions.push(
    output,
    runs,
    tree,
    treeView,
    new RunHealthDecorations(tree.onDidChangeTreeData, runs.onDidChangeRuns),
    new RunStatusBar(runs),
    vscode.window.registerWebviewPanelSerializer(DASHBOARD_VIEW_TYPE, {
      async deserializeWebviewPanel(panel: vscode.WebviewPanel, state: WebviewState | undefined) {
        DashboardPanel.revive(panel, context.extensionUri, runs, state, runsDirectory(context));
      },
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (!e.affectsConfiguration('grpo.runsDirectory') && !e.affectsConfiguration('grpo.watchFolders')) return;
      tree.watchRunsDirectory();
      tree.refresh();
    }),
    { dispose: () => DashboardPanel.disposeAll() },
  );
  registerCommands(context, runs, () => tree.refresh());
  registerGpuCheck(context, output);
  const ray = registerRayCommands(context);
  startOnOpen();

  return { runs, tree, runsDirectory: () => runsDirectory(context), dashboard: () => DashboardPanel.active, comparison: () => DashboardPanel.activeComparison, ray };
}

/** Starts the `grpo.startOnOpen` config, if set: the demo workspace of `npm start` opens with a run going. */
function startOnOpen(): void {
  const configured = vscode.workspace.getConfiguration('grpo').get<string>('startOnOpen', '').trim();
  // A restricted setting: Restricted Mode reads only the user's own value, and starts nothing (grpo.startRun refuses).
  if (!configured || !vscode.workspace.isTrusted) return;
  const workspace = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  const configPath = workspace ? path.resolve(workspace, configured) : configured;
  void vscode.commands.executeCommand('grpo.startRun', configPath);
}

export function deactivate(): void {
  // Workers are asked to stop by RunManager.dispose (on context.subscriptions); they write their own end record.
}
