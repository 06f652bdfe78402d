/**
 * The palette commands (GRPO: Start / Stop / Pause / Continue / Resume Run, Open Dashboard, Compare Runs) and the
 * runs tree's: reveal a step / group / rollout, open a run's folder or config, delete a run, refresh.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { parseRunConfig, RUN_ACTIONS, RunConfig, RunState } from '../protocol';
import { DashboardPanel } from './dashboard';
import { LiveRun, RunManager } from './runManager';
import { RevealArgument, RunItem } from './runsTree';
import { listRunDirectories, readSummary } from './runStore';
import { backendSetting, runsDirectory } from './settings';

interface ConfigPick extends vscode.QuickPickItem {
  configPath?: string;
}

function builtInExamples(extensionUri: vscode.Uri): ConfigPick[] {
  const dir = vscode.Uri.joinPath(extensionUri, 'examples').fsPath;
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => {
      const configPath = path.join(dir, file);
      const config = parseRunConfig(fs.readFileSync(configPath, 'utf8'), configPath);
      return { label: `$(beaker) ${config.name}`, description: 'built-in example', detail: config.description, configPath };
    });
}

async function pickConfigPath(extensionUri: vscode.Uri): Promise<string | undefined> {
  const openFile: ConfigPick = { label: '$(folder-opened) Open config file…', description: 'a JSON run config' };
  const pick = await vscode.window.showQuickPick<ConfigPick>([...builtInExamples(extensionUri), openFile], {
    title: 'GRPO: Start Run',
    placeHolder: 'Pick a built-in example or open a run config',
  });
  if (!pick) return undefined;
  if (pick.configPath) return pick.configPath;
  const uris = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'Run config': ['json'] }, title: 'Open a GRPO run config' });
  return uris?.[0]?.fsPath;
}

/** Reads and validates a config; a bad one is shown as an error naming the file and field, and no run starts. */
function readConfigOrExplain(configPath: string): RunConfig | undefined {
  try {
    return parseRunConfig(fs.readFileSync(configPath, 'utf8'), configPath);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    void vscode.window.showErrorMessage(`GRPO: no run started. ${message}`, { modal: false });
    return undefined;
  }
}

function runDirFromArgument(arg: unknown): string | undefined {
  if (arg instanceof RunItem) return arg.summary.runDir;
  if (typeof arg === 'string') return arg;
  return undefined;
}

async function pickRunsToCompare(runs: RunManager, runsDir: string): Promise<string[] | undefined> {
  const picks = listRunDirectories(runsDir).map((dir) => {
    const s = summaryOf(runs, dir);
    return { label: s.runId, description: `${s.status} · step ${s.step}`, runDir: dir };
  });
  const chosen = await vscode.window.showQuickPick(picks, { title: 'GRPO: Compare Runs (pick 2–4)', canPickMany: true });
  return chosen?.map((c) => c.runDir);
}

/**
 * Starting or resuming a run runs code the workspace names (reward modules, a model's files): only in a trusted
 * workspace. In Restricted Mode runs can be viewed, not launched; the message says how to trust the folder.
 */
export function launchAllowed(what: string): boolean {
  if (vscode.workspace.isTrusted) return true;
  const manage = 'Manage Workspace Trust';
  void vscode.window
    .showErrorMessage(`GRPO: ${what} is not allowed in Restricted Mode: a run executes the reward modules and loads the model its config names. Trust this workspace to launch runs; viewing runs works as it is.`, manage)
    .then((answer) => answer === manage && vscode.commands.executeCommand('workbench.trust.manage'));
  return false;
}

/** The summary of a run, with this window's knowledge of its worker (attached, stop sent). */
function summaryOf(runs: RunManager, runDir: string) {
  const runId = path.basename(runDir);
  return readSummary(runDir, runs.isLive(runId), runs.isStopping(runId));
}

/** Deletes a finished run's folder after a modal confirmation; a running run must be stopped first. */
async function deleteRun(runs: RunManager, item: RunItem): Promise<boolean> {
  const { runId, runDir } = item.summary;
  if (!RUN_ACTIONS.delete(summaryOf(runs, runDir).state)) {
    void vscode.window.showWarningMessage(`GRPO: stop run ${runId} before deleting it.`);
    return false;
  }
  const answer = await vscode.window.showWarningMessage(`Delete run ${runId}?`, { modal: true, detail: `This removes ${runDir} and everything in it.` }, 'Delete');
  if (answer !== 'Delete') return false;
  await fs.promises.rm(runDir, { recursive: true, force: true });
  return true;
}

