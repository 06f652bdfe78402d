/**
 * The "Runs" tree in the GRPO activity-bar container: runs (status icon; step and mean reward in the description)
 * → steps with rollouts (newest first) → groups → rollouts. Selecting a node reveals it in the dashboard. Steps are
 * listed from the host's step index, and a step's groups read just that step's line. Refreshes live: at once when a
 * run's state changes (RunManager.onDidChangeRunState, as the status bar and the dashboards), otherwise coalesced to
 * once a second, on every message of a worker this window started and on changes to the runs directory's files
 * (runs started elsewhere, e.g. by the CLI, or deleted).
 */
import * as path from 'path';
import * as vscode from 'vscode';
import { finiteValue, GroupRecord, RevealTarget, RunStatus, scoredMean, StoredNumber } from '../protocol';
import { knownRunFolders, readerOrOurs, RunReader, RunTail } from '../protocol/runReaders';
import { RunSummary } from '../protocol/runStore';
import { liveSummary, runItemView } from './liveRuns';
import { RunManager } from './runManager';
import { TOKEN_DECODERS } from './runRequests';
import { watchFolder, Watch } from './fileWatch';
import { runHealthUri } from './healthDecorations';

/** One colour per state (the dashboard's header tag uses the same ones): pausing and paused share yellow, by their icon apart. */
const STATUS_ICONS: Record<RunStatus, vscode.ThemeIcon> = {
  running: new vscode.ThemeIcon('sync~spin', new vscode.ThemeColor('charts.blue')),
  pausing: new vscode.ThemeIcon('loading~spin', new vscode.ThemeColor('charts.yellow')),
  paused: new vscode.ThemeIcon('debug-pause', new vscode.ThemeColor('charts.yellow')),
  stopping: new vscode.ThemeIcon('loading~spin', new vscode.ThemeColor('charts.orange')),
  completed: new vscode.ThemeIcon('pass', new vscode.ThemeColor('charts.green')),
  stopped: new vscode.ThemeIcon('debug-stop', new vscode.ThemeColor('charts.purple')),
  failed: new vscode.ThemeIcon('error', new vscode.ThemeColor('charts.red')),
  interrupted: new vscode.ThemeIcon('warning', new vscode.ThemeColor('charts.orange')),
};

/** The argument of `grpo.reveal`: a run and where in it. */
export interface RevealArgument extends RevealTarget {
  runDir: string;
}

/** Three decimals, or '—' for a value stored as null (a failed reward) or NaN. */
function fixed3(x: StoredNumber): string {
  return x === null || Number.isNaN(x) ? '—' : x.toFixed(3);
}

function oneLine(text: string, max = 60): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat || '∅ (empty)';
}

function revealCommand(target: RevealArgument): vscode.Command {
  return { command: 'grpo.reveal', title: 'Reveal in Dashboard', arguments: [target] };
}

export class RunItem extends vscode.TreeItem {
  constructor(readonly summary: RunSummary) {
    const view = runItemView(summary);
    super(view.label, vscode.TreeItemCollapsibleState.Collapsed);
    this.id = summary.runDir;
    this.description = view.description;
    this.iconPath = STATUS_ICONS[summary.status];
    // Only for the health badge (healthDecorations.ts): label and icon stay the ones set here.
    this.resourceUri = runHealthUri(summary.runDir);
    this.tooltip = new vscode.MarkdownString(view.tooltip);
    this.accessibilityInformation = { label: view.accessibilityLabel };
    this.contextValue = view.contextValue;
    this.command = { command: 'grpo.openDashboard', title: 'Open Dashboard', arguments: [summary.runDir] };
  }
}

