/**
 * A client of Ray's Jobs REST API (the dashboard's HTTP server, port 8265 by default), as documented in "Ray Jobs
 * REST API" and its OpenAPI specification (docs.ray.io/en/latest/cluster/running-applications/job-submission/):
 *
 * - POST /api/jobs/                    {entrypoint, submission_id?, runtime_env?, metadata?} → {job_id, submission_id}
 * - GET  /api/jobs/{id}                → JobDetails {status: PENDING|RUNNING|STOPPED|SUCCEEDED|FAILED, message, …}
 * - GET  /api/jobs/{id}/logs           → {logs}
 * - POST /api/jobs/{id}/stop           → {stopped}
 *
 * With token authentication on (Ray ≥ 2.52, RAY_AUTH_MODE=token) every request carries `Authorization: Bearer`.
 * Ray also offers /logs/tail as a WebSocket; `tailLogs` here follows the plain logs endpoint instead (Node 20 has no
 * WebSocket client), yielding only the text not seen before. Uses Node's fetch; no vscode.
 */

export type RayJobStatus = 'PENDING' | 'RUNNING' | 'STOPPED' | 'SUCCEEDED' | 'FAILED';
export const RAY_JOB_STATUSES: readonly RayJobStatus[] = ['PENDING', 'RUNNING', 'STOPPED', 'SUCCEEDED', 'FAILED'];
export const TERMINAL_STATUSES: ReadonlySet<RayJobStatus> = new Set(['STOPPED', 'SUCCEEDED', 'FAILED']);

export interface RaySubmitRequest {
  entrypoint: string;
  submission_id?: string;
  runtime_env?: { env_vars?: Record<string, string>; working_dir?: string; pip?: string[]; [key: string]: unknown };
  /** Ray keeps it with the job (string values, as the Python SDK's Dict[str, str]). */
  metadata?: Record<string, string>;
  entrypoint_num_cpus?: number;
  entrypoint_num_gpus?: number;
}

/** The fields of Ray's JobDetails this extension reads; Ray sends more. */
export interface RayJobDetails {
  submission_id?: string | null;
  job_id?: string | null;
  status: RayJobStatus;
  entrypoint?: string;
  message?: string | null;
  error_type?: string | null;
  start_time?: number | null;
  end_time?: number | null;
  metadata?: Record<string, string> | null;
  driver_exit_code?: number | null;
}

export class RayJobsError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = 'RayJobsError';
  }
}

export interface RayJobsClientOptions {
  /** The dashboard address, `http://head:8265` (a bare `head:8265` gets http://). */
  address: string;
  /** Ray's auth token (RAY_AUTH_MODE=token); sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Per-request limit, ms (default 30 s). */
  timeoutMs?: number;
}

