/**
 * "GRPO: Check GPU Setup": runs `grpo-studio doctor` (dist/cli.js) in a child process, because probing
 * libtensorflow and dawn.node inside the extension host could crash the editor, and shows its Markdown report in
 * a new document; the report also goes to the GRPO output channel.
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

export function registerGpuCheck(context: vscode.ExtensionContext, output: vscode.OutputChannel): void {
  const cliPath = vscode.Uri.joinPath(context.extensionUri, 'dist', 'cli.js').fsPath;
  const check = async (): Promise<string | undefined> => {
    try {
      const report = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: 'GRPO: checking the GPU setup…' },
        () => runDoctor(cliPath),
      );
      output.appendLine(report);
      const document = await vscode.workspace.openTextDocument({ language: 'markdown', content: report });
      await vscode.window.showTextDocument(document, { preview: false });
      return report;
    } catch (err) {
      void vscode.window.showErrorMessage(`GRPO: the GPU check failed. ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    }
  };
  context.subscriptions.push(vscode.commands.registerCommand('grpo.checkGpuSetup', check));
}
