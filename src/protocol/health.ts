/**
 * Health alerts: rules that scan a run's metric rows for the failure modes of GRPO training that a curve shows only
 * to someone who knows where to look. Pure (no DOM, no VS Code): the Runs tree badges runs with alerts and the
 * dashboard lists them above the curves, from the same rows and the same thresholds (`grpo.health.*` settings).
 * Each alert names the steps where its rule held, so a click opens the rollouts of those steps.
 */
import { finiteValue, MetricsRecord, RolloutSource } from './records';

export interface HealthThresholds {
  /** Steps in a row a level rule must hold before it fires (one noisy step is no trend). */
  minSteps: number;
  /** Entropy below this share of its level over the first steps (nats/token, median of the first 5). */
  entropyCollapseRatio: number;
  /** KL to the reference above this (nats/token). */
  klMax: number;
  /** Share of completions cut at max_completion_length (`completions/clipped_ratio`) at or above this. */
  truncatedShare: number;
  /** Share of groups whose rewards all tie (zero std, so zero advantage) at or above this. */
  tiedGroupShare: number;
  /** `completions/repetition` (mean seq-rep-4) at or above this. */
  repetitionMax: number;
  /** Validation falls by more than this from its best while the training reward rose over the same steps. */
  validationDrop: number;
}

export const DEFAULT_HEALTH_THRESHOLDS: HealthThresholds = {
  minSteps: 3,
  entropyCollapseRatio: 0.1,
  klMax: 1,
  truncatedShare: 0.5,
  tiedGroupShare: 0.9,
  repetitionMax: 0.5,
  validationDrop: 0.05,
};

export type HealthRule = 'entropy-collapse' | 'kl-blowup' | 'length-at-cap' | 'tied-groups' | 'reward-vs-validation' | 'repetition' | 'non-finite' | 'reward-failures';

export interface HealthAlert {
  rule: HealthRule;
  /** One line: what happened, with the numbers. */
  message: string;
  /** The steps where the rule held, ascending. */
  steps: number[];
  /** Which rollouts show it: training samples, or the validation samples of those steps. */
  source: RolloutSource;
}

/** Metrics whose NaN (stored as null) means a step went wrong, not just "not computed". */
const MUST_BE_FINITE = ['loss', 'kl', 'grad_norm', 'reward'];

/** The threshold settings as a host reads them: a number per key, a missing or non-number value the default. */
export function healthThresholds(read: (key: keyof HealthThresholds) => unknown): HealthThresholds {
  const entries = Object.entries(DEFAULT_HEALTH_THRESHOLDS).map(([key, fallback]) => {
    const value = read(key as keyof HealthThresholds);
    return [key, typeof value === 'number' && Number.isFinite(value) ? value : fallback];
  });
  return Object.fromEntries(entries) as unknown as HealthThresholds;
}

/** Every alert the rows raise, in a fixed rule order. Rows are in step order; a later row of a step wins. */
export function healthAlerts(rows: readonly MetricsRecord[], thresholds: HealthThresholds = DEFAULT_HEALTH_THRESHOLDS): HealthAlert[] {
  const byStep = latestPerStep(rows);
  const rules: ((rows: readonly MetricsRecord[], t: HealthThresholds) => HealthAlert | undefined)[] = [entropyCollapse, klBlowUp, lengthAtCap, tiedGroups, rewardVsValidation, repetition, nonFinite, rewardFailures];
  return rules.flatMap((rule) => rule(byStep, thresholds) ?? []);
}

