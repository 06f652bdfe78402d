/**
 * verl runs, read as verl writes them (volcengine/verl @ b178a3cd56f58b2d502255daba591e92833930a7):
 *
 * - `trainer.rollout_data_dir/{step}.jsonl` and `trainer.validation_data_dir/{step}.jsonl`:
 *   `RayPPOTrainer._dump_generations` (verl/trainer/ppo/ray_trainer.py), one `json.dumps` line per sample with
 *   `input`, `output`, `gts`, `score`, `step` and the reward function's extra keys. No group id, no advantage,
 *   no finish reason, no per-token data; rows may come in any order.
 * - the `file` logger (verl/utils/tracking.py `FileLogger`): `{"step": N, "data": {metric: value}}` per line, in
 *   a file opened with "wb" — a resumed run truncates it and starts again.
 * - the `console` logger (verl/utils/logger/aggregate_logger.py `concat_dict_to_str`): `step:N - key:value - …`
 *   lines, values as `pprint.pformat` writes them (`np.float64(0.5)`), prefixed by Ray with `(TaskRunner pid=N)`.
 * - Hydra's `.hydra/config.yaml` (or a `config.yaml` beside the dumps) for `algorithm.adv_estimator`.
 *
 * The run folder holds the two dump folders (a subfolder whose name has "val" is validation) or is the rollout
 * folder itself, plus the logger's file. Groups are the rows with identical `input`; advantages are recomputed
 * from the scores with the run's estimator and reported as derived; verl's metric names map to ours.
 */
import * as fs from 'fs';
import * as path from 'path';
import { load as loadYaml } from 'js-yaml';
import type { GroupRecord, MetricsRecord, RolloutRecord, RolloutSource, RolloutsRecord, RunSnapshot, StoredNumber } from '../records';
import { withState } from '../runState';
import { parseJsonl } from '../runFiles';
import type { RunSummary } from '../runStore';
import { finiteValue } from '../records';
import type { RunSource } from '../runSource';
import { JsonlTail } from '../stepIndex';
import { ascending, externalSnapshot, isDirectory, listNames, mergeByStep, metricValue, newestWrite, readTextFile, statusFromWrites, stepNamed } from './files';
import type { RunReader, RunTail } from './runReader';

const STEP_FILE = /^(\d+)\.jsonl$/;

/** verl's metric names → ours (the dashboard's charts are keyed by TRL names). The original is kept for display. */
export const VERL_METRIC_NAMES: Readonly<Record<string, string>> = {
  'critic/score/mean': 'reward',
  'actor/pg_loss': 'loss',
  'actor/pg_clipfrac': 'clip_ratio/region_mean',
  'actor/pg_clipfrac_lower': 'clip_ratio/low_mean',
  'actor/entropy': 'entropy',
  'actor/kl_loss': 'kl',
  'actor/lr': 'learning_rate',
  'response_length/mean': 'completions/mean_length',
  'response_length/max': 'completions/max_length',
  'response_length/min': 'completions/min_length',
  'response_length/clip_ratio': 'completions/clipped_ratio',
};

/** Name families: verl's timers, and validation's mean@n / best@n of the reward (per data source). */
const VERL_METRIC_PATTERNS: readonly [RegExp, (m: RegExpExecArray) => string][] = [
  [/^timing_s\/(.+)$/, (m) => `time/${m[1]}`],
  [/^val-core\/[^/]+\/reward\/mean@(\d+)$/, (m) => `eval/reward/mean@${m[1]}`],
  [/^val-core\/[^/]+\/reward\/best@(\d+)\/mean$/, (m) => `eval/reward/best@${m[1]}`],
];

/** Our name of a verl metric, or the verl name itself when ours has no counterpart. */
export function ourMetricName(verlName: string): string {
  const direct = VERL_METRIC_NAMES[verlName];
  if (direct) return direct;
  for (const [pattern, rename] of VERL_METRIC_PATTERNS) {
    const match = pattern.exec(verlName);
    if (match) return rename(match);
  }
  return verlName;
}

