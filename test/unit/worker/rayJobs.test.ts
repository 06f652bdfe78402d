/**
 * The Ray Jobs REST client against a local HTTP server that answers as Ray's job head does (the payloads of the
 * "Ray Jobs REST API" page and its OpenAPI specification: {job_id, submission_id} on submit, JobDetails on status,
 * {logs}, {stopped}; errors as plain text with 404 / 400 / 401). Ray itself cannot be installed here.
 */
import * as assert from 'assert';
import * as http from 'http';
import { AddressInfo } from 'net';
import { RayJobsClient, RayJobsError, rayBaseUrl } from '../../../src/worker/rayJobs';

interface FakeJob {
  status: string;
  logs: string;
  entrypoint: string;
  metadata: Record<string, string>;
  runtime_env: unknown;
}

interface Seen {
  method: string;
  url: string;
  authorization?: string;
  body?: unknown;
}

/** A stand-in for Ray's job head: jobs in memory, status advanced by the test. */
class FakeRay {
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

describe('Ray Jobs REST client (against a local server answering as Ray)', () => {
  let ray: FakeRay;
  let address: string;
  beforeEach(async () => {
    ray = new FakeRay();
    address = await ray.start();
  });
  afterEach(() => ray.stop());

  it('submit: POST /api/jobs/ with entrypoint, submission_id, runtime_env and metadata; returns the submission id', async () => {
    const client = new RayJobsClient({ address });
    const id = await client.submit({ entrypoint: 'python3 -m verl.trainer.main_ppo a=1', submission_id: 'grpo-x-1', runtime_env: { env_vars: { VERL_FILE_LOGGER_PATH: '/shared/m.jsonl' } }, metadata: { run_name: 'x' } });
    assert.strictEqual(id, 'grpo-x-1');
    assert.deepStrictEqual(ray.seen[0], {
      method: 'POST', url: '/api/jobs/', authorization: undefined,
      body: { entrypoint: 'python3 -m verl.trainer.main_ppo a=1', submission_id: 'grpo-x-1', runtime_env: { env_vars: { VERL_FILE_LOGGER_PATH: '/shared/m.jsonl' } }, metadata: { run_name: 'x' } },
    });
    // Without a submission_id Ray makes one up.
    assert.strictEqual(await client.submit({ entrypoint: 'echo hello' }), 'raysubmit_4LamXRuQpYdSMg7J');
  });

  it('status follows PENDING → RUNNING → SUCCEEDED; logs and their tail give each new piece once', async () => {
    const client = new RayJobsClient({ address });
    await client.submit({ entrypoint: 'echo', submission_id: 'j1' });
    assert.strictEqual((await client.status('j1')).status, 'PENDING');
    const job = ray.jobs.get('j1');
    assert.ok(job);
    job.status = 'RUNNING';
    job.logs = 'step:1 - reward:0.1\n';
    const details = await client.status('j1');
    assert.strictEqual(details.status, 'RUNNING');
    assert.strictEqual(details.submission_id, 'j1');
    assert.strictEqual(await client.logs('j1'), 'step:1 - reward:0.1\n');

    const pieces: string[] = [];
    let polls = 0;
    for await (const piece of client.tailLogs('j1', { intervalMs: 5 })) {
      pieces.push(piece);
      polls++;
      if (polls === 1) job.logs += 'step:2 - reward:0.3\n';
      if (polls === 2) {
        job.logs += 'done\n';
        job.status = 'SUCCEEDED';
      }
    }
    assert.deepStrictEqual(pieces, ['step:1 - reward:0.1\n', 'step:2 - reward:0.3\n', 'done\n']);
  });

  it('a tail whose logs shrink restarts with a marker, not a wrong suffix', async () => {
    const client = new RayJobsClient({ address });
    await client.submit({ entrypoint: 'echo', submission_id: 'j2' });
    const job = ray.jobs.get('j2');
    assert.ok(job);
    job.status = 'RUNNING';
    job.logs = 'first driver line\n';
    const pieces: string[] = [];
    for await (const piece of client.tailLogs('j2', { intervalMs: 5 })) {
      pieces.push(piece);
      job.logs = 'second\n';
      if (pieces.length === 2) job.status = 'FAILED';
    }
    assert.deepStrictEqual(pieces.slice(0, 2), ['first driver line\n', '\n[logs of job j2 restarted]\nsecond\n']);
  });

  it('stop: POST /api/jobs/{id}/stop; true while running, false once ended', async () => {
    const client = new RayJobsClient({ address });
    await client.submit({ entrypoint: 'sleep 100', submission_id: 'j3' });
    assert.strictEqual(await client.stop('j3'), true);
    assert.strictEqual((await client.status('j3')).status, 'STOPPED');
    assert.strictEqual(await client.stop('j3'), false);
    assert.deepStrictEqual(ray.seen.filter((s) => s.url.endsWith('/stop')).map((s) => s.method), ['POST', 'POST']);
  });

  it('sends the token as a bearer header; without it a token cluster\'s 401 says to set one', async () => {
    ray.requiredToken = 's3cret';
    const withToken = new RayJobsClient({ address, token: 's3cret' });
    assert.strictEqual(await withToken.submit({ entrypoint: 'echo', submission_id: 'j4' }), 'j4');
    assert.ok(ray.seen.every((s) => s.authorization === 'Bearer s3cret'));
    const without = new RayJobsClient({ address });
    await assert.rejects(without.status('j4'), (err: unknown) => {
      assert.ok(err instanceof RayJobsError);
      assert.strictEqual(err.status, 401);
      assert.match(err.message, /^cannot read job j4: Ray at http:\/\/127\.0\.0\.1:\d+ answered 401 Unauthorized: Unauthorized: missing or invalid authentication token \(the cluster requires a token: run "GRPO: Set Ray Token"\)$/);
      return true;
    });
  });

  it('errors name the job, the address and Ray\'s own reason', async () => {
    const client = new RayJobsClient({ address });
    await assert.rejects(client.status('nope'), /^RayJobsError: cannot read job nope: Ray at .* answered 404 Not Found: Job nope does not exist$/);
    await client.submit({ entrypoint: 'echo', submission_id: 'dup' });
    await assert.rejects(client.submit({ entrypoint: 'echo', submission_id: 'dup' }), /answered 400 Bad Request: Job with submission_id dup already exists/);
    await ray.stop();
    await assert.rejects(client.logs('dup'), /^RayJobsError: cannot read the logs of job dup: no answer from Ray at http:\/\/127\.0\.0\.1:\d+ \(.+\); check grpo\.ray\.address/);
  });

  it('the address: http:// added to a bare host:port, other schemes and empty values refused', () => {
    assert.strictEqual(rayBaseUrl('head:8265').href, 'http://head:8265/');
    assert.strictEqual(rayBaseUrl('https://ray.example.com/proxy').href, 'https://ray.example.com/proxy/');
    assert.throws(() => rayBaseUrl('ray://head:10001'), /must be the dashboard's http\(s\) address .* not ray:\/\//);
    assert.throws(() => rayBaseUrl('  '), /the Ray address is empty/);
  });
});
