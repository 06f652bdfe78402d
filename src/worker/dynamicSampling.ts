/**
 * DAPO dynamic sampling, verl's `algorithm.filter_groups` (`recipe/dapo/dapo_ray_trainer.py`, documented in
 * `docs/algo/dapo.md`, commit b178a3cd): a group whose rewards are all equal has advantage 0 everywhere and teaches
 * nothing, so it is dropped and more prompts are sampled, round after round, until `prompts_per_step` groups with
 * distinct rewards are gathered. Extra groups of the last round are discarded as verl does (`batch[:traj_bsz]`), so
 * no generation carries over to the next step and a resumed run draws exactly what an uninterrupted one does.
 * After `max_num_gen_batches` rounds without a full batch the run fails with the reason, as verl raises (0: no
 * limit). The metric is the number of rounds, verl's `train/num_gen_batches`.
 */

/**
 * Whether group `g` (samples g·G … g·G + G − 1 of `totals`) is kept: its scored rewards (NaN = failed, left out)
 * are not all equal. verl's test is std > 0 of the metric; equality is the exact form of it (std of tied float
 * rewards can be a residue, not 0).
 */
export function keptGroups(totals: readonly number[], groupSize: number): boolean[] {
  const groups: boolean[] = [];
  for (let start = 0; start < totals.length; start += groupSize) {
    const scored = totals.slice(start, start + groupSize).filter((r) => !Number.isNaN(r));
    groups.push(scored.some((r) => r !== scored[0]));
  }
  return groups;
}

/** The rounds limit: throws once `rounds` rounds have not filled the batch (verl: num_gen_batches ≥ max). */
export function checkRounds(rounds: number, maxRounds: number, kept: number, wanted: number): void {
  if (maxRounds > 0 && rounds >= maxRounds && kept < wanted) {
    throw new Error(
      `dynamic sampling: ${rounds} generation rounds (max_num_gen_batches) gave ${kept} of ${wanted} groups whose rewards differ; ` +
        'the rest tied (every sample of the group got the same reward). The task may be too easy or too hard for the policy, or the rewards too coarse; raise max_num_gen_batches (0: no limit) or turn filter_groups off',
    );
  }
}

/** Picks rows `indices` of every per-sample array of a record (the rollouts of the kept groups). */
export function pickRows<T extends object>(record: T, indices: readonly number[]): T {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record as Record<string, unknown>)) out[key] = Array.isArray(value) ? indices.map((i) => value[i] as unknown) : value;
  return out as T;
}

/** Concatenates every per-sample array of two records of the same shape. */
export function concatRows<T extends object>(a: T, b: T): T {
  const out: Record<string, unknown> = {};
  const other = b as Record<string, unknown>;
  for (const [key, value] of Object.entries(a as Record<string, unknown>)) out[key] = Array.isArray(value) ? [...value, ...(other[key] as unknown[])] : value;
  return out as T;
}
