/**
 * Runs one training run end to end: validate the config, choose the backend, create the run directory, step the
 * task's job until `max_steps` or a stop request, and record how it ended. Shared by the forked worker (IPC) and
 * the headless CLI; it never touches VS Code.
 */
import * as fs from 'fs';
import * as path from 'path';
import { BACKEND_NAMES, BackendName, parseRunConfig, RunConfig, RunOutcome } from '../protocol';
import { Random } from '../model/random';
import { selectBackend } from './backend';
import { newRunDirectory, RunDirectoryWriter } from './runDirectory';
import { RunObserver, RunSink } from './sink';
import { TrainingJob } from './job';
import { BanditJob } from './tasks/bandit';

export interface TrainOptions {
  /** Path of the run-config JSON file. */
  configPath: string;
  /** Folder of the new run; default: `<runsDir>/<timestamp>-<name>`. */
  runDir?: string;
  runsDir?: string;
  /** Overrides the config's `backend` (the editor setting or a CLI flag). */
  backend?: string;
  observers: RunObserver[];
  /** Polled between steps: true once a stop was requested. */
  shouldStop: () => boolean;
}

export interface TrainResult {
  runDir: string;
  outcome: RunOutcome;
  steps: number;
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

function createJob(config: RunConfig, rng: Random): TrainingJob {
  switch (config.task.type) {
    case 'bandit':
      return new BanditJob(config, config.task, rng);
  }
}

/** Lets queued IPC messages (a `stop`) be handled between synchronous tfjs steps. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export async function train(options: TrainOptions): Promise<TrainResult> {
  const config = loadRunConfig(options.configPath, options.backend);
  const runDir = options.runDir ?? newRunDirectory(options.runsDir ?? path.resolve('runs'), config.name);
  const sink = new RunSink(new RunDirectoryWriter(runDir, config), options.observers);
  let steps = 0;
  try {
    const backend = await selectBackend(config.backend);
    sink.event({
      type: 'started',
      time: Date.now(),
      runId: path.basename(runDir),
      runDir,
      pid: process.pid,
      backend: backend.name,
      device: backend.device,
      fallbacks: backend.fallbacks,
      config,
    });
    for (const reason of backend.fallbacks) sink.log(`backend skipped: ${reason}`, 'warning');

    const job = createJob(config, new Random(config.seed));
    try {
      while (steps < config.optimization.max_steps && !options.shouldStop()) {
        const started = Date.now();
        const { metrics, groups } = await job.step(steps + 1);
        steps += 1;
        const time = Date.now();
        sink.metrics({ step: steps, time, metrics: { ...metrics, 'time/step': (time - started) / 1000 } });
        sink.rollouts({ step: steps, groups });
        await yieldToEventLoop();
      }
    } finally {
      job.dispose();
    }
    const outcome: RunOutcome = steps < config.optimization.max_steps ? 'stopped' : 'completed';
    sink.event({ type: 'finished', time: Date.now(), outcome, steps });
    return { runDir, outcome, steps };
  } catch (err) {
    sink.event({ type: 'error', time: Date.now(), message: err instanceof Error ? err.message : String(err), stack: err instanceof Error ? err.stack : undefined });
    throw err;
  } finally {
    sink.close();
  }
}
