/**
 * Runs one training run end to end: validate the config, choose the backend, create (or reopen) the run directory,
 * warm-start, then step the task's job until `max_steps` or a stop, with validation and checkpoints in between.
 * Shared by the forked worker (IPC) and the headless CLI; it never touches VS Code.
 *
 * Resume: the newest complete checkpoint (checkpoints/step-N/state.json) restores the weights, the optimizer, the
 * random stream and the data cursor, and the run continues at step N + 1, appending to the same files. With a
 * fixed seed the resumed steps equal those of an uninterrupted run. A stop during the warm start checkpoints step 0
 * with the warm start unfinished: the resume finishes it (SFT and step-0 validation) before GRPO's first step.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAMES, BackendName, parseRunConfig, RUN_FILES, RunConfig, RunEvent, RunOutcome } from '../protocol';
import { Random, RandomState } from '../model/random';
import { selectBackend } from './backend';
import { planCpuParallelism, runDevice, settleCpuParallelism } from './cpuParallelism';
import { runningWasmThreads, wasmThreadCount } from './wasmThreads';
import { GrpoTrainer } from './grpoTrainer';
import { TrainingJob } from './job';
import { beginCheckpoint, CHECKPOINT_STATE, commitCheckpoint, listCheckpoints, newestCompleteCheckpoint, RunDirectoryWriter } from './runDirectory';
import { newRunDirectory } from '../protocol/runFolder';
import { preflight } from './preflight';
import { RunLock } from './runLock';
import { RunObserver, RunSink } from './sink';
import { BanditJob } from './tasks/bandit';
import { BackendTrap, inPhase, isWasmTrap } from './backendTrap';
import { betweenSteps } from './controlServer';

export interface RunControl {
  /** Polled between steps and micro-batches: true once a stop was requested. */
  shouldStop(): boolean;
  /**
   * Awaited at each step boundary (after `step`), and in the warm start between two SFT steps (`sftStep` done) and
   * between validation batches: resolves once the run may go on (pause / continue).
   */
  waitWhilePaused(step: number, sftStep?: number): Promise<void>;
  /** Where to record the control events (paused, continued, stop_requested) once the run folder is open. */
  bindRecorder?(record: (event: RunEvent) => void): void;
}

export interface TrainOptions {
  /** Path of the run-config JSON file (a new run). */
  configPath?: string;
  /** An existing run directory to resume from its newest checkpoint. */
  resumeDir?: string;
  /** Folder of a new run; default: `<runsDir>/<timestamp>-<name>`. */
  runDir?: string;
  runsDir?: string;
  /** Overrides the config's `backend` (the editor setting or a CLI flag). */
  backend?: string;
  observers: RunObserver[];
  control: RunControl;
  /**
   * Called once this process holds the run's lock, before anything is written: the detached worker starts serving
   * its control socket there (never for a run another process still writes).
   */
  onRunLocked?(runDir: string): Promise<void>;
}

export interface TrainResult {
  runDir: string;
  outcome: RunOutcome;
  steps: number;
}

interface CheckpointState {
  step: number;
  rng: RandomState;
  time: number;
  /** Step 0 checkpointed before the warm start (SFT, then step-0 validation) finished: a resume finishes it first. */
  warmStartPending?: boolean;
}

