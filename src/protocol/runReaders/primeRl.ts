/**
 * prime-rl runs, read as prime-rl writes them (PrimeIntellect-ai/prime-rl; its layout changed during 2026, so
 * the commits are pinned):
 *
 * - `token_exports/step_N/rank_R.jsonl` (src/prime_rl/trainer/rl/token_export.py @
 *   d2f82fa63a75a6dbb0fe0a4c724e2578c1f850ea, SCHEMA_VERSION 1; opt-in with `experimental.token_export`): one
 *   line per trained sequence, every column per token: `token_ids`, `loss_mask`, `advantages`, `rewards`,
 *   `inference_logprobs`, `trainer_logprobs`, `entropy`, `importance_ratio`, `is_masked_low` / `_high`, …
 * - `rollouts/step_N/train_rollouts.jsonl` (src/prime_rl/orchestrator/utils.py `save_rollouts` @
 *   07a70e62ed52ba8ad456e967343916a878627d2b): one orjson line per verifiers rollout without its `trajectory`:
 *   `example_id`, `prompt` / `completion` (chat messages or text), `answer`, `reward`, `advantage`, `metrics`,
 *   `is_truncated`, `error`.
 *
 * A step with token exports is shown from them, so the per-token view works: the prompt is the tokens before the
 * first trained one, a group is the sequences with identical prompt tokens. The exports carry ids, not text: they
 * are decoded with the tokenizer of the model the run's config names, where the host finds one on this machine;
 * else each token shows as its id, and the header says which model and where it looked. A step without exports is
 * shown from its rollout records, grouped by example_id.
 */
import * as path from 'path';
import type { GroupRecord, MetricsRecord, RolloutRecord, RolloutSource, RolloutsRecord, RunSnapshot, StoredNumber, TokenColumns } from '../records';
import { withState } from '../runState';
import { finiteValue, groupRewardStats } from '../records';
import { parseJsonl } from '../runFiles';
import type { RunSummary } from '../runStore';
import type { RunSource } from '../runSource';
import { ascending, externalSnapshot, isDirectory, listNames, metricValue, newestWrite, readTextFile, statusFromWrites, stepNamed } from './files';
import type { RunReader, RunTail, TokenDecoder, TokenDecoderLookup } from './runReader';

const STEP_DIR = /^step_(\d+)$/;
const RANK_FILE = /^rank_(\d+)\.jsonl$/;
const ROLLOUTS_FILE = 'train_rollouts.jsonl';

interface TokenExport {
  token_ids: number[];
  loss_mask: boolean[];
  advantages: (number | null)[];
  rewards: (number | null)[];
  inference_logprobs: (number | null)[];
  trainer_logprobs: (number | null)[];
  entropy: (number | null)[];
  importance_ratio?: (number | null)[];
  is_masked_low?: (boolean | null)[];
  is_masked_high?: (boolean | null)[];
}

const TOKEN_COLUMNS = ['token_ids', 'loss_mask', 'advantages', 'rewards', 'inference_logprobs', 'trainer_logprobs', 'entropy'] as const;

function isTokenExport(value: unknown): value is TokenExport {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  const ids = record.token_ids;
  return Array.isArray(ids) && TOKEN_COLUMNS.every((key) => Array.isArray(record[key]) && (record[key] as unknown[]).length === ids.length);
}

interface Message {
  role?: unknown;
  content?: unknown;
}

interface RolloutLine {
  example_id?: unknown;
  prompt: string | Message[];
  completion: string | Message[];
  answer?: unknown;
  reward?: unknown;
  advantage?: unknown;
  metrics?: Record<string, unknown>;
  is_truncated?: unknown;
  error?: unknown;
}

function isRolloutLine(value: unknown): value is RolloutLine {
  if (typeof value !== 'object' || value === null) return false;
  const line = value as Record<string, unknown>;
  const textOrMessages = (v: unknown) => typeof v === 'string' || Array.isArray(v);
  return textOrMessages(line.prompt) && textOrMessages(line.completion);
}

