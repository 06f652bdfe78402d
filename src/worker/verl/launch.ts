/**
 * Preparing and recording a verl launch, without vscode: the job's folder on the shared filesystem (dataset in
 * verl's layout, the Python reward file), the command to review, then — from the reviewed command — Ray's submit
 * request and the job's record (`ray-job.json`, src/protocol/rayJob.ts).
 *
 * Shared-folder layout, `<shared>/<submission id>/`:
 *   train.parquet, test.parquet   the task's rows (dataset.ts)
 *   reward.py                     a copy of the run config's Python reward
 *   rollouts/                     trainer.rollout_data_dir: {step}.jsonl
 *   validation/                   trainer.validation_data_dir: {step}.jsonl
 *   metrics.jsonl                 verl's `file` logger ($VERL_FILE_LOGGER_PATH)
 *   checkpoints/                  trainer.default_local_dir
 *   ray-job.json                  the record, written once Ray accepted the job
 */
import * as fs from 'fs';
import * as path from 'path';
import { RAY_JOB_FILE, RayJobRecord, RunConfig, parseRayJobRecord } from '../../protocol';
import type { RaySubmitRequest } from '../rayJobs';
import { overrideValue, reviewDocument } from './commandLine';
import { writeVerlDataset } from './dataset';
import { DEFAULT_CLUSTER, VERL_SOURCE_COMMIT, VerlClusterOptions, VerlJobPaths, verlOverrides } from './overrides';

/** verl's FileLogger writes here when the variable is set (verl/utils/tracking.py). */
export const FILE_LOGGER_ENV = 'VERL_FILE_LOGGER_PATH';

export interface VerlLaunchPlan {
  submissionId: string;
  configPath: string;
  name: string;
  jobDir: string;
  paths: VerlJobPaths;
  metricsFile: string;
  /** The review document: notes as comments, then the command. */
  document: string;
}

/** A submission id Ray accepts and a folder name: the run name and the time, as run folders are named. */
export function verlSubmissionId(name: string, date: Date): string {
  const stamp = date.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `grpo-${name}-${stamp}`;
}

/**
 * Paths in a config are relative to its file. (The worker's resolveConfigPaths does the same for local runs; it
 * lives beside the trainer, which this host-side code must not load.)
 */
export function resolveLaunchPaths(config: RunConfig, configPath: string): RunConfig {
  const base = path.dirname(configPath);
  const resolved: RunConfig = structuredClone(config);
  if (resolved.task.type === 'gsm8k' || resolved.task.type === 'prompts') {
    resolved.task.train_file = path.resolve(base, resolved.task.train_file);
    if (resolved.task.eval_file !== undefined) resolved.task.eval_file = path.resolve(base, resolved.task.eval_file);
  }
  for (const reward of resolved.rewards) if (reward.module) reward.module = path.resolve(base, reward.module);
  if (resolved.model) {
    // A folder next to the config is sent as its absolute path; anything else (a Hugging Face id) as written.
    const local = path.resolve(base, resolved.model.name_or_path);
    if (fs.existsSync(local)) resolved.model.name_or_path = local;
    if (resolved.model.lora?.adapter_path !== undefined) resolved.model.lora.adapter_path = path.resolve(base, resolved.model.lora.adapter_path);
  }
  return resolved;
}

function jobPaths(jobDir: string, hasValidation: boolean): VerlJobPaths {
  return {
    trainFile: path.join(jobDir, 'train.parquet'),
    valFile: hasValidation ? path.join(jobDir, 'test.parquet') : undefined,
    rolloutDataDir: path.join(jobDir, 'rollouts'),
    validationDataDir: path.join(jobDir, 'validation'),
    checkpointDir: path.join(jobDir, 'checkpoints'),
    rewardFile: path.join(jobDir, 'reward.py'),
  };
}

/**
 * Maps the config (refusing what verl lacks before anything is written), then writes the dataset and the reward
 * file into a new folder under `sharedDir` and returns the command to review.
 */
