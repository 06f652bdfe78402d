/**
 * The dashboard webviews: one panel that shows one run, and a panel of its own for 2–4 runs compared (so comparing
 * never replaces the run being watched). The host owns all state: the webview
 * asks for what it draws (snapshots, one step's rollouts, a prompt's history, a comparison) through RunRequests and
 * receives the live records of the runs it shows. A strict CSP with a per-load nonce allows only our own bundled
 * script and stylesheet.
 */
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { HostToWebviewMessage, RevealTarget, RunLocation, WebviewState, WebviewToHostMessage } from '../protocol';
import { dashboardHtml } from './dashboardHtml';
import { watchFolder } from './fileWatch';
import { RunFollower } from './runFollower';
import { RunRequests } from './runRequests';
import { readSummary } from '../protocol/runStore';
import { RunManager } from './runManager';
import { runKey } from './liveRuns';
import { healthSettings } from './settings';
import { PanelView, restoredView, runLocations } from './shownRuns';

export const DASHBOARD_VIEW_TYPE = 'grpo.dashboard';

/** workspaceState key of the pinned metrics (one list per workspace, as the dashboard shows them for every run). */
const PINNED_METRICS_KEY = 'grpo.pinnedMetrics';

export class DashboardPanel implements vscode.Disposable {
  private static current: DashboardPanel | undefined;
  /** The Compare panel, apart from the run dashboard. */
  private static comparison: DashboardPanel | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  /** Runs the webview may ask about, by id. */
  private readonly shown = new Map<string, string>();
  /** The format each shown run was opened as (kept across views and a window reload), by folder. */
  private readonly formats = new Map<string, RunLocation['format']>();
  private view: PanelView | undefined;
  /** What the webview is told to show; sent again whenever it (re)loads. */
  private viewMessage: HostToWebviewMessage | undefined;
  private readonly readyListeners: (() => void)[] = [];
  private isReady = false;
  private readonly requests: RunRequests;
  /** Watches the files of shown runs that no worker of this window writes (a CLI run, say), for live updates. */
  private followers: vscode.Disposable[] = [];

  /** The run folders this window knows (runs directory, watched folders): what a prompt can be diffed against. */
  static knownRuns: () => string[] = () => [];

  /** The workspace's state, where pinned metrics are kept: a closed and reopened dashboard keeps them. */
  static workspaceState: vscode.Memento | undefined;

  /** Opens (or reuses) the dashboard and points it at a run, optionally at one step, group and rollout. */
  static show(extensionUri: vscode.Uri, runs: RunManager, runDir: string, reveal?: RevealTarget): DashboardPanel {
    const panel = DashboardPanel.openPanel(extensionUri, runs);
    panel.setView({ kind: 'run', runDir, reveal });
    return panel;
  }

  /** Opens (or reuses) the Compare panel: several runs' curves overlaid and their config differences. */
  static compare(extensionUri: vscode.Uri, runs: RunManager, runDirs: string[]): DashboardPanel {
    const panel = DashboardPanel.openPanel(extensionUri, runs, 'compare');
    panel.setView({ kind: 'compare', runDirs });
    return panel;
  }

  /**
   * Restores a panel VS Code kept across a window reload: its state names the runs it showed, where they are and
   * their format (external runs live outside the runs directory).
   */
  static revive(panel: vscode.WebviewPanel, extensionUri: vscode.Uri, runs: RunManager, state: WebviewState | undefined, runsDir: string): void {
    panel.webview.options = webviewOptions(extensionUri);
    const restored = restoredView(state, runsDir);
    const kind: PanelView['kind'] = restored?.view.kind ?? 'run';
    DashboardPanel.slot(kind)?.dispose();
    const dashboard = new DashboardPanel(panel, extensionUri, runs);
    DashboardPanel.setSlot(kind, dashboard);
    if (!restored) return;
    for (const [runDir, format] of restored.formats) dashboard.formats.set(runDir, format);
    dashboard.setView(restored.view);
  }

  /** The run dashboard. */
  static get active(): DashboardPanel | undefined {
    return DashboardPanel.current;
  }

  /** The Compare panel. */
  static get activeComparison(): DashboardPanel | undefined {
    return DashboardPanel.comparison;
  }

  static disposeAll(): void {
    DashboardPanel.current?.dispose();
    DashboardPanel.comparison?.dispose();
  }

