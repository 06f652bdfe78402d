/**
 * IPC between the training worker and the extension host. Worker → host messages are the run directory's records
 * wrapped in a discriminated union; host → worker messages control the run.
 */
import type { MetricsRecord, RolloutsRecord, RunEvent } from './records';

/** Every event of events.jsonl, as it is written, and the step records. */
export type WorkerMessage =
  | RunEvent
  | { type: 'metrics'; record: MetricsRecord }
  | { type: 'rollouts'; record: RolloutsRecord }
  | { type: 'eval_rollouts'; record: RolloutsRecord };

/** `stop`: abandon the step in flight (unless its weights already changed), checkpoint the last completed step, exit 0. */
export type HostToWorkerMessage = { type: 'stop' } | { type: 'pause' } | { type: 'resume' };

const WORKER_MESSAGE_TYPES: ReadonlySet<string> = new Set([
  'started', 'metrics', 'rollouts', 'eval_rollouts', 'log', 'warm_start', 'reward_error', 'checkpoint', 'pause_requested', 'paused', 'continued', 'stop_requested', 'error', 'finished',
]);
const HOST_MESSAGE_TYPES: ReadonlySet<string> = new Set(['stop', 'pause', 'resume']);

/** Narrows an untyped IPC payload; anything else is a protocol violation the host reports rather than trusts. */
export function isWorkerMessage(value: unknown): value is WorkerMessage {
  return typeof value === 'object' && value !== null && WORKER_MESSAGE_TYPES.has((value as { type?: unknown }).type as string);
}

export function isHostToWorkerMessage(value: unknown): value is HostToWorkerMessage {
  return typeof value === 'object' && value !== null && HOST_MESSAGE_TYPES.has((value as { type?: unknown }).type as string);
}