export async function prepareVerlLaunch(configPath: string, config: RunConfig, sharedDir: string, options: { cluster?: VerlClusterOptions; now?: Date } = {}): Promise<VerlLaunchPlan> {
  if (!path.isAbsolute(sharedDir)) throw new Error(`grpo.ray.sharedDirectory: "${sharedDir}" must be an absolute path that the Ray cluster's nodes see too`);
  const resolved = resolveLaunchPaths(config, configPath);
  const submissionId = verlSubmissionId(config.name, options.now ?? new Date());
  const jobDir = path.join(sharedDir, submissionId);
  const cluster = options.cluster ?? DEFAULT_CLUSTER;
  // A dry mapping first: a refused field costs no dataset written. Validation rows are assumed; set below.
  verlOverrides(resolved, jobPaths(jobDir, true), cluster, configPath);
  if (fs.existsSync(jobDir)) throw new Error(`${jobDir} already exists: a job of this name was prepared this second; try again`);
  const python = resolved.rewards.find((r) => r.module?.toLowerCase().endsWith('.py'));
  if (python?.module && !fs.existsSync(python.module)) throw new Error(`${configPath}: rewards: the Python reward file ${python.module} does not exist`);
  const dataset = await writeVerlDataset(resolved, jobDir);
  const paths = jobPaths(jobDir, dataset.valFile !== undefined);
  if (python?.module) fs.copyFileSync(python.module, paths.rewardFile);
  for (const dir of [paths.rolloutDataDir, paths.validationDataDir, paths.checkpointDir]) fs.mkdirSync(dir, { recursive: true });
  const { overrides, notes } = verlOverrides(resolved, paths, cluster, configPath);
  const metricsFile = path.join(jobDir, 'metrics.jsonl');
  const header = [
    `verl GRPO job from ${configPath}`,
    `Review and edit the command, then "Submit to Ray" (the cloud button above this editor). Ray job: ${submissionId}.`,
    `Shared folder: ${jobDir} (${dataset.trainRows} training rows${dataset.valRows > 0 ? `, ${dataset.valRows} validation rows` : ''}).`,
    `The job gets ${FILE_LOGGER_ENV}=${metricsFile} (verl's file logger).`,
    `verl config names as of volcengine/verl ${VERL_SOURCE_COMMIT.slice(0, 12)}.`,
  ];
  return { submissionId, configPath, name: config.name, jobDir, paths, metricsFile, document: reviewDocument(header, notes, overrides) };
}

export function submitRequest(plan: VerlLaunchPlan, entrypoint: string): RaySubmitRequest {
  return {
    entrypoint,
    submission_id: plan.submissionId,
    runtime_env: { env_vars: { [FILE_LOGGER_ENV]: plan.metricsFile } },
    metadata: { created_by: 'grpo-studio', trainer: 'verl', run_name: plan.name, job_dir: plan.jobDir },
  };
}

/** The job's record; the output paths are read from the submitted command, where the user may have changed them. */
export function jobRecord(plan: VerlLaunchPlan, address: string, submissionId: string, entrypoint: string, date: Date): RayJobRecord {
  const fromCommand = (key: string, fallback: string | undefined): string | undefined => overrideValue(entrypoint, key) ?? fallback;
  const valFile = fromCommand('data.val_files', plan.paths.valFile);
  return {
    format: 'verl',
    version: 1,
    submission_id: submissionId,
    address,
    config_path: plan.configPath,
    name: plan.name,
    entrypoint,
    job_dir: plan.jobDir,
    train_file: fromCommand('data.train_files', plan.paths.trainFile) ?? plan.paths.trainFile,
    ...(valFile !== undefined ? { val_file: valFile } : {}),
    rollout_data_dir: fromCommand('trainer.rollout_data_dir', plan.paths.rolloutDataDir) ?? plan.paths.rolloutDataDir,
    validation_data_dir: fromCommand('trainer.validation_data_dir', plan.paths.validationDataDir) ?? plan.paths.validationDataDir,
    metrics_file: plan.metricsFile,
    checkpoint_dir: fromCommand('trainer.default_local_dir', plan.paths.checkpointDir) ?? plan.paths.checkpointDir,
    submitted_at: date.toISOString(),
  };
}

export function writeJobRecord(record: RayJobRecord): string {
  const file = path.join(record.job_dir, RAY_JOB_FILE);
  fs.writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  return file;
}

/** Every job record under `sharedDir`, newest first; unreadable ones are reported, not thrown. */
export function readJobRecords(sharedDir: string): { records: RayJobRecord[]; problems: string[] } {
  const records: RayJobRecord[] = [];
  const problems: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(sharedDir);
  } catch {
    return { records, problems };
  }
  for (const name of names) {
    const file = path.join(sharedDir, name, RAY_JOB_FILE);
    if (!fs.existsSync(file)) continue;
    try {
      records.push(parseRayJobRecord(fs.readFileSync(file, 'utf8'), file));
    } catch (err) {
      problems.push(err instanceof Error ? err.message : String(err));
    }
  }
  records.sort((a, b) => b.submitted_at.localeCompare(a.submitted_at));
  return { records, problems };
}
