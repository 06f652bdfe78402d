/**
 * The Ray Jobs REST client against a local HTTP server that answers as Ray's job head does (the payloads of the
 * "Ray Jobs REST API" page and its OpenAPI specification: {job_id, submission_id} on submit, JobDetails on status,
 * {logs}, {stopped}; errors as plain text with 404 / 400 / 401). Ray itself cannot be installed here.
 */
import * as assert from 'assert';
import { RayJobsClient, RayJobsError, rayBaseUrl } from '../../../src/worker/rayJobs';
import { FakeRay } from './fakeRay';

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
    // The host shows a failed submission's error as it is: it says what failed, once.
    await assert.rejects(client.submit({ entrypoint: 'echo' }), /^RayJobsError: cannot submit the job: no answer from Ray at http:\/\/127\.0\.0\.1:\d+ \(.+\); check grpo\.ray\.address and that the dashboard port is reachable$/);
  });

  it('the address: http:// added to a bare host:port, other schemes and empty values refused', () => {
    assert.strictEqual(rayBaseUrl('head:8265').href, 'http://head:8265/');
    assert.strictEqual(rayBaseUrl('https://ray.example.com/proxy').href, 'https://ray.example.com/proxy/');
    assert.throws(() => rayBaseUrl('ray://head:10001'), /must be the dashboard's http\(s\) address .* not ray:\/\//);
    assert.throws(() => rayBaseUrl('  '), /the Ray address is empty/);
  });
});
