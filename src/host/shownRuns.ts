/**
 * Which runs a dashboard panel shows, under which ids, and how a panel comes back after a window reload. Pure
 * (no vscode): unit-tested in Node. A run's id is its folder's name — what the worker's messages carry for our runs
 * — except where two shown folders share a name (a verl and a TRL run both in a folder called `run`): the later
 * ones get their parent folder's name in front, so Compare keeps them apart.
 */
import * as path from 'path';
import type { RevealTarget, RunLocation, WebviewState } from '../protocol';
import { detectRunFormat } from '../protocol/runReaders';

/** What a panel shows: one run (optionally revealed at a step) or several compared. */
export type PanelView = { kind: 'run'; runDir: string; reveal?: RevealTarget } | { kind: 'compare'; runDirs: string[] };

/** Ids for the runs of one panel, in order: the folder name, made unique (parent/name, then a counter). */
export function shownRunIds(runDirs: readonly string[]): string[] {
  const taken = new Set<string>();
  return runDirs.map((runDir) => {
    const base = path.basename(runDir);
    const candidates = [base, `${path.basename(path.dirname(runDir))}/${base}`];
    let id = candidates.find((c) => !taken.has(c));
    for (let n = 2; id === undefined; n++) if (!taken.has(`${base} (${n})`)) id = `${base} (${n})`;
    taken.add(id);
    return id;
  });
}

/**
 * The locations of a panel's runs, for the page to keep in its state. `formats`: those already known (a restored
 * panel's, or an earlier view's); other runs are detected now. A folder of no format yet is ours (a run this window
 * just started is empty until its worker writes).
 */
export function runLocations(runDirs: readonly string[], formats: ReadonlyMap<string, RunLocation['format']> = new Map()): RunLocation[] {
  const ids = shownRunIds(runDirs);
  return runDirs.map((runDir, i) => ({ runId: ids[i], runDir, format: formats.get(runDir) ?? detectRunFormat(runDir) ?? 'grpo-studio' }));
}

/**
 * The view a panel restored after a reload shows, from the state its page saved: the runs where they were (and
 * the format they were read as), or — a state saved before locations were kept — the runs directory's run of
 * that id. Undefined when the state names no run.
 */
export function restoredView(state: WebviewState | undefined, runsDir: string): { view: PanelView; formats: Map<string, RunLocation['format']> } | undefined {
  const located = new Map((state?.locations ?? []).map((l) => [l.runId, l]));
  const formats = new Map<string, RunLocation['format']>();
  const dirOf = (runId: string) => {
    const location = located.get(runId);
    if (!location) return path.join(runsDir, runId);
    formats.set(location.runDir, location.format);
    return location.runDir;
  };
  if (state?.compareRunIds?.length) return { view: { kind: 'compare', runDirs: state.compareRunIds.map(dirOf) }, formats };
  if (state?.runId) return { view: { kind: 'run', runDir: dirOf(state.runId) }, formats };
  return undefined;
}
