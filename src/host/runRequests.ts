/**
 * Answers the dashboard webview's requests from run directories. It holds the per-run step indexes (so scrubbing
 * through a long run reads one line per step) and knows nothing of VS Code: the dashboard panel wires it to a
 * webview, and the webview tests wire it to a page in plain Chromium.
 */
import * as path from 'path';
import {
  Comparison,
  EvalRolloutsRecord,
  GroupRecord,
  PromptHistory,
  PromptOccurrence,
  RequestMethod,
  RolloutRecord,
  isRolloutsRecord,
  RolloutsRecord,
  RolloutSource,
  RolloutSteps,
  RolloutSummary,
  RUN_FILES,
  stepDomains,
  StepRollouts,
  TokenColumns,
  WebviewRequestMessage,
  WebviewRequests,
} from '../protocol';
import { diffConfigs } from './configDiff';
import { readSnapshot } from './runStore';
import { JsonlStepIndex, rolloutStepIndex } from './stepIndex';

export interface RunRequestHost {
  /** The directory of a run the webview may ask about; throws for any other run. */
  runDir(runId: string): string;
  isLive(runId: string): boolean;
  /** A stop was sent from this window and the run has not ended yet (its state is STOPPING). */
  isStopping(runId: string): boolean;
  stop(runId: string): boolean;
  pause(runId: string): boolean;
  proceed(runId: string): boolean;
  /** Saves an export where the user chooses; resolves to the path, or undefined if cancelled. */
  saveFile(fileName: string, data: Buffer): Promise<string | undefined>;
}

type Handlers = { [M in RequestMethod]: (params: WebviewRequests[M]['params']) => WebviewRequests[M]['result'] | Promise<WebviewRequests[M]['result']> };

/** Parsed records kept per run: opening a step and then its completions' tokens parses the (large) line once. */
const CACHED_RECORDS = 3;

/** The indexes of one run directory: training and evaluation rollouts, and where each prompt was sampled. */
class RunIndexes {
  readonly rollouts: Record<RolloutSource, JsonlStepIndex>;
  private readonly recent = new Map<string, RolloutsRecord>();
  /** Every sampling of each prompt, with its completions' summaries (a click re-reads no step). */
  private readonly promptSteps = new Map<string, PromptOccurrence[]>();
  private readonly promptIndexedUpTo: Record<RolloutSource, number> = { train: -Infinity, eval: -Infinity };

  constructor(runDir: string) {
    this.rollouts = {
      train: rolloutStepIndex(path.join(runDir, RUN_FILES.rollouts)),
      eval: rolloutStepIndex(path.join(runDir, RUN_FILES.evalRollouts)),
    };
  }

  steps(): RolloutSteps {
    return { train: this.rollouts.train.steps(), eval: this.rollouts.eval.steps() };
  }

  read(source: RolloutSource, step: number): RolloutsRecord | EvalRolloutsRecord | undefined {
    const key = `${source}:${step}`;
    const cached = this.recent.get(key);
    if (cached) return cached;
    const record = this.rollouts[source].read(step, isRolloutsRecord);
    if (record) this.remember(source, record);
    return record;
  }

  /** Keeps a record (read from disk, or pushed live by the worker) among the few most recent. */
  remember(source: RolloutSource, record: RolloutsRecord): void {
    const key = `${source}:${record.step}`;
    this.recent.delete(key);
    this.recent.set(key, record);
    while (this.recent.size > CACHED_RECORDS) this.recent.delete(this.recent.keys().next().value as string);
  }

  /** Every sampling of `prompt`; the prompt → steps map is built on first use and extended as steps are added. */
  history(prompt: string): PromptHistory {
    for (const source of ['train', 'eval'] as const) this.indexPrompts(source);
    const occurrences = [...(this.promptSteps.get(prompt) ?? [])];
    occurrences.sort((a, b) => a.step - b.step || (a.source === b.source ? 0 : a.source === 'train' ? -1 : 1));
    return { prompt, occurrences };
  }

  private indexPrompts(source: RolloutSource): void {
    for (const step of this.rollouts[source].steps()) {
      if (step <= this.promptIndexedUpTo[source]) continue;
      this.read(source, step)?.groups.forEach((group: GroupRecord, index) => {
        const list = this.promptSteps.get(group.prompt) ?? [];
        list.push({ source, step, group: index, rollouts: group.rollouts.map(summarize) });
        this.promptSteps.set(group.prompt, list);
      });
      this.promptIndexedUpTo[source] = step;
    }
  }
}

function summarize(rollout: RolloutRecord): RolloutSummary {
  const { tokens, ...rest } = rollout;
  return { ...rest, length: tokens.text.length };
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
  private readonly handlers: Handlers;

  constructor(private readonly host: RunRequestHost) {
    this.handlers = {
      getSnapshot: ({ runId }) => readSnapshot(host.runDir(runId), host.isLive(runId), host.isStopping(runId)),
      stopRun: ({ runId }) => ({ stopped: host.stop(runId) }),
      pauseRun: ({ runId }) => ({ paused: host.pause(runId) }),
      continueRun: ({ runId }) => ({ continued: host.proceed(runId) }),
      getRolloutSteps: ({ runId }) => this.indexesOf(runId).steps(),
      getRollouts: ({ runId, step, source }) => {
        const record = this.indexesOf(runId).read(source, step);
        return record && summarizeStep(record, source);
      },
      getTokens: ({ runId, step, source, group, rollout }): TokenColumns | undefined => this.indexesOf(runId).read(source, step)?.groups[group]?.rollouts[rollout]?.tokens,
      getPromptHistory: ({ runId, prompt }) => this.indexesOf(runId).history(prompt),
      getComparison: ({ runIds }) => this.comparison(runIds),
      saveFile: async ({ fileName, content, encoding }) => ({ savedTo: await host.saveFile(fileName, Buffer.from(content, encoding)) }),
    };
  }

  /** A live training record from the worker: summarised for the webview, and kept so its tokens need no disk read. */
  liveRollouts(runId: string, record: RolloutsRecord, source: RolloutSource = 'train'): StepRollouts {
    this.indexesOf(runId).remember(source, record);
    return summarizeStep(record, source);
  }

  /** A run's training and validation rollout indexes, for a RunFollower to share (each file is scanned once). */
  rolloutIndexes(runId: string): Record<RolloutSource, JsonlStepIndex> {
    return this.indexesOf(runId).rollouts;
  }

  /** Runs one request; the result (or the error's message) is what the reply carries. */
  async handle(message: WebviewRequestMessage): Promise<unknown> {
    const handler = this.handlers[message.method] as (params: WebviewRequestMessage['params']) => unknown;
    return handler(message.params);
  }

  private indexesOf(runId: string): RunIndexes {
    const runDir = this.host.runDir(runId);
    let indexes = this.indexes.get(runDir);
    if (!indexes) {
      indexes = new RunIndexes(runDir);
      this.indexes.set(runDir, indexes);
    }
    return indexes;
  }

  private comparison(runIds: string[]): Comparison {
    const runs = runIds.map((runId) => {
      const snapshot = readSnapshot(this.host.runDir(runId), this.host.isLive(runId));
      return { runId, name: snapshot.config?.name ?? runId, status: snapshot.status, startTime: snapshot.startTime, config: snapshot.config, metrics: snapshot.metrics };
    });
    return { runs, differences: diffConfigs(runs.map((r) => r.config)) };
  }
}
