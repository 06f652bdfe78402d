/**
 * Answers the dashboard webview's requests from run directories. It holds the per-run step indexes (so scrubbing
 * through a long run reads one line per step) and knows nothing of VS Code: the dashboard panel wires it to a
 * webview, and the webview tests wire it to a page in plain Chromium.
 */
import {
  Comparison,
  ComparedPrompt,
  ComparedPromptRun,
  completionWithSpecialTokens,
  DEFAULT_HEALTH_THRESHOLDS,
  EvalRolloutsRecord,
  GroupRecord,
  HealthThresholds,
  PromptHistory,
  PromptOccurrence,
  RequestMethod,
  RolloutRecord,
  MAX_PROMPT_TOKEN_STEPS,
  PromptListing,
  PromptStepTokens,
  PromptPeer,
  PromptTimeline,
  RolloutsRecord,
  RUN_FORMAT_LABELS,
  RunFormat,
  RolloutSource,
  RolloutSteps,
  RolloutSummary,
  stepDomains,
  StepRollouts,
  TokenColumns,
  WebviewRequestMessage,
  WebviewRequests,
  WorkerMessage,
  HostToWebviewMessage,
} from '../protocol';
import * as path from 'path';
import { readerOrOurs, RunReader } from '../protocol/runReaders';
import { tokenDecoderLookup } from '../model/tokenizerLookup';
import { diffConfigs } from './configDiff';
import { runKey } from './liveRuns';
import { distinctRunLabels } from './runNames';

export interface RunRequestHost {
  /** The directory of a run the webview may ask about; throws for any other run. */
  runDir(runId: string): string;
  /** The format a run was opened as, when known (a restored panel's); else it is detected from the folder. */
  runFormat?(runId: string): RunFormat | undefined;
  /**
   * Liveness and control are asked by run folder (as `runDir` answers, or a peer's), never by a webview id or a
   * folder's name: two folders of one name under different roots are two runs (liveRuns.ts).
   */
  isLive(runDir: string): boolean;
  /** A stop was sent from this window and the run has not ended yet (its state is STOPPING). */
  isStopping(runDir: string): boolean;
  stop(runDir: string): boolean;
  pause(runDir: string): boolean;
  proceed(runDir: string): boolean;
  /** Saves an export where the user chooses; resolves to the path, or undefined if cancelled. */
  saveFile(fileName: string, data: Buffer): Promise<string | undefined>;
  /** The health alert thresholds (settings); the defaults where a host has none. */
  healthThresholds?(): HealthThresholds;
  /** Run folders of any format a prompt may be diffed against (runs directory, watched folders); none by default. */
  peerRunDirs?(): string[];
  /** Where the pinned metrics are kept across dashboards (the workspace's state); without it pins last as the page. */
  pins?: PinStore;
}

/** The pinned metrics of a workspace: undefined until some were kept. */
export interface PinStore {
  get(): string[] | undefined;
  set(pins: string[]): void | PromiseLike<void>;
}

type Handlers = { [M in RequestMethod]: (params: WebviewRequests[M]['params']) => WebviewRequests[M]['result'] | Promise<WebviewRequests[M]['result']> };

/** Decodes the token ids of runs that export no text (prime-rl), with tokenizers found on this machine; shared. */
export const TOKEN_DECODERS = tokenDecoderLookup();

/** Parsed records kept per run: opening a step and then its completions' tokens parses the (large) line once. */
const CACHED_RECORDS = 3;

/** A recently read (or live) step: its parsed record, and its summary for the rollout browser once asked for. */
interface RecentStep {
  record: RolloutsRecord | EvalRolloutsRecord;
  summary?: StepRollouts;
}

/** The reader of one run folder (any format), with its last few parsed steps and where each prompt was sampled. */
class RunIndexes {
  private readonly recent = new Map<string, RecentStep>();
  /** Every sampling of each prompt, with its completions' summaries (a click re-reads no step). */
  private readonly promptSteps = new Map<string, PromptOccurrence[]>();
  private readonly promptIndexedUpTo: Record<RolloutSource, number> = { train: -Infinity, eval: -Infinity };

