/**
 * A stand-in for Ray's job head (the dashboard's Jobs REST API) for tests, answering with the documented payloads:
 * {job_id, submission_id} on submit, JobDetails on status, {logs}, {stopped}; errors as plain text (404 for an
 * unknown job, 400 for a duplicate submission_id, 401 without the token when one is required). Ray cannot be
 * installed on these machines. Used by the client's unit tests and the real-VS-Code launch test.
 */
import * as http from 'http';
import { AddressInfo } from 'net';

export interface FakeJob {
  status: string;
  logs: string;
  entrypoint: string;
  metadata: Record<string, string>;
  runtime_env: unknown;
}

export interface Seen {
  method: string;
  url: string;
  authorization?: string;
  body?: unknown;
}

/** A stand-in for Ray's job head: jobs in memory, status advanced by the test. */
export class FakeRay {
  readonly jobs = new Map<string, FakeJob>();
  readonly seen: Seen[] = [];
  requiredToken?: string;
  private server?: http.Server;

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let text = '';
    for await (const chunk of req) text += String(chunk);
    const body = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    this.seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, body });
    const send = (status: number, payload: unknown): void => {
      res.writeHead(status, { 'content-type': typeof payload === 'string' ? 'text/plain' : 'application/json' });
      res.end(typeof payload === 'string' ? payload : JSON.stringify(payload));
    };
    if (this.requiredToken && req.headers.authorization !== `Bearer ${this.requiredToken}`) return send(401, 'Unauthorized: missing or invalid authentication token');
    const route = /^\/api\/jobs\/([^/]*)(\/logs|\/stop)?$/.exec(req.url ?? '');
    if (!route) return send(404, 'Not Found');
    const id = decodeURIComponent(route[1]);
    if (req.method === 'POST' && id === '') {
      const submissionId = (body?.submission_id as string | undefined) ?? 'raysubmit_4LamXRuQpYdSMg7J';
      if (this.jobs.has(submissionId)) return send(400, `Job with submission_id ${submissionId} already exists. Please use a different submission_id.`);
      this.jobs.set(submissionId, { status: 'PENDING', logs: '', entrypoint: String(body?.entrypoint), metadata: (body?.metadata as Record<string, string>) ?? {}, runtime_env: body?.runtime_env ?? {} });
      return send(200, { job_id: submissionId, submission_id: submissionId });
    }
    const job = this.jobs.get(id);
    if (!job) return send(404, `Job ${id} does not exist`);
    if (req.method === 'GET' && route[2] === '/logs') return send(200, { logs: job.logs });
    if (req.method === 'POST' && route[2] === '/stop') {
      const running = job.status === 'PENDING' || job.status === 'RUNNING';
      if (running) job.status = 'STOPPED';
      return send(200, { stopped: running });
    }
    if (req.method === 'GET' && route[2] === undefined) {
      return send(200, {
        type: 'SUBMISSION', job_id: null, submission_id: id, driver_info: null, status: job.status, entrypoint: job.entrypoint,
        message: job.status === 'FAILED' ? 'Job entrypoint command failed with exit code 1' : `Job is ${job.status.toLowerCase()}.`,
        error_type: null, start_time: 1764565200000, end_time: null, metadata: job.metadata, runtime_env: job.runtime_env,
        driver_agent_http_address: null, driver_node_id: null, driver_exit_code: null,
      });
    }
    return send(405, 'Method Not Allowed');
  }
}
