/**
 * How runs are named to people: by their config's name first (run folders start with a timestamp, which cut the
 * names off in the Runs tree), with the start time where it tells runs apart. Pure (no vscode): unit-tested in Node.
 */

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => String(n).padStart(2, '0');

/** The local time a run folder's name starts with (`20260101-140312-name`, see makeRunId); undefined if none. */
export function runIdTime(runId: string): Date | undefined {
  const stamp = /^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})-/.exec(runId);
  if (!stamp) return undefined;
  const [year, month, day, hours, minutes, seconds] = stamp.slice(1).map(Number);
  return new Date(year, month - 1, day, hours, minutes, seconds);
}

/** "14:03" today, "Jan 5 14:03" this year, "Jan 5 2025 14:03" before; `seconds` adds ":12". */
export function formatStartTime(time: Date, now = new Date(), seconds = false): string {
  const clock = `${pad(time.getHours())}:${pad(time.getMinutes())}${seconds ? `:${pad(time.getSeconds())}` : ''}`;
  if (time.toDateString() === now.toDateString()) return clock;
  const day = `${MONTHS[time.getMonth()]} ${time.getDate()}`;
  return time.getFullYear() === now.getFullYear() ? `${day} ${clock}` : `${day} ${time.getFullYear()} ${clock}`;
}

export interface NamedRun {
  runId: string;
  name: string;
  /** Epoch ms of the run's first start (its `started` event), when known. */
  startTime?: number;
}

function startOf(run: NamedRun): Date | undefined {
  return run.startTime !== undefined ? new Date(run.startTime) : runIdTime(run.runId);
}

/**
 * Labels for runs shown together (Compare's legends and table): each run's name where no other run shares it;
 * where names repeat, the name and start time, down to the second if minutes do not tell them apart, and the run
 * folder's name as the last resort (two runs started in one second: `…-2`).
 */
export function distinctRunLabels(runs: readonly NamedRun[], now = new Date()): string[] {
  const labels = runs.map((r) => r.name);
  const refine = (make: (run: NamedRun) => string) => {
    const counts = new Map<string, number>();
    labels.forEach((l) => counts.set(l, (counts.get(l) ?? 0) + 1));
    const repeated = labels.map((l) => (counts.get(l) ?? 0) > 1);
    runs.forEach((run, i) => {
      if (repeated[i]) labels[i] = make(run);
    });
  };
  const withTime = (seconds: boolean) => (run: NamedRun) => {
    const start = startOf(run);
    return start ? `${run.name} · ${formatStartTime(start, now, seconds)}` : `${run.name} · ${run.runId}`;
  };
  refine(withTime(false));
  refine(withTime(true));
  refine((run) => `${run.name} · ${run.runId}`);
  return labels;
}
