import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { RunFollower } from '../../../src/host/runFollower';
import { OurRunReader } from '../../../src/protocol/runReaders';
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
