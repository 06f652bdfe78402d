/**
 * Health alerts of runs for the Runs tree: each run's metrics file is read incrementally (a live run adds one line
 * a step) and scanned with the dashboard's own rules (src/protocol/health.ts). No VS Code here (unit-tested);
 * healthDecorations.ts shows healthBadge() on the tree's run items.
 */
import * as path from 'path';
import { HealthAlert, healthAlerts, HealthThresholds, isMetricsRecord, MetricsRecord, RUN_FILES } from '../protocol';
import { JsonlTail } from '../protocol/stepIndex';

interface RunRows {
  tail: JsonlTail;
  rows: MetricsRecord[];
  alerts: HealthAlert[] | undefined;
  thresholds: HealthThresholds | undefined;
}

export class RunHealthScanner {
  private readonly runs = new Map<string, RunRows>();

  /** The run's alerts under `thresholds`; rescans only when rows were appended or the thresholds changed. */
  alerts(runDir: string, thresholds: HealthThresholds): HealthAlert[] {
    let run = this.runs.get(runDir);
    if (!run) {
      run = { tail: new JsonlTail(path.join(runDir, RUN_FILES.metrics)), rows: [], alerts: undefined, thresholds: undefined };
      this.runs.set(runDir, run);
    }
    const added = run.tail.read(isMetricsRecord);
    run.rows.push(...added);
    if (added.length || !run.alerts || JSON.stringify(run.thresholds) !== JSON.stringify(thresholds)) {
      run.alerts = healthAlerts(run.rows, thresholds);
      run.thresholds = thresholds;
    }
    return run.alerts;
  }

  /** Forgets every run's rows (a run started or resumed: a resume rewrites the steps after its checkpoint). */
  clear(): void {
    this.runs.clear();
  }
}

/** The tree's badge for a run with alerts (a tree badge holds one or two characters), and a tooltip line per alert. */
export function healthBadge(alerts: readonly HealthAlert[]): { badge: string; tooltip: string } | undefined {
  if (alerts.length === 0) return undefined;
  const title = `${alerts.length} health alert${alerts.length === 1 ? '' : 's'} (open the dashboard for the steps)`;
  return { badge: '⚠', tooltip: [title, ...alerts.map((a) => a.message)].join('\n') };
}