/** The dashboard's base URL, or an error naming the setting's value when it is no http(s) address. */
export function rayBaseUrl(address: string): URL {
  const trimmed = address.trim();
  if (!trimmed) throw new RayJobsError('the Ray address is empty: set it to the dashboard, e.g. http://head-node:8265');
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `http://${trimmed}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new RayJobsError(`the Ray address "${address}" is not a URL (expected e.g. http://head-node:8265)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new RayJobsError(`the Ray address "${address}" must be the dashboard's http(s) address (e.g. http://head-node:8265), not ${url.protocol}//`);
  }
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export class RayJobsClient {
  private readonly base: URL;

  constructor(private readonly options: RayJobsClientOptions) {
    this.base = rayBaseUrl(options.address);
  }

  get address(): string {
    return this.base.href.replace(/\/$/, '');
  }

  /** Submits a job; returns its submission id (Ray's `submission_id`, or `job_id` from older servers). */
  async submit(request: RaySubmitRequest): Promise<string> {
    const body = await this.request('POST', 'api/jobs/', request, 'submit the job');
    const id = isRecord(body) ? body.submission_id ?? body.job_id : undefined;
    if (typeof id !== 'string' || !id) throw new RayJobsError(`Ray at ${this.address} accepted the job but sent no submission_id (got ${JSON.stringify(body)})`);
    return id;
  }

  async status(submissionId: string): Promise<RayJobDetails> {
    const body = await this.request('GET', `api/jobs/${encodeURIComponent(submissionId)}`, undefined, `read job ${submissionId}`);
    if (!isRecord(body) || typeof body.status !== 'string' || !RAY_JOB_STATUSES.includes(body.status as RayJobStatus)) {
      throw new RayJobsError(`Ray at ${this.address} answered job ${submissionId} without a known status (got ${JSON.stringify(body)?.slice(0, 200)})`);
    }
    return body as unknown as RayJobDetails;
  }

  async logs(submissionId: string): Promise<string> {
    const body = await this.request('GET', `api/jobs/${encodeURIComponent(submissionId)}/logs`, undefined, `read the logs of job ${submissionId}`);
    if (!isRecord(body) || typeof body.logs !== 'string') throw new RayJobsError(`Ray at ${this.address} sent no "logs" text for job ${submissionId}`);
    return body.logs;
  }

  /** Asks Ray to stop the job; false when it had already ended (Ray's `stopped: false`). */
  async stop(submissionId: string): Promise<boolean> {
    const body = await this.request('POST', `api/jobs/${encodeURIComponent(submissionId)}/stop`, undefined, `stop job ${submissionId}`);
    if (!isRecord(body) || typeof body.stopped !== 'boolean') throw new RayJobsError(`Ray at ${this.address} answered the stop of job ${submissionId} without "stopped"`);
    return body.stopped;
  }

  /**
   * Follows a job's logs until it ends: polls the logs endpoint every `intervalMs` and yields the new text. Ray's
   * logs only grow while a job runs; if they come back shorter (a restarted driver), the whole text is yielded again
   * after a marker line rather than a wrong suffix.
   */
  async *tailLogs(submissionId: string, options: { intervalMs?: number; signal?: AbortSignal } = {}): AsyncGenerator<string> {
    const interval = options.intervalMs ?? 2000;
    let seen = '';
    for (;;) {
      if (options.signal?.aborted) return;
      const [logs, details] = await Promise.all([this.logs(submissionId), this.status(submissionId)]);
      if (logs.startsWith(seen)) {
        if (logs.length > seen.length) yield logs.slice(seen.length);
      } else {
        yield `\n[logs of job ${submissionId} restarted]\n${logs}`;
      }
      seen = logs;
      if (TERMINAL_STATUSES.has(details.status)) return;
      await delay(interval, options.signal);
    }
  }

  private async request(method: 'GET' | 'POST', route: string, body: unknown, what: string): Promise<unknown> {
    const url = new URL(route, this.base);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    let response: Response;
    try {
      response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000) });
    } catch (err) {
      const cause = err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err);
      throw new RayJobsError(`cannot ${what}: no answer from Ray at ${this.address} (${cause}); check grpo.ray.address and that the dashboard port is reachable`);
    }
    const text = await response.text();
    if (!response.ok) throw new RayJobsError(`cannot ${what}: Ray at ${this.address} answered ${response.status} ${response.statusText}${explain(response.status, text)}`, response.status);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new RayJobsError(`cannot ${what}: Ray at ${this.address} answered with something that is not JSON: ${text.slice(0, 200)}`);
    }
  }
}

/** Ray's error text (it sends plain text, or JSON with `message`), and what a 401/403 usually means. */
function explain(status: number, text: string): string {
  let detail = text.trim();
  try {
    const parsed = JSON.parse(detail) as unknown;
    if (isRecord(parsed) && typeof parsed.message === 'string') detail = parsed.message;
  } catch {
    // plain text, as Ray's job head answers errors
  }
  const hint = status === 401 || status === 403 ? ' (the cluster requires a token: run "GRPO: Set Ray Token")' : '';
  return `${detail ? `: ${detail.slice(0, 500)}` : ''}${hint}`;
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
