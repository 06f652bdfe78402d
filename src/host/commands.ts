/**
 * The palette commands (GRPO: Start / Stop / Pause / Continue / Resume Run, Open Dashboard, Open External Run,
 * Compare Runs) and the runs tree's: reveal a step / group / rollout, open a run's folder or config, delete a run,
 * refresh. In Restricted Mode only the commands that read runs work: starting or resuming one would run the
 * workspace's reward code.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { parseRunConfig, RUN_ACTIONS, RUN_FORMAT_LABELS, RunConfig } from '../protocol';
import { builtInConfigs, ConfigChoice, ConfigOrigin, highlightAfterUpdate, RUN_CONFIG_GLOB, workspaceConfigs } from './configPicks';
import { knownRunFolders, openRunReader, readerOrOurs } from '../protocol/runReaders';
import { DashboardPanel } from './dashboard';
import { liveSummary, runKey } from './liveRuns';
import { LiveRun, RunManager } from './runManager';
import { RevealArgument, RunItem } from './runsTree';
import { listRunDirectories, readSummary } from '../protocol/runStore';
import { backendSetting, runsDirectory, watchFolders } from './settings';

interface ConfigPick extends vscode.QuickPickItem {
  configPath?: string;
}

const ORIGIN_ICONS: Record<ConfigOrigin, string> = { workspace: '$(file-code)', example: '$(beaker)', template: '$(file-symlink-file)' };

function configPick(choice: ConfigChoice): ConfigPick {
  const icon = choice.valid ? ORIGIN_ICONS[choice.origin] : '$(warning)';
  return { label: `${icon} ${choice.name}`, description: choice.description, detail: choice.detail, configPath: choice.configPath };
}

/** The workspace's run configs (`*.grpo.json`, outside node_modules). */
async function findWorkspaceConfigs(): Promise<ConfigChoice[]> {
  const uris = await vscode.workspace.findFiles(RUN_CONFIG_GLOB, '**/node_modules/**', 200);
  return workspaceConfigs(uris.map((uri) => ({ fsPath: uri.fsPath, shownPath: vscode.workspace.asRelativePath(uri) })));
}

/** The Start Run list: the workspace's configs, then the built-in examples and templates, then "Open config file…". */
function choiceList(workspace: readonly ConfigChoice[], builtIn: readonly ConfigChoice[]): ConfigPick[] {
  const separator = (label: string): ConfigPick => ({ label, kind: vscode.QuickPickItemKind.Separator });
  const openFile: ConfigPick = { label: '$(folder-opened) Open config file…', description: 'a JSON run config' };
  return [
    ...(workspace.length ? [separator('workspace (*.grpo.json)'), ...workspace.map(configPick)] : []),
    separator('built in'),
    ...builtIn.map(configPick),
    separator(''),
    openFile,
  ];
}

/** Everything Start Run offers, once the workspace search is done (the extension tests check it). */
export async function startRunChoices(extensionUri: vscode.Uri): Promise<ConfigPick[]> {
  return choiceList(await findWorkspaceConfigs(), builtInConfigs(extensionUri.fsPath));
}

/** Shows the built-in choices at once and adds the workspace's when its file search is done (slow on big folders). */
function showChoices(builtIn: readonly ConfigChoice[], title: string): Promise<ConfigPick | undefined> {
  const quickPick = vscode.window.createQuickPick<ConfigPick>();
  quickPick.title = title;
  quickPick.placeholder = 'Pick a run config of this workspace (*.grpo.json), a built-in example or template, or open a file';
  quickPick.matchOnDescription = true;
  quickPick.items = choiceList([], builtIn);
  quickPick.busy = true;
  const firstConfig = (items: readonly ConfigPick[]) => items.find((item) => item.configPath !== undefined)?.configPath;
  void findWorkspaceConfigs().then(
    (workspace) => {
      // The highlight stays where the user put it; left on the first built-in, it goes to the workspace's first config.
      const active = quickPick.activeItems[0]?.configPath;
      const firstBefore = firstConfig(quickPick.items);
      quickPick.items = choiceList(workspace, builtIn);
      const highlight = highlightAfterUpdate(active, firstBefore, firstConfig(quickPick.items), quickPick.value !== '');
      const item = quickPick.items.find((i) => highlight !== undefined && i.configPath === highlight);
      if (item) quickPick.activeItems = [item];
      quickPick.busy = false;
    },
    () => (quickPick.busy = false),
  );
  return new Promise((resolve) => {
    quickPick.onDidAccept(() => {
      resolve(quickPick.selectedItems[0]);
      quickPick.hide();
    });
    quickPick.onDidHide(() => {
      resolve(undefined);
      quickPick.dispose();
    });
    quickPick.show();
  });
}

export async function pickConfigPath(extensionUri: vscode.Uri, title = 'GRPO: Start Run'): Promise<string | undefined> {
  const pick = await showChoices(builtInConfigs(extensionUri.fsPath), title);
  if (!pick) return undefined;
  if (pick.configPath) return pick.configPath;
  const uris = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'Run config': ['json'] }, title: 'Open a GRPO run config' });
  return uris?.[0]?.fsPath;
}

/** Reads and validates a config; a bad one is shown as an error naming the file and field, and no run starts. */
export function readConfigOrExplain(configPath: string): RunConfig | undefined {
  try {
    return parseRunConfig(fs.readFileSync(configPath, 'utf8'), configPath);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    void vscode.window.showErrorMessage(`GRPO: no run started. ${message}`, { modal: false });
    return undefined;
  }
}

/**
 * Opens a run folder of any format (ours, verl, TRL, prime-rl) in the dashboard; a folder of none is refused with
 * what was looked for.
 */