function latestPerStep(rows: readonly MetricsRecord[]): MetricsRecord[] {
  const byStep = new Map<number, MetricsRecord>();
  for (const row of rows) byStep.set(row.step, row);
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

/** "3", "3–7", "3–7, 12, 20–22 and 4 more ranges". */
export function formatSteps(steps: readonly number[], maxRanges = 3): string {
  const ranges: [number, number][] = [];
  for (const step of steps) {
    const last = ranges[ranges.length - 1];
    if (last && step === last[1] + 1) last[1] = step;
    else ranges.push([step, step]);
  }
  const shown = ranges.slice(0, maxRanges).map(([a, b]) => (a === b ? String(a) : `${a}–${b}`));
  const more = ranges.length - maxRanges;
  return more > 0 ? `${shown.join(', ')} and ${more} more range${more === 1 ? '' : 's'}` : shown.join(', ');
}

function stepWord(steps: readonly number[]): string {
  return steps.length === 1 ? 'step' : 'steps';
}

/** "at step 50", "at steps 61–80". */
function atSteps(steps: readonly number[]): string {
  return `at ${stepWord(steps)} ${formatSteps(steps)}`;
}

/**
 * The steps of every run of at least `minSteps` consecutive logged rows where `holds` is true (a row without the
 * metric ends a run). Training steps only: the row of step 0 is the validation before training.
 */
function sustained(rows: readonly MetricsRecord[], minSteps: number, holds: (row: MetricsRecord) => boolean): number[] {
  const steps: number[] = [];
  let current: number[] = [];
  const flush = () => {
    if (current.length >= Math.max(1, minSteps)) steps.push(...current);
    current = [];
  };
  for (const row of rows) {
    if (row.step > 0 && holds(row)) current.push(row.step);
    else flush();
  }
  flush();
  return steps;
}

function valueOf(row: MetricsRecord, key: string): number | undefined {
  return finiteValue(row.metrics[key]);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function peak(rows: readonly MetricsRecord[], steps: readonly number[], key: string): number {
  const chosen = new Set(steps);
  return Math.max(...rows.filter((r) => chosen.has(r.step)).map((r) => valueOf(r, key) ?? -Infinity));
}

function round(x: number): string {
  return String(Number(x.toPrecision(3)));
}

/** Entropy fell to a small share of where it started: the policy samples near-deterministically, exploration is gone. */
function entropyCollapse(rows: readonly MetricsRecord[], t: HealthThresholds): HealthAlert | undefined {
  const early = rows.filter((r) => r.step > 0 && valueOf(r, 'entropy') !== undefined).slice(0, 5);
  if (early.length < 5) return undefined;
  const start = median(early.map((r) => valueOf(r, 'entropy') as number));
  if (!(start > 0)) return undefined;
  const floor = start * t.entropyCollapseRatio;
  const steps = sustained(rows, t.minSteps, (r) => (valueOf(r, 'entropy') ?? Infinity) < floor);
  if (!steps.length) return undefined;
  return { rule: 'entropy-collapse', source: 'train', steps, message: `Entropy collapsed below ${round(floor)} (${round(t.entropyCollapseRatio * 100)}% of its starting ${round(start)}) ${atSteps(steps)}` };
}

function klBlowUp(rows: readonly MetricsRecord[], t: HealthThresholds): HealthAlert | undefined {
  const steps = sustained(rows, 1, (r) => (valueOf(r, 'kl') ?? 0) > t.klMax);
  if (!steps.length) return undefined;
  return { rule: 'kl-blowup', source: 'train', steps, message: `KL to the reference above ${round(t.klMax)} (up to ${round(peak(rows, steps, 'kl'))}) ${atSteps(steps)}` };
}

function lengthAtCap(rows: readonly MetricsRecord[], t: HealthThresholds): HealthAlert | undefined {
  const steps = sustained(rows, t.minSteps, (r) => (valueOf(r, 'completions/clipped_ratio') ?? 0) >= t.truncatedShare);
  if (!steps.length) return undefined;
  return { rule: 'length-at-cap', source: 'train', steps, message: `${round(peak(rows, steps, 'completions/clipped_ratio') * 100)}% of completions cut at the length cap ${atSteps(steps)}` };
}

/** Our exact per-group share when logged (TRL's frac_reward_zero_std is 0 or 1 under batch scaling). */
function tiedShare(row: MetricsRecord): number | undefined {
  return valueOf(row, 'frac_reward_zero_std/groups') ?? valueOf(row, 'frac_reward_zero_std');
}

function tiedGroups(rows: readonly MetricsRecord[], t: HealthThresholds): HealthAlert | undefined {
  const steps = sustained(rows, t.minSteps, (r) => (tiedShare(r) ?? 0) >= t.tiedGroupShare);
  if (!steps.length) return undefined;
  return { rule: 'tied-groups', source: 'train', steps, message: `${round(t.tiedGroupShare * 100)}% or more of groups tied (zero advantage, no learning signal) ${atSteps(steps)}` };
}

/** The validation metric the run logs: the pass rate when there is one, else the mean reward. */
function validationKey(rows: readonly MetricsRecord[]): string | undefined {
  return ['eval/accuracy', 'eval/reward'].find((key) => rows.some((r) => valueOf(r, key) !== undefined));
}

/** A running sum of the finite training rewards of consecutive rows, added in row order (as a reduce over them would). */
class RewardSum {
  private sum = 0;
  private count = 0;

  add(row: MetricsRecord): void {
    const value = valueOf(row, 'reward');
    if (value === undefined) return;
    this.sum += value;
    this.count += 1;
  }

  get mean(): number | undefined {
    return this.count ? this.sum / this.count : undefined;
  }
}

/**
 * Training reward up while validation goes down (reward hacking or overfitting the training prompts): at each
 * evaluation, validation is more than `validationDrop` under its best so far, and the training reward averaged
 * since that best is higher than it was up to it. One pass over the rows (a live dashboard rescans 10,000 rows
 * with 1,000 validations every second): the mean up to the best is taken when it becomes the best, the mean since
 * it is a running sum restarted there, so both are summed in the same order as a rescan of those rows would.
 */
function rewardVsValidation(rows: readonly MetricsRecord[], t: HealthThresholds): HealthAlert | undefined {
  const key = validationKey(rows);
  if (!key) return undefined;
  const steps: number[] = [];
  const upToHere = new RewardSum();
  let best: { value: number; before: number | undefined; since: RewardSum } | undefined;
  for (const row of rows) {
    upToHere.add(row);
    best?.since.add(row);
    const value = valueOf(row, key);
    if (value === undefined) continue;
    if (!best || value > best.value) {
      best = { value, before: upToHere.mean, since: new RewardSum() };
      continue;
    }
    const { before } = best;
    const since = best.since.mean;
    if (best.value - value > t.validationDrop && before !== undefined && since !== undefined && since > before) steps.push(row.step);
  }
  if (!steps.length) return undefined;
  return { rule: 'reward-vs-validation', source: 'eval', steps, message: `Training reward rose while ${key} fell more than ${round(t.validationDrop)} below its best, at the validations after ${stepWord(steps)} ${formatSteps(steps)}` };
}

function repetition(rows: readonly MetricsRecord[], t: HealthThresholds): HealthAlert | undefined {
  const steps = sustained(rows, t.minSteps, (r) => (valueOf(r, 'completions/repetition') ?? 0) >= t.repetitionMax);
  if (!steps.length) return undefined;
  return { rule: 'repetition', source: 'train', steps, message: `Completions repeat themselves (seq-rep-4 up to ${round(peak(rows, steps, 'completions/repetition'))}) ${atSteps(steps)}` };
}

/** A loss, KL, gradient norm or reward that was NaN, or an update the trainer skipped for a non-finite gradient. */
function nonFinite(rows: readonly MetricsRecord[]): HealthAlert | undefined {
  const steps: number[] = [];
  const names = new Set<string>();
  let skippedBefore = 0;
  for (const row of rows) {
    if (row.step === 0) continue;
    const bad = MUST_BE_FINITE.filter((key) => key in row.metrics && valueOf(row, key) === undefined);
    const skipped = valueOf(row, 'train/skipped_steps');
    const skippedHere = skipped !== undefined && skipped > skippedBefore;
    if (skipped !== undefined) skippedBefore = skipped;
    if (skippedHere) bad.push('skipped update');
    if (!bad.length) continue;
    steps.push(row.step);
    bad.forEach((b) => names.add(b));
  }
  if (!steps.length) return undefined;
  return { rule: 'non-finite', source: 'train', steps, message: `NaN or skipped steps (${[...names].join(', ')}) ${atSteps(steps)}` };
}

function rewardFailures(rows: readonly MetricsRecord[]): HealthAlert | undefined {
  const failed = rows.filter((r) => (valueOf(r, 'rewards/failed') ?? 0) > 0);
  if (!failed.length) return undefined;
  const total = failed.reduce((n, r) => n + (valueOf(r, 'rewards/failed') as number), 0);
  const steps = failed.map((r) => r.step);
  return { rule: 'reward-failures', source: 'train', steps, message: `${total} sample${total === 1 ? '' : 's'} whose reward failed, ${atSteps(steps)}` };
}