export function loadRunConfig(configPath: string, backend?: string): RunConfig {
  let text: string;
  try {
    text = fs.readFileSync(configPath, 'utf8');
  } catch (err) {
    throw new Error(`cannot read run config ${configPath}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const config = parseRunConfig(text, configPath);
  if (backend === undefined) return config;
  if (!BACKEND_NAMES.includes(backend as BackendName)) {
    throw new Error(`backend override must be one of ${BACKEND_NAMES.join(', ')}, got "${backend}"`);
  }
  return { ...config, backend: backend as BackendName };
}

async function createJob(config: RunConfig, dataParallel: boolean, rng: Random, sink: RunSink, control: RunControl): Promise<TrainingJob> {
  if (config.task.type === 'bandit') return new BanditJob(config, config.task, rng);
  if (config.optimization.data_parallel === true && tf.getBackend() === 'webgpu') {
    // settleCpuParallelism turned it off: say so, since it was asked for by name.
    sink.log('optimization.data_parallel is off on webgpu: the second thread is a CPU (wasm) replica for CPU backends', 'warning');
  }
  const jobConfig = withDataParallel(config, dataParallel);
  return GrpoTrainer.create(
    jobConfig,
    config.task,
    rng,
    (failure) => sink.event({ type: 'reward_error', time: Date.now(), ...failure }),
    (message, level) => sink.log(message, level),
    () => control.shouldStop(),
  );
}

/** The config the job runs: optimization.data_parallel resolved to what runs ("auto" never reaches the trainer). */
function withDataParallel(config: RunConfig, dataParallel: boolean): RunConfig {
  return { ...config, optimization: { ...config.optimization, data_parallel: dataParallel } };
}

function dueEvery(step: number, every: number): boolean {
  return every > 0 && step % every === 0;
}

async function saveCheckpoint(job: TrainingJob, runDir: string, step: number, rng: Random, config: RunConfig, sink: RunSink, warmStartPending = false): Promise<void> {
  const relative = path.join(RUN_FILES.checkpoints, `step-${step}`);
  // Written aside and renamed into place when complete: a crash mid-write never damages the previous checkpoint.
  const partial = beginCheckpoint(runDir, step);
  await job.saveCheckpoint(partial);
  const state: CheckpointState = { step, rng: rng.getState(), time: Date.now(), ...(warmStartPending ? { warmStartPending } : {}) };
  commitCheckpoint(runDir, step, partial, state);
  sink.event({ type: 'checkpoint', time: Date.now(), step, path: relative });
  const limit = config.checkpointing.save_total_limit;
  if (limit > 0) for (const old of listCheckpoints(runDir).slice(0, -limit)) fs.rmSync(old.dir, { recursive: true, force: true });
}

interface Prepared {
  config: RunConfig;
  runDir: string;
  writer: RunDirectoryWriter;
  lock: RunLock;
  /** For the run's log once it has one: stale locks taken over, incomplete checkpoints skipped. */
  notes: string[];
  resume?: { dir: string; state: CheckpointState };
}

async function prepare(options: TrainOptions): Promise<Prepared> {
  if (options.resumeDir) {
    const runDir = path.resolve(options.resumeDir);
    const configPath = path.join(runDir, RUN_FILES.config);
    const config = loadRunConfig(configPath, options.backend);
    // The lock before anything in the folder is touched (reopening the writer truncates torn tails).
    const lock = RunLock.acquire(runDir);
    try {
      const notes = lock.takeover ? [lock.takeover] : [];
      const checkpoint = newestCompleteCheckpoint(runDir, (message) => notes.push(message));
      if (!checkpoint) throw new Error(`${runDir}: no checkpoint to resume from (none complete in checkpoints/step-N/${CHECKPOINT_STATE})${notes.length ? `; ${notes.join('; ')}` : ''}`);
      const state = JSON.parse(fs.readFileSync(path.join(checkpoint.dir, CHECKPOINT_STATE), 'utf8')) as CheckpointState;
      return { config, runDir, writer: new RunDirectoryWriter(runDir, undefined), lock, notes, resume: { dir: checkpoint.dir, state } };
    } catch (err) {
      lock.release();
      throw err;
    }
  }
  if (!options.configPath) throw new Error('either a config file or a run directory to resume is required');
  const config = resolveConfigPaths(loadRunConfig(options.configPath, options.backend), path.dirname(path.resolve(options.configPath)));
  try {
    await preflight(config, options.configPath);
  } catch (err) {
    // The host claims the folder (empty) before the worker starts: a run that never started leaves nothing behind.
    if (options.runDir !== undefined) removeIfEmpty(options.runDir);
    throw err;
  }
  const runDir = options.runDir ?? newRunDirectory(options.runsDir ?? path.resolve('runs'), config.name);
  fs.mkdirSync(runDir, { recursive: true });
  const lock = RunLock.acquire(runDir);
  try {
    return { config, runDir, writer: new RunDirectoryWriter(runDir, config), lock, notes: lock.takeover ? [lock.takeover] : [] };
  } catch (err) {
    lock.release();
    throw err;
  }
}

function removeIfEmpty(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch {
    // not empty, or not there: not ours to remove
  }
}

/**
 * Paths in a config are relative to its file; the run's config.json stores them absolute, so the run directory alone
 * is enough to resume. A model name that is no existing path stays as it is (a preset).
 */
export function resolveConfigPaths(config: RunConfig, baseDir: string): RunConfig {
  const resolved: RunConfig = structuredClone(config);
  if (resolved.model) {
    const candidate = path.resolve(baseDir, resolved.model.name_or_path);
    if (fs.existsSync(candidate)) resolved.model.name_or_path = candidate;
    const lora = resolved.model.lora;
    if (lora?.adapter_path !== undefined) lora.adapter_path = path.resolve(baseDir, lora.adapter_path);
  }
  if (resolved.task.type === 'gsm8k' || resolved.task.type === 'prompts') {
    resolved.task.train_file = path.resolve(baseDir, resolved.task.train_file);
    if (resolved.task.eval_file !== undefined) resolved.task.eval_file = path.resolve(baseDir, resolved.task.eval_file);
  }
  for (const reward of resolved.rewards) if (reward.module) reward.module = path.resolve(baseDir, reward.module);
  return resolved;
}

export async function train(options: TrainOptions): Promise<TrainResult> {
  const { config, runDir, writer, lock, notes, resume } = await prepare(options);
  const sink = new RunSink(writer, options.observers);
  const { control } = options;
  control.bindRecorder?.((event) => sink.event(event));
  let step = resume?.state.step ?? 0;
  let lastSaved = step;
  // A new run warms up; a resumed one only when its checkpoint was written before the warm start finished.
  const warmsUp = !resume || resume.state.warmStartPending === true;
  let warmedUp = !warmsUp;
  // After a wasm trap nothing may call into the backend again, not even to free memory (backendTrap.ts).
  let trapped = false;
  try {
    await options.onRunLocked?.(runDir);
    // Data parallelism puts a single-threaded replica on the second core: the main instance then keeps to one.
    const plan = planCpuParallelism(config, wasmThreadCount());
    const backend = await selectBackend(config.backend, { wasmThreads: plan.dataParallel ? 1 : undefined });
    const parallelism = settleCpuParallelism(plan, config.optimization.data_parallel, backend.name);
    sink.event({
      type: 'started',
      time: Date.now(),
      runId: path.basename(runDir),
      runDir,
      pid: process.pid,
      backend: backend.name,
      device: config.model ? runDevice(backend.device, backend.name, parallelism, backend.name === 'wasm' ? runningWasmThreads() : 0) : backend.device,
      fallbacks: backend.fallbacks,
      config,
      ...(resume ? { resumedFrom: resume.state.step } : {}),
    });
    for (const reason of backend.fallbacks) sink.log(`backend skipped: ${reason}`, 'warning');
    for (const note of notes) sink.log(note, 'warning');

    const rng = new Random(config.seed);
    const job = await createJob(config, parallelism.dataParallel, rng, sink, control);
    try {
      if (resume) {
        await job.loadCheckpoint(resume.dir);
        rng.setState(resume.state.rng);
        sink.log(`resumed from ${path.relative(runDir, resume.dir)}${warmsUp ? ', inside the warm start: it finishes before GRPO step 1' : ''}`);
      }
      if (warmsUp) warmedUp = await warmUp(job, config, sink, control);
      while (warmedUp && step < config.optimization.max_steps && !control.shouldStop()) {
        await control.waitWhilePaused(step);
        if (control.shouldStop()) break;
        const started = Date.now();
        const result = await job.step(step + 1, control);
        if (!result) break; // stopped before the step changed anything
        step += 1;
        const memory = process.memoryUsage();
        const metrics: Record<string, number> = {
          ...result.metrics,
          'time/step': (Date.now() - started) / 1000,
          'time/io_previous_step': sink.takeIoTime(),
          'memory/num_tensors': tf.memory().numTensors,
          'memory/rss_mb': memory.rss / 2 ** 20,
        };
        const evalDue = dueEvery(step, config.evaluation.eval_steps) || (step === config.optimization.max_steps && config.evaluation.eval_steps > 0);
        const evaluation = evalDue ? await inPhase(`validation (step ${step})`, () => job.evaluate(step, () => control.waitWhilePaused(step))) : undefined;
        sink.metrics({ step, time: Date.now(), metrics: { ...metrics, ...evaluation?.metrics } });
        sink.rollouts({ step, groups: result.groups });
        if (evaluation) sink.evalRollouts({ step, groups: evaluation.groups });
        if (dueEvery(step, config.checkpointing.save_steps)) {
          // Checkpoints are periodic, not per-step I/O: keep the step's record I/O, drop the checkpoint's.
          const recordIo = sink.takeIoTime();
          await saveCheckpoint(job, runDir, step, rng, config, sink);
          lastSaved = step;
          sink.takeIoTime();
          sink.addIoTime(recordIo);
        }
        await betweenSteps();
      }
      if (step > lastSaved || (step === 0 && warmsUp)) await saveCheckpoint(job, runDir, step, rng, config, sink, !warmedUp);
    } catch (err) {
      trapped = err instanceof BackendTrap || isWasmTrap(err);
      throw err;
    } finally {
      if (!trapped) job.dispose();
      else job.stopThreads?.();
    }
    const outcome: RunOutcome = step < config.optimization.max_steps ? 'stopped' : 'completed';
    sink.event({ type: 'finished', time: Date.now(), outcome, steps: step });
    return { runDir, outcome, steps: step };
  } catch (err) {
    trapped ||= isWasmTrap(err);
    const message = err instanceof Error ? err.message : String(err);
    sink.event({ type: 'error', time: Date.now(), message: trapped ? `${message}${resumeHint(runDir)}` : message, stack: err instanceof Error ? err.stack : undefined });
    throw err;
  } finally {
    // A stop asked for after the last record (a host disconnecting from a finished run) belongs to no run.
    control.bindRecorder?.(() => undefined);
    sink.close();
    lock.release();
    if (!trapped) tf.disposeVariables();
  }
}

/** Where a failed run resumes from: its newest complete checkpoint, or nowhere yet. */
function resumeHint(runDir: string): string {
  const checkpoint = newestCompleteCheckpoint(runDir, () => undefined);
  return checkpoint
    ? ` from ${path.relative(runDir, checkpoint.dir)} (grpo-studio resume ${runDir}); the run folder is intact`
    : ' (no checkpoint was written yet: start the run again instead)';
}

/**
 * The SFT warm start (or the rest of one a stop interrupted), then step-0 validation when the config has it. True
 * once both are done; false when a stop came first (step 0's checkpoint then says so, and a resume finishes them).
 */
async function warmUp(job: TrainingJob, config: RunConfig, sink: RunSink, control: RunControl): Promise<boolean> {
  const warm = await inPhase('the SFT warm start', () =>
    job.warmStart({
      log: (message) => sink.log(message),
      shouldStop: () => control.shouldStop(),
      progress: (sftStep, sftSteps, loss) => sink.event({ type: 'warm_start', time: Date.now(), step: sftStep, steps: sftSteps, loss: Number.isFinite(loss) ? loss : null }),
      between: (done) => control.waitWhilePaused(0, done),
    }),
  );
  if (job.warmStartPending()) return false;
  if (warm) sink.log(`warm start done: ${Object.entries(warm).map(([k, v]) => `${k} ${+v.toFixed(4)}`).join(', ')}`);
  if (config.evaluation.eval_steps === 0) return true;
  // A pause asked for during the last SFT step holds before validation, not after it.
  await control.waitWhilePaused(0, warm ? warm['sft/steps'] : undefined);
  if (control.shouldStop()) return false;
  await evaluate(job, 0, sink, control, warm);
  return true;
}

async function evaluate(job: TrainingJob, step: number, sink: RunSink, control: RunControl, extra?: Record<string, number>): Promise<void> {
  const evaluation = await inPhase(`validation (step ${step})`, () => job.evaluate(step, () => control.waitWhilePaused(step)));
  if (!evaluation) return;
  sink.metrics({ step, time: Date.now(), metrics: { ...extra, ...evaluation.metrics } });
  sink.evalRollouts({ step, groups: evaluation.groups });
}