/** A verl metrics dict under our names; `origins` collects ours → verl's for the names that changed. */
function renameMetrics(data: Record<string, unknown>, origins: Record<string, string>): Record<string, StoredNumber> {
  const metrics: Record<string, StoredNumber> = {};
  for (const [name, raw] of Object.entries(data)) {
    const value = metricValue(raw);
    if (value === undefined) continue;
    let ours = ourMetricName(name);
    // Two data sources' val-core metrics map to one name: the first keeps it, the others keep verl's.
    if (ours !== name && (ours in metrics || (origins[ours] !== undefined && origins[ours] !== name))) ours = name;
    if (ours !== name) origins[ours] = name;
    metrics[ours] = value;
  }
  return metrics;
}

// ---- metrics: the file logger and the console logger ----

interface FileLoggerLine {
  step: number;
  data: Record<string, unknown>;
}

function isFileLoggerLine(value: unknown): value is FileLoggerLine {
  if (typeof value !== 'object' || value === null) return false;
  const { step, data } = value as { step?: unknown; data?: unknown };
  return typeof step === 'number' && Number.isSafeInteger(step) && typeof data === 'object' && data !== null && !Array.isArray(data);
}

/** `step:N - key:value - …`, after Ray's optional `(Actor pid=N, ip=…)` prefix. */
const CONSOLE_LINE = /^(?:\([^)]*\)\s+)?step:(\d+) - (.*)$/;
/** A value as pprint writes a Python or numpy number: `0.5`, `np.float64(0.5)`, `nan`, `True`. */
const NUMPY_SCALAR = /^np\.[a-z]+\d*\((.*)\)$/;

function consoleValue(text: string): StoredNumber | undefined {
  const inner = NUMPY_SCALAR.exec(text.trim())?.[1] ?? text.trim();
  if (inner === 'True' || inner === 'False') return inner === 'True' ? 1 : 0;
  if (inner === 'nan') return null;
  if (inner === 'inf' || inner === '-inf') return inner === 'inf' ? Infinity : -Infinity;
  const value = Number(inner);
  return inner !== '' && !Number.isNaN(value) ? value : undefined;
}

/** One console line as a step's metrics (verl's names), or undefined for Ray's and verl's other output. */
export function parseConsoleLine(line: string): FileLoggerLine | undefined {
  const match = CONSOLE_LINE.exec(line.trim());
  if (!match) return undefined;
  const data: Record<string, unknown> = {};
  for (const part of match[2].split(' - ')) {
    const colon = part.lastIndexOf(':');
    if (colon <= 0) continue;
    const value = consoleValue(part.slice(colon + 1));
    if (value !== undefined) data[part.slice(0, colon)] = value === null ? Number.NaN : value;
  }
  return { step: Number(match[1]), data };
}

// ---- advantages, recomputed as verl's estimators computed them (verl/trainer/ppo/core_algos.py) ----

export interface VerlEstimator {
  name: string;
  normByStd: boolean;
  /** False when no config was found and verl's GRPO estimator is assumed. */
  fromConfig: boolean;
}

/** The advantages of one group's scores, or undefined for an estimator that needs more than scores (a critic, …). */
export function verlAdvantages(scores: number[], estimator: VerlEstimator): number[] | undefined {
  const n = scores.length;
  const mean = n > 1 ? scores.reduce((a, b) => a + b, 0) / n : 0;
  switch (estimator.name) {
    case 'grpo':
    case 'grpo_vectorized': {
      if (!estimator.normByStd) return scores.map((s) => s - mean);
      // compute_grpo_outcome_advantage: torch.std (n − 1), ε 1e-6; a group of one has mean 0 and std 1.
      const std = n > 1 ? Math.sqrt(scores.reduce((a, s) => a + (s - mean) ** 2, 0) / (n - 1)) : 1;
      return scores.map((s) => (s - mean) / (std + 1e-6));
    }
    case 'rloo':
    case 'rloo_vectorized':
      // compute_rloo_outcome_advantage: the mean of the others, s·n/(n−1) − mean·n/(n−1); alone, the score.
      return n > 1 ? scores.map((s) => (s * n) / (n - 1) - (mean * n) / (n - 1)) : [...scores];
    default:
      return undefined;
  }
}

