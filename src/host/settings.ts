import * as path from 'path';
import * as vscode from 'vscode';
import { BACKEND_NAMES, BackendName, HealthThresholds, healthThresholds } from '../protocol';

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

/** The `grpo.health.*` thresholds, a default for any that is unset or not a number. */
export function healthSettings(): HealthThresholds {
  const section = vscode.workspace.getConfiguration('grpo.health');
  return healthThresholds((key) => section.get(key));
}
