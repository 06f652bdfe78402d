/**
 * TRL's `steps_per_generation`: one generation serves several optimizer steps, the later ones off-policy (their
 * π_old is the policy that sampled, some steps back). TRL (`trl/trainer/grpo_trainer.py` _prepare_inputs, commit
 * f2cd57710ae345ea6428ae95363267fcf38a3dc8) generates every steps_per_generation × num_iterations micro-steps,
 * shuffles the rows and splits them into steps_per_generation micro-batches. Here the unit is the training step
 * (μ optimizer steps on one slice), and the split is by whole groups in the task's (already shuffled) prompt order,
 * so each step's records keep complete groups: advantages are computed over the whole generation before the split,
 * so which rows share an optimizer step is all that differs. TRL's steps_per_generation counts micro-batches:
 * TRL's value = ours × its gradient_accumulation_steps.
 *
 * The buffer is checkpointed (generation.json next to job.json): a run resumed between two slices of a generation
 * trains on the same slices as an uninterrupted one (TRL regenerates after a resume instead).
 */
import * as fs from 'fs';
import * as path from 'path';

const FILE = 'generation.json';

/** A generation and the slice the next step trains on. `T`: what the trainer keeps of a generation (JSON-safe). */
export interface Buffered<T> {
  generation: T;
  /** Index of the next slice, 0 … slices − 1. */
  next: number;
}

/** The rows (sample indices) of slice `k` of `groups` groups of `groupSize` split into `slices` equal parts. */
export function sliceRows(groups: number, groupSize: number, slices: number, k: number): number[] {
  if (!Number.isInteger(slices) || slices < 1 || groups % slices !== 0) throw new Error(`steps_per_generation: ${groups} groups do not split into ${slices} equal slices`);
  if (!Number.isInteger(k) || k < 0 || k >= slices) throw new Error(`steps_per_generation: slice ${k} of ${slices}`);
  const per = (groups / slices) * groupSize;
  return Array.from({ length: per }, (_, i) => k * per + i);
}

/** The buffer after slice `next` was trained: undefined once every slice was. */
export function advance<T>(buffer: Buffered<T>, slices: number): Buffered<T> | undefined {
  return buffer.next + 1 < slices ? { generation: buffer.generation, next: buffer.next + 1 } : undefined;
}

/**
 * Writes the buffer into a checkpoint folder (removes a stale one when there is none). JSON keeps every finite
 * double exactly; NaN (failed rewards) and ±Infinity are not JSON, so they are tagged.
 */
export function saveBuffer<T>(dir: string, buffer: Buffered<T> | undefined): void {
  const file = path.join(dir, FILE);
  if (buffer === undefined) {
    fs.rmSync(file, { force: true });
    return;
  }
  fs.writeFileSync(file, JSON.stringify(buffer, (_, value: unknown) => (typeof value === 'number' && !Number.isFinite(value) ? { $number: String(value) } : value)));
}

export function loadBuffer<T>(dir: string): Buffered<T> | undefined {
  const file = path.join(dir, FILE);
  if (!fs.existsSync(file)) return undefined;
  return JSON.parse(fs.readFileSync(file, 'utf8'), (_, value: unknown) => {
    if (typeof value === 'object' && value !== null && '$number' in value && Object.keys(value).length === 1) return Number((value as { $number: string }).$number);
    return value;
  }) as Buffered<T>;
}
