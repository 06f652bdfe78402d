/**
 * The runs this window's workers write, keyed by their resolved run folder. A folder's name is only its label: two
 * folders of one name under different roots (the runs directory and a watched or opened folder, two workspaces'
 * runs directories) are two runs, and one being live says nothing of the other. The tree, the status bar, the
 * dashboard and the commands all ask through a run's folder. Pure (no vscode): unit-tested in Node.
 */
import * as path from 'path';
import { runContextValue, RUN_FORMAT_LABELS, statusLabel, type WorkerMessage } from '../protocol';
import type { RunReader } from '../protocol/runReaders';
import type { RunSummary } from '../protocol/runStore';
import { formatStartTime, runIdTime } from './runNames';

/** The key of a run: its folder, resolved (a relative path or a trailing slash names the same run). */
export function runKey(runDir: string): string {
  return path.resolve(runDir);
}

/** What this window knows of a run's worker, asked by the run's folder. */
export interface RunLiveness {
  isLive(runDir: string): boolean;
  /** A stop was sent from this window and the run has not ended yet. */
  isStopping(runDir: string): boolean;
}

/** A live run as the table keeps it: its folder (the key), its label, and whether a stop was sent. */
export interface LiveEntry {
  /** The folder's name: how people are shown the run. Not unique. */
  runId: string;
  runDir: string;
  stopping?: boolean;
}

export class LiveRunTable<T extends LiveEntry> implements RunLiveness {
  private readonly runs = new Map<string, T>();

  get all(): T[] {
    return [...this.runs.values()];
  }

  get(runDir: string): T | undefined {
    return this.runs.get(runKey(runDir));
  }

  isLive(runDir: string): boolean {
    return this.runs.has(runKey(runDir));
  }

  isStopping(runDir: string): boolean {
    return this.get(runDir)?.stopping === true;
  }

  /** Adds a run; a second worker for one folder is refused (its lock would refuse it too). */
  add(run: T): void {
    const key = runKey(run.runDir);
    if (this.runs.has(key)) throw new Error(`run ${run.runId} (${key}) is already live in this window`);
    this.runs.set(key, run);
  }

  /** Removes `run` if it is still the table's entry for its folder (a newer worker of that folder stays). */
  remove(run: T): boolean {
    const key = runKey(run.runDir);
    if (this.runs.get(key) !== run) return false;
    return this.runs.delete(key);
  }

  clear(): void {
    this.runs.clear();
  }
}

/** The worker messages that change a run's state (runState.ts derives it from the same records on disk). */
export const RUN_STATE_MESSAGES: ReadonlySet<WorkerMessage['type']> = new Set(['started', 'pause_requested', 'paused', 'continued', 'stop_requested', 'finished', 'error']);

/** A run's summary with this window's knowledge of its worker (attached, stop sent), asked by its folder. */
export function liveSummary(reader: RunReader, liveness: RunLiveness, runDir: string): RunSummary {
  return reader.summary(liveness.isLive(runDir), liveness.isStopping(runDir));
}

/** How the Runs tree shows a run: the label is the config's name, the folder's name is in the description's time. */
export interface RunItemView {
  label: string;
  description: string;
  /** Matched by package.json's menus: what Stop / Pause / Continue / Resume / Delete the item offers. */
  contextValue: string;
  tooltip: string;
  accessibilityLabel: string;
}

/** Where the run is: "step 12/50", or during the SFT warm start (before step 0's record) "warm start 40/600". */
export function progressText(summary: RunSummary): string {
  if (summary.warmStart) return `warm start ${summary.warmStart.step}/${summary.warmStart.steps}`;
  return `step ${summary.maxSteps ? `${summary.step}/${summary.maxSteps}` : summary.step}`;
}

export function runItemView(summary: RunSummary): RunItemView {
  const reward = summary.reward === undefined ? '' : ` · reward ${summary.reward.toFixed(3)}`;
  const started = runIdTime(summary.runId);
  const format = summary.format === 'grpo-studio' ? '' : `${RUN_FORMAT_LABELS[summary.format]} · `;
  const description = `${format}${statusLabel(summary.status)} · ${progressText(summary)}${reward}${started ? ` · ${formatStartTime(started)}` : ''}`;
  return {
    // The name first: the folder name starts with a timestamp, which left no room for the name.
    label: summary.name,
    description,
    // Another trainer's run is only read here: no stop, resume or delete.
    contextValue: summary.format !== 'grpo-studio' ? 'grpoRun.external' : runContextValue(summary.state),
    tooltip: `**${summary.name}** — ${statusLabel(summary.status)}\n\n${summary.runId}\n\n${summary.runDir}`,
    // Screen readers (and a search by folder name) get the run folder too: two runs of one config differ by it.
    accessibilityLabel: `${summary.name}, ${description}, run folder ${summary.runId}`,
  };
}

const STATUS_BAR_ICONS: Record<RunSummary['status'], string> = {
  running: '$(pulse)',
  pausing: '$(loading~spin)',
  paused: '$(debug-pause)',
  stopping: '$(loading~spin)',
  completed: '$(pass)',
  stopped: '$(debug-stop)',
  failed: '$(error)',
  interrupted: '$(warning)',
};

/** The status bar's text for a run: its state label, step (of max_steps, or the warm start's progress) and mean reward. */
export function statusBarText(summary: RunSummary): string {
  const reward = summary.reward === undefined ? '' : ` · reward ${summary.reward.toFixed(3)}`;
  return `${STATUS_BAR_ICONS[summary.status]} GRPO ${statusLabel(summary.status)} · ${progressText(summary)}${reward}`;
}

/** The run the status bar shows: the live run of folder `shownDir` (the latest to say something), else the first. */
export function statusBarRun<T extends LiveEntry>(live: readonly T[], shownDir: string | undefined): T | undefined {
  const shown = shownDir === undefined ? undefined : runKey(shownDir);
  return live.find((run) => runKey(run.runDir) === shown) ?? live[0];
}

/** What the status bar says of a live run, and the folder its click opens. */
export interface StatusBarView {
  runDir: string;
  text: string;
  tooltip: string;
}

export function statusBarView(run: LiveEntry, summary: RunSummary, attaching: boolean): StatusBarView {
  // Until its worker answers (it does between training steps) nothing live comes: say so, not a frozen step.
  return {
    runDir: run.runDir,
    text: statusBarText(summary) + (attaching ? ' · attaching…' : ''),
    tooltip: attaching
      ? `${run.runId} (${run.runDir}): this window is attaching to its worker, which answers between training steps; click to open the dashboard`
      : `${run.runId} (${run.runDir}): click to open the dashboard`,
  };
}

/** What the status bar says of the run it showed once that run has ended: its final state, kept until dismissed. */
export function endedStatusBarView(summary: RunSummary): StatusBarView {
  return {
    runDir: summary.runDir,
    text: statusBarText(summary),
    tooltip: `${summary.runId} (${summary.runDir}) has ended (${statusLabel(summary.status)}): click to open its dashboard; the item then goes until the next run`,
  };
}
