/**
 * IPC between the training worker and the extension host. Worker → host messages are the run directory's records
 * wrapped in a discriminated union; host → worker messages control the run.
 */
import type { ErrorEvent, FinishedEvent, LogEvent, MetricsRecord, RolloutsRecord, StartedEvent } from './records';

export type WorkerMessage =
  | StartedEvent
  | { type: 'metrics'; record: MetricsRecord }
  | { type: 'rollouts'; record: RolloutsRecord }
  | LogEvent
  | ErrorEvent
  | FinishedEvent;

export type HostToWorkerMessage = { type: 'stop' };

const WORKER_MESSAGE_TYPES: ReadonlySet<string> = new Set(['started', 'metrics', 'rollouts', 'log', 'error', 'finished']);

/** Narrows an untyped IPC payload; anything else is a protocol violation the host reports rather than trusts. */
export function isWorkerMessage(value: unknown): value is WorkerMessage {
  return typeof value === 'object' && value !== null && WORKER_MESSAGE_TYPES.has((value as { type?: unknown }).type as string);
}

export function isHostToWorkerMessage(value: unknown): value is HostToWorkerMessage {
  return typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'stop';
}
