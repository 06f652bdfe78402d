/**
 * `grpo-studio export <run-dir> [--step N] [--merge] --out DIR`: a run's checkpoint as a folder other tools load.
 * A full fine-tuning checkpoint is a Hugging Face model folder already; a LoRA checkpoint is a PEFT adapter folder
 * (`PeftModel.from_pretrained(base, DIR)`), or with --merge the base with the adapters merged in (W + s·A·B), a
 * plain model folder for transformers' `from_pretrained`, vLLM or this extension.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parseArgs } from 'util';
import { RUN_FILES } from '../protocol';
import { loadPolicy, savePolicy } from '../model';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, isAdapterFolder, mergedPolicy } from '../model/lora';
import { checkpointProblem, listCheckpoints, newestCompleteCheckpoint } from './runDirectory';
import { selectBackend } from './backend';

export const EXPORT_USAGE = `grpo-studio export <run-dir> --out DIR [--step N] [--merge]
  --out DIR   where to write (a new or empty folder)
  --step N    the checkpoint of step N (default: the newest complete one)
  --merge     LoRA runs: merge the adapters into the base weights and write a full model folder
              (default for LoRA: the PEFT adapter folder, for PeftModel.from_pretrained)`;

export interface ExportRequest {
  runDir: string;
  out: string;
  step?: number;
  merge: boolean;
}

export function parseExportArgs(argv: string[]): ExportRequest {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: { out: { type: 'string' }, step: { type: 'string' }, merge: { type: 'boolean', default: false } },
  });
  if (positionals.length !== 1) throw new Error(`expected one run directory, got ${positionals.length}`);
  if (values.out === undefined) throw new Error('--out: required (the folder to write)');
  let step: number | undefined;
  if (values.step !== undefined) {
    step = Number(values.step);
    if (!Number.isInteger(step) || step < 0) throw new Error(`--step must be a step number, got "${values.step}"`);
  }
  return { runDir: path.resolve(positionals[0]), out: path.resolve(values.out), step, merge: values.merge ?? false };
}

/** The checkpoint folder to export: step N's (complete), or the newest complete one. Errors list what exists. */
export function checkpointToExport(runDir: string, step: number | undefined): { step: number; dir: string } {
  if (!fs.existsSync(path.join(runDir, RUN_FILES.config))) throw new Error(`${runDir} is not a run directory (no ${RUN_FILES.config})`);
  const all = listCheckpoints(runDir);
  const steps = all.map((c) => c.step).join(', ') || 'none';
  if (step === undefined) {
    const newest = newestCompleteCheckpoint(runDir, () => undefined);
    if (!newest) throw new Error(`${runDir}: no complete checkpoint to export (checkpoints: ${steps})`);
    return newest;
  }
  const chosen = all.find((c) => c.step === step);
  if (!chosen) throw new Error(`--step ${step}: ${runDir} has no checkpoint of that step (checkpoints: ${steps})`);
  const problem = checkpointProblem(chosen.dir);
  if (problem) throw new Error(`--step ${step}: the checkpoint is incomplete (${problem})`);
  return chosen;
}

/** Writes the export; resolves to a description of what was written. Never writes into a non-empty folder. */
export async function exportCheckpoint(request: ExportRequest): Promise<string> {
  const checkpoint = checkpointToExport(request.runDir, request.step);
  const policyDir = path.join(checkpoint.dir, 'policy');
  if (fs.existsSync(request.out) && fs.readdirSync(request.out).length > 0) throw new Error(`--out: ${request.out} is not empty; nothing was written`);
  const lora = isAdapterFolder(policyDir);
  if (lora && !request.merge) {
    fs.mkdirSync(request.out, { recursive: true });
    for (const file of [ADAPTER_CONFIG, ADAPTER_WEIGHTS]) fs.copyFileSync(path.join(policyDir, file), path.join(request.out, file));
    return `step ${checkpoint.step}: PEFT adapter → ${request.out} (load with PeftModel.from_pretrained(base_model, "${request.out}"), or --merge for a full model)`;
  }
  await selectBackend('wasm');
  const policy = loadPolicy(policyDir);
  try {
    if (!lora) {
      await savePolicy(policy, request.out);
      return `step ${checkpoint.step}: model → ${request.out}${request.merge ? ' (a full fine-tuning run has no adapters to merge)' : ''}`;
    }
    const merged = mergedPolicy(policy);
    try {
      await savePolicy(merged, request.out);
    } finally {
      merged.dispose();
    }
    return `step ${checkpoint.step}: base + adapters merged → ${request.out} (a Hugging Face model folder)`;
  } finally {
    policy.dispose();
  }
}

export async function runExport(argv: string[]): Promise<number> {
  let request: ExportRequest;
  try {
    request = parseExportArgs(argv);
  } catch (err) {
    console.error(`${(err as Error).message}\nusage: ${EXPORT_USAGE}`);
    return 2;
  }
  console.log(await exportCheckpoint(request));
  return 0;
}
