/**
 * One run state, derived one way for every place that shows it: the dashboard header, the status bar, the runs
 * tree (label, icon, context value) and the context menus. The run folder's events say what the worker did; the
 * liveness of its process (its lock, or a host's connection to it) says whether it still can.
 */
import type { RunEvent, RunStatus } from './records';

/** PAUSING: a pause was asked for and the run has not reached the (SFT) step boundary where it holds. */
export type RunState = 'RUNNING' | 'PAUSING' | 'PAUSED' | 'STOPPING' | 'STOPPED' | 'FAILED' | 'COMPLETED';

export const RUN_STATES: readonly RunState[] = ['RUNNING', 'PAUSING', 'PAUSED', 'STOPPING', 'STOPPED', 'FAILED', 'COMPLETED'];

export interface Liveness {
  /** A process still writes the run: its lock names a live pid with the same start time, or a host is connected to it. */
  alive: boolean;
  /** This host asked it to stop and the worker has not recorded that yet. */
  stopSent?: boolean;
}

export interface DerivedRunState {
  state: RunState;
  /** The label shown: the state in lower case, or `interrupted` for a worker that died without a last record. */
  status: RunStatus;
}

/** The state a status label stands for: how another trainer's run, known only by its label, is shown. */
export function stateOfStatus(status: RunStatus): RunState {
  const states: Record<RunStatus, RunState> = {
    running: 'RUNNING', pausing: 'PAUSING', paused: 'PAUSED', stopping: 'STOPPING', completed: 'COMPLETED', stopped: 'STOPPED', failed: 'FAILED', interrupted: 'FAILED',
  };
  return states[status];
}

/** A status label with its state, for a run known only by its label. */
export function withState(status: RunStatus): DerivedRunState {
  return { state: stateOfStatus(status), status };
}

const HOLDS: Partial<Record<RunEvent['type'], 'pausing' | 'paused' | 'running'>> = { pause_requested: 'pausing', paused: 'paused', continued: 'running' };

/** What the events of the newest process (after its `started`) and the liveness of that process make of a run. */
export function deriveRunState(events: readonly RunEvent[], liveness: Liveness): DerivedRunState {
  let stopRequested = false;
  /** Set by the newest pause request, pause or continue: whether the run holds now, or is on its way to. */
  let hold: 'pausing' | 'paused' | 'running' | undefined;
  for (let i = events.length - 1; i >= 0; i--) {
    const event = events[i];
    // Events before the newest `started` belong to an earlier process of a resumed run.
    if (event.type === 'started') break;
    if (event.type === 'finished') return { state: event.outcome === 'completed' ? 'COMPLETED' : 'STOPPED', status: event.outcome };
    if (event.type === 'error') return { state: 'FAILED', status: 'failed' };
    if (event.type === 'stop_requested') stopRequested = true;
    if (hold === undefined) hold = HOLDS[event.type];
  }
  // No last record: either the worker is still at it, or it died (a crash, a kill, a reboot).
  if (!liveness.alive) return { state: 'FAILED', status: 'interrupted' };
  if (stopRequested || liveness.stopSent) return { state: 'STOPPING', status: 'stopping' };
  if (hold === 'paused') return { state: 'PAUSED', status: 'paused' };
  if (hold === 'pausing') return { state: 'PAUSING', status: 'pausing' };
  return { state: 'RUNNING', status: 'running' };
}

/** What a user may ask of a run in each state: the context menus, the dashboard's buttons and the commands agree. */
export const RUN_ACTIONS = {
  pause: (state: RunState): boolean => state === 'RUNNING',
  // Continue while pausing takes the request back before the run holds.
  continue: (state: RunState): boolean => state === 'PAUSED' || state === 'PAUSING',
  stop: (state: RunState): boolean => state === 'RUNNING' || state === 'PAUSING' || state === 'PAUSED',
  resume: (state: RunState): boolean => state === 'STOPPED' || state === 'FAILED',
  delete: (state: RunState): boolean => state === 'STOPPED' || state === 'FAILED' || state === 'COMPLETED',
} as const;

/** A tree item's context value, which package.json's menus match: `grpoRun.<state>`, e.g. `grpoRun.paused`. */
export function runContextValue(state: RunState): string {
  return `grpoRun.${state.toLowerCase()}`;
}

/** A status as people read it: `pausing…` says the run is on its way to the hold, not yet there. */
export function statusLabel(status: RunStatus): string {
  return status === 'pausing' ? 'pausing…' : status;
}