  constructor(readonly reader: RunReader) {}

  steps(): RolloutSteps {
    const steps: RolloutSteps = { train: this.reader.rolloutSteps('train'), eval: this.reader.rolloutSteps('eval') };
    const tokenSteps = this.reader.tokenSteps?.();
    // Said only where some steps lack them: the browser names the ones that have them.
    if (tokenSteps && steps.train.some((step) => !tokenSteps.includes(step))) steps.tokenSteps = tokenSteps;
    return steps;
  }

  async read(source: RolloutSource, step: number): Promise<RolloutsRecord | EvalRolloutsRecord | undefined> {
    return (await this.recentStep(source, step))?.record;
  }

  /**
   * The step as the rollout browser lists it. Summarised once while its record is among the recent ones: a
   * 1,000-rollout step's summary (colour domains over 100,000 tokens, every completion's special tokens) costs
   * more than the rest of the host's answer, and going back to a step is what the scrubber and PageUp/Down do.
   */
  async summary(source: RolloutSource, step: number): Promise<StepRollouts | undefined> {
    const entry = await this.recentStep(source, step);
    if (!entry) return undefined;
    entry.summary ??= summarizeStep(entry.record, source);
    return entry.summary;
  }

  /** Keeps a record (read from disk, or pushed live by the worker, with its summary) among the few most recent. */
  remember(source: RolloutSource, record: RolloutsRecord | EvalRolloutsRecord, summary?: StepRollouts): void {
    const key = `${source}:${record.step}`;
    this.recent.delete(key);
    this.recent.set(key, { record, summary });
    while (this.recent.size > CACHED_RECORDS) this.recent.delete(this.recent.keys().next().value as string);
  }

  private async recentStep(source: RolloutSource, step: number): Promise<RecentStep | undefined> {
    const cached = this.recent.get(`${source}:${step}`);
    if (cached) return cached;
    const record = await this.reader.readRollouts(source, step);
    if (!record) return undefined;
    this.remember(source, record);
    return this.recent.get(`${source}:${step}`);
  }

  /** Every sampling of `prompt`; the prompt → steps map is built on first use and extended as steps are added. */
  async history(prompt: string): Promise<PromptHistory> {
    for (const source of ['train', 'eval'] as const) await this.indexPrompts(source);
    const occurrences = [...(this.promptSteps.get(prompt) ?? [])];
    occurrences.sort((a, b) => a.step - b.step || (a.source === b.source ? 0 : a.source === 'train' ? -1 : 1));
    return { prompt, occurrences };
  }

  /** Every prompt with how many times each source sampled it, most sampled first (ties in first-seen order). */
  async prompts(): Promise<PromptListing[]> {
    for (const source of ['train', 'eval'] as const) await this.indexPrompts(source);
    const listings = [...this.promptSteps].map(([prompt, occurrences]): PromptListing => {
      const train = occurrences.filter((o) => o.source === 'train').length;
      return { prompt, train, eval: occurrences.length - train };
    });
    return listings.sort((a, b) => b.train + b.eval - (a.train + a.eval));
  }

  /** The per-token columns of `prompt` at `steps` of `source`: only those steps' records are read. */
  async promptTokens(prompt: string, source: RolloutSource, steps: number[]): Promise<PromptStepTokens[]> {
    if (steps.length > MAX_PROMPT_TOKEN_STEPS) throw new Error(`getPromptTokens: "steps" lists ${steps.length} steps; at most ${MAX_PROMPT_TOKEN_STEPS} per request`);
    await this.indexPrompts(source);
    const wanted = new Set(steps);
    const occurrences = (this.promptSteps.get(prompt) ?? []).filter((o) => o.source === source && wanted.has(o.step));
    return Promise.all(
      occurrences.map(async ({ step, group }) => ({
        source,
        step,
        group,
        tokens: ((await this.read(source, step))?.groups[group]?.rollouts ?? []).map((r) => r.tokens),
      })),
    );
  }

