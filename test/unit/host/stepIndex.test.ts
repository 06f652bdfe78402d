import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { JsonlStepIndex } from '../../../src/host/stepIndex';

describe('step → byte-offset index of a JSONL file', () => {
  let tmp: string;
  let file: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-index-'));
    file = path.join(tmp, 'rollouts.jsonl');
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const line = (step: number, extra = '') => JSON.stringify({ step, groups: [{ prompt: `p${step}${extra}`, rollouts: [] }] }) + '\n';

  it('is empty for a missing file and reads nothing', () => {
    const index = new JsonlStepIndex(file);
    assert.deepStrictEqual(index.steps(), []);
    assert.strictEqual(index.read(1), undefined);
  });

  it('reads any step without the others, including multi-byte text and lines longer than a read chunk', () => {
    const long = 'é'.repeat(700000);
    fs.writeFileSync(file, line(1) + line(2, long) + line(3) + '\n');
    const index = new JsonlStepIndex(file);
    assert.deepStrictEqual(index.steps(), [1, 2, 3]);
    assert.strictEqual(index.read<{ groups: { prompt: string }[] }>(2)?.groups[0].prompt, `p2${long}`);
    assert.strictEqual(index.read<{ step: number }>(3)?.step, 3);
    assert.strictEqual(index.read(4), undefined);
  });

  it('skips a torn last line and indexes it once the writer completes it; appends are read incrementally', () => {
    const torn = line(2);
    fs.writeFileSync(file, line(1) + torn.slice(0, 10));
    const index = new JsonlStepIndex(file);
    assert.deepStrictEqual(index.steps(), [1]);
    fs.appendFileSync(file, torn.slice(10) + line(3));
    assert.deepStrictEqual(index.steps(), [1, 2, 3]);
    assert.strictEqual(index.read<{ step: number }>(2)?.step, 2);
  });

  it('finds records whose "step" is not the first key, and lets a rewritten step win', () => {
    fs.writeFileSync(file, JSON.stringify({ groups: [], step: 7 }) + '\n' + line(7, 'again'));
    const index = new JsonlStepIndex(file);
    assert.deepStrictEqual(index.steps(), [7]);
    assert.strictEqual(index.read<{ groups: { prompt: string }[] }>(7)?.groups[0].prompt, 'p7again');
  });

  it('starts over when the file was replaced by a shorter one', () => {
    fs.writeFileSync(file, line(1) + line(2) + line(3));
    const index = new JsonlStepIndex(file);
    assert.deepStrictEqual(index.steps(), [1, 2, 3]);
    fs.writeFileSync(file, line(9));
    assert.deepStrictEqual(index.steps(), [9]);
  });

  it('skips a malformed complete line, naming the file and byte, and indexes the lines after it', () => {
    // Before: steps() threw, and every later refresh threw again at the same line: the run's rollouts were lost.
    fs.writeFileSync(file, line(1) + '{"oops": \n' + line(2));
    const index = new JsonlStepIndex(file);
    assert.deepStrictEqual(index.steps(), [1, 2]);
    assert.strictEqual(index.problems.length, 1);
    assert.match(index.problems[0], /rollouts\.jsonl: malformed record at byte \d+/);
  });

  it('a malformed newest line of a step falls back to the step\'s earlier good line', () => {
    fs.writeFileSync(file, line(1) + '{"step":1,"groups":[oops]}\n');
    assert.deepStrictEqual(new JsonlStepIndex(file).read(1), JSON.parse(line(1)));
  });
});
