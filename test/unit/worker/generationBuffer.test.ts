import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { validateRunConfig } from '../../../src/protocol';
import { advance, loadBuffer, saveBuffer, sliceRows } from '../../../src/worker/generationBuffer';

describe('generation buffer (steps_per_generation)', () => {
  it('splits a generation into equal slices of whole groups, in order', () => {
    // 4 groups of 3 in 2 slices: rows 0–5, then 6–11.
    assert.deepStrictEqual(sliceRows(4, 3, 2, 0), [0, 1, 2, 3, 4, 5]);
    assert.deepStrictEqual(sliceRows(4, 3, 2, 1), [6, 7, 8, 9, 10, 11]);
    assert.deepStrictEqual(sliceRows(4, 3, 1, 0), Array.from({ length: 12 }, (_, i) => i));
    assert.throws(() => sliceRows(3, 3, 2, 0), /3 groups do not split into 2/);
    assert.throws(() => sliceRows(4, 3, 2, 2), /slice 2 of 2/);
  });

  it('advances slice by slice and empties after the last', () => {
    const buffer = { generation: { a: 1 }, next: 0 };
    assert.deepStrictEqual(advance(buffer, 3), { generation: { a: 1 }, next: 1 });
    assert.deepStrictEqual(advance({ generation: { a: 1 }, next: 2 }, 3), undefined);
    assert.strictEqual(advance(buffer, 1), undefined);
  });

  it('round-trips through a checkpoint exactly, NaN and ±Infinity included; no buffer removes a stale file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-buffer-'));
    try {
      const buffer = { generation: { totals: [0.1 + 0.2, Number.NaN, -1e-320], ends: [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY], texts: ['a'] }, next: 1 };
      saveBuffer(dir, buffer);
      const loaded = loadBuffer<typeof buffer.generation>(dir);
      assert.deepStrictEqual(loaded, buffer);
      assert.ok(Object.is(loaded?.generation.totals[2], -1e-320));
      saveBuffer(dir, undefined);
      assert.strictEqual(loadBuffer(dir), undefined);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('config: default 1; prompts_per_step must split into equal slices', () => {
    const base = { name: 'x', model: { name_or_path: 'tiny' }, task: { type: 'arithmetic' } };
    assert.strictEqual(validateRunConfig(base).optimization.steps_per_generation, 1);
    assert.throws(() => validateRunConfig({ ...base, optimization: { prompts_per_step: 3, steps_per_generation: 2 } }), /3 prompts per step do not split into 2 equal slices/);
  });
});