export function registerCommands(context: vscode.ExtensionContext, runs: RunManager, refreshTree: () => void): void {
  const { extensionUri } = context;

  const startRun = async (configPathArg?: unknown): Promise<LiveRun | undefined> => {
    if (!launchAllowed('starting a run')) return undefined;
    const configPath = typeof configPathArg === 'string' ? configPathArg : await pickConfigPath(extensionUri);
    if (!configPath) return undefined;
    const config = readConfigOrExplain(configPath);
    if (!config) return undefined;
    const run = runs.start({ configPath, config, runsDir: runsDirectory(context), backend: backendSetting() });
    DashboardPanel.show(extensionUri, runs, run.runDir);
    return run;
  };

  const stopRun = async (arg?: unknown): Promise<boolean> => {
    let runId = typeof arg === 'string' ? arg : arg instanceof RunItem ? arg.summary.runId : undefined;
    if (!runId) {
      const live = runs.liveRuns;
      if (live.length === 0) {
        void vscode.window.showInformationMessage('GRPO: no run is in progress.');
        return false;
      }
      runId = live.length === 1 ? live[0].runId : (await vscode.window.showQuickPick(live.map((r) => r.runId), { title: 'GRPO: Stop Run' }));
    }
    return runId ? runs.stop(runId) : false;
  };

  const openDashboard = async (arg?: unknown): Promise<DashboardPanel | undefined> => {
    let runDir = runDirFromArgument(arg);
    if (!runDir) {
      const dirs = listRunDirectories(runsDirectory(context));
      if (dirs.length === 0) {
        void vscode.window.showInformationMessage('GRPO: no runs yet. Start one with "GRPO: Start Run".');
        return undefined;
      }
      const picks = dirs.map((dir) => {
        const s = summaryOf(runs, dir);
        return { label: s.runId, description: `${s.status} · step ${s.step}`, runDir: dir };
      });
      runDir = (await vscode.window.showQuickPick(picks, { title: 'GRPO: Open Dashboard' }))?.runDir;
    }
    return runDir ? DashboardPanel.show(extensionUri, runs, runDir) : undefined;
  };

  /** The run a Pause / Continue applies to: the one named, else the live ones in `state` (a pick when several). */
  const pickLiveRun = async (arg: unknown, state: RunState, title: string): Promise<string | undefined> => {
    if (typeof arg === 'string') return arg;
    if (arg instanceof RunItem) return arg.summary.runId;
    const candidates = runs.liveRuns.filter((r) => summaryOf(runs, r.runDir).state === state).map((r) => r.runId);
    if (candidates.length === 0) {
      void vscode.window.showInformationMessage(`GRPO: no run is ${state.toLowerCase()}.`);
      return undefined;
    }
    return candidates.length === 1 ? candidates[0] : vscode.window.showQuickPick(candidates, { title });
  };

  const resumeRun = async (arg?: unknown): Promise<LiveRun | undefined> => {
    let runDir = runDirFromArgument(arg);
    if (!runDir) {
      const resumable = listRunDirectories(runsDirectory(context))
        .map((dir) => summaryOf(runs, dir))
        .filter((s) => RUN_ACTIONS.resume(s.state));
      if (resumable.length === 0) {
        void vscode.window.showInformationMessage('GRPO: no stopped or interrupted run to resume.');
        return undefined;
      }
      runDir = (await vscode.window.showQuickPick(resumable.map((s) => ({ label: s.runId, description: `${s.status} · step ${s.step}`, runDir: s.runDir })), { title: 'GRPO: Resume Run from Checkpoint' }))?.runDir;
    }
    if (!runDir || !launchAllowed('resuming a run')) return undefined;
    const config = readConfigOrExplain(path.join(runDir, 'config.json'));
    if (!config) return undefined;
    const run = runs.resume(runDir, config, backendSetting());
    DashboardPanel.show(extensionUri, runs, run.runDir);
    return run;
  };

  const reveal = (target: RevealArgument): DashboardPanel => {
    const { runDir, ...where } = target;
    return DashboardPanel.show(extensionUri, runs, runDir, where);
  };

  /** From the tree (the clicked run plus the multi-selection), or a quick pick from the palette. */
  const compareRuns = async (clicked?: unknown, selected?: unknown): Promise<DashboardPanel | undefined> => {
    const fromTree = (Array.isArray(selected) ? selected : [clicked]).filter((i): i is RunItem => i instanceof RunItem).map((i) => i.summary.runDir);
    const runDirs = fromTree.length >= 2 ? fromTree : await pickRunsToCompare(runs, runsDirectory(context));
    if (!runDirs) return undefined;
    if (runDirs.length < 2 || runDirs.length > 4) {
      void vscode.window.showErrorMessage(`GRPO: compare 2 to 4 runs (${runDirs.length} selected).`);
      return undefined;
    }
    return DashboardPanel.compare(extensionUri, runs, runDirs);
  };

  const runItem = (arg: unknown): RunItem | undefined => (arg instanceof RunItem ? arg : undefined);

  context.subscriptions.push(
    vscode.commands.registerCommand('grpo.reveal', reveal),
    vscode.commands.registerCommand('grpo.compareRuns', compareRuns),
    vscode.commands.registerCommand('grpo.openRunFolder', (arg: unknown) => {
      const item = runItem(arg);
      if (item) void vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(item.summary.runDir));
    }),
    vscode.commands.registerCommand('grpo.openRunConfig', (arg: unknown) => {
      const item = runItem(arg);
      if (item) void vscode.window.showTextDocument(vscode.Uri.file(path.join(item.summary.runDir, 'config.json')));
    }),
    vscode.commands.registerCommand('grpo.deleteRun', async (arg: unknown) => {
      const item = runItem(arg);
      if (item && (await deleteRun(runs, item))) refreshTree();
    }),
    vscode.commands.registerCommand('grpo.startRun', startRun),
    vscode.commands.registerCommand('grpo.resumeRun', resumeRun),
    vscode.commands.registerCommand('grpo.pauseRun', async (arg?: unknown) => {
      const runId = await pickLiveRun(arg, 'RUNNING', 'GRPO: Pause Run');
      return runId ? runs.pause(runId) : false;
    }),
    vscode.commands.registerCommand('grpo.continueRun', async (arg?: unknown) => {
      const runId = await pickLiveRun(arg, 'PAUSED', 'GRPO: Continue Run');
      return runId ? runs.proceed(runId) : false;
    }),
    vscode.commands.registerCommand('grpo.stopRun', stopRun),
    vscode.commands.registerCommand('grpo.openDashboard', openDashboard),
    vscode.commands.registerCommand('grpo.refreshRuns', refreshTree),
  );
}