async function openExternalRun(extensionUri: vscode.Uri, runs: RunManager, folderArg?: unknown): Promise<DashboardPanel | undefined> {
  let folder = typeof folderArg === 'string' ? folderArg : undefined;
  if (!folder) {
    const picked = await vscode.window.showOpenDialog({ canSelectFiles: false, canSelectFolders: true, canSelectMany: false, title: 'GRPO: Open External Run (a verl, TRL, prime-rl or GRPO Studio run folder)' });
    folder = picked?.[0]?.fsPath;
  }
  if (!folder) return undefined;
  try {
    openRunReader(folder); // detects the format, or throws saying what a run folder holds
  } catch (err) {
    void vscode.window.showErrorMessage(`GRPO: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
  return DashboardPanel.show(extensionUri, runs, folder);
}

function runDirFromArgument(arg: unknown): string | undefined {
  if (arg instanceof RunItem) return arg.summary.runDir;
  if (typeof arg === 'string') return arg;
  return undefined;
}

/** Ours and the watched folders' runs of any format (as the tree lists them), with their format where not ours. */
/** `checked`: the runs the pick starts with (the tree's clicked run). */
async function pickRunsToCompare(runs: RunManager, runsDir: string, checked: readonly string[] = []): Promise<string[] | undefined> {
  const dirs = knownRunFolders(runsDir, watchFolders());
  const names = dirs.map((dir) => path.basename(dir));
  const picks = dirs.map((dir, i) => {
    const s = liveSummary(readerOrOurs(dir), runs, dir);
    const format = s.format && s.format !== 'grpo-studio' ? `${RUN_FORMAT_LABELS[s.format]} · ` : '';
    // The folder where its name is not enough: another trainer's run, or a name another root's run shares.
    const repeated = names.indexOf(names[i]) !== names.lastIndexOf(names[i]);
    return { label: s.runId, description: `${format}${s.status} · step ${s.step}`, detail: format || repeated ? dir : undefined, runDir: dir, picked: checked.some((c) => runKey(c) === runKey(dir)) };
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
  return readSummary(runDir, runs.isLive(runDir), runs.isStopping(runDir));
}

/**
 * The run folder a Stop / Pause / Continue names: a tree item's, or a folder given as a string (a command's
 * argument; a folder's name alone is no run: two roots may hold one of that name). Undefined when none is named.
 */
function namedRunDir(arg: unknown): string | undefined {
  if (arg instanceof RunItem) return runKey(arg.summary.runDir);
  if (typeof arg === 'string') return runKey(arg);
  return undefined;
}

/** Live runs to pick from, by folder: the label is the folder's name, the description its parent (names repeat). */
async function pickLive(candidates: readonly LiveRun[], title: string): Promise<string | undefined> {
  if (candidates.length === 1) return candidates[0].runDir;
  const picks = candidates.map((r) => ({ label: r.runId, description: path.dirname(r.runDir), runDir: r.runDir }));
  return (await vscode.window.showQuickPick(picks, { title }))?.runDir;
}

/** Says so when a command names a folder no worker of this window writes (nothing is sent elsewhere instead). */
function notLiveHere(runs: RunManager, runDir: string, action: string): boolean {
  if (runs.isLive(runDir)) return false;
  void vscode.window.showInformationMessage(`GRPO: cannot ${action} ${runDir}: no worker of this window runs it.`);
  return true;
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
    let runDir = namedRunDir(arg);
    if (runDir) return notLiveHere(runs, runDir, 'stop') ? false : runs.stop(runDir);
    const live = runs.liveRuns;
    if (live.length === 0) {
      void vscode.window.showInformationMessage('GRPO: no run is in progress.');
      return false;
    }
    runDir = await pickLive(live, 'GRPO: Stop Run');
    return runDir ? runs.stop(runDir) : false;
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

  /** The folder of the run a Pause / Continue applies to: the one named, else the live ones it applies to (a pick when several). */
  const pickLiveRun = async (arg: unknown, action: 'pause' | 'continue', title: string): Promise<string | undefined> => {
    const named = namedRunDir(arg);
    if (named) return notLiveHere(runs, named, action) ? undefined : named;
    const candidates = runs.liveRuns.filter((r) => RUN_ACTIONS[action](summaryOf(runs, r.runDir).state));
    if (candidates.length === 0) {
      void vscode.window.showInformationMessage(`GRPO: no run is ${action === 'pause' ? 'running' : 'paused or pausing'}.`);
      return undefined;
    }
    return pickLive(candidates, title);
  };

  const resumeRun = async (arg?: unknown): Promise<LiveRun | undefined> => {
    if (!launchAllowed('resuming a run')) return undefined;
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
    if (!runDir) return undefined;
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
    // One run from the tree's menu: the pick starts with it checked, to add the others to.
    const runDirs = fromTree.length >= 2 ? fromTree : await pickRunsToCompare(runs, runsDirectory(context), fromTree);
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
      const runDir = await pickLiveRun(arg, 'pause', 'GRPO: Pause Run');
      return runDir ? runs.pause(runDir) : false;
    }),
    vscode.commands.registerCommand('grpo.continueRun', async (arg?: unknown) => {
      const runDir = await pickLiveRun(arg, 'continue', 'GRPO: Continue Run');
      return runDir ? runs.proceed(runDir) : false;
    }),
    vscode.commands.registerCommand('grpo.stopRun', stopRun),
    vscode.commands.registerCommand('grpo.openDashboard', openDashboard),
    vscode.commands.registerCommand('grpo.openExternalRun', (folder?: unknown) => openExternalRun(extensionUri, runs, folder)),
    vscode.commands.registerCommand('grpo.refreshRuns', refreshTree),
  );
}
