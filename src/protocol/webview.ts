/**
 * Messages between the extension host and the dashboard webview. The webview is a pure view: it asks for state
 * with requests (each carries an id, and the reply echoes it) and receives live pushes; it never reads files.
 */
import type { MetricsRecord, RolloutsRecord, RunEvent, RunSnapshot, RunStatus } from './records';

/** Requests the webview can make, with the result type each one resolves to. */
export interface WebviewRequests {
  getSnapshot: { params: { runId: string }; result: RunSnapshot };
  stopRun: { params: { runId: string }; result: { stopped: boolean } };
}

export type RequestMethod = keyof WebviewRequests;

export type WebviewToHostMessage =
  | { type: 'ready' }
  | { [M in RequestMethod]: { type: 'request'; id: number; method: M; params: WebviewRequests[M]['params'] } }[RequestMethod];

export type HostToWebviewMessage =
  | { type: 'response'; id: number; result?: unknown; error?: string }
  /** Show this run (sent on open and whenever the panel is pointed at another run). */
  | { type: 'show'; runId: string }
  | { type: 'metrics'; runId: string; record: MetricsRecord }
  | { type: 'rollouts'; runId: string; record: RolloutsRecord }
  | { type: 'event'; runId: string; event: RunEvent }
  | { type: 'status'; runId: string; status: RunStatus };

/** State the webview persists with `setState`, so a reloaded webview reopens the same run. */
export interface WebviewState {
  runId?: string;
}