  private static slot(kind: PanelView['kind']): DashboardPanel | undefined {
    return kind === 'run' ? DashboardPanel.current : DashboardPanel.comparison;
  }

  private static setSlot(kind: PanelView['kind'], panel: DashboardPanel): void {
    if (kind === 'run') DashboardPanel.current = panel;
    else DashboardPanel.comparison = panel;
  }

  private static openPanel(extensionUri: vscode.Uri, runs: RunManager, kind: PanelView['kind'] = 'run'): DashboardPanel {
    const existing = DashboardPanel.slot(kind);
    if (existing) {
      existing.panel.reveal(undefined, true);
      return existing;
    }
    const title = kind === 'run' ? 'GRPO Dashboard' : 'GRPO: Compare Runs';
    const panel = new DashboardPanel(vscode.window.createWebviewPanel(DASHBOARD_VIEW_TYPE, title, vscode.ViewColumn.Active, webviewOptions(extensionUri)), extensionUri, runs);
    DashboardPanel.setSlot(kind, panel);
    return panel;
  }

  /** The run shown (undefined while comparing). */
  get shownRunId(): string | undefined {
    return this.view?.kind === 'run' ? [...this.shown.keys()][0] : undefined;
  }

  get shownRunIds(): string[] {
    return [...this.shown.keys()];
  }

  /** The step, group and rollout last revealed in the rollout browser (tests check the tree's reveal with it). */
  get lastReveal(): RevealTarget | undefined {
    return this.view?.kind === 'run' ? this.view.reveal : undefined;
  }