/** Chat messages as one text: a lone message is its content, several are `role: content` paragraphs. */
function messagesText(messages: string | Message[]): string {
  if (typeof messages === 'string') return messages;
  const content = (m: Message) =>
    typeof m.content === 'string'
      ? m.content
      : Array.isArray(m.content)
        ? m.content.map((part: { text?: unknown }) => (typeof part?.text === 'string' ? part.text : '')).join('')
        : '';
  return messages.length === 1 ? content(messages[0]) : messages.map((m) => `${String(m.role ?? '')}: ${content(m)}`).join('\n\n');
}

/** How a token shows without a tokenizer: its id. */
function tokenText(id: number): string {
  return `⟨${id}⟩`;
}

/** Ids → each token's text: a decoder's pieces, else the ids themselves. */
type TokenTexts = (ids: readonly number[], context: readonly number[]) => string[];

const idTexts: TokenTexts = (ids) => ids.map(tokenText);

/**
 * The model a prime-rl run names, from the TOML configs in its folder (`configs/*.toml` or `*.toml`): `name` under
 * `[model]` (the trainer's and orchestrator's configs), or a top-level `model = "…"` (the `prime rl` CLI's). A
 * line-level read of those two keys, not a TOML parser: the rest of the file is not needed.
 */
export function primeRlModelName(runDir: string): { model: string | undefined; lookedIn: string[] } {
  const files = [runDir, path.join(runDir, 'configs')].flatMap((dir) =>
    listNames(dir)
      .filter((e) => e.isFile() && e.name.endsWith('.toml'))
      .map((e) => path.join(dir, e.name))
      .sort(),
  );
  for (const file of files) {
    let section = '';
    for (const line of (readTextFile(file) ?? '').split(/\r?\n/)) {
      const header = /^\s*\[([^\]]+)\]\s*(#.*)?$/.exec(line);
      if (header) {
        section = header[1].trim();
        continue;
      }
      const entry = /^\s*([A-Za-z_]+)\s*=\s*"([^"]+)"/.exec(line);
      if (entry && ((section === 'model' && entry[1] === 'name') || (section === '' && entry[1] === 'model'))) return { model: entry[2], lookedIn: files };
    }
  }
  return { model: undefined, lookedIn: files };
}

function numbers(values: (number | null)[] | undefined, at: number[]): number[] {
  return at.map((i) => values?.[i] ?? Number.NaN);
}

function flags(values: (boolean | null)[] | undefined, at: number[]): boolean[] {
  return at.map((i) => values?.[i] === true);
}

/** One exported sequence as a rollout; its prompt (the ids before the first trained token) is the group key. */
function exportRollout(record: TokenExport, texts: TokenTexts): { promptIds: number[]; rollout: RolloutRecord } {
  const first = record.loss_mask.indexOf(true);
  const trained = record.loss_mask.flatMap((m, i) => (m ? [i] : []));
  const ids = trained.map((i) => record.token_ids[i]);
  const promptIds = record.token_ids.slice(0, Math.max(first, 0));
  const tokens: TokenColumns = {
    text: texts(ids, promptIds),
    logprob: numbers(record.trainer_logprobs, trained),
    old_logprob: numbers(record.inference_logprobs, trained),
    advantage: numbers(record.advantages, trained),
    ratio: numbers(record.importance_ratio, trained),
    // prime-rl masks (drops) tokens whose probability moved too far: shown as its clip flags.
    clipped_low: flags(record.is_masked_low, trained),
    clipped_high: flags(record.is_masked_high, trained),
    entropy: numbers(record.entropy, trained),
  };
  return {
    promptIds,
    rollout: {
      completion: tokens.text.join(''),
      reward: record.rewards[first] ?? null,
      rewards: {},
      advantage: record.advantages[first] ?? Number.NaN,
      finish_reason: 'unknown',
      tokens,
    },
  };
}

export function groupTokenExports(step: number, records: TokenExport[], texts: TokenTexts = idTexts): RolloutsRecord {
  const groups = new Map<string, GroupRecord>();
  for (const record of records) {
    if (!record.loss_mask.includes(true)) continue;
    const { promptIds, rollout } = exportRollout(record, texts);
    const key = promptIds.join(' ');
    const group = groups.get(key) ?? { prompt: texts(promptIds, []).join(''), rollouts: [] };
    group.rollouts.push(rollout);
    groups.set(key, group);
  }
  return { step, groups: [...groups.values()] };
}

