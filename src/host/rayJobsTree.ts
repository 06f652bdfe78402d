/**
 * The "Ray Jobs" view in the GRPO container: the verl jobs launched from here, read from their records
 * (`<grpo.ray.sharedDirectory>/<id>/ray-job.json`), each with its Ray status, polled every few seconds while any job
 * is not finished. Its own provider, beside the Runs tree, so the runs tree stays format-blind. The job's outputs
 * (rollouts, metrics) are on the shared filesystem where a verl run reader opens them; the item's tooltip lists them.
 */
import * as vscode from 'vscode';
import { RayJobRecord } from '../protocol';
import { RayJobDetails, RayJobsClient, RayJobStatus, TERMINAL_STATUSES } from '../worker/rayJobs';
import { readJobRecords } from '../worker/verl/launch';

const POLL_MS = 5000;

const STATUS_ICONS: Record<RayJobStatus, vscode.ThemeIcon> = {
  PENDING: new vscode.ThemeIcon('clock', new vscode.ThemeColor('charts.yellow')),
  RUNNING: new vscode.ThemeIcon('sync~spin', new vscode.ThemeColor('charts.blue')),
  SUCCEEDED: new vscode.ThemeIcon('pass', new vscode.ThemeColor('charts.green')),
  STOPPED: new vscode.ThemeIcon('debug-stop', new vscode.ThemeColor('charts.yellow')),
  FAILED: new vscode.ThemeIcon('error', new vscode.ThemeColor('charts.red')),
};

/** What the view knows of a job: its last status from Ray, or why it could not be read. */
export interface RayJobState {
  details?: RayJobDetails;
  error?: string;
}

/** The host:port of an address, or the address itself when a hand-edited record holds no URL. */
function hostOf(address: string): string {
  try {
    return new URL(address).host || address;
  } catch {
    return address;
  }
}

export class RayJobItem extends vscode.TreeItem {
  constructor(readonly record: RayJobRecord, readonly state: RayJobState) {
    super(record.name, vscode.TreeItemCollapsibleState.None);
    const status = state.details?.status;
    this.id = `ray:${record.submission_id}`;
    const submitted = new Date(record.submitted_at).toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
    this.description = `${status ? status.toLowerCase() : state.error ? 'unreachable' : 'checking…'} · ${submitted} · ${hostOf(record.address)}`;
    this.iconPath = status ? STATUS_ICONS[status] : new vscode.ThemeIcon(state.error ? 'warning' : 'loading~spin');
    this.contextValue = status && TERMINAL_STATUSES.has(status) ? 'grpoRayJob' : 'grpoRayJob.active';
    const lines = [
      `**${record.name}** — Ray job \`${record.submission_id}\` at ${record.address}${status ? ` — ${status}` : ''}`,
      state.details?.message ? `\n\n${state.details.message}` : '',
      state.error ? `\n\n$(warning) ${state.error}` : '',
      `\n\nrollouts: \`${record.rollout_data_dir}\`  \nvalidation: \`${record.validation_data_dir}\`  \nmetrics: \`${record.metrics_file}\`  \ncheckpoints: \`${record.checkpoint_dir}\``,
    ];
    this.tooltip = new vscode.MarkdownString(lines.join(''), true);
    this.command = { command: 'grpo.showRayJobLogs', title: 'Show Logs', arguments: [this] };
  }
}

export class RayJobsTreeProvider implements vscode.TreeDataProvider<RayJobItem | vscode.TreeItem>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly states = new Map<string, RayJobState>();
  private records: RayJobRecord[] = [];
  private problems: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private polling = false;

  constructor(
    private readonly sharedDirectory: () => string,
    private readonly clientFor: (address: string) => Promise<RayJobsClient>,
  ) {
    // Jobs launched in an earlier session are followed from the start (only unfinished ones are asked about).
    void this.refresh();
  }

  /** Re-reads the records and polls Ray once now. */
  refresh(): Promise<void> {
    this.reload();
    return this.poll();
  }

  state(submissionId: string): RayJobState | undefined {
    return this.states.get(submissionId);
  }

  record(submissionId: string): RayJobRecord | undefined {
    return this.records.find((r) => r.submission_id === submissionId);
  }

  getTreeItem(item: RayJobItem | vscode.TreeItem): vscode.TreeItem {
    return item;
  }

  getChildren(parent?: RayJobItem | vscode.TreeItem): (RayJobItem | vscode.TreeItem)[] {
    if (parent) return [];
    const items: (RayJobItem | vscode.TreeItem)[] = this.records.map((r) => new RayJobItem(r, this.states.get(r.submission_id) ?? {}));
    for (const problem of this.problems) {
      const item = new vscode.TreeItem('unreadable job record', vscode.TreeItemCollapsibleState.None);
      item.description = problem;
      item.tooltip = problem;
      item.iconPath = new vscode.ThemeIcon('warning');
      items.push(item);
    }
    return items;
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.changed.dispose();
  }

  private reload(): void {
    const dir = this.sharedDirectory();
    ({ records: this.records, problems: this.problems } = dir ? readJobRecords(dir) : { records: [], problems: [] });
    this.changed.fire();
  }

  /** Asks Ray for every unfinished job's status; schedules the next poll while any is unfinished. */
  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    if (this.timer) clearTimeout(this.timer);
    try {
      const open = this.records.filter((r) => !this.isFinished(r.submission_id));
      await Promise.all(open.map((r) => this.pollOne(r)));
      this.changed.fire();
    } finally {
      this.polling = false;
    }
    if (this.records.some((r) => !this.isFinished(r.submission_id))) this.timer = setTimeout(() => void this.poll(), POLL_MS);
  }

  private async pollOne(record: RayJobRecord): Promise<void> {
    try {
      const client = await this.clientFor(record.address);
      this.states.set(record.submission_id, { details: await client.status(record.submission_id) });
    } catch (err) {
      this.states.set(record.submission_id, { ...this.states.get(record.submission_id), error: err instanceof Error ? err.message : String(err) });
    }
  }

  private isFinished(submissionId: string): boolean {
    const status = this.states.get(submissionId)?.details?.status;
    return status !== undefined && TERMINAL_STATUSES.has(status);
  }
}