/** A run folder whose records are malformed: it is listed with the reason (opening it shows the same error). */
export class UnreadableRunItem extends vscode.TreeItem {
  constructor(runDir: string, reason: string) {
    super(path.basename(runDir), vscode.TreeItemCollapsibleState.None);
    this.id = runDir;
    this.description = 'unreadable';
    this.tooltip = reason;
    this.iconPath = new vscode.ThemeIcon('warning');
    this.command = { command: 'grpo.openDashboard', title: 'Open Dashboard', arguments: [runDir] };
  }
}

export class StepItem extends vscode.TreeItem {
  constructor(
    readonly runDir: string,
    readonly step: number,
    reward: number | undefined,
  ) {
    super(`step ${step}`, vscode.TreeItemCollapsibleState.Collapsed);
    this.id = `${runDir}#${step}`;
    this.description = reward === undefined ? undefined : `reward ${reward.toFixed(3)}`;
    this.iconPath = new vscode.ThemeIcon('history');
    this.contextValue = 'grpoStep';
    this.command = revealCommand({ runDir, step, source: 'train' });
  }
}

export class GroupItem extends vscode.TreeItem {
  constructor(
    readonly runDir: string,
    readonly step: number,
    readonly index: number,
    readonly group: GroupRecord,
  ) {
    super(`#${index + 1} ${oneLine(group.prompt)}`, vscode.TreeItemCollapsibleState.Collapsed);
    this.id = `${runDir}#${step}#${index}`;
    const mean = scoredMean(group.rollouts.map((r) => r.reward));
    this.description = `${group.rollouts.length} completion${group.rollouts.length === 1 ? '' : 's'} · mean ${fixed3(mean)}`;
    this.tooltip = group.prompt;
    this.iconPath = new vscode.ThemeIcon('comment-discussion');
    this.contextValue = 'grpoGroup';
    this.command = revealCommand({ runDir, step, source: 'train', group: index });
  }
}

export class RolloutItem extends vscode.TreeItem {
  constructor(runDir: string, step: number, groupIndex: number, index: number, group: GroupRecord) {
    const rollout = group.rollouts[index];
    super(oneLine(rollout.completion), vscode.TreeItemCollapsibleState.None);
    this.id = `${runDir}#${step}#${groupIndex}#${index}`;
    this.description = `r ${fixed3(rollout.reward)} · A ${fixed3(rollout.advantage)}${rollout.finish_reason === 'length' ? ' · truncated' : ''}`;
    this.tooltip = rollout.completion;
    this.iconPath = new vscode.ThemeIcon(rollout.advantage > 0 ? 'arrow-up' : rollout.advantage < 0 ? 'arrow-down' : 'dash');
    this.contextValue = 'grpoRollout';
    this.command = revealCommand({ runDir, step, source: 'train', group: groupIndex, rollout: index });
  }
}

export type RunsTreeItem = RunItem | UnreadableRunItem | StepItem | GroupItem | RolloutItem;

const CACHED_STEPS = 8;

export class RunsTreeProvider implements vscode.TreeDataProvider<RunsTreeItem>, vscode.Disposable {
  private readonly changeEmitter = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changeEmitter.event;
  private readonly disposables: vscode.Disposable[] = [this.changeEmitter];
  private readonly readers = new Map<string, RunReader>();
  /** Each run's mean reward per step, read incrementally: a live run refreshes the tree every second. */
  private readonly stepRewards = new Map<string, { tail: RunTail; rewards: Map<number, number | undefined> }>();
  /** The last few expanded steps' groups, parsed once (a step's line can be megabytes). */
  private readonly expandedSteps = new Map<string, GroupItem[]>();
  private refreshTimer: NodeJS.Timeout | undefined;
  private watchers: Watch[] = [];

  constructor(
    private readonly runsDir: () => string,
    private readonly runs: RunManager,
    /** Folders (grpo.watchFolders) whose runs of any format are listed after ours. */
    private readonly watchedFolders: () => string[] = () => [],
  ) {
    this.disposables.push(
      runs.onDidChangeRuns(() => {
        // A run started or resumed: a resumed run rewrites steps after its checkpoint.
        this.expandedSteps.clear();
        this.stepRewards.clear();
      }),
      // A run's state (paused, stopping, stopped…) shows at once, on the event the status bar and dashboards use.
      runs.onDidChangeRunState(() => this.refresh()),
      // Step counts and rewards change with every metrics message: coalesce them into one refresh a second.
      runs.onMessage(() => this.refreshSoon()),
    );
    this.watchRunsDirectory();
  }

