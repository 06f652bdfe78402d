/**
 * Runs a PyTorch reference script of `npm run bench:model` (bench/model_torch.py, bench/stories_torch.py) once per
 * thread configuration with /usr/bin/python3, and collects what it prints: one JSON object per line, timings as
 * {shape, phase, ms}, anything else (correctness checks, parts of a step) passed through as records.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';

export const PYTHON = '/usr/bin/python3';

/**
 * The PyTorch configurations measured. Issue 4's reference is PyTorch with 2 threads as installed (OpenMP defaults):
 * 224 / 900 ms for a small / base train step where the issue was written. On 2 cores OpenMP's spinning workers slow
 * it down, so the bench also measures 1 thread and 2 passive threads, and compares with the fastest of all three too.
 */
export const TORCH_CONFIGS = [
  { label: '2 threads, OpenMP defaults (reference)', threads: 2, passive: false },
  { label: '1 thread', threads: 1, passive: true },
  { label: '2 threads, OMP_WAIT_POLICY=PASSIVE', threads: 2, passive: true },
];

export type TorchConfig = (typeof TORCH_CONFIGS)[number];

/** One line of a script's output. */
export type TorchRecord = { shape?: string; phase?: string; ms?: number } & Record<string, unknown>;

export interface TorchRuns {
  version: string;
  runs: { config: TorchConfig; records: TorchRecord[] }[];
}

export interface TorchResult {
  /** Median ms per `shape/phase` with the reference configuration. */
  reference: Map<string, number>;
  /** The fastest of all configurations per `shape/phase`. */
  fastest: Map<string, number>;
  /** The configuration the fastest time came from, per `shape/phase`. */
  fastestConfig: Map<string, TorchConfig>;
  note: string;
}

/**
 * `script args… --threads N` under every configuration (`firstOnly` added for the first, the reference); a string
 * saying why not when PyTorch is missing or the script fails.
 */
export function runTorchConfigs(script: string, args: string[], firstOnly: string[] = []): TorchRuns | string {
  if (!fs.existsSync(PYTHON)) return `${PYTHON} not found`;
  const probe = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (probe.status !== 0) return 'PyTorch is not installed for /usr/bin/python3 (apt-get install -y python3-torch libopenblas0-pthread)';
  const result: TorchRuns = { version: probe.stdout.trim(), runs: [] };
  for (const config of TORCH_CONFIGS) {
    const env = { ...process.env };
    delete env.OMP_WAIT_POLICY; // OpenMP's default unless the configuration sets it
    const extra = config === TORCH_CONFIGS[0] ? firstOnly : [];
    const run = spawnSync(PYTHON, [script, ...args, ...extra, '--threads', String(config.threads)], {
      encoding: 'utf8',
      env: config.passive ? { ...env, OMP_WAIT_POLICY: 'PASSIVE' } : env,
    });
    if (run.status !== 0) return `${script} failed: ${run.stderr.trim().split('\n').pop()}`;
    result.runs.push({ config, records: run.stdout.trim().split('\n').map((line) => JSON.parse(line) as TorchRecord) });
  }
  return result;
}

/** The timings of every configuration: the reference's, the fastest, and a note listing them all. */
export function summarizeTorch(torch: TorchRuns): TorchResult {
  const result: TorchResult = { reference: new Map(), fastest: new Map(), fastestConfig: new Map(), note: '' };
  const perConfig: string[] = [];
  for (const { config, records } of torch.runs) {
    const cells: string[] = [];
    for (const r of records) {
      if (r.phase === undefined || r.ms === undefined) continue;
      const key = `${r.shape}/${r.phase}`;
      if (config === TORCH_CONFIGS[0]) result.reference.set(key, r.ms);
      if (r.ms < (result.fastest.get(key) ?? Infinity)) {
        result.fastest.set(key, r.ms);
        result.fastestConfig.set(key, config);
      }
      cells.push(`${key} ${r.ms.toFixed(0)}`);
    }
    perConfig.push(`  ${config.label}: ${cells.join(', ')}`);
  }
  result.note = [`PyTorch ${torch.version} on the CPU, median ms:`, ...perConfig].join('\n');
  return result;
}
