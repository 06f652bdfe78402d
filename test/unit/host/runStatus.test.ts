import * as assert from 'assert';
import { statusFromEvents } from '../../../src/host/runStore';
import { RunEvent, validateRunConfig } from '../../../src/protocol';

const config = validateRunConfig({ name: 'x', task: { type: 'bandit' } });
// A pid that is certainly not alive: beyond Linux's pid_max.
const started = (time: number, resumedFrom?: number): RunEvent => ({
  type: 'started', time, runId: 'r', runDir: '/r', pid: 2 ** 30, backend: 'wasm', device: 'cpu', fallbacks: [], config, resumedFrom,
});

describe('run status from events', () => {
  it('reads the outcome of the newest process', () => {
    assert.strictEqual(statusFromEvents([started(1), { type: 'finished', time: 2, outcome: 'completed', steps: 3 }], false), 'completed');
    assert.strictEqual(statusFromEvents([started(1), { type: 'error', time: 2, message: 'boom' }], false), 'failed');
    assert.strictEqual(statusFromEvents([{ type: 'error', time: 2, message: 'before start' }], false), 'failed');
  });

  it('a resumed run is running (or interrupted), whatever the earlier process ended with', () => {
    const resumed: RunEvent[] = [started(1), { type: 'finished', time: 2, outcome: 'stopped', steps: 5 }, started(3, 5), { type: 'checkpoint', time: 4, step: 6, path: 'checkpoints/step-6' }];
    assert.strictEqual(statusFromEvents(resumed, true), 'running');
    assert.strictEqual(statusFromEvents(resumed, false), 'interrupted');
    assert.strictEqual(statusFromEvents([...resumed, { type: 'finished', time: 5, outcome: 'completed', steps: 8 }], false), 'completed');
  });

  it('a run whose worker vanished without a last word is interrupted', () => {
    assert.strictEqual(statusFromEvents([started(1)], false), 'interrupted');
    assert.strictEqual(statusFromEvents([started(1)], true), 'running');
  });
});