  private async indexPrompts(source: RolloutSource): Promise<void> {
    for (const step of this.reader.rolloutSteps(source)) {
      if (step <= this.promptIndexedUpTo[source]) continue;
      (await this.read(source, step))?.groups.forEach((group: GroupRecord, index) => {
        const list = this.promptSteps.get(group.prompt) ?? [];
        list.push({ source, step, group: index, rollouts: group.rollouts.map(summarize), domains: stepDomains([group]) });
        this.promptSteps.set(group.prompt, list);
      });
      this.promptIndexedUpTo[source] = step;
    }
  }
}

/** A text as words, each with the whitespace before it, so the pieces join to the text. */
export function words(text: string): string[] {
  return text.match(/\s*\S+|\s+$/g) ?? [];
}

function summarize(rollout: RolloutRecord): RolloutSummary {
  const { tokens, ...rest } = rollout;
  // An empty completion of ours has no tokens and nothing missing; a text without tokens is a trainer's text-only dump.
  const shown = completionWithSpecialTokens(rest.completion, tokens.text, rest.finish_reason);
  return { ...rest, length: tokens.text.length, tokensRecorded: tokens.text.length > 0 || rest.completion.length === 0, ...(shown ? { shown } : {}) };
}

/** A prompt's history as the prompt × step view lays it out: rewards, advantages and lengths, no texts. */
export function promptTimeline(history: PromptHistory): PromptTimeline {
  return {
    prompt: history.prompt,
    occurrences: history.occurrences.map(({ rollouts, ...occurrence }) => ({
      ...occurrence,
      rollouts: rollouts.map(({ reward, advantage, length }) => ({ reward, advantage, length })),
    })),
  };
}

/** A step as the rollout browser lists it: no per-token columns, plus the step's colour domains. */
export function summarizeStep(record: RolloutsRecord | EvalRolloutsRecord, source: RolloutSource): StepRollouts {
  return {
    step: record.step,
    source,
    groups: record.groups.map(({ rollouts, ...group }) => ({ ...group, rollouts: rollouts.map(summarize) })),
    domains: stepDomains(record.groups),
  };
}

export class RunRequests {
  private readonly indexes = new Map<string, RunIndexes>();
  /** Folders (resolved) of the compared runs handed out as peers: getPeerTokens answers for them too. */
  private readonly offeredPeers = new Set<string>();
  private readonly handlers: Handlers;

