import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { deriveRunState, Liveness, RUN_ACTIONS, RUN_STATES, runContextValue, RunEvent, RunState, validateRunConfig } from '../../../src/protocol';

const config = validateRunConfig({ name: 'x', task: { type: 'bandit' } });
const started = (time: number, resumedFrom?: number): RunEvent => ({
  type: 'started', time, runId: 'r', runDir: '/r', pid: 1, backend: 'wasm', device: 'cpu', fallbacks: [], config, resumedFrom,
});
const paused = (time: number, step: number): RunEvent => ({ type: 'paused', time, step });
const continued = (time: number, step: number): RunEvent => ({ type: 'continued', time, step });
const stopRequested = (time: number): RunEvent => ({ type: 'stop_requested', time });
const pauseRequested = (time: number): RunEvent => ({ type: 'pause_requested', time });
const alive = { alive: true };
const gone = { alive: false };
const state = (events: RunEvent[], liveness: Liveness = alive): string => {
  const derived = deriveRunState(events, liveness);
  return derived.state === derived.status.toUpperCase() ? derived.state : `${derived.state}/${derived.status}`;
};

describe('RunState derivation', () => {
  it('a live worker without control events is RUNNING; a pause recorded at a step boundary makes it PAUSED', () => {
    assert.strictEqual(state([started(1)]), 'RUNNING');
    assert.strictEqual(state([started(1), paused(2, 5)]), 'PAUSED');
    assert.strictEqual(state([started(1), paused(2, 5), continued(3, 5)]), 'RUNNING');
    assert.strictEqual(state([started(1), paused(2, 5), continued(3, 5), paused(4, 9)]), 'PAUSED');
  });

  it('a pause asked for and not yet reached is PAUSING until its pause, or a continue that takes it back', () => {
    assert.strictEqual(state([started(1), pauseRequested(2)]), 'PAUSING');
    assert.strictEqual(state([started(1), pauseRequested(2), paused(3, 0)]), 'PAUSED');
    assert.strictEqual(state([started(1), pauseRequested(2), continued(3, 0)]), 'RUNNING');
    assert.strictEqual(state([started(1), pauseRequested(2), paused(3, 0), continued(4, 0), pauseRequested(5)]), 'PAUSING');
    assert.strictEqual(state([started(1), pauseRequested(2), stopRequested(3)]), 'STOPPING');
    assert.strictEqual(state([started(1), pauseRequested(2)], gone), 'FAILED/interrupted');
  });

  it('a stop request is STOPPING until the worker writes its end, even after a pause or a continue', () => {
    assert.strictEqual(state([started(1), stopRequested(2)]), 'STOPPING');
    assert.strictEqual(state([started(1), paused(2, 5), stopRequested(3)]), 'STOPPING');
    assert.strictEqual(state([started(1), stopRequested(2), continued(3, 5)]), 'STOPPING');
    assert.strictEqual(state([started(1)], { alive: true, stopSent: true }), 'STOPPING');
    assert.strictEqual(state([started(1), paused(2, 5), stopRequested(3), { type: 'finished', time: 4, outcome: 'stopped', steps: 5 }]), 'STOPPED');
  });

  it('the last record of the newest process decides: COMPLETED, STOPPED, FAILED, whatever the liveness', () => {
    assert.strictEqual(state([started(1), { type: 'finished', time: 2, outcome: 'completed', steps: 3 }], gone), 'COMPLETED');
    assert.strictEqual(state([started(1), { type: 'finished', time: 2, outcome: 'stopped', steps: 3 }], alive), 'STOPPED');
    assert.strictEqual(state([started(1), { type: 'error', time: 2, message: 'boom' }], alive), 'FAILED');
  });

  it('a worker gone without a last record is FAILED, labelled interrupted; paused or stopping do not survive it', () => {
    assert.strictEqual(state([started(1)], gone), 'FAILED/interrupted');
    assert.strictEqual(state([started(1), paused(2, 5)], gone), 'FAILED/interrupted');
    assert.strictEqual(state([started(1), stopRequested(2)], gone), 'FAILED/interrupted');
  });

  it('events of an earlier process of a resumed run do not count', () => {
    const first: RunEvent[] = [started(1), paused(2, 4), stopRequested(3), { type: 'finished', time: 4, outcome: 'stopped', steps: 4 }];
    assert.strictEqual(state([...first, started(5, 4)]), 'RUNNING');
    assert.strictEqual(state([...first, started(5, 4)], gone), 'FAILED/interrupted');
  });

  it('actions: Pause only when running, Continue when paused or pausing, Stop when running, pausing or paused, Resume when stopped or failed', () => {
    const allowed = (action: keyof typeof RUN_ACTIONS) => RUN_STATES.filter((s) => RUN_ACTIONS[action](s));
    assert.deepStrictEqual(allowed('pause'), ['RUNNING']);
    assert.deepStrictEqual(allowed('continue'), ['PAUSING', 'PAUSED']);
    assert.deepStrictEqual(allowed('stop'), ['RUNNING', 'PAUSING', 'PAUSED']);
    assert.deepStrictEqual(allowed('resume'), ['STOPPED', 'FAILED']);
    assert.deepStrictEqual(allowed('delete'), ['STOPPED', 'FAILED', 'COMPLETED']);
  });

  it("the tree's context values are the ones package.json's menus match, and each menu follows RUN_ACTIONS", () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, '../../../package.json'), 'utf8'));
    const menus: { command: string; when: string }[] = manifest.contributes.menus['view/item/context'];
    const shownFor = (command: string, s: RunState): boolean =>
      menus.filter((m) => m.command === command).some((m) => {
        const value = runContextValue(s);
        const exact = /viewItem == ([\w.]+)/.exec(m.when);
        const regex = /viewItem =~ \/(.+)\//.exec(m.when);
        return exact ? exact[1] === value : regex ? new RegExp(regex[1]).test(value) : false;
      });
    const cases: [string, keyof typeof RUN_ACTIONS][] = [['grpo.pauseRun', 'pause'], ['grpo.continueRun', 'continue'], ['grpo.stopRun', 'stop'], ['grpo.resumeRun', 'resume'], ['grpo.deleteRun', 'delete']];
    for (const [command, action] of cases) {
      for (const s of RUN_STATES) assert.strictEqual(shownFor(command, s), RUN_ACTIONS[action](s), `${command} in state ${s}`);
    }
  });
});
