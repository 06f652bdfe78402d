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

/** `grpo.ray.address`: the Ray dashboard that jobs are submitted to (restricted: trusted workspaces only). */
export function rayAddress(): string {
  return vscode.workspace.getConfiguration('grpo').get<string>('ray.address', '').trim();
}

/**
 * `grpo.ray.sharedDirectory`: a folder this machine and every Ray node see at the same path; each launch writes
 * its dataset there and verl writes its rollouts and metrics there. `${workspaceFolder}` is expanded.
 */
export function raySharedDirectory(): string {
  const configured = vscode.workspace.getConfiguration('grpo').get<string>('ray.sharedDirectory', '').trim();
  const workspace = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  return workspace ? configured.replace('${workspaceFolder}', workspace) : configured;
}

/**
 * `grpo.watchFolders`: folders scanned for runs of any format (ours, verl, TRL, prime-rl), each absolute or
 * relative to the first workspace folder; a folder is a run itself or holds runs one level down.
 */
export function watchFolders(): string[] {
  const configured = vscode.workspace.getConfiguration('grpo').get<unknown>('watchFolders', []);
  if (!Array.isArray(configured)) return [];
  const workspace = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  return configured
    .filter((entry): entry is string => typeof entry === 'string' && entry.trim() !== '')
    .map((entry) => {
      const expanded = workspace ? entry.trim().replace('${workspaceFolder}', workspace) : entry.trim();
      return path.isAbsolute(expanded) || !workspace ? expanded : path.resolve(workspace, expanded);
    });
}

/** The `grpo.health.*` thresholds, a default for any that is unset or not a number. */
export function healthSettings(): HealthThresholds {
  const section = vscode.workspace.getConfiguration('grpo.health');
  return healthThresholds((key) => section.get(key));
}

/** `grpo.onWindowClose`: what happens to live runs when this window's extension host goes away. */
export function onWindowCloseSetting(): 'keepRunning' | 'stop' {
  return vscode.workspace.getConfiguration('grpo').get<string>('onWindowClose', 'keepRunning') === 'stop' ? 'stop' : 'keepRunning';
}