  get webviewPanel(): vscode.WebviewPanel {
    return this.panel;
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    private readonly extensionUri: vscode.Uri,
    private readonly runs: RunManager,
  ) {
    this.requests = new RunRequests({
      runDir: (runId) => {
        const runDir = this.shown.get(runId);
        if (!runDir) throw new Error(`run ${runId} is not shown here`);
        return runDir;
      },
      runFormat: (runId) => this.formats.get(this.shown.get(runId) ?? ''),
      // By folder: the panel's ids are labels (a folder's name), and a same-named folder elsewhere is another run.
      isLive: (runDir) => runs.isLive(runDir),
      isStopping: (runDir) => runs.isStopping(runDir),
      stop: (runDir) => runs.stop(runDir),
      pause: (runDir) => runs.pause(runDir),
      proceed: (runDir) => runs.proceed(runDir),
      saveFile: (fileName, data) => this.saveFile(fileName, data),
      healthThresholds: healthSettings,
      peerRunDirs: () => [...DashboardPanel.knownRuns(), ...this.shown.values()],
      pins: {
        get: () => DashboardPanel.workspaceState?.get<string[]>(PINNED_METRICS_KEY),
        set: (pins) => DashboardPanel.workspaceState?.update(PINNED_METRICS_KEY, pins),
      },
    });
    panel.webview.html = this.html();
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'grpo.svg');
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.webview.onDidReceiveMessage((message: WebviewToHostMessage) => this.handle(message)),
      runs.onMessage(({ runDir, message }) => {
        const runId = this.shownIdOf(runDir);
        if (runId === undefined) return;
        this.post(this.requests.liveMessage(runId, message));
      }),
      runs.onDidChangeRunState(() => this.postStatus()),
    );
  }

  /** Resolves once the webview script has loaded and said `ready` (tests wait on this). */
  ready(): Promise<void> {
    return new Promise((resolve) => this.whenReady(resolve));
  }

  dispose(): void {
    if (DashboardPanel.current === this) DashboardPanel.current = undefined;
    if (DashboardPanel.comparison === this) DashboardPanel.comparison = undefined;
    this.followers.forEach((f) => f.dispose());
    this.panel.dispose();
    while (this.disposables.length) this.disposables.pop()?.dispose();
  }

  private setView(view: PanelView): void {
    this.view = view;
    this.shown.clear();
    const runDirs = view.kind === 'run' ? [view.runDir] : view.runDirs;
    const locations = runLocations(runDirs, this.formats);
    for (const { runId, runDir, format } of locations) {
      this.shown.set(runId, runDir);
      this.formats.set(runDir, format);
    }
    const ids = [...this.shown.keys()];
    this.panel.title = view.kind === 'run' ? `GRPO: ${ids[0]}` : `GRPO: compare ${ids.length} runs`;
    this.viewMessage = view.kind === 'run' ? { type: 'show', runId: ids[0], reveal: view.reveal, location: locations[0] } : { type: 'compare', runIds: ids, locations };
    if (this.isReady) this.post(this.viewMessage);
    this.followOtherWriters();
  }

  private followOtherWriters(): void {
    this.followers.forEach((f) => f.dispose());
    this.followers = [...this.shown]
      .filter(([runId]) => !this.isLive(runId))
      .map(([runId, runDir]) => {
        const follower = new RunFollower(this.requests.reader(runId));
        // Other trainers write into subfolders (verl's dumps, TRL's checkpoints, prime-rl's step folders).
        return watchFolder(runDir, true, () => void this.postFollowed(runId, follower));
      });
  }

  private async postFollowed(runId: string, follower: RunFollower): Promise<void> {
    // Once this window's own worker writes the run (started after the panel opened), IPC brings the records.
    if (this.isLive(runId)) return;
    const { metrics, events, rollouts, restarted } = await follower.poll();
    if (restarted && this.viewMessage) {
      // A log rewritten from its start (verl resumed): the page reads the run again rather than mix the two.
      this.post(this.viewMessage);
      return;
    }
    for (const record of metrics) this.post({ type: 'metrics', runId, record });
    for (const { source, record } of rollouts) this.post({ type: 'rollouts', runId, record: this.requests.liveRollouts(runId, record, source) });
    for (const event of events) this.post({ type: 'event', runId, event });
  }

  /**
   * A shown run is live when this window's worker writes that very folder: the panel's id is a label, and an
   * external run in a folder of the same name (`run`, `output`) is another run.
   */
  private isLive(runId: string): boolean {
    const runDir = this.shown.get(runId);
    return runDir !== undefined && this.runs.isLive(runDir);
  }

  /** The panel's id of the run shown from that folder, if it is shown. */
  private shownIdOf(runDir: string): string | undefined {
    const key = runKey(runDir);
    for (const [runId, dir] of this.shown) if (runKey(dir) === key) return runId;
    return undefined;
  }

  private whenReady(action: () => void): void {
    if (this.isReady) action();
    else this.readyListeners.push(action);
  }

  private postStatus(): void {
    for (const [runId, runDir] of this.shown) {
      const live = this.isLive(runId);
      const { state, status } = readSummary(runDir, live, live && this.runs.isStopping(runDir));
      this.post({ type: 'status', runId, state, status });
    }
  }

  private post(message: HostToWebviewMessage): void {
    void this.panel.webview.postMessage(message);
  }

  private async handle(message: WebviewToHostMessage): Promise<void> {
    if (message.type === 'ready') {
      // Also after "Reload Webviews": the new page starts empty and needs to be told again what to show.
      this.isReady = true;
      if (this.viewMessage) this.post(this.viewMessage);
      this.readyListeners.splice(0).forEach((listener) => listener());
      return;
    }
    try {
      this.post({ type: 'response', id: message.id, result: await this.requests.handle(message) });
    } catch (err) {
      this.post({ type: 'response', id: message.id, error: err instanceof Error ? err.message : String(err) });
    }
  }

  private async saveFile(fileName: string, data: Buffer): Promise<string | undefined> {
    const folder = this.view?.kind === 'run' ? this.view.runDir : vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    const target = await vscode.window.showSaveDialog({ defaultUri: folder ? vscode.Uri.file(path.join(folder, fileName)) : undefined, title: `Export ${fileName}` });
    if (!target) return undefined;
    await fs.promises.writeFile(target.fsPath, data);
    // Not awaited: the webview's request resolves now; the notification stays until dismissed.
    void vscode.window.showInformationMessage(`Exported ${path.basename(target.fsPath)} to ${path.dirname(target.fsPath)}`, 'Open').then((choice) => {
      if (choice === 'Open') void vscode.commands.executeCommand('vscode.open', target);
    });
    return target.fsPath;
  }

  private html(): string {
    const webview = this.panel.webview;
    const nonce = makeNonce();
    const script = webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'dist', 'webview.js'));
    const style = webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'media', 'dashboard.css'));
    return dashboardHtml({ cspSource: webview.cspSource, nonce, scriptUri: script.toString(), styleUri: style.toString() });
  }
}

function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewPanelOptions & vscode.WebviewOptions {
  return {
    enableScripts: true,
    retainContextWhenHidden: true,
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist'), vscode.Uri.joinPath(extensionUri, 'media')],
  };
}

function makeNonce(): string {
  return randomBytes(18).toString('base64');
}
