/**
 * Which trainer wrote a run, and what its reader had to rename or compute. The dashboard, the runs tree and
 * Compare read every format through one interface (src/protocol/runReaders) and see only our records; this is
 * what they may show about where the numbers came from.
 */

export const RUN_FORMATS = ['grpo-studio', 'verl', 'trl', 'prime-rl'] as const;
export type RunFormat = (typeof RUN_FORMATS)[number];

export const RUN_FORMAT_LABELS: Record<RunFormat, string> = { 'grpo-studio': 'GRPO Studio', verl: 'verl', trl: 'TRL', 'prime-rl': 'prime-rl' };

export interface RunSource {
  format: RunFormat;
  /** Our metric name → the name the trainer logged it under, for each metric renamed to ours. */
  metricOrigins: Record<string, string>;
  /** What the reader computed instead of reading, one sentence each (e.g. advantages recomputed from scores). */
  derived: string[];
  /** What the reader could not do and why, shown once in the dashboard's header (e.g. no tokenizer for the ids). */
  notices?: string[];
}
