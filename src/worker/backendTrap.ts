/**
 * A WebAssembly trap ("memory access out of bounds", "table index is out of bounds", "unreachable") inside a tfjs
 * kernel leaves the wasm heap in an unknown state: the next call into it, even a `free` from a dispose, can spin
 * forever (the worker hung in wasm's `free` at 4.2 GB RSS, deaf to Ctrl-C). So a trap ends the run as
 * failed, with the phase it happened in, and nothing touches the backend afterwards; the checkpoints already written
 * are left as they are, and the run resumes from the newest.
 */
export class BackendTrap extends Error {
  constructor(readonly phase: string, readonly trap: Error) {
    super(`the wasm backend trapped during ${phase}: ${trap.message}. Its memory can no longer be trusted, so the run ` +
      'stops here without freeing it. This is almost always memory: lower optimization.memory_limit_mb (what sampling and ' +
      'training may use), sampling.max_prompt_length or sampling.max_completion_length in the run\'s config.json, then resume the run');
    this.name = 'BackendTrap';
  }
}

export function isWasmTrap(err: unknown): err is Error {
  return typeof WebAssembly !== 'undefined' && err instanceof WebAssembly.RuntimeError;
}

/** Runs one phase of a step; a trap inside it becomes a BackendTrap naming the phase. */
export async function inPhase<T>(phase: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw isWasmTrap(err) ? new BackendTrap(phase, err) : err;
  }
}
