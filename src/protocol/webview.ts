/**
 * Messages between the extension host and the dashboard webview. The webview is a pure view: it asks for state
 * with requests (each carries an id, and the reply echoes it) and receives live pushes; it never reads files.
 */
import type { RunConfig } from './config';
import type { HealthThresholds } from './health';
import type { MetricsRecord, RolloutRecord, RolloutSource, RunEvent, RunSnapshot, RunStatus, TokenColumns } from './records';
import type { RunFormat } from './runSource';
import type { RunState } from './runState';
import type { ShownSegment } from './hiddenTokens';

/**
 * Where a shown run lives and which trainer wrote it. The page keeps it in its saved state (an opaque string to
 * it: it never reads files), so a panel restored after a window reload finds runs outside the runs directory —
 * external runs — and opens them with the reader they were opened with.
 */
export interface RunLocation {
  runId: string;
  runDir: string;
  format: RunFormat;
}

/** Steps that have rollouts on disk, ascending, per source (eval is empty until a trainer writes validation samples). */
export interface RolloutSteps {
  train: number[];
  eval: number[];
  /**
   * The training steps whose completions carry per-token data, where a run has it at some steps only (prime-rl
   * exports tokens at an interval, and rollouts at every step); absent where every step or none has it.
   */
  tokenSteps?: number[];
}

/**
 * A rollout without its per-token columns (what lists over many steps carry), plus its length in tokens.
 * `tokensRecorded` false: the trainer kept the completion's text only (verl and TRL dumps, a prime-rl step without
 * a token export), so `length` is 0 and says nothing. `shown`: the completion with the special tokens its text
 * leaves out put back (hiddenTokens.ts), only where it has any.
 */
export type RolloutSummary = Omit<RolloutRecord, 'tokens'> & { length: number; tokensRecorded: boolean; shown?: ShownSegment[] };

export interface GroupSummary {
  prompt: string;
  ground_truth?: string;
  rollouts: RolloutSummary[];
  /** Dropped by dynamic sampling (tied rewards): shown, never trained. */
  dropped?: boolean;
}

/**
 * A per-token quantity's values over a whole step: the extremes, and the bounds of its colour scale (the extremes
 * pulled in past outliers, which saturate; see tokenQuantities.ts).
 */
export interface TokenDomain {
  min: number;
  max: number;
  low: number;
  high: number;
}

/** Colour scale bounds of each per-token quantity over a whole step (absent: no completion has it). */
export type TokenDomains = Partial<Record<TokenQuantity, TokenDomain>>;

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
  /** Colour scale bounds of this group's per-token quantities, so a prompt's steps share one scale. */
  domains?: TokenDomains;
}

export interface PromptHistory {
  prompt: string;
  occurrences: PromptOccurrence[];
}

/** A completion as the prompt × step view lays it out: no text (its tokens come per visible step). */
export type TimelineRollout = Pick<RolloutSummary, 'reward' | 'advantage' | 'length'>;

/** One sampling of a prompt as the prompt × step view needs it: a 1,000-step history without the texts is ~10× smaller. */
export type TimelineOccurrence = Omit<PromptOccurrence, 'rollouts'> & { rollouts: TimelineRollout[] };

export interface PromptTimeline {
  prompt: string;
  occurrences: TimelineOccurrence[];
}

/** A prompt of the run and how often it was sampled, for the searchable prompt list. */
export interface PromptListing {
  prompt: string;
  train: number;
  eval: number;
}

/** The per-token columns of one prompt's completions at one step, in the order of the occurrence's rollouts. */
export interface PromptStepTokens {
  source: RolloutSource;
  step: number;
  group: number;
  tokens: (TokenColumns | undefined)[];
  /** The trainer recorded no tokens (verl, TRL): each completion's text split into words stands in for them. */
  words?: true;
}

/**
 * Another run this window knows (the runs directory, the watched folders, the other runs shown) that sampled the
 * very same prompt text, with its samplings, for a diff of one prompt across two runs.
 */
export interface PromptPeer {
  /** Names the run in getPeerTokens; the host answers only for runs it offered. */
  peerId: string;
  label: string;
  format: RunFormat;
  occurrences: TimelineOccurrence[];
}

/** A prompt that two or more compared runs sampled, for the Compare panel's cross-run diff. */
export interface ComparedPrompt {
  prompt: string;
  /** The compared runs (their ids in the comparison) that sampled it, in the comparison's order. */
  runIds: string[];
  /** How often those runs sampled it, all samplings (training and validation) together. */
  samplings: number;
}