  refresh(): void {
    // A refresh now covers one that was due.
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    this.changeEmitter.fire();
  }

  /** (Re)starts watching the runs directory and the watched folders; call when a setting that names them changes. */
  watchRunsDirectory(): void {
    this.watchers.forEach((w) => w.dispose());
    this.readers.clear();
    this.watchers = [this.runsDir(), ...this.watchedFolders()].map((dir) => watchFolder(dir, true, () => this.refreshSoon()));
  }

  getTreeItem(element: RunsTreeItem): vscode.TreeItem {
    return element;
  }

  getChildren(element?: RunsTreeItem): RunsTreeItem[] | Promise<RunsTreeItem[]> {
    if (!element) return this.runDirectories().map((dir) => this.runItem(dir));
    if (element instanceof RunItem) return this.stepsOf(element.summary.runDir);
    if (element instanceof StepItem) return this.groupsOf(element.runDir, element.step);
    if (element instanceof GroupItem) return element.group.rollouts.map((_, i) => new RolloutItem(element.runDir, element.step, element.index, i, element.group));
    return [];
  }

  dispose(): void {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.watchers.forEach((w) => w.dispose());
    this.disposables.forEach((d) => d.dispose());
  }

  /** Our runs, then the runs found in each watched folder (a run listed twice shows once). */
  private runDirectories(): string[] {
    return knownRunFolders(this.runsDir(), this.watchedFolders());
  }

  /** One run; a run whose files cannot be read shows the error instead of hiding every other run. */
  private runItem(runDir: string): RunsTreeItem {
    try {
      // Asked by the folder: a same-named folder elsewhere being live says nothing of this one.
      return new RunItem(liveSummary(this.readerOf(runDir), this.runs, runDir));
    } catch (err) {
      return new UnreadableRunItem(runDir, err instanceof Error ? err.message : String(err));
    }
  }

  private stepsOf(runDir: string): StepItem[] {
    let entry = this.stepRewards.get(runDir);
    if (!entry) {
      entry = { tail: this.readerOf(runDir).tail(true), rewards: new Map() };
      this.stepRewards.set(runDir, entry);
    }
    for (const record of entry.tail.read().metrics) entry.rewards.set(record.step, finiteValue(record.metrics.reward));
    const rewards = entry.rewards;
    return [...this.readerOf(runDir).rolloutSteps('train')].reverse().map((step) => new StepItem(runDir, step, rewards.get(step)));
  }

  private async groupsOf(runDir: string, step: number): Promise<GroupItem[]> {
    const key = `${runDir}#${step}`;
    const cached = this.expandedSteps.get(key);
    if (cached) return cached;
    const record = await this.readerOf(runDir).readRollouts('train', step);
    const groups = record?.groups.map((group, i) => new GroupItem(runDir, step, i, group)) ?? [];
    this.expandedSteps.set(key, groups);
    while (this.expandedSteps.size > CACHED_STEPS) this.expandedSteps.delete(this.expandedSteps.keys().next().value as string);
    return groups;
  }

  private readerOf(runDir: string): RunReader {
    let reader = this.readers.get(runDir);
    if (!reader) {
      // The tree's group labels are prompts: prime-rl's decoded as in the dashboard.
      reader = readerOrOurs(runDir, undefined, { tokenDecoders: TOKEN_DECODERS });
      this.readers.set(runDir, reader);
    }
    return reader;
  }

  private refreshSoon(): void {
    if (this.refreshTimer) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      this.refresh();
    }, 1000);
  }
}
