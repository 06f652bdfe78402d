/**
 * Messages between the extension host and the dashboard webview. The webview is a pure view: it asks for state
 * with requests (each carries an id, and the reply echoes it) and receives live pushes; it never reads files.
 */
import type { RunConfig } from './config';
import type { MetricsRecord, RolloutRecord, RolloutSource, RunEvent, RunSnapshot, RunStatus, TokenColumns } from './records';
import type { RunState } from './runState';

/** Steps that have rollouts on disk, ascending, per source (eval is empty until a trainer writes validation samples). */
export interface RolloutSteps {
  train: number[];
  eval: number[];
}

/** A rollout without its per-token columns (what lists over many steps carry), plus its length in tokens. */
export type RolloutSummary = Omit<RolloutRecord, 'tokens'> & { length: number };

export interface GroupSummary {
  prompt: string;
  ground_truth?: string;
  rollouts: RolloutSummary[];
  /** Dropped by dynamic sampling (tied rewards): shown, never trained. */
  dropped?: boolean;
}

/** Colour scale bounds of each per-token quantity over a whole step (absent: no completion has it). */
export type TokenDomains = Partial<Record<TokenQuantity, { min: number; max: number }>>;

/**
 * One step's rollouts as the browser lists them: everything but the per-token columns, which are fetched one
 * completion at a time (`getTokens`), plus the step's colour domains. A 1,000-rollout step with per-token columns
 * is tens of MB; this is a few hundred kB.
 */
export interface StepRollouts {
  step: number;
  source: RolloutSource;
  groups: GroupSummary[];
  domains: TokenDomains;
}

/** One time a prompt was sampled: at a training step or at an evaluation after that step. */
export interface PromptOccurrence {
  source: RolloutSource;
  step: number;
  /** Index of the group within that step's record. */
  group: number;
  rollouts: RolloutSummary[];
}

export interface PromptHistory {
  prompt: string;
  occurrences: PromptOccurrence[];
}

export interface ComparedRun {
  runId: string;
  name: string;
  status: RunStatus;
  /** As RunSnapshot.startTime. */
  startTime: number | undefined;
  config: RunConfig | undefined;
  metrics: MetricsRecord[];
}

/** A config field whose value differs between compared runs: its dotted path and each run's value as JSON text. */
export interface ConfigDifference {
  path: string;
  values: (string | undefined)[];
}

export interface Comparison {
  runs: ComparedRun[];
  differences: ConfigDifference[];
}

/** Where the rollout browser should go: a step of training or validation samples, optionally one group and rollout. */
export interface RevealTarget {
  step: number;
  source: RolloutSource;
  group?: number;
  rollout?: number;
}

/** Requests the webview can make, with the result type each one resolves to. */
export interface WebviewRequests {
  getSnapshot: { params: { runId: string }; result: RunSnapshot };
  stopRun: { params: { runId: string }; result: { stopped: boolean } };
  /** Holds a live run at its next step boundary; `paused` is false when the run is not live here. */
  pauseRun: { params: { runId: string }; result: { paused: boolean } };
  continueRun: { params: { runId: string }; result: { continued: boolean } };
  getRolloutSteps: { params: { runId: string }; result: RolloutSteps };
  /** One step, read through the host's step → byte-offset index; undefined if that step has none. */
  getRollouts: { params: { runId: string; step: number; source: RolloutSource }; result: StepRollouts | undefined };
  /** The per-token columns of one completion. */
  getTokens: { params: { runId: string; step: number; source: RolloutSource; group: number; rollout: number }; result: TokenColumns | undefined };
  getPromptHistory: { params: { runId: string; prompt: string }; result: PromptHistory };
  getComparison: { params: { runIds: string[] }; result: Comparison };
  /** Asks where to save an export (webviews cannot download); undefined when the user cancelled. */
  saveFile: { params: { fileName: string; content: string; encoding: 'utf8' | 'base64' }; result: { savedTo: string | undefined } };
}

export type RequestMethod = keyof WebviewRequests;

export type WebviewRequestMessage = { [M in RequestMethod]: { type: 'request'; id: number; method: M; params: WebviewRequests[M]['params'] } }[RequestMethod];

export type WebviewToHostMessage = { type: 'ready' } | WebviewRequestMessage;

export type HostToWebviewMessage =
  | { type: 'response'; id: number; result?: unknown; error?: string }
  /** Show this run (sent on open and whenever the panel is pointed at another run), optionally at a step. */
  | { type: 'show'; runId: string; reveal?: RevealTarget }
  /** Show 2–4 runs overlaid. */
  | { type: 'compare'; runIds: string[] }
  | { type: 'metrics'; runId: string; record: MetricsRecord }
  /** A live step's rollouts (training, or a validation), summarised as getRollouts answers. */
  | { type: 'rollouts'; runId: string; record: StepRollouts }
  | { type: 'event'; runId: string; event: RunEvent }
  /** The run's state changed (deriveRunState, as the tree and status bar show it). */
  | { type: 'status'; runId: string; state: RunState; status: RunStatus };

export type DashboardTab = 'curves' | 'rollouts' | 'prompt';

/** Per-token quantities the token view can colour by (keys of TokenColumns, clip flags merged into one). */
export type TokenQuantity = 'advantage' | 'logprob' | 'old_logprob' | 'ref_logprob' | 'ratio' | 'clipped' | 'kl' | 'entropy';

export interface CurveSettings {
  /** EMA smoothing weight in [0, 1): 0 draws the raw values. */
  smoothing: number;
  xAxis: 'step' | 'time';
  logScale: boolean;
}

export type GroupSort = 'index' | 'reward-desc' | 'reward-asc' | 'std-desc' | 'length-desc';

export interface RolloutFilter {
  search: string;
  minReward: number | undefined;
  maxReward: number | undefined;
  /** Tied groups: all completions got the same reward (zero advantage, no learning signal). */
  tied: 'any' | 'only' | 'hide';
  truncatedOnly: boolean;
}

export interface RolloutBrowserState {
  source: RolloutSource;
  step: number | undefined;
  group: number | undefined;
  rollout: number | undefined;
  colorBy: TokenQuantity;
  sort: GroupSort;
  filter: RolloutFilter;
  /** Follow the newest step of a live run. */
  followLatest: boolean;
}

/** State the webview persists with `setState`, so a reloaded webview reopens the same view. */
export interface WebviewState {
  runId?: string;
  compareRunIds?: string[];
  tab?: DashboardTab;
  curves?: CurveSettings;
  rollouts?: RolloutBrowserState;
  prompt?: string;
}