/** A compared run's samplings of one prompt: a PromptPeer (its tokens come from getPeerTokens) and its id here. */
export interface ComparedPromptRun extends PromptPeer {
  runId: string;
}

/** The most steps one getPromptTokens request may ask for: a view asks for the steps it shows, not the run. */
export const MAX_PROMPT_TOKEN_STEPS = 256;

export interface ComparedRun {
  runId: string;
  name: string;
  /** How legends and tables show the run: its name, plus its start time where another compared run has that name. */
  label: string;
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
  /** getPromptHistory without the completions' texts, for the prompt × step view. */
  getPromptTimeline: { params: { runId: string; prompt: string }; result: PromptTimeline };
  /** Every prompt sampled in the run (training or validation), most sampled first. */
  getPrompts: { params: { runId: string }; result: PromptListing[] };
  /**
   * The completions' per-token columns of `prompt` at the given steps (at most MAX_PROMPT_TOKEN_STEPS): the prompt ×
   * step view asks for the steps in view; the host reads only those. A step where the prompt was not sampled is left out.
   */
  getPromptTokens: { params: { runId: string; prompt: string; source: RolloutSource; steps: number[] }; result: PromptStepTokens[] };
  getComparison: { params: { runIds: string[] }; result: Comparison };
  /** Other runs that sampled `prompt` (exactly), for the cross-run diff; read when the user asks, not before. */
  getPromptPeers: { params: { runId: string; prompt: string }; result: PromptPeer[] };
  /** The prompts two or more of the compared runs sampled (exact text), most shared and most sampled first. */
  getComparedPrompts: { params: { runIds: string[] }; result: ComparedPrompt[] };
  /**
   * The compared runs that sampled `prompt`, each with its samplings, in the comparison's order: the sides a diff
   * of that prompt across the compared runs picks from. Their `peerId`s are offered to getPeerTokens.
   */
  getComparedPromptRuns: { params: { runIds: string[]; prompt: string }; result: ComparedPromptRun[] };
  /** The per-token columns of `prompt`'s completions at one sampling of a peer run (undefined: not sampled there). */
  getPeerTokens: { params: { peerId: string; prompt: string; source: RolloutSource; step: number }; result: PromptStepTokens | undefined };
  /** The `grpo.health.*` settings the alert strip applies. */
  getHealthThresholds: { params: Record<string, never>; result: HealthThresholds };
  /**
   * The pinned metrics kept by the host for this workspace (they outlive the panel, whose own state ends when it is
   * closed); undefined when none were ever kept.
   */
  getPinnedMetrics: { params: Record<string, never>; result: string[] | undefined };
  /** Keeps the pinned metrics for this workspace. */
  setPinnedMetrics: { params: { pins: string[] }; result: Record<string, never> };
  /** Asks where to save an export (webviews cannot download); undefined when the user cancelled. */
  saveFile: { params: { fileName: string; content: string; encoding: 'utf8' | 'base64' }; result: { savedTo: string | undefined } };
}

export type RequestMethod = keyof WebviewRequests;

export type WebviewRequestMessage = { [M in RequestMethod]: { type: 'request'; id: number; method: M; params: WebviewRequests[M]['params'] } }[RequestMethod];

export type WebviewToHostMessage = { type: 'ready' } | WebviewRequestMessage;

export type HostToWebviewMessage =
  | { type: 'response'; id: number; result?: unknown; error?: string }
  /** Show this run (sent on open and whenever the panel is pointed at another run), optionally at a step. */
  | { type: 'show'; runId: string; reveal?: RevealTarget; location?: RunLocation }
  /** Show 2–4 runs overlaid. */
  | { type: 'compare'; runIds: string[]; locations?: RunLocation[] }
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
  /** Where the shown runs are (absent in states saved before external runs were restored: the runs directory). */
  locations?: RunLocation[];
  tab?: DashboardTab;
  curves?: CurveSettings;
  rollouts?: RolloutBrowserState;
  prompt?: string;
  timeline?: PromptTimelineState;
  /** Metrics pinned as their own charts, in pin order. */
  pinnedMetrics?: string[];
}

/** What the prompt × step view shows: training or validation samplings, coloured by which quantity. */
export interface PromptTimelineState {
  source: RolloutSource;
  colorBy: TokenQuantity;
}
