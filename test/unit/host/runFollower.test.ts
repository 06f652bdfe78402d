import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { RunFollower } from '../../../src/host/runFollower';
import { openRunReader, OurRunReader } from '../../../src/protocol/runReaders';
import { validateRunConfig } from '../../../src/protocol';
import { RunDirectoryWriter } from '../../../src/worker/runDirectory';

describe('following a run written by another process', () => {
  let tmp: string;
  beforeEach(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-follow-'))));
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('returns only records appended since the last poll, complete lines only, and the newest rollouts step of each source', async () => {
    const runDir = path.join(tmp, 'run');
    const writer = new RunDirectoryWriter(runDir, validateRunConfig({ name: 'f', task: { type: 'bandit' } }));
    writer.appendMetrics({ step: 1, time: 1, metrics: { reward: 0 } });
    writer.appendRollouts({ step: 1, groups: [] });
    const reader = new OurRunReader(runDir);
    const follower = new RunFollower(reader);
    assert.deepStrictEqual(await follower.poll(), { metrics: [], events: [], restarted: false, rollouts: [] });

    writer.appendMetrics({ step: 2, time: 2, metrics: { reward: 0.5 } });
    writer.appendRollouts({ step: 2, groups: [] });
    writer.appendRollouts({ step: 3, groups: [] });
    fs.appendFileSync(path.join(runDir, 'metrics.jsonl'), '{"step":3,"ti');
    writer.appendEvalRollouts({ step: 2, groups: [] });
    const first = await follower.poll();
    assert.deepStrictEqual(first.metrics.map((m) => m.step), [2]);
    assert.deepStrictEqual(first.rollouts.map((r) => [r.source, r.record.step]), [['train', 3], ['eval', 2]]);
    // The indexes are shared with the dashboard's requests: they know the new steps too.
    assert.deepStrictEqual(reader.indexes.train.steps(), [1, 2, 3]);

    fs.appendFileSync(path.join(runDir, 'metrics.jsonl'), 'me":3,"metrics":{}}\n');
    writer.appendEvent({ type: 'finished', time: 4, outcome: 'completed', steps: 3 });
    const second = await follower.poll();
    assert.deepStrictEqual(second.metrics.map((m) => m.step), [3]);
    assert.deepStrictEqual(second.events.map((e) => e.type), ['finished']);
    assert.deepStrictEqual(second.rollouts, []);
    writer.close();
  });
});

describe('following a verl run as it grows', () => {
  let tmp: string;
  beforeEach(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-follow-verl-'))));
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const line = (step: number, reward: number) => `${JSON.stringify({ step, data: { 'critic/score/mean': reward } })}\n`;

  it('reads new steps of the file logger and new rollout dumps, and survives the logger file being truncated and rewritten on resume', async () => {
    const run = path.join(tmp, 'verl');
    fs.cpSync(path.resolve(__dirname, '../../fixtures/verl/run'), run, { recursive: true });
    const log = path.join(run, 'demo.jsonl');
    const follower = new RunFollower(openRunReader(run));
    assert.deepStrictEqual(await follower.poll(), { metrics: [], events: [], restarted: false, rollouts: [] });

    fs.appendFileSync(log, line(4, 0.75));
    fs.copyFileSync(path.join(run, 'rollout_data', '3.jsonl'), path.join(run, 'rollout_data', '4.jsonl'));
    const grown = await follower.poll();
    assert.deepStrictEqual(grown.metrics.map((m) => [m.step, m.metrics.reward]), [[4, 0.75]]);
    assert.deepStrictEqual(grown.rollouts.map((r) => [r.source, r.record.step, r.record.groups.length]), [['train', 4, 2]]);
    assert.strictEqual(grown.restarted, false);

    // verl resumed from the step-2 checkpoint: FileLogger opens the file "wb", so it shrinks to the new run's lines.
    fs.writeFileSync(log, line(3, 0.25));
    const shrunk = await follower.poll();
    assert.strictEqual(shrunk.restarted, true);
    assert.deepStrictEqual(shrunk.metrics.map((m) => [m.step, m.metrics.reward]), [[3, 0.25]]);

    // Rewritten past its old length between two polls: the bytes before the old end changed, so it restarts too.
    fs.writeFileSync(log, line(3, 0.5) + line(4, 0.5) + line(5, 0.5) + line(6, 0.5) + line(7, 0.5));
    const rewritten = await follower.poll();
    assert.strictEqual(rewritten.restarted, true);
    assert.deepStrictEqual(rewritten.metrics.map((m) => m.step), [3, 4, 5, 6, 7]);
    assert.deepStrictEqual((await follower.poll()).metrics, [], 'nothing new: nothing read twice');
  });
});
