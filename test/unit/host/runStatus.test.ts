import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runStateOf } from '../../../src/protocol/runStore';
import { RunEvent, StartedEvent, validateRunConfig } from '../../../src/protocol';
import { processStartTime } from '../../../src/protocol/runLockFile';
import { RunLock } from '../../../src/worker/runLock';

const config = validateRunConfig({ name: 'x', task: { type: 'bandit' } });
// A pid that is certainly not alive: beyond Linux's pid_max.
const started = (time: number, resumedFrom?: number): RunEvent => ({
  type: 'started', time, runId: 'r', runDir: '/r', pid: 2 ** 30, backend: 'wasm', device: 'cpu', fallbacks: [], config, resumedFrom,
});

describe('run status from events', () => {
  it('reads the outcome of the newest process', () => {
    assert.strictEqual(runStateOf([started(1), { type: 'finished', time: 2, outcome: 'completed', steps: 3 }], false).status, 'completed');
    assert.strictEqual(runStateOf([started(1), { type: 'error', time: 2, message: 'boom' }], false).status, 'failed');
    assert.strictEqual(runStateOf([{ type: 'error', time: 2, message: 'before start' }], false).status, 'failed');
  });

  it('a resumed run is running (or interrupted), whatever the earlier process ended with', () => {
    const resumed: RunEvent[] = [started(1), { type: 'finished', time: 2, outcome: 'stopped', steps: 5 }, started(3, 5), { type: 'checkpoint', time: 4, step: 6, path: 'checkpoints/step-6' }];
    assert.strictEqual(runStateOf(resumed, true).status, 'running');
    assert.strictEqual(runStateOf(resumed, false).status, 'interrupted');
    assert.strictEqual(runStateOf([...resumed, { type: 'finished', time: 5, outcome: 'completed', steps: 8 }], false).status, 'completed');
  });

  it('a run whose worker vanished without a last word is interrupted', () => {
    assert.strictEqual(runStateOf([started(1)], false).status, 'interrupted');
    assert.strictEqual(runStateOf([started(1)], true).status, 'running');
  });
});

describe('run status never trusts a bare pid', () => {
  let tmp: string;
  beforeEach(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-status-'))));
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const startedBy = (pid: number): RunEvent => ({ ...(started(1) as StartedEvent), pid });

  it('a live pid in the started event is not enough: the run is interrupted without a lock', () => {
    // Before: this process's pid (alive) in `started` made the run "running" forever after its worker died.
    assert.strictEqual(runStateOf([startedBy(process.pid)], false, tmp).status, 'interrupted');
  });

  it('a lock held by a live process makes it running; a lock of a reused pid or a dead one does not', () => {
    const lock = RunLock.acquire(tmp);
    try {
      assert.strictEqual(runStateOf([started(1)], false, tmp).status, 'running');
    } finally {
      lock.release();
    }
    assert.strictEqual(runStateOf([started(1)], false, tmp).status, 'interrupted');
    fs.writeFileSync(path.join(tmp, 'run.lock'), JSON.stringify({ pid: 2 ** 30, start_time: null, hostname: os.hostname(), time: 1 }));
    assert.strictEqual(runStateOf([started(1)], false, tmp).status, 'interrupted');
    if (processStartTime(process.pid) !== null) {
      fs.writeFileSync(path.join(tmp, 'run.lock'), JSON.stringify({ pid: process.pid, start_time: 'linux:1', hostname: os.hostname(), time: 1 }));
      assert.strictEqual(runStateOf([started(1)], false, tmp).status, 'interrupted');
    }
  });
});
