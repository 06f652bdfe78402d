/**
 * TRL GRPOTrainer runs, read as TRL writes them (huggingface/trl @ f2cd57710ae345ea6428ae95363267fcf38a3dc8):
 *
 * - `<output_dir>/completions/completions_{step:05d}.parquet`: `GRPOTrainer.log` (trl/trainer/grpo_trainer.py)
 *   with `log_completions=True`, every `logging_steps`, writes the last generation batch with `DataFrame.to_parquet`:
 *   `step`, `prompt`, `completion`, one column per reward function, the extra logged columns, `advantage`. The
 *   rows of one prompt follow each other (RepeatSampler), so a group is a run of rows with the same prompt. Some
 *   TRL versions write `completions/<mode>/…`: `eval` there is validation.
 * - `checkpoint-N/trainer_state.json` (transformers `TrainerState.save_to_json`): `log_history`, one entry per
 *   logging step (`loss`, `reward`, `reward_std`, `rewards/<f>/mean`, `kl`, `clip_ratio/…`; evaluation's with an
 *   `eval_` prefix, which becomes our `eval/`), `global_step`, `max_steps`. The newest checkpoint's is read
 *   (or `<output_dir>/trainer_state.json` when `save_state()` wrote a newer one).
 *
 * Parquet goes through src/protocol/parquetFile.ts, the reader of the `prompts` task's datasets.
 */
import * as fs from 'fs';
import * as path from 'path';
import { finiteValue, type GroupRecord, type MetricsRecord, type RolloutRecord, type RolloutSource, type RolloutsRecord, type RunSnapshot, type StoredNumber } from '../records';
import { withState } from '../runState';
import { readParquetObjects } from '../parquetFile';
import type { RunSummary } from '../runStore';
import type { RunSource } from '../runSource';
import { ascending, externalSnapshot, isDirectory, mergeByStep, metricValue, newestWrite, readTextFile, statusFromWrites, stepNamed } from './files';
import type { RunReader, RunTail } from './runReader';

const COMPLETIONS_FILE = /^completions_(\d+)\.parquet$/;
const CHECKPOINT_DIR = /^checkpoint-(\d+)$/;
/** Table columns that are not a reward function's. */
const TABLE_KEYS = new Set(['step', 'prompt', 'completion', 'advantage', 'mode', 'image']);

interface TrainerState {
  global_step: number;
  max_steps?: number;
  log_history: Record<string, unknown>[];
}

function isTrainerState(value: unknown): value is TrainerState {
  if (typeof value !== 'object' || value === null) return false;
  const state = value as Record<string, unknown>;
  return typeof state.global_step === 'number' && Array.isArray(state.log_history);
}

/** Where the completion tables of each source are: `completions/` (train), or `completions/{train,eval}/`. */
function tableFolders(runDir: string): Record<RolloutSource, string | undefined> {
  const root = path.join(runDir, 'completions');
  const has = (dir: string) => stepNamed(dir, COMPLETIONS_FILE).size > 0;
  const train = [root, path.join(root, 'train')].find(has);
  const evalDir = path.join(root, 'eval');
  return { train, eval: has(evalDir) ? evalDir : undefined };
}

/** Every trainer_state.json of the run: the output folder's and each checkpoint's. */
function stateFiles(runDir: string): string[] {
  const checkpoints = [...stepNamed(runDir, CHECKPOINT_DIR, 'dir').values()].map((dir) => path.join(dir, 'trainer_state.json'));
  return [path.join(runDir, 'trainer_state.json'), ...checkpoints].filter((file) => fs.existsSync(file));
}

export function isTrlRun(dir: string): boolean {
  if (!isDirectory(dir)) return false;
  const tables = tableFolders(dir);
  return tables.train !== undefined || tables.eval !== undefined || stateFiles(dir).length > 0;
}

/** A log_history entry's metrics under our names (`eval_x` → `eval/x`); `origins` collects the renamed ones. */
function trlMetrics(entry: Record<string, unknown>, origins: Record<string, string>): Record<string, StoredNumber> {
  const metrics: Record<string, StoredNumber> = {};
  for (const [name, raw] of Object.entries(entry)) {
    if (name === 'step') continue;
    const value = metricValue(raw);
    if (value === undefined) continue;
    const ours = name.startsWith('eval_') ? `eval/${name.slice('eval_'.length)}` : name;
    if (ours !== name) origins[ours] = name;
    metrics[ours] = value;
  }
  return metrics;
}

/** A Parquet int64 arrives as a BigInt: a number where it is safe. */
function plainNumber(value: unknown): number | undefined {
  if (typeof value === 'bigint') return Number(value);
  return typeof value === 'number' ? value : undefined;
}

/** The reward columns of a row (numbers; null where the function returned None, which pandas stores as NaN). */
function rewardColumns(row: Record<string, unknown>): Record<string, StoredNumber> {
  const rewards: Record<string, StoredNumber> = {};
  for (const [key, raw] of Object.entries(row)) {
    if (TABLE_KEYS.has(key)) continue;
    const value = metricValue(plainNumber(raw) ?? raw);
    if (value !== undefined || raw === null) rewards[key] = value ?? null;
  }
  return rewards;
}

/** TRL's total reward with its default reward_weights (1 each): the nansum of the functions' values. */
function totalReward(rewards: Record<string, StoredNumber>): StoredNumber {
  const scored = Object.values(rewards).filter((r): r is number => typeof r === 'number' && Number.isFinite(r));
  return scored.length ? scored.reduce((a, b) => a + b, 0) : null;
}