function describeEstimator(estimator: VerlEstimator): string {
  const how =
    estimator.name === 'grpo' || estimator.name === 'grpo_vectorized'
      ? estimator.normByStd
        ? '(score − group mean) / (unbiased std + 1e-6)'
        : 'score − group mean (norm_adv_by_std_in_grpo: false)'
      : 'leave-one-out: score·n/(n−1) − mean·n/(n−1)';
  const where = estimator.fromConfig ? 'the run config' : 'assumed: no .hydra/config.yaml or config.yaml was found';
  return `advantage: recomputed from each sample's score with verl's ${estimator.name} estimator (${where}), ${how}, over the samples with identical input; verl's own advantages use token_level_rewards, which differ from the dumped scores when use_kl_in_reward is on`;
}

function readEstimator(runDir: string): VerlEstimator {
  for (const file of [path.join(runDir, '.hydra', 'config.yaml'), path.join(runDir, 'config.yaml')]) {
    const text = readTextFile(file);
    if (text === undefined) continue;
    let config: unknown;
    try {
      config = loadYaml(text, { filename: file });
    } catch {
      continue; // not YAML we can read: as if absent (the derived note says the estimator was assumed)
    }
    const algorithm = (config as { algorithm?: { adv_estimator?: unknown; norm_adv_by_std_in_grpo?: unknown } } | undefined)?.algorithm;
    if (typeof algorithm?.adv_estimator === 'string') {
      return { name: algorithm.adv_estimator, normByStd: algorithm.norm_adv_by_std_in_grpo !== false, fromConfig: true };
    }
  }
  return { name: 'grpo', normByStd: true, fromConfig: false };
}

// ---- rollouts ----

interface VerlRow {
  input: string;
  output: string;
  score: number | null;
  gts?: unknown;
  [extra: string]: unknown;
}

function isVerlRow(value: unknown): value is VerlRow {
  if (typeof value !== 'object' || value === null) return false;
  const row = value as Record<string, unknown>;
  return typeof row.input === 'string' && typeof row.output === 'string' && (typeof row.score === 'number' || row.score === null);
}

const ROW_KEYS = new Set(['input', 'output', 'gts', 'score', 'step']);

/** The reward function's extra keys that are numbers (or booleans): each rollout's `rewards`. */
function extraRewards(row: VerlRow): Record<string, StoredNumber> {
  const rewards: Record<string, StoredNumber> = {};
  for (const [key, raw] of Object.entries(row)) {
    if (ROW_KEYS.has(key)) continue;
    const value = metricValue(raw);
    if (value !== undefined) rewards[key] = value;
  }
  return rewards;
}

function groundTruth(gts: unknown): string | undefined {
  if (gts === undefined || gts === null) return undefined;
  return typeof gts === 'string' ? gts : JSON.stringify(gts);
}

/** A step's rows as our groups: identical `input` is one group, groups and rollouts in first-seen order. */
export function groupVerlRows(step: number, rows: VerlRow[], estimator: VerlEstimator): RolloutsRecord {
  const byInput = new Map<string, VerlRow[]>();
  for (const row of rows) byInput.set(row.input, [...(byInput.get(row.input) ?? []), row]);
  const groups: GroupRecord[] = [...byInput.values()].map((members) => {
    const scores = members.map((r) => (typeof r.score === 'number' ? r.score : Number.NaN));
    const advantages = verlAdvantages(scores, estimator);
    return {
      prompt: members[0].input,
      ground_truth: groundTruth(members[0].gts),
      rollouts: members.map(
        (row, i): RolloutRecord => ({
          completion: row.output,
          reward: row.score,
          rewards: extraRewards(row),
          // NaN (shown as "—") where the estimator needs more than the dumped scores.
          advantage: advantages?.[i] ?? Number.NaN,
          finish_reason: 'unknown',
          tokens: { text: [], logprob: [] },
        }),
      ),
    };
  });
  return { step, groups };
}