  constructor(private readonly host: RunRequestHost) {
    this.handlers = {
      getSnapshot: ({ runId }) => {
        const runDir = host.runDir(runId);
        return this.reader(runId).snapshot(host.isLive(runDir), host.isStopping(runDir));
      },
      stopRun: ({ runId }) => ({ stopped: host.stop(host.runDir(runId)) }),
      pauseRun: ({ runId }) => ({ paused: host.pause(host.runDir(runId)) }),
      continueRun: ({ runId }) => ({ continued: host.proceed(host.runDir(runId)) }),
      getRolloutSteps: ({ runId }) => this.indexesOf(runId).steps(),
      getRollouts: ({ runId, step, source }) => this.indexesOf(runId).summary(source, step),
      getTokens: async ({ runId, step, source, group, rollout }): Promise<TokenColumns | undefined> =>
        (await this.indexesOf(runId).read(source, step))?.groups[group]?.rollouts[rollout]?.tokens,
      getPromptHistory: ({ runId, prompt }) => this.indexesOf(runId).history(prompt),
      getPromptTimeline: async ({ runId, prompt }) => promptTimeline(await this.indexesOf(runId).history(prompt)),
      getPrompts: ({ runId }) => this.indexesOf(runId).prompts(),
      getPromptTokens: ({ runId, prompt, source, steps }) => this.indexesOf(runId).promptTokens(prompt, source, steps),
      getComparison: ({ runIds }) => this.comparison(runIds),
      getPromptPeers: ({ runId, prompt }) => this.promptPeers(runId, prompt),
      getComparedPrompts: ({ runIds }) => this.comparedPrompts(runIds),
      getComparedPromptRuns: ({ runIds, prompt }) => this.comparedPromptRuns(runIds, prompt),
      getPeerTokens: async ({ peerId, prompt, source, step }) => {
        if (!this.isOffered(peerId)) throw new Error(`getPeerTokens: ${peerId} is not a run this window lists`);
        const indexes = this.indexesOfDir(peerId);
        const [tokens] = await indexes.promptTokens(prompt, source, [step]);
        if (!tokens || tokens.tokens.some((t) => t && t.text.length > 0)) return tokens;
        // No per-token data (verl, TRL): the completions' words, so the diff still shows what changed.
        const group = (await indexes.read(source, step))?.groups[tokens.group];
        return { ...tokens, words: true, tokens: (group?.rollouts ?? []).map((r) => ({ text: words(r.completion), logprob: [] })) };
      },
      getHealthThresholds: () => host.healthThresholds?.() ?? DEFAULT_HEALTH_THRESHOLDS,
      getPinnedMetrics: () => host.pins?.get(),
      setPinnedMetrics: async ({ pins }) => {
        if (!Array.isArray(pins) || pins.some((p) => typeof p !== 'string')) throw new Error('setPinnedMetrics: pins must be a list of metric names');
        await host.pins?.set(pins);
        return {};
      },
      saveFile: async ({ fileName, content, encoding }) => ({ savedTo: await host.saveFile(fileName, Buffer.from(content, encoding)) }),
    };
  }

  /**
   * A live worker message as the dashboard page receives it: step records as they are (rollouts summarised by
   * liveRollouts), everything else as the run's event. The panel forwards every message of a shown run, in order.
   */
  liveMessage(runId: string, message: WorkerMessage): HostToWebviewMessage {
    if (message.type === 'metrics') return { type: 'metrics', runId, record: message.record };
    if (message.type === 'rollouts') return { type: 'rollouts', runId, record: this.liveRollouts(runId, message.record) };
    if (message.type === 'eval_rollouts') return { type: 'rollouts', runId, record: this.liveRollouts(runId, message.record, 'eval') };
    return { type: 'event', runId, event: message };
  }

  /** A live training record from the worker: summarised for the webview, and kept so its tokens need no disk read. */
  liveRollouts(runId: string, record: RolloutsRecord, source: RolloutSource = 'train'): StepRollouts {
    const summary = summarizeStep(record, source);
    this.indexesOf(runId).remember(source, record, summary);
    return summary;
  }

  /** A run's reader, for a RunFollower to share (each rollouts file is scanned once). */
  reader(runId: string): RunReader {
    return this.indexesOf(runId).reader;
  }

  /** Runs one request; the result (or the error's message) is what the reply carries. */
  async handle(message: WebviewRequestMessage): Promise<unknown> {
    const handler = this.handlers[message.method] as (params: WebviewRequestMessage['params']) => unknown;
    return handler(message.params);
  }

  private indexesOf(runId: string): RunIndexes {
    return this.indexesOfDir(this.host.runDir(runId), this.host.runFormat?.(runId));
  }

  private indexesOfDir(runDir: string, format?: RunFormat): RunIndexes {
    // By resolved folder: a compared run read again as a peer (getPeerTokens) shares its index.
    const key = runKey(runDir);
    let indexes = this.indexes.get(key);
    if (!indexes) {
      indexes = new RunIndexes(readerOrOurs(runDir, format, { tokenDecoders: TOKEN_DECODERS }));
      this.indexes.set(key, indexes);
    }
    return indexes;
  }

