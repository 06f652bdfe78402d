/**
 * "GRPO: Check GPU Setup": runs `grpo-studio doctor` (dist/cli.js) in a child process, because probing
 * libtensorflow and dawn.node inside the extension host could crash the editor, and shows its Markdown report as a
 * read-only document (a virtual one: nothing to save, no "save changes?" on close); the report also goes to the
 * GRPO output channel.
 */
import { fork } from 'child_process';
import * as vscode from 'vscode';

/** The doctor's stdout; rejects with its stderr when it fails. */
function runDoctor(cliPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = fork(cliPath, ['doctor'], { silent: true });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`doctor exited with ${code}: ${stderr.trim().split('\n').pop() ?? ''}`))));
  });
}

/** The scheme of the report's read-only document. */
export const REPORT_SCHEME = 'grpo-report';
const REPORT_URI = vscode.Uri.from({ scheme: REPORT_SCHEME, path: '/GPU setup.md' });

/** Serves the latest report as the text of REPORT_URI; VS Code shows such documents read-only and never dirty. */
class ReportProvider implements vscode.TextDocumentContentProvider {
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private report = '';

  set(report: string): void {
    this.report = report;
    this.changed.fire(REPORT_URI);
  }

  provideTextDocumentContent(): string {
    return this.report;
  }

  dispose(): void {
    this.changed.dispose();
  }
}

export function registerGpuCheck(context: vscode.ExtensionContext, output: vscode.OutputChannel): void {
  const cliPath = vscode.Uri.joinPath(context.extensionUri, 'dist', 'cli.js').fsPath;
  const provider = new ReportProvider();
  context.subscriptions.push(provider, vscode.workspace.registerTextDocumentContentProvider(REPORT_SCHEME, provider));
  const check = async (): Promise<string | undefined> => {
    try {
      const report = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: 'GRPO: checking the GPU setup…' },
        () => runDoctor(cliPath),
      );
      output.appendLine(report);
      provider.set(report);
      const document = await vscode.workspace.openTextDocument(REPORT_URI);
      await vscode.languages.setTextDocumentLanguage(document, 'markdown');
      await vscode.window.showTextDocument(document, { preview: false });
      return report;
    } catch (err) {
      void vscode.window.showErrorMessage(`GRPO: the GPU check failed. ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    }
  };
  context.subscriptions.push(vscode.commands.registerCommand('grpo.checkGpuSetup', check));
}
