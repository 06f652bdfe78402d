import * as assert from 'assert';
import { makeRunId } from '../../../src/protocol';
import { distinctRunLabels, formatStartTime, runIdTime } from '../../../src/host/runNames';

const NOW = new Date(2026, 11, 1, 18, 0, 0);

describe('run names for people', () => {
  it('reads the start time back from a run folder name', () => {
    const start = new Date(2026, 0, 5, 14, 3, 12);
    assert.deepStrictEqual(runIdTime(makeRunId('arithmetic-demo', start)), start);
    assert.deepStrictEqual(runIdTime(`${makeRunId('arithmetic-demo', start)}-2`), start);
    assert.strictEqual(runIdTime('my-hand-made-folder'), undefined);
  });

  it('formats a start time as short as it can stay clear', () => {
    assert.strictEqual(formatStartTime(new Date(2026, 11, 1, 9, 5, 7), NOW), '09:05');
    assert.strictEqual(formatStartTime(new Date(2026, 11, 1, 9, 5, 7), NOW, true), '09:05:07');
    assert.strictEqual(formatStartTime(new Date(2026, 0, 5, 14, 3), NOW), 'Jan 5 14:03');
    assert.strictEqual(formatStartTime(new Date(2025, 0, 5, 14, 3), NOW), 'Jan 5 2025 14:03');
  });

  it('tells compared runs of one config apart by start time, and keeps unique names as they are', () => {
    const a = { runId: makeRunId('arithmetic-demo', new Date(2026, 11, 1, 9, 5, 7)), name: 'arithmetic-demo' };
    const b = { runId: makeRunId('arithmetic-demo', new Date(2026, 11, 1, 10, 40, 0)), name: 'arithmetic-demo' };
    const other = { runId: makeRunId('stories', new Date(2026, 11, 1, 11, 0, 0)), name: 'stories' };
    assert.deepStrictEqual(distinctRunLabels([a, b, other], NOW), ['arithmetic-demo · 09:05', 'arithmetic-demo · 10:40', 'stories']);
    // The started event's time wins over the folder name's (a folder may be renamed).
    assert.deepStrictEqual(distinctRunLabels([{ ...a, startTime: new Date(2026, 10, 30, 8, 0).getTime() }, b], NOW), ['arithmetic-demo · Nov 30 08:00', 'arithmetic-demo · 10:40']);
    // Same minute: seconds; same second (a "-2" folder): the folder names.
    const sameMinute = { runId: makeRunId('arithmetic-demo', new Date(2026, 11, 1, 9, 5, 40)), name: 'arithmetic-demo' };
    assert.deepStrictEqual(distinctRunLabels([a, sameMinute], NOW), ['arithmetic-demo · 09:05:07', 'arithmetic-demo · 09:05:40']);
    const sameSecond = { runId: `${a.runId}-2`, name: 'arithmetic-demo' };
    assert.deepStrictEqual(distinctRunLabels([a, sameSecond], NOW), [`arithmetic-demo · ${a.runId}`, `arithmetic-demo · ${a.runId}-2`]);
  });
});