/** The rollout and validation dump folders of a run folder (the folder itself may be the rollout folder). */
function dumpFolders(runDir: string): Record<RolloutSource, string | undefined> {
  const candidates = [runDir, ...listNames(runDir).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => path.join(runDir, e.name))];
  const withDumps = candidates.filter((dir) => stepNamed(dir, STEP_FILE).size > 0 && firstRowIsVerl(dir));
  const isValidation = (dir: string) => dir !== runDir && /val/i.test(path.basename(dir));
  return { train: withDumps.find((dir) => !isValidation(dir)), eval: withDumps.find(isValidation) };
}

function firstRowIsVerl(dir: string): boolean {
  const first = stepNamed(dir, STEP_FILE).values().next().value;
  if (!first) return false;
  const line = firstLine(first);
  try {
    return line !== undefined && isVerlRow(JSON.parse(line));
  } catch {
    return false;
  }
}

/** The first line of a file, reading at most 1 MiB. */
function firstLine(file: string): string | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const buffer = Buffer.alloc(1 << 20);
    const n = fs.readSync(fd, buffer, 0, buffer.length, 0);
    const text = buffer.subarray(0, n).toString('utf8');
    const end = text.indexOf('\n');
    return end >= 0 ? text.slice(0, end) : text;
  } finally {
    fs.closeSync(fd);
  }
}

/** The file logger's JSONL (a `*.jsonl` beside the dumps whose first line is `{"step", "data"}`), else undefined. */
function fileLoggerFile(runDir: string): string | undefined {
  return listNames(runDir)
    .filter((e) => e.isFile() && e.name.endsWith('.jsonl') && !STEP_FILE.test(e.name))
    .map((e) => path.join(runDir, e.name))
    .find((file) => {
      const line = firstLine(file);
      try {
        return line !== undefined && isFileLoggerLine(JSON.parse(line));
      } catch {
        return false;
      }
    });
}

/** A console log (`*.log`, `*.txt`, `*.out`) with at least one `step:N - …` line in its first MiB. */
function consoleLogFile(runDir: string): string | undefined {
  return listNames(runDir)
    .filter((e) => e.isFile() && /\.(log|txt|out)$/.test(e.name))
    .map((e) => path.join(runDir, e.name))
    .find((file) => {
      const head = readHead(file);
      return head.split('\n').some((line) => parseConsoleLine(line) !== undefined);
    });
}

function readHead(file: string): string {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return '';
  }
  try {
    const buffer = Buffer.alloc(1 << 20);
    const n = fs.readSync(fd, buffer, 0, buffer.length, 0);
    return buffer.subarray(0, n).toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}

/** True when the folder holds verl rollout dumps or a verl logger's file. */
export function isVerlRun(dir: string): boolean {
  if (!isDirectory(dir)) return false;
  const dumps = dumpFolders(dir);
  return dumps.train !== undefined || dumps.eval !== undefined || fileLoggerFile(dir) !== undefined || consoleLogFile(dir) !== undefined;
}

export class VerlRunReader implements RunReader {
  readonly format = 'verl' as const;
  readonly problems: string[] = [];
  private readonly estimator: VerlEstimator;

  constructor(readonly runDir: string) {
    this.estimator = readEstimator(runDir);
  }

  private get folders(): Record<RolloutSource, string | undefined> {
    return dumpFolders(this.runDir);
  }

