/** The error a backend candidate raises when it cannot run on this machine: why, and what the user can do. */
export class BackendUnavailable extends Error {
  constructor(
    readonly reason: string,
    readonly fix: string,
  ) {
    super(reason);
    this.name = 'BackendUnavailable';
  }
}

export function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0];
}