  /** The runs a prompt may be diffed against: the host's list and the runs shown, without duplicates. */
  private peerDirs(): string[] {
    return [...new Set(this.host.peerRunDirs?.() ?? [])];
  }

  /** Whether getPeerTokens may read `peerId`: a run the host lists, or a compared run getComparedPromptRuns offered. */
  private isOffered(peerId: string): boolean {
    const key = runKey(peerId);
    return this.offeredPeers.has(key) || this.peerDirs().some((dir) => runKey(dir) === key);
  }

  /** The label a run goes by in peer lists: its config's name and folder, and the trainer where not ours. */
  private peerLabel(reader: RunReader, runDir: string): { label: string; format: RunFormat } {
    const summary = reader.summary(this.host.isLive(runDir));
    const folder = path.basename(runDir);
    const name = summary.name && summary.name !== folder ? `${summary.name} (${folder})` : folder;
    return { label: summary.format === 'grpo-studio' ? name : `${name} · ${RUN_FORMAT_LABELS[summary.format]}`, format: summary.format };
  }

  /** Prompts two or more compared runs sampled: each run's prompt index is built once (as for the prompt list). */
  private async comparedPrompts(runIds: string[]): Promise<ComparedPrompt[]> {
    const byPrompt = new Map<string, ComparedPrompt>();
    for (const runId of runIds) {
      for (const listing of await this.indexesOf(runId).prompts()) {
        const entry = byPrompt.get(listing.prompt) ?? { prompt: listing.prompt, runIds: [], samplings: 0 };
        entry.runIds.push(runId);
        entry.samplings += listing.train + listing.eval;
        byPrompt.set(listing.prompt, entry);
      }
    }
    return [...byPrompt.values()].filter((p) => p.runIds.length >= 2).sort((a, b) => b.runIds.length - a.runIds.length || b.samplings - a.samplings);
  }

  /** The compared runs that sampled `prompt`, as peers whose tokens getPeerTokens then answers for. */
  private async comparedPromptRuns(runIds: string[], prompt: string): Promise<ComparedPromptRun[]> {
    const runs: ComparedPromptRun[] = [];
    for (const runId of runIds) {
      const runDir = this.host.runDir(runId);
      const indexes = this.indexesOf(runId);
      const history = await indexes.history(prompt);
      if (history.occurrences.length === 0) continue;
      this.offeredPeers.add(runKey(runDir));
      runs.push({ runId, peerId: runDir, ...this.peerLabel(indexes.reader, runDir), occurrences: promptTimeline(history).occurrences });
    }
    return runs;
  }

  /** Every other known run that sampled `prompt`, with its samplings (each run's prompt index is built once). */
  private async promptPeers(runId: string, prompt: string): Promise<PromptPeer[]> {
    const own = path.resolve(this.host.runDir(runId));
    const peers: PromptPeer[] = [];
    for (const runDir of this.peerDirs()) {
      if (path.resolve(runDir) === own) continue;
      const indexes = this.indexesOfDir(runDir);
      const history = await indexes.history(prompt);
      if (history.occurrences.length === 0) continue;
      peers.push({ peerId: runDir, ...this.peerLabel(indexes.reader, runDir), occurrences: promptTimeline(history).occurrences });
    }
    return peers;
  }

  private comparison(runIds: string[]): Comparison {
    const snapshots = runIds.map((runId) => ({ runId, snapshot: this.reader(runId).snapshot(this.host.isLive(this.host.runDir(runId))) }));
    const named = snapshots.map(({ runId, snapshot }) => ({ runId, name: snapshot.config?.name ?? runId, startTime: snapshot.startTime }));
    const labels = distinctRunLabels(named);
    const runs = snapshots.map(({ snapshot }, i) => ({ ...named[i], label: labels[i], status: snapshot.status, config: snapshot.config, metrics: snapshot.metrics }));
    return { runs, differences: diffConfigs(runs.map((r) => r.config)) };
  }
}
