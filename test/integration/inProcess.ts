/** Training runs in the test process (the worker's `train`), for the integration tests. */
import * as fs from 'fs';
import * as path from 'path';
import { MetricsRecord, WorkerMessage } from '../../src/protocol';
import { train, TrainOptions } from '../../src/worker/train';
import { numericMetrics } from './metrics';

/** Writes a run config into `dir`; returns its path. */
export function writeConfig(dir: string, config: Record<string, unknown>, name = 'config.json'): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, JSON.stringify(config));
  return file;
}

/**
 * Runs `train` with runs in `runsDir`; `stopAfter` asks it to stop once that step's metrics arrived, `stopWhen` once
 * a message it accepts arrived.
 */
export async function runInProcess(
  runsDir: string, options: Partial<TrainOptions> & { stopAfter?: number; stopWhen?: (message: WorkerMessage) => boolean },
): Promise<{ runDir: string; messages: WorkerMessage[] }> {
  const messages: WorkerMessage[] = [];
  let lastStep = 0;
  let stopSeen = false;
  const result = await train({
    runsDir,
    ...options,
    observers: [(m) => {
      messages.push(m);
      if (m.type === 'metrics') lastStep = m.record.step;
      if (options.stopWhen?.(m)) stopSeen = true;
    }],
    control: { shouldStop: () => stopSeen || (options.stopAfter !== undefined && lastStep >= options.stopAfter), waitWhilePaused: async () => undefined },
  });
  return { runDir: result.runDir, messages };
}

/** Metrics without wall-clock timings and memory readings, which legitimately differ between runs. */
export function deterministic(record: MetricsRecord): Record<string, number> {
  return Object.fromEntries(Object.entries(numericMetrics(record)).filter(([k]) => !/^(time|tokens_per_second|memory)\//.test(k)));
}
