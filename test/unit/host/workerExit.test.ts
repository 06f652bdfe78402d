/**
 * What a window says when a worker it launched exits: nothing when the run's own records told its end, "did not
 * start" only when no `started` record came, "stopped unexpectedly at step N" with the signal or exit code for a
 * run that started and ended without a last record (a kill -9, a crash) — never a raw "code null".
 */
import * as assert from 'assert';
import { workerExitNotice, WorkerProgress } from '../../../src/host/workerLaunch';

const LOG = '/runs/r/worker.log';
const killed = { code: null, signal: 'SIGKILL' as const };
const notice = (exit: { code: number | null; signal: NodeJS.Signals | null }, progress: WorkerProgress, reason?: string) => workerExitNotice('r', exit, progress, reason, LOG);

describe('the notice for a launched worker that exited', () => {
  it('says nothing when the run recorded its end (completed, stopped, failed with its error shown)', () => {
    assert.strictEqual(notice({ code: 0, signal: null }, { started: true, ended: true, step: 200 }), undefined);
    assert.strictEqual(notice({ code: 1, signal: null }, { started: true, ended: true, step: 3 }), undefined);
  });

  it('a started run that ends without a last record stopped unexpectedly, at its step, killed by a signal or with its code', () => {
    assert.strictEqual(notice(killed, { started: true, ended: false, step: 7 }), `run r stopped unexpectedly at step 7: the worker was killed (SIGKILL); see ${LOG}`);
    assert.strictEqual(notice({ code: 3, signal: null }, { started: true, ended: false, step: 7 }), `run r stopped unexpectedly at step 7: the worker exited with code 3; see ${LOG}`);
    assert.strictEqual(notice(killed, { started: true, ended: false, step: undefined }), `run r stopped unexpectedly before its first step: the worker was killed (SIGKILL); see ${LOG}`);
  });

  it('"did not start" only without a started record: the log\'s reason, else how the worker ended', () => {
    assert.strictEqual(notice({ code: 1, signal: null }, { started: false, ended: false, step: undefined }, 'task.type: unknown'), 'run r did not start: task.type: unknown');
    assert.strictEqual(notice(killed, { started: false, ended: false, step: undefined }), `run r did not start: the worker was killed (SIGKILL); see ${LOG}`);
    assert.strictEqual(notice({ code: 0, signal: null }, { started: false, ended: false, step: undefined }), undefined);
  });

  it('never prints a raw null code', () => {
    for (const started of [true, false]) {
      const text = notice({ code: null, signal: null }, { started, ended: false, step: 1 });
      assert.ok(text && !/null/.test(text), text);
    }
  });
});
