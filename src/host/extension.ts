/**
 * Activation: wires the run manager (workers), the runs tree, the status bar, the dashboard and the commands,
 * reattaches to the runs still going (workers outlive windows), and starts `grpo.startOnOpen` once per workspace.
 * Every disposable goes on `context.subscriptions`. The returned API is what the extension tests drive.
 */
import * as path from 'path';
import * as vscode from 'vscode';
import { WebviewState } from '../protocol';
import { knownRunFolders } from '../protocol/runReaders';
import { launchAllowed, registerCommands } from './commands';
import { DASHBOARD_VIEW_TYPE, DashboardPanel } from './dashboard';
import { registerGpuCheck } from './gpuCheck';
import { RayLaunchApi, registerRayCommands } from './rayLaunch';
import { LiveRun, RunManager } from './runManager';
import { RunHealthDecorations } from './healthDecorations';
import { RunsTreeProvider } from './runsTree';
import { onWindowCloseSetting, runsDirectory, watchFolders } from './settings';
import { RunStatusBar } from './statusBar';

export interface GrpoStudioApi {
  runs: RunManager;
  tree: RunsTreeProvider;
  runsDirectory(): string;
  dashboard(): DashboardPanel | undefined;
  ray: RayLaunchApi;
  /** The Compare panel (apart from the run dashboard). */
  comparison(): DashboardPanel | undefined;
  statusBar: RunStatusBar;
}

export function activate(context: vscode.ExtensionContext): GrpoStudioApi {
  const output = vscode.window.createOutputChannel('GRPO');
  const runs = new RunManager(vscode.Uri.joinPath(context.extensionUri, 'dist', 'worker.js').fsPath, output, () => onWindowCloseSetting() === 'stop');
  const statusBar = new RunStatusBar(runs);
  const tree = new RunsTreeProvider(() => runsDirectory(context), runs, watchFolders);
  DashboardPanel.knownRuns = () => knownRunFolders(runsDirectory(context), watchFolders());
  DashboardPanel.workspaceState = context.workspaceState;
  const treeView = vscode.window.createTreeView('grpo.runs', { treeDataProvider: tree, showCollapseAll: true, canSelectMany: true });

  context.subscriptions.push(
    output,
    runs,
    tree,
    treeView,
    new RunHealthDecorations(tree.onDidChangeTreeData, runs.onDidChangeRuns),
    statusBar,
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
  void announceRunning(context, runs.attachRunning(runsDirectory(context)));
  void startOnOpen(context);
  // In Restricted Mode the start waits for the user to trust the folder.
  context.subscriptions.push(vscode.workspace.onDidGrantWorkspaceTrust(() => void startOnOpen(context)));

  return {
    runs, tree, runsDirectory: () => runsDirectory(context), dashboard: () => DashboardPanel.active, comparison: () => DashboardPanel.activeComparison, ray, statusBar,
  };
}

/** workspaceState: the folders of the runs already named in a "still running" message (each is named once). */
const ANNOUNCED_RUNS = 'grpo.announcedRunningRuns';
/** workspaceState: the `grpo.startOnOpen` config path this workspace has started. */
const STARTED_ON_OPEN = 'grpo.startedOnOpen';
/** globalState (a workspace cannot pre-set it): per workspace, the user's answer to the first automatic start. */
const AUTO_START_ANSWERS = 'grpo.autoStartAnswers';

/** How long the "still running" message waits for the handshakes before saying which runs are not attached yet. */
const ANNOUNCE_WAIT_MS = 3000;

/**
 * Names, once, the runs found running when the window opened (started before a reload, or by a closed window), and
 * says what is true of each: attached, or still attaching (its worker answers only between training steps, which
 * may take minutes): Stop works then too (by signal), Pause once attached.
 */
async function announceRunning(context: vscode.ExtensionContext, found: LiveRun[]): Promise<void> {
  const announced = new Set(context.workspaceState.get<string[]>(ANNOUNCED_RUNS, []));
  // By folder: two runs directories (workspaces) may each hold a run of one name.
  const fresh = found.filter((run) => !announced.has(run.runDir));
  if (fresh.length === 0) return;
  void context.workspaceState.update(ANNOUNCED_RUNS, [...announced, ...fresh.map((run) => run.runDir)].slice(-100));
  const waited = new Promise((resolve) => setTimeout(resolve, ANNOUNCE_WAIT_MS));
  await Promise.race([Promise.all(fresh.map((run) => run.attachment.firstConnected)), waited]);
  const attached = fresh.filter((run) => run.attachment.isConnected).map((run) => run.runId);
  const attaching = fresh.filter((run) => !run.attachment.isConnected).map((run) => run.runId);
  const names = fresh.map((run) => run.runId).join(', ');
  const parts = [`GRPO: ${fresh.length === 1 ? 'a run is' : `${fresh.length} runs are`} still running: ${names}.`];
  if (attaching.length === 0) parts.push(`${fresh.length === 1 ? 'It is' : 'They are'} attached here: Stop, Pause and the dashboard work as before.`);
  else {
    if (attached.length) parts.push(`Attached here: ${attached.join(', ')}.`);
    parts.push(
      `Still attaching to ${attaching.join(', ')}: a worker answers between training steps, and the dashboard catches up then (the GRPO output channel says when). Stop works meanwhile; Pause once attached.`,
    );
  }
  void vscode.window.showInformationMessage(parts.join(' '));
}

/** Which workspace the auto-start answer belongs to: its workspace file, else its first folder. */
function workspaceKey(): string | undefined {
  return (vscode.workspace.workspaceFile ?? vscode.workspace.workspaceFolders?.[0]?.uri)?.toString();
}

/**
 * Starts the `grpo.startOnOpen` config (the demo workspace of `npm start` opens with a run going) — once per
 * workspace, not on every window open or reload, only in a trusted workspace, and only after the user agreed once
 * for this workspace (the setting is the workspace's; the answer is the user's, in global state).
 */
async function startOnOpen(context: vscode.ExtensionContext): Promise<void> {
  const configured = vscode.workspace.getConfiguration('grpo').get<string>('startOnOpen', '').trim();
  // A restricted setting: Restricted Mode reads only the user's own value, and starts nothing (grpo.startRun refuses).
  const key = workspaceKey();
  if (!configured || !key || !vscode.workspace.isTrusted) return;
  const workspace = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  const configPath = workspace ? path.resolve(workspace, configured) : configured;
  if (context.workspaceState.get<string>(STARTED_ON_OPEN) === configPath) return;
  const answers = context.globalState.get<Record<string, 'start' | 'notNow'>>(AUTO_START_ANSWERS, {});
  if (answers[key] === undefined) {
    const choice = await vscode.window.showInformationMessage(
      `GRPO: this workspace's setting grpo.startOnOpen starts the run ${configured} when it opens. Its reward modules run as code on this machine. Start it now (asked once for this workspace)?`,
      'Start',
      'Not now',
    );
    // Only an answer is remembered: a notification closed unanswered asks again next time.
    if (choice === undefined) return;
    answers[key] = choice === 'Start' ? 'start' : 'notNow';
    await context.globalState.update(AUTO_START_ANSWERS, answers);
  }
  if (answers[key] !== 'start' || !launchAllowed('starting grpo.startOnOpen')) return;
  await context.workspaceState.update(STARTED_ON_OPEN, configPath);
  await vscode.commands.executeCommand('grpo.startRun', configPath);
}

export function deactivate(): void {
  // RunManager.dispose (on context.subscriptions) detaches from the workers, which go on, or asks them to stop
  // (grpo.onWindowClose); they write their own end record.
}