function lineRollout(line: RolloutLine): RolloutRecord {
  const rewards: Record<string, StoredNumber> = {};
  for (const [name, raw] of Object.entries(line.metrics ?? {})) {
    const value = metricValue(raw);
    if (value !== undefined) rewards[name] = value;
  }
  const reward = metricValue(line.reward);
  const rollout: RolloutRecord = {
    completion: messagesText(line.completion),
    reward: reward ?? null,
    rewards,
    advantage: typeof line.advantage === 'number' ? line.advantage : Number.NaN,
    finish_reason: line.is_truncated === true ? 'length' : 'stop',
    tokens: { text: [], logprob: [] },
  };
  if (line.error !== undefined && line.error !== null) rollout.error = typeof line.error === 'string' ? line.error : JSON.stringify(line.error);
  return rollout;
}

/** Rollout records grouped by `example_id` (the prompt text when absent), in first-seen order. */
export function groupRolloutLines(step: number, lines: RolloutLine[]): RolloutsRecord {
  const groups = new Map<string, GroupRecord>();
  for (const line of lines) {
    const prompt = messagesText(line.prompt);
    const id = line.example_id === undefined || line.example_id === null ? undefined : String(line.example_id);
    const key = id ?? `prompt:${prompt}`;
    const group = groups.get(key) ?? { prompt_id: id, prompt, rollouts: [] };
    if (group.ground_truth === undefined && typeof line.answer === 'string' && line.answer !== '') group.ground_truth = line.answer;
    group.rollouts.push(lineRollout(line));
    groups.set(key, group);
  }
  return { step, groups: [...groups.values()] };
}

export function isPrimeRlRun(dir: string): boolean {
  if (!isDirectory(dir)) return false;
  return exportSteps(dir).size > 0 || rolloutFiles(dir).size > 0;
}

function exportSteps(runDir: string): Map<number, string> {
  const steps = stepNamed(path.join(runDir, 'token_exports'), STEP_DIR, 'dir');
  for (const [step, dir] of steps) if (stepNamed(dir, RANK_FILE).size === 0) steps.delete(step);
  return steps;
}

function rolloutFiles(runDir: string): Map<number, string> {
  const files = new Map<number, string>();
  for (const [step, dir] of stepNamed(path.join(runDir, 'rollouts'), STEP_DIR, 'dir')) {
    const file = path.join(dir, ROLLOUTS_FILE);
    if (readTextFile(file) !== undefined) files.set(step, file);
  }
  return files;
}

export class PrimeRlRunReader implements RunReader {
  readonly format = 'prime-rl' as const;
  readonly problems: string[] = [];
  /** The run's decoder, or why there is none; looked up once, when token text is first needed. */
  private decoding: { decoder: TokenDecoder } | { reason: string } | undefined;

  constructor(
    readonly runDir: string,
    private readonly tokenDecoders?: TokenDecoderLookup,
  ) {}

  snapshot(_isLive: boolean): RunSnapshot {
    const hasExports = exportSteps(this.runDir).size > 0;
    const decoding = hasExports ? this.decoder() : undefined;
    const source: RunSource = {
      format: 'prime-rl',
      metricOrigins: {},
      derived: [
        "reward, reward_std and rewards/<metric>/mean: each step's mean (and population std) over all its rollout records; prime-rl sends its own metrics to its monitor, not to the output folder",
        ...(decoding && 'decoder' in decoding ? [`token text: decoded from the token exports' ids with ${decoding.decoder.description}`] : []),
      ],
    };
    if (decoding && 'reason' in decoding) source.notices = [`Tokens are shown as ids: prime-rl's token exports hold ids, not text, and ${decoding.reason}.`];
    return externalSnapshot(this.runDir, this.status(), this.metrics([...rolloutFiles(this.runDir).keys()]), source);
  }

  summary(_isLive: boolean): RunSummary {
    const files = rolloutFiles(this.runDir);
    const newest = ascending(files.keys()).at(-1);
    const last = newest === undefined ? undefined : this.metrics([newest])[0];
    return {
      format: 'prime-rl',
      runId: path.basename(this.runDir),
      runDir: this.runDir,
      name: path.basename(this.runDir),
      ...withState(this.status()),
      step: Math.max(newest ?? 0, this.rolloutSteps('train').at(-1) ?? 0),
      maxSteps: undefined,
      reward: finiteValue(last?.metrics.reward),
    };
  }

