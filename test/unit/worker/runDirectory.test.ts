import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { validateRunConfig } from '../../../src/protocol';
import { newRunDirectory } from '../../../src/protocol/runFolder';
import { rolloutStepIndex } from '../../../src/protocol/stepIndex';
import type { RolloutsRecord, WorkerMessage } from '../../../src/protocol';
import { RunDirectoryWriter } from '../../../src/worker/runDirectory';
import { RunSink } from '../../../src/worker/sink';
import { tokenBlockColumns } from '../../../src/protocol/tokenBlocks';

describe('run directory writer', () => {
  let tmp: string;
  const config = validateRunConfig({ name: 'w', task: { type: 'bandit' } });
  beforeEach(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-rd-'))));
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('writes config.json and appends one line per record', () => {
    const dir = path.join(tmp, 'run');
    const writer = new RunDirectoryWriter(dir, config);
    writer.appendMetrics({ step: 1, time: 1, metrics: { reward: 0.5 } });
    writer.appendMetrics({ step: 2, time: 2, metrics: { reward: 0.75 } });
    writer.appendEvent({ type: 'finished', time: 3, outcome: 'completed', steps: 2 });
    writer.close();
    assert.deepStrictEqual(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')), config);
    assert.strictEqual(fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8'), '{"step":1,"time":1,"metrics":{"reward":0.5}}\n{"step":2,"time":2,"metrics":{"reward":0.75}}\n');
    assert.strictEqual(fs.readFileSync(path.join(dir, 'events.jsonl'), 'utf8').split('\n').length, 2);
  });

  it('refuses a folder that already holds a run, leaving it untouched', () => {
    const dir = path.join(tmp, 'run');
    new RunDirectoryWriter(dir, config).close();
    fs.writeFileSync(path.join(dir, 'metrics.jsonl'), 'kept\n');
    assert.throws(() => new RunDirectoryWriter(dir, config), /already holds a run/);
    assert.strictEqual(fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8'), 'kept\n');
  });

  it('reopening a run for resume drops a torn last line, so new records start on a line of their own', () => {
    const dir = path.join(tmp, 'run');
    new RunDirectoryWriter(dir, config).close();
    fs.writeFileSync(path.join(dir, 'metrics.jsonl'), '{"step":1,"time":1,"metrics":{}}\n{"step":2,"ti');
    const reopened = new RunDirectoryWriter(dir, undefined);
    reopened.appendMetrics({ step: 2, time: 2, metrics: {} });
    reopened.close();
    assert.strictEqual(fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8'), '{"step":1,"time":1,"metrics":{}}\n{"step":2,"time":2,"metrics":{}}\n');
    assert.throws(() => new RunDirectoryWriter(path.join(tmp, 'none'), undefined), /is not a run directory/);
  });

  it('drops a torn tail longer than the chunk it reads from the end at a time, and a file that is only a torn line', () => {
    const dir = path.join(tmp, 'run');
    new RunDirectoryWriter(dir, config).close();
    const complete = '{"step":1,"groups":[]}\n';
    fs.writeFileSync(path.join(dir, 'rollouts.jsonl'), complete + '{"step":2,"groups":[' + 'x'.repeat(300_000));
    fs.writeFileSync(path.join(dir, 'eval_rollouts.jsonl'), '{"step":1,"gr');
    new RunDirectoryWriter(dir, undefined).close();
    assert.strictEqual(fs.readFileSync(path.join(dir, 'rollouts.jsonl'), 'utf8'), complete);
    assert.strictEqual(fs.readFileSync(path.join(dir, 'eval_rollouts.jsonl'), 'utf8'), '');
  });

  it('names new runs by start time and disambiguates runs started in the same second', () => {
    const now = new Date(2026, 10, 21, 8, 0, 1);
    const first = newRunDirectory(tmp, 'demo', now);
    assert.strictEqual(path.basename(first), '20261121-080001-demo');
    fs.mkdirSync(first);
    assert.strictEqual(path.basename(newRunDirectory(tmp, 'demo', now)), '20261121-080001-demo-2');
  });

  it('the sink stores a step compactly and sends observers the record a reader of the run folder gets back', () => {
    const dir = path.join(tmp, 'run');
    const sent: WorkerMessage[] = [];
    const sink = new RunSink(new RunDirectoryWriter(dir, config), [(m) => sent.push(m)]);
    const f = Math.fround;
    const old = [-0.1234567891, -2.5, Math.log(0.3)];
    const ratio = [f(1.00001), f(0.7), f(1.3)];
    const policy = old.map((o, t) => f(f(o) + Math.log(ratio[t])));
    const ref = policy.map((p, t) => f(p + 0.0123 * (t - 1)));
    // As the trainer hands it over: unrounded (float32 tensor values, the sampler's float64 log-probs), NaN entropy.
    const record: RolloutsRecord = {
      step: 3,
      groups: [{ prompt: 'p', rollouts: [{ completion: 'abc', reward: 1, rewards: { r: 1 }, advantage: 0.5, finish_reason: 'stop', tokens: {
        text: ['a', 'b', 'c'], logprob: old.map((o, t) => o + Math.log(ratio[t])), old_logprob: old, ref_logprob: ref, advantage: [0.5, 0.5, 0.5], ratio,
        // k3 in float32 arithmetic, as the loss computes it: the reader recomputes it (float64) from the log-probs.
        kl: policy.map((p, t) => f(f(f(Math.exp(f(ref[t] - p))) - f(ref[t] - p)) - 1)),
        clipped_low: [false, true, false], clipped_high: [false, false, true], entropy: [f(0.1), Number.NaN, f(2.25)],
      } }] }],
    };
    sink.rollouts(record);
    sink.close();
    const message = sent[0];
    assert.ok(message.type === 'rollouts');
    const tokens = message.record.groups[0].rollouts[0].tokens;
    assert.deepStrictEqual(tokens.old_logprob, [-0.123457, -2.5, -1.20397]);
    assert.deepStrictEqual(tokens.entropy, [0.1, null, 2.25]);
    assert.ok(!fs.readFileSync(path.join(dir, 'rollouts.jsonl'), 'utf8').includes('"tokens"'));
    assert.deepStrictEqual(tokenBlockColumns(fs.readFileSync(path.join(dir, 'rollouts.tokens.bin'))), {
      old_logprob: 'f32', ref_logprob: 'f32', advantage: 'f32', ratio: 'f32', entropy: 'f32', clipped_low: 'bits', clipped_high: 'bits', logprob: 'derived', kl: 'derived',
    });
    // What the dashboard got live is exactly what it reads back from the folder later (over IPC, JSON), kl included.
    assert.deepStrictEqual(rolloutStepIndex(path.join(dir, 'rollouts.jsonl')).read(3), JSON.parse(JSON.stringify(message.record)));
    tokens.kl?.forEach((v, t) => assert.ok(Math.abs(v - (record.groups[0].rollouts[0].tokens.kl?.[t] ?? NaN)) < 1e-7, `kl ${v}`));
  });
});