/** A completions table as our record: consecutive rows with the same prompt are one group. */
export function groupTrlRows(step: number, rows: Record<string, unknown>[], file: string): RolloutsRecord {
  const groups: GroupRecord[] = [];
  rows.forEach((row, i) => {
    if (typeof row.prompt !== 'string' || typeof row.completion !== 'string') {
      throw new Error(`${file}: row ${i + 1}: "prompt" and "completion" must be text (a TRL completions table has both)`);
    }
    const rewards = rewardColumns(row);
    const rollout: RolloutRecord = {
      completion: row.completion,
      reward: totalReward(rewards),
      rewards,
      advantage: plainNumber(row.advantage) ?? Number.NaN,
      finish_reason: 'unknown',
      tokens: { text: [], logprob: [] },
    };
    const last = groups.at(-1);
    if (last && last.prompt === row.prompt) last.rollouts.push(rollout);
    else groups.push({ prompt: row.prompt, rollouts: [rollout] });
  });
  return { step, groups };
}

export class TrlRunReader implements RunReader {
  readonly format = 'trl' as const;
  readonly problems: string[] = [];

  constructor(readonly runDir: string) {}

  snapshot(_isLive: boolean): RunSnapshot {
    const origins: Record<string, string> = {};
    const state = this.newestState();
    const metrics = state ? this.metricsOf(state, origins) : [];
    const source: RunSource = {
      format: 'trl',
      metricOrigins: origins,
      derived: ["reward: a completion's total is the sum of its reward columns (TRL's default reward_weights of 1; other weights are not in the table)"],
    };
    return externalSnapshot(this.runDir, this.status(state), metrics, source);
  }

  summary(_isLive: boolean): RunSummary {
    const state = this.newestState();
    const metrics = state ? this.metricsOf(state, {}) : [];
    const withReward = metrics.filter((m) => finiteValue(m.metrics.reward) !== undefined).at(-1);
    return {
      format: 'trl',
      runId: path.basename(this.runDir),
      runDir: this.runDir,
      name: path.basename(this.runDir),
      ...withState(this.status(state)),
      step: Math.max(state?.global_step ?? 0, this.rolloutSteps('train').at(-1) ?? 0),
      maxSteps: state?.max_steps,
      reward: finiteValue(withReward?.metrics.reward),
    };
  }

  rolloutSteps(source: RolloutSource): number[] {
    const folder = tableFolders(this.runDir)[source];
    return folder ? ascending(stepNamed(folder, COMPLETIONS_FILE).keys()) : [];
  }

  async readRollouts(source: RolloutSource, step: number): Promise<RolloutsRecord | undefined> {
    const folder = tableFolders(this.runDir)[source];
    const file = folder && stepNamed(folder, COMPLETIONS_FILE).get(step);
    if (!file) return undefined;
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(file);
    } catch {
      return undefined;
    }
    try {
      return groupTrlRows(step, await readParquetObjects(file, bytes), file);
    } catch (err) {
      // A table still being written, or not TRL's: reported, and the step reads as absent.
      this.note(err instanceof Error ? err.message : String(err));
      return undefined;
    }
  }

  /** trainer_state.json is rewritten at each checkpoint: each read sends the steps past the last one sent. */
  tail(fromStart = false): RunTail {
    let sent = fromStart ? -1 : (this.newestState()?.global_step ?? -1);
    return {
      read: () => {
        const state = this.newestState();
        if (!state) return { metrics: [], events: [], restarted: false };
        // A newer run in the same output folder (or a resume from an earlier checkpoint) starts below what was sent.
        const restarted = state.global_step < sent;
        const metrics = this.metricsOf(state, {}).filter((m) => restarted || m.step > sent);
        sent = state.global_step;
        return { metrics, events: [], restarted };
      },
    };
  }

  private metricsOf(state: TrainerState, origins: Record<string, string>): MetricsRecord[] {
    const records = state.log_history
      .filter((entry) => typeof entry.step === 'number')
      .map((entry): MetricsRecord => ({ step: entry.step as number, time: Number.NaN, metrics: trlMetrics(entry, origins) }));
    return mergeByStep(records);
  }

  /** The trainer_state.json with the highest global_step. */
  private newestState(): TrainerState | undefined {
    let newest: TrainerState | undefined;
    for (const file of stateFiles(this.runDir)) {
      let value: unknown;
      try {
        value = JSON.parse(readTextFile(file) ?? '');
      } catch (err) {
        this.note(`${file}: not JSON: ${err instanceof Error ? err.message : String(err)}`);
        continue;
      }
      if (!isTrainerState(value)) {
        this.note(`${file}: no "global_step" and "log_history": not a transformers trainer state`);
        continue;
      }
      if (!newest || value.global_step > newest.global_step) newest = value;
    }
    return newest;
  }

  private status(state: TrainerState | undefined) {
    const tables = Object.values(tableFolders(this.runDir)).filter((f): f is string => f !== undefined);
    const files = [...stateFiles(this.runDir), ...tables.flatMap((f) => [...stepNamed(f, COMPLETIONS_FILE).values()])];
    const finished = state !== undefined && state.max_steps !== undefined && state.max_steps > 0 && state.global_step >= state.max_steps;
    return statusFromWrites(newestWrite(files), finished);
  }

  private note(problem: string): void {
    if (!this.problems.includes(problem)) this.problems.push(problem);
  }
}