  tokenSteps(): number[] {
    return ascending(exportSteps(this.runDir).keys());
  }

  rolloutSteps(source: RolloutSource): number[] {
    if (source === 'eval') return [];
    return ascending(new Set([...exportSteps(this.runDir).keys(), ...rolloutFiles(this.runDir).keys()]));
  }

  async readRollouts(source: RolloutSource, step: number): Promise<RolloutsRecord | undefined> {
    if (source === 'eval') return undefined;
    const exportDir = exportSteps(this.runDir).get(step);
    if (exportDir) {
      const records = ascending(stepNamed(exportDir, RANK_FILE).keys()).flatMap((rank) => {
        const file = path.join(exportDir, `rank_${rank}.jsonl`);
        const parsed = parseJsonl<TokenExport>(readTextFile(file) ?? '', file, isTokenExport);
        this.note(parsed.problems);
        return parsed.records;
      });
      const decoding = this.decoder();
      return groupTokenExports(step, records, 'decoder' in decoding ? (ids, context) => decoding.decoder.pieces(ids, context) : idTexts);
    }
    const lines = this.rolloutLines(step);
    return lines && groupRolloutLines(step, lines);
  }

  tail(fromStart = false): RunTail {
    const sent = new Set(fromStart ? [] : rolloutFiles(this.runDir).keys());
    return {
      read: () => {
        const fresh = [...rolloutFiles(this.runDir).keys()].filter((step) => !sent.has(step));
        fresh.forEach((step) => sent.add(step));
        return { metrics: this.metrics(fresh), events: [], restarted: false };
      },
    };
  }

  private rolloutLines(step: number): RolloutLine[] | undefined {
    const file = rolloutFiles(this.runDir).get(step);
    if (!file) return undefined;
    const parsed = parseJsonl<RolloutLine>(readTextFile(file) ?? '', file, isRolloutLine);
    this.note(parsed.problems);
    return parsed.records;
  }

  /** Per step, the reward's mean and std and each verifiers metric's mean over its rollout records. */
  private metrics(steps: number[]): MetricsRecord[] {
    return ascending(steps).flatMap((step) => {
      const lines = this.rolloutLines(step) ?? [];
      if (lines.length === 0) return [];
      const rewards = lines.map((l) => metricValue(l.reward) ?? null);
      const { mean, std } = groupRewardStats(rewards, 'population');
      const metrics: Record<string, StoredNumber> = { reward: Number.isNaN(mean) ? null : mean, reward_std: Number.isNaN(std) ? null : std };
      const names = new Set(lines.flatMap((l) => Object.keys(l.metrics ?? {})));
      for (const name of names) {
        const values = lines.map((l) => metricValue(l.metrics?.[name]) ?? null);
        const stats = groupRewardStats(values, 'population');
        if (!Number.isNaN(stats.mean)) metrics[`rewards/${name}/mean`] = stats.mean;
      }
      return [{ step, time: Number.NaN, metrics }];
    });
  }

  private status() {
    const files = [...rolloutFiles(this.runDir).values(), ...[...exportSteps(this.runDir).values()].flatMap((dir) => [...stepNamed(dir, RANK_FILE).values()])];
    return statusFromWrites(newestWrite(files), false);
  }

  private decoder(): { decoder: TokenDecoder } | { reason: string } {
    if (!this.decoding) {
      const { model, lookedIn } = primeRlModelName(this.runDir);
      this.decoding = this.tokenDecoders
        ? this.tokenDecoders(model, this.runDir)
        : { reason: 'no tokenizer is loaded where this run is read' };
      if (model === undefined && 'reason' in this.decoding) {
        this.decoding = { reason: `the run names no model (looked for [model] name in ${lookedIn.length ? lookedIn.join(', ') : `*.toml and configs/*.toml of ${this.runDir}: none there`})` };
      }
    }
    return this.decoding;
  }

  private note(problems: string[]): void {
    for (const problem of problems) if (!this.problems.includes(problem)) this.problems.push(problem);
  }
}
