import * as assert from 'assert';
import { isWorkerMessage, makeRunId, parseJsonl } from '../../../src/protocol';

describe('run files', () => {
  it('parses one record per line', () => {
    const { records, tornTail } = parseJsonl<{ step: number }>('{"step":1}\n{"step":2}\n', 'm.jsonl');
    assert.deepStrictEqual(records, [{ step: 1 }, { step: 2 }]);
    assert.strictEqual(tornTail, false);
  });

  it('skips a torn last line (a crash mid-write)', () => {
    const { records, tornTail } = parseJsonl<{ step: number }>('{"step":1}\n{"step":2}\n{"st', 'm.jsonl');
    assert.deepStrictEqual(records, [{ step: 1 }, { step: 2 }]);
    assert.strictEqual(tornTail, true);
  });

  it('keeps a complete last line that lacks its newline', () => {
    assert.deepStrictEqual(parseJsonl('{"a":1}\n{"a":2}', 'x').records, [{ a: 1 }, { a: 2 }]);
  });

  it('skips a malformed line in the middle, reporting it with file and line number, and keeps the lines around it', () => {
    // Before: the whole file failed to read (an exception), so one bad line hid every record of the run.
    const { records, problems } = parseJsonl('{"a":1}\nnot json\n{"a":2}\n', 'runs/x/metrics.jsonl');
    assert.deepStrictEqual(records, [{ a: 1 }, { a: 2 }]);
    assert.strictEqual(problems.length, 1);
    assert.match(problems[0], /^runs\/x\/metrics\.jsonl:2: malformed record/);
  });

  it('treats an empty file as no records', () => {
    assert.deepStrictEqual(parseJsonl('', 'x'), { records: [], tornTail: false, problems: [] });
  });

  it('makes sortable run ids', () => {
    assert.strictEqual(makeRunId('demo', new Date(2026, 0, 2, 3, 4, 5)), '20260102-030405-demo');
  });

  it('recognises worker messages and rejects others', () => {
    assert.ok(isWorkerMessage({ type: 'metrics', record: { step: 1, time: 0, metrics: {} } }));
    assert.ok(!isWorkerMessage({ type: 'launch' }));
    assert.ok(!isWorkerMessage(null));
    assert.ok(!isWorkerMessage('metrics'));
  });
});
