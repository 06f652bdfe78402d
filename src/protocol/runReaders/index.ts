/**
 * Which trainer wrote a folder, and the reader for it. Node-only (fs), not re-exported from the protocol index.
 */
import * as path from 'path';
import { isRunDirectory, listRunDirectories } from '../runStore';
import type { RunFormat } from '../runSource';
import { listNames } from './files';
import { OurRunReader } from './ours';
import { isPrimeRlRun, PrimeRlRunReader } from './primeRl';
import type { ReaderOptions, RunReader } from './runReader';
import { isTrlRun, TrlRunReader } from './trl';
import { isVerlRun, VerlRunReader } from './verl';

export type { ReaderOptions, RunReader, RunTail, TailRecords, TokenDecoder, TokenDecoderLookup } from './runReader';
export { OurRunReader } from './ours';

/** What each format's folder holds, for the message when a folder is none of them. */
const LAYOUTS = [
  'GRPO Studio: config.json, metrics.jsonl, rollouts.jsonl',
  'verl: {step}.jsonl rollout dumps (trainer.rollout_data_dir, validation_data_dir), the file logger\'s {"step","data"} JSONL or a console log of "step:N - key:value" lines',
  'TRL: completions/completions_{step:05d}.parquet (log_completions=True) or checkpoint-N/trainer_state.json',
  'prime-rl: token_exports/step_N/rank_R.jsonl or rollouts/step_N/train_rollouts.jsonl',
];

/** The format of a run folder, or undefined when it is no run of a format we read. The loosest check goes last. */
export function detectRunFormat(dir: string): RunFormat | undefined {
  if (isRunDirectory(dir)) return 'grpo-studio';
  if (isTrlRun(dir)) return 'trl';
  if (isPrimeRlRun(dir)) return 'prime-rl';
  if (isVerlRun(dir)) return 'verl';
  return undefined;
}

/**
 * The reader of a run folder of any format; a folder of none throws, saying what was looked for. `format`: the one
 * it was opened as before (a restored dashboard), used as it is — a folder a resumed trainer is rewriting may
 * briefly look like none.
 */
export function openRunReader(dir: string, format: RunFormat | undefined = detectRunFormat(dir), options: ReaderOptions = {}): RunReader {
  switch (format) {
    case 'grpo-studio':
      return new OurRunReader(dir);
    case 'verl':
      return new VerlRunReader(dir);
    case 'trl':
      return new TrlRunReader(dir);
    case 'prime-rl':
      return new PrimeRlRunReader(dir, options.tokenDecoders);
    case undefined:
      throw new Error(`${dir}: not a run folder of any format GRPO Studio reads. Looked for:\n  ${LAYOUTS.join('\n  ')}`);
  }
}

/** The runs in a watched folder: the folder itself when it is one, else its subfolders that are (one level down). */
export function runFoldersIn(folder: string): string[] {
  if (detectRunFormat(folder)) return [folder];
  return listNames(folder)
    .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.'))
    .map((entry) => path.join(folder, entry.name))
    .filter((dir) => detectRunFormat(dir) !== undefined)
    .sort();
}

/**
 * The reader of a folder the host shows: one of any format, else ours — a run this window has just created is
 * an empty folder until its worker writes config.json, and is drawn (empty) meanwhile, as before it was detected.
 */
export function readerOrOurs(dir: string, format?: RunFormat, options: ReaderOptions = {}): RunReader {
  if (format) return openRunReader(dir, format, options);
  const detected = detectRunFormat(dir);
  return detected === undefined ? new OurRunReader(dir) : openRunReader(dir, detected, options);
}

/** Every run a window knows of: ours in the runs directory, then those of any format in the watched folders. */
export function knownRunFolders(runsDir: string, watchedFolders: readonly string[]): string[] {
  return [...new Set([...listRunDirectories(runsDir), ...watchedFolders.flatMap(runFoldersIn)])];
}
