import * as path from 'path';
import * as vscode from 'vscode';
import { BACKEND_NAMES, BackendName } from '../protocol';

/**
 * Where runs are written: the `grpo.runsDirectory` setting (absolute, or relative to the first workspace folder),
 * else `.grpo/runs` in the workspace, else the extension's global storage when no folder is open.
 */
export function runsDirectory(context: vscode.ExtensionContext): string {
  const configured = vscode.workspace.getConfiguration('grpo').get<string>('runsDirectory', '').trim();
  const workspace = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  if (configured) {
    const expanded = workspace ? configured.replace('${workspaceFolder}', workspace) : configured;
    if (path.isAbsolute(expanded)) return expanded;
    return path.resolve(workspace ?? context.globalStorageUri.fsPath, expanded);
  }
  return workspace ? path.join(workspace, '.grpo', 'runs') : path.join(context.globalStorageUri.fsPath, 'runs');
}

export function backendSetting(): BackendName {
  const value = vscode.workspace.getConfiguration('grpo').get<string>('backend', 'auto');
  return BACKEND_NAMES.includes(value as BackendName) ? (value as BackendName) : 'auto';
}

/** `grpo.onWindowClose`: what happens to live runs when this window's extension host goes away. */
export function onWindowCloseSetting(): 'keepRunning' | 'stop' {
  return vscode.workspace.getConfiguration('grpo').get<string>('onWindowClose', 'keepRunning') === 'stop' ? 'stop' : 'keepRunning';
}
