/**
 * The dashboard webview: one panel that shows one run at a time. The host owns all state: the webview asks for a
 * run's snapshot (read from disk) and then receives the live records of that run as they arrive. A strict CSP with
 * a per-load nonce allows only our own bundled script and stylesheet.
 */
import { randomBytes } from 'crypto';
import * as vscode from 'vscode';
import { HostToWebviewMessage, RunStatus, WebviewState, WebviewToHostMessage } from '../protocol';
import { readSnapshot } from './runStore';
import { RunManager } from './runManager';

export const DASHBOARD_VIEW_TYPE = 'grpo.dashboard';

export class DashboardPanel implements vscode.Disposable {
  private static current: DashboardPanel | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private runId: string | undefined;
  private runDir: string | undefined;
  private readonly readyListeners: (() => void)[] = [];
  private isReady = false;

  /** Opens (or reuses) the dashboard and points it at a run. */
  static show(extensionUri: vscode.Uri, runs: RunManager, runDir: string): DashboardPanel {
    if (!DashboardPanel.current) {
      const panel = vscode.window.createWebviewPanel(DASHBOARD_VIEW_TYPE, 'GRPO Dashboard', vscode.ViewColumn.Active, webviewOptions(extensionUri));
      DashboardPanel.current = new DashboardPanel(panel, extensionUri, runs);
    } else {
      DashboardPanel.current.panel.reveal(undefined, true);
    }
    DashboardPanel.current.showRun(runDir);
    return DashboardPanel.current;
  }

  /** Restores a panel VS Code kept across a window reload (its state names the run it showed). */
  static revive(panel: vscode.WebviewPanel, extensionUri: vscode.Uri, runs: RunManager, state: WebviewState | undefined, runsDir: string): void {
    panel.webview.options = webviewOptions(extensionUri);
    DashboardPanel.current?.dispose();
    DashboardPanel.current = new DashboardPanel(panel, extensionUri, runs);
    if (state?.runId) DashboardPanel.current.showRun(vscode.Uri.joinPath(vscode.Uri.file(runsDir), state.runId).fsPath);
  }

  static get active(): DashboardPanel | undefined {
    return DashboardPanel.current;
  }

  get shownRunId(): string | undefined {
    return this.runId;
  }

  get webviewPanel(): vscode.WebviewPanel {
    return this.panel;
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    private readonly extensionUri: vscode.Uri,
    private readonly runs: RunManager,
  ) {
    panel.webview.html = this.html();
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'grpo.svg');
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.webview.onDidReceiveMessage((message: WebviewToHostMessage) => this.handle(message)),
      runs.onMessage(({ runId, message }) => {
        if (runId !== this.runId) return;
        if (message.type === 'metrics') this.post({ type: 'metrics', runId, record: message.record });
        else if (message.type === 'rollouts') this.post({ type: 'rollouts', runId, record: message.record });
        else if (message.type !== 'eval_rollouts') this.post({ type: 'event', runId, event: message });
      }),
      runs.onDidChangeRuns(() => this.postStatus()),
    );
  }

  showRun(runDir: string): void {
    this.runDir = runDir;
    this.runId = vscode.Uri.file(runDir).path.split('/').pop();
    this.panel.title = `GRPO: ${this.runId}`;
    this.whenReady(() => this.runId && this.post({ type: 'show', runId: this.runId }));
  }

  /** Resolves once the webview script has loaded and said `ready` (tests wait on this). */
  ready(): Promise<void> {
    return new Promise((resolve) => this.whenReady(resolve));
  }

  dispose(): void {
    if (DashboardPanel.current === this) DashboardPanel.current = undefined;
    this.panel.dispose();
    while (this.disposables.length) this.disposables.pop()?.dispose();
  }

  private whenReady(action: () => void): void {
    if (this.isReady) action();
    else this.readyListeners.push(action);
  }

  private postStatus(): void {
    if (!this.runId || !this.runDir) return;
    const status: RunStatus = readSnapshot(this.runDir, this.runs.isLive(this.runId)).status;
    this.post({ type: 'status', runId: this.runId, status });
  }

  private post(message: HostToWebviewMessage): void {
    void this.panel.webview.postMessage(message);
  }

  private handle(message: WebviewToHostMessage): void {
    if (message.type === 'ready') {
      this.isReady = true;
      this.readyListeners.splice(0).forEach((listener) => listener());
      return;
    }
    const { id } = message;
    try {
      switch (message.method) {
        case 'getSnapshot': {
          if (!this.runDir || message.params.runId !== this.runId) throw new Error(`run ${message.params.runId} is not shown here`);
          this.post({ type: 'response', id, result: readSnapshot(this.runDir, this.runs.isLive(this.runId)) });
          break;
        }
        case 'stopRun':
          this.post({ type: 'response', id, result: { stopped: this.runs.stop(message.params.runId) } });
          break;
      }
    } catch (err) {
      this.post({ type: 'response', id, error: err instanceof Error ? err.message : String(err) });
    }
  }

  private html(): string {
    const webview = this.panel.webview;
    const nonce = makeNonce();
    const script = webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'dist', 'webview.js'));
    const style = webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'media', 'dashboard.css'));
    const csp = [
      "default-src 'none'",
      `img-src ${webview.cspSource} data:`,
      `style-src ${webview.cspSource} 'nonce-${nonce}'`,
      `font-src ${webview.cspSource}`,
      `script-src 'nonce-${nonce}'`,
    ].join('; ');
    return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <meta http-equiv="Content-Security-Policy" content="${csp}">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">
  <meta property="csp-nonce" content="${nonce}">
  <link rel="stylesheet" href="${style}">
  <title>GRPO Dashboard</title>
</head>
<body>
  <div id="app"></div>
  <script nonce="${nonce}" src="${script}"></script>
</body>
</html>`;
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
