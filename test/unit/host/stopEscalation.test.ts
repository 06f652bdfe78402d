import * as assert from 'assert';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { escalateStop, RecentStepTimes, recordRunWarning, stopGraceFor } from '../../../src/host/stopEscalation';
import { parseJsonl, RunEvent } from '../../../src/protocol';

/** A real node process running `source`; resolves its exit once it has said it is ready. */
async function start(source: string) {
  const child = spawn(process.execPath, ['-e', `${source}; console.log('ready');`], { stdio: ['ignore', 'pipe', 'ignore'] });
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  return { child, exited };
}

describe('stop escalation', function () {
  this.timeout(20000);
  const grace = { signalAfterMs: 200, killAfterMs: 200 };

  it('a worker deaf to SIGTERM (a busy loop) is killed after the grace periods, each step recorded', async () => {
    const { child, exited } = await start("process.on('SIGTERM', () => {}); setImmediate(() => { while (true) {} })");
    const recorded: string[] = [];
    const started = Date.now();
    escalateStop(child, exited, (m) => recorded.push(m), grace);
    assert.strictEqual(await exited, 'SIGKILL');
    assert.ok(Date.now() - started >= 400);
    assert.deepStrictEqual(recorded.map((m) => m.replace(/pid \d+/, 'pid N')), [
      'the worker (pid N) did not stop within 0.2 s of Stop: sent SIGTERM',
      'the worker (pid N) ignored SIGTERM for 0.2 s: killed (SIGKILL); the run resumes from its newest complete checkpoint',
    ]);
  });

  it('a worker that ends on SIGTERM is not killed', async () => {
    const { child, exited } = await start("process.on('SIGTERM', () => process.exit(0)); setInterval(() => {}, 1000)");
    const recorded: string[] = [];
    escalateStop(child, exited, (m) => recorded.push(m), grace);
    assert.strictEqual(await exited, 0);
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.strictEqual(recorded.length, 1);
    assert.match(recorded[0], /sent SIGTERM/);
  });

  it('a worker that stops in time is left alone', async () => {
    const { child, exited } = await start('setTimeout(() => {}, 50)');
    const recorded: string[] = [];
    escalateStop(child, exited, (m) => recorded.push(m), grace);
    assert.strictEqual(await exited, 0);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepStrictEqual(recorded, []);
  });

  it('records a warning in the run\'s events.jsonl, after the worker\'s lines', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-escalate-'));
    try {
      fs.writeFileSync(path.join(dir, 'events.jsonl'), '{"type":"checkpoint","time":1,"step":2,"path":"checkpoints/step-2"}\n');
      recordRunWarning(dir, 'sent SIGTERM');
      const events = parseJsonl<RunEvent>(fs.readFileSync(path.join(dir, 'events.jsonl'), 'utf8'), 'events.jsonl').records;
      assert.deepStrictEqual(events.map((e) => e.type), ['checkpoint', 'log']);
      const last = events[1];
      assert.ok(last.type === 'log' && last.level === 'warning' && last.message === 'sent SIGTERM');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('stop grace by step time', () => {
  it('10 s for fast steps; two of the slowest recent steps and 5 s more when steps are long', () => {
    assert.deepStrictEqual(stopGraceFor(undefined), { signalAfterMs: 10000, killAfterMs: 10000 });
    assert.deepStrictEqual(stopGraceFor(0.2), { signalAfterMs: 10000, killAfterMs: 10000 });
    // A GPT-2-sized LoRA update of 40 s: 85 s before SIGTERM, 85 s more before SIGKILL.
    assert.deepStrictEqual(stopGraceFor(40), { signalAfterMs: 85000, killAfterMs: 85000 });
    assert.deepStrictEqual(stopGraceFor(Number.NaN), { signalAfterMs: 10000, killAfterMs: 10000 });
  });

  it('keeps the slowest of the last 5 step times, skipping missing or bad ones', () => {
    const times = new RecentStepTimes();
    assert.strictEqual(times.slowest(), undefined);
    [25, 0.3, 0.2, undefined, Number.NaN, -1, 0.25, 0.3].forEach((t) => times.add(t));
    assert.strictEqual(times.slowest(), 25, 'the warm-up step is still among the last 5');
    times.add(0.2);
    assert.strictEqual(times.slowest(), 0.3);
  });
});