  snapshot(_isLive: boolean): RunSnapshot {
    const origins: Record<string, string> = {};
    const metrics = this.metrics(origins);
    const source: RunSource = { format: 'verl', metricOrigins: origins, derived: [describeEstimator(this.estimator)] };
    return externalSnapshot(this.runDir, this.status(), metrics, source);
  }

  summary(_isLive: boolean): RunSummary {
    const metrics = this.metrics({});
    const last = metrics.at(-1);
    const newestRollout = this.rolloutSteps('train').at(-1);
    return {
      format: 'verl',
      runId: path.basename(this.runDir),
      runDir: this.runDir,
      name: path.basename(this.runDir),
      ...withState(this.status()),
      step: Math.max(last?.step ?? 0, newestRollout ?? 0),
      maxSteps: undefined,
      reward: finiteValue(last?.metrics.reward),
    };
  }

  rolloutSteps(source: RolloutSource): number[] {
    const folder = this.folders[source];
    return folder ? ascending(stepNamed(folder, STEP_FILE).keys()) : [];
  }

  async readRollouts(source: RolloutSource, step: number): Promise<RolloutsRecord | undefined> {
    const folder = this.folders[source];
    if (!folder) return undefined;
    const file = path.join(folder, `${step}.jsonl`);
    const text = readTextFile(file);
    if (text === undefined) return undefined;
    const parsed = parseJsonl<VerlRow>(text, file, isVerlRow);
    this.note(parsed.problems);
    return groupVerlRows(step, parsed.records, this.estimator);
  }

  tail(fromStart = false): RunTail {
    const logger = fileLoggerFile(this.runDir);
    const consoleLog = logger ? undefined : consoleLogFile(this.runDir);
    const file = logger ?? consoleLog;
    const lines = file === undefined ? undefined : fromStart ? new JsonlTail(file) : JsonlTail.fromEnd(file);
    return {
      read: () => {
        if (!lines) return { metrics: [], events: [], restarted: false };
        const restartsBefore = lines.restarts;
        const entries = lines.readLines().flatMap((line) => {
          const entry = logger ? parseLoggerLine(line) : parseConsoleLine(line);
          return entry ? [entry] : [];
        });
        return { metrics: entries.map((e) => toRecord(e, {})), events: [], restarted: lines.restarts !== restartsBefore };
      },
    };
  }

  private metrics(origins: Record<string, string>): MetricsRecord[] {
    const logger = fileLoggerFile(this.runDir);
    if (logger) {
      const parsed = parseJsonl<FileLoggerLine>(readTextFile(logger) ?? '', logger, isFileLoggerLine);
      this.note(parsed.problems);
      return mergeByStep(parsed.records.map((entry) => toRecord(entry, origins)));
    }
    const consoleLog = consoleLogFile(this.runDir);
    if (!consoleLog) return [];
    const entries = (readTextFile(consoleLog) ?? '').split('\n').flatMap((line) => parseConsoleLine(line) ?? []);
    return mergeByStep(entries.map((entry) => toRecord(entry, origins)));
  }

  private status() {
    const folders = Object.values(this.folders).filter((f): f is string => f !== undefined);
    const files = [...folders.flatMap((f) => [...stepNamed(f, STEP_FILE).values()]), fileLoggerFile(this.runDir), consoleLogFile(this.runDir)];
    return statusFromWrites(newestWrite(files.filter((f): f is string => f !== undefined)), false);
  }

  private note(problems: string[]): void {
    for (const problem of problems) if (!this.problems.includes(problem)) this.problems.push(problem);
  }
}

function parseLoggerLine(line: string): FileLoggerLine | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return isFileLoggerLine(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** verl writes no time with its metrics: the wall-time axis has no points for these runs. */
function toRecord(entry: FileLoggerLine, origins: Record<string, string>): MetricsRecord {
  return { step: entry.step, time: Number.NaN, metrics: renameMetrics(entry.data, origins) };
}
