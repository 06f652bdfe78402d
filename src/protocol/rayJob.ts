/**
 * The record of a verl job launched on Ray: `ray-job.json` in the job's folder on the shared filesystem, beside the
 * dataset, the reward file and what the job writes. It tells the Ray Jobs view which job to follow at which
 * address, and a verl run reader where verl's outputs are: `trainer.rollout_data_dir` ({step}.jsonl per training
 * step), `trainer.validation_data_dir`, and the `file` logger's JSONL ($VERL_FILE_LOGGER_PATH). The paths are those
 * of the submitted command, read back from it after the user's edits.
 */

export const RAY_JOB_FILE = 'ray-job.json';

export interface RayJobRecord {
  /** The trainer the job runs; the run reader picks its format by it. */
  format: 'verl';
  version: 1;
  /** Ray's submission id (also the folder's name). */
  submission_id: string;
  /** The Ray dashboard address it was submitted to. */
  address: string;
  /** The run config it was made from (absolute path) and its `name`. */
  config_path: string;
  name: string;
  /** The submitted command, as reviewed. */
  entrypoint: string;
  /** The job's folder on the shared filesystem. */
  job_dir: string;
  train_file: string;
  val_file?: string;
  rollout_data_dir: string;
  validation_data_dir: string;
  /** The `file` logger's output: `{"step", "data"}` JSON lines, truncated when verl resumes (it opens with "wb"). */
  metrics_file: string;
  checkpoint_dir: string;
  /** ISO time of submission. */
  submitted_at: string;
}

const REQUIRED_STRINGS = ['submission_id', 'address', 'config_path', 'name', 'entrypoint', 'job_dir', 'train_file', 'rollout_data_dir', 'validation_data_dir', 'metrics_file', 'checkpoint_dir', 'submitted_at'] as const;

/** Parses a ray-job.json; errors name the file and the field. */
export function parseRayJobRecord(text: string, file: string): RayJobRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${file}: expected an object`);
  const record = value as Record<string, unknown>;
  if (record.format !== 'verl') throw new Error(`${file}: format: expected "verl", found ${JSON.stringify(record.format)}`);
  if (record.version !== 1) throw new Error(`${file}: version: expected 1, found ${JSON.stringify(record.version)}`);
  for (const key of REQUIRED_STRINGS) {
    if (typeof record[key] !== 'string' || record[key] === '') throw new Error(`${file}: ${key}: expected a non-empty string, found ${JSON.stringify(record[key])}`);
  }
  if (record.val_file !== undefined && typeof record.val_file !== 'string') throw new Error(`${file}: val_file: expected a string`);
  return record as unknown as RayJobRecord;
}
