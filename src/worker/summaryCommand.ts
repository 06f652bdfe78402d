/**
 * `grpo-studio summary <run-dir> [--json]`: what a run folder of any format holds, for servers and scripts —
 * the format, status, steps, metric names (with the trainer's original name where ours differs), and the groups
 * and completions of the newest step with rollouts. Read through the same run readers as the extension.
 */
import * as path from 'path';
import { RUN_FORMAT_LABELS, RunFormat, RunStatus } from '../protocol';
import { openRunReader } from '../protocol/runReaders';

export const SUMMARY_USAGE = `grpo-studio summary <run-dir> [--json]   format, steps, metrics and the newest rollouts of a run of any
                                           format (GRPO Studio, verl, TRL, prime-rl)`;

export interface RunFolderSummary {
  format: RunFormat;
  runDir: string;
  status: RunStatus;
  /** Steps with metrics, and with training / validation rollouts, ascending. */
  steps: { metrics: number[]; train: number[]; eval: number[] };
  /** Every metric name the run logged (ours), with the trainer's name where it was renamed. */
  metrics: { name: string; original?: string }[];
  /** The newest training step with rollouts (validation when there are none): its groups and completions. */
  lastRollouts: { source: 'train' | 'eval'; step: number; groups: number; completions: number } | null;
  /** What the reader computed rather than read. */
  derived: string[];
  /** Lines or files skipped as malformed. */
  problems: string[];
}

export async function summarizeRunFolder(dir: string): Promise<RunFolderSummary> {
  const reader = openRunReader(path.resolve(dir));
  const snapshot = reader.snapshot(false);
  const steps = { metrics: snapshot.metrics.map((m) => m.step), train: reader.rolloutSteps('train'), eval: reader.rolloutSteps('eval') };
  const origins = snapshot.source?.metricOrigins ?? {};
  const names = [...new Set(snapshot.metrics.flatMap((m) => Object.keys(m.metrics)))].sort();
  const source = steps.train.length ? 'train' : 'eval';
  const lastStep = steps[source].at(-1);
  const record = lastStep === undefined ? undefined : await reader.readRollouts(source, lastStep);
  return {
    format: reader.format,
    runDir: reader.runDir,
    status: snapshot.status,
    steps,
    metrics: names.map((name) => (origins[name] ? { name, original: origins[name] } : { name })),
    lastRollouts: record ? { source, step: record.step, groups: record.groups.length, completions: record.groups.reduce((n, g) => n + g.rollouts.length, 0) } : null,
    derived: snapshot.source?.derived ?? [],
    problems: reader.problems,
  };
}

/** "1–3 (3)" for a contiguous run of steps, else the steps themselves (shortened past 12). */
function stepList(steps: number[]): string {
  if (steps.length === 0) return 'none';
  const contiguous = steps.every((s, i) => i === 0 || s === steps[i - 1] + 1);
  if (contiguous && steps.length > 2) return `${steps[0]}–${steps.at(-1)} (${steps.length})`;
  const shown = steps.length > 12 ? [...steps.slice(0, 6), '…', ...steps.slice(-5)] : steps;
  return `${shown.join(', ')} (${steps.length})`;
}

export function formatSummary(summary: RunFolderSummary): string {
  const lines = [
    `format: ${RUN_FORMAT_LABELS[summary.format]}`,
    `run: ${summary.runDir}`,
    `status: ${summary.status}`,
    `steps with metrics: ${stepList(summary.steps.metrics)}`,
    `steps with rollouts: train ${stepList(summary.steps.train)}; validation ${stepList(summary.steps.eval)}`,
    `metrics (${summary.metrics.length}): ${summary.metrics.map((m) => (m.original ? `${m.name} (${m.original})` : m.name)).join(', ') || 'none'}`,
    summary.lastRollouts
      ? `last ${summary.lastRollouts.source === 'train' ? 'training' : 'validation'} step with rollouts: ${summary.lastRollouts.step}: ${summary.lastRollouts.groups} groups, ${summary.lastRollouts.completions} completions`
      : 'no rollouts',
    ...summary.derived.map((d) => `derived: ${d}`),
    ...summary.problems.map((p) => `skipped: ${p}`),
  ];
  return lines.join('\n');
}

export async function runSummary(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const rest = argv.filter((a) => a !== '--json');
  const unknown = rest.find((a) => a.startsWith('--'));
  if (unknown || rest.length !== 1) {
    console.error(unknown ? `unknown option ${unknown}\nusage: ${SUMMARY_USAGE}` : `usage: ${SUMMARY_USAGE}`);
    return 2;
  }
  const summary = await summarizeRunFolder(rest[0]);
  console.log(json ? JSON.stringify(summary, null, 2) : formatSummary(summary));
  return 0;
}
