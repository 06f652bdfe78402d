import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { validateRunConfig } from '../../../src/protocol';
import { newRunDirectory } from '../../../src/protocol/runFolder';
import { RunDirectoryWriter } from '../../../src/worker/runDirectory';

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
});
