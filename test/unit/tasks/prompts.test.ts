/**
 * The prompts task: every dataset format reads into the same Examples (test/fixtures/prompts, made by
 * make-fixtures.mjs there), chat rows, bad rows named by file and line, the held-out split, and the columns a
 * user's reward function sees.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { parquetMetadata } from 'hyparquet';
import { PromptsTaskConfig } from '../../../src/protocol';
import { bigIntValue, readDatasetRows, toColumnValue } from '../../../src/worker/tasks/datasetFile';
import { heldOutSplit, PromptsTask, readPromptExamples } from '../../../src/worker/tasks/prompts';
import { Example, PromptTask } from '../../../src/worker/tasks/task';
import { RewardScorer } from '../../../src/worker/rewardScorer';

const FIXTURES = path.resolve(__dirname, '../../fixtures/prompts');
const fixture = (name: string) => path.join(FIXTURES, name);

/** What every rows.* fixture holds (make-fixtures.mjs). */
const ROWS: Example[] = [
  { id: '101', prompt: 'Spell the word cat.', answer: 'cat', completion: 'c a t', columns: { difficulty: 1, big: 1, tag: 'easy, short' } },
  { id: '102', prompt: 'Write two lines:\nfirst "one", then two.', answer: 'one\ntwo', columns: { difficulty: 3, big: '9007199254740993', tag: 'multi\nline' } },
  { id: '103', prompt: 'What is 2+3?', answer: '5', completion: '5', columns: { difficulty: 2, big: -4, tag: 'math' } },
  { id: '104', prompt: 'Say: yes', answer: '007', completion: 'yes', columns: { difficulty: 1, big: 0, tag: 'x' } },
];

const CHAT: Example[] = [
  {
    id: 'c1',
    prompt: 'Answer in one word.\nColor of the sky?',
    messages: [{ role: 'system', content: 'Answer in one word.' }, { role: 'user', content: 'Color of the sky?' }],
    answer: 'blue',
    columns: { topic: 'sky' },
  },
  // A conversation ending with the assistant's turn: that turn is the reference completion.
  { id: 'c2', prompt: 'Capital of France?', messages: [{ role: 'user', content: 'Capital of France?' }], answer: 'Paris', completion: 'Paris', columns: { topic: 'geo' } },
];

function codecsOf(file: string): string[] {
  const bytes = fs.readFileSync(file);
  const metadata = parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
  return [...new Set(metadata.row_groups.flatMap((g) => g.columns.map((c) => c.meta_data?.codec ?? '?')))];
}

describe('prompts task', () => {
  let tmp: string;
  before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-prompts-'))));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const write = (name: string, text: string | Buffer) => {
    const file = path.join(tmp, name);
    fs.writeFileSync(file, text);
    return file;
  };

  describe('formats', () => {
    for (const name of ['rows.jsonl', 'rows.json', 'rows.columns.json', 'rows.csv', 'rows.snappy.parquet', 'rows.zstd.parquet', 'rows.gzip.parquet']) {
      it(`${name} reads into the same examples`, async () => {
        assert.deepStrictEqual(await readPromptExamples(fixture(name)), ROWS);
      });
    }

    it('the Parquet fixtures use the codec their name says, with INT64 integer columns', () => {
      assert.deepStrictEqual(codecsOf(fixture('rows.snappy.parquet')), ['SNAPPY']);
      assert.deepStrictEqual(codecsOf(fixture('rows.zstd.parquet')), ['ZSTD']);
      assert.deepStrictEqual(codecsOf(fixture('rows.gzip.parquet')), ['GZIP']);
      const bytes = fs.readFileSync(fixture('rows.zstd.parquet'));
      const schema = parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer).schema;
      assert.deepStrictEqual(schema.filter((s) => s.type === 'INT64').map((s) => s.name), ['id', 'difficulty', 'big']);
    });

    it('64-bit integers arrive as numbers when exact, else as decimal text, never BigInt', async () => {
      const { rows } = await readDatasetRows(fixture('rows.snappy.parquet'));
      const values = rows.flatMap((r) => Object.values(r.values));
      assert.ok(values.every((v) => typeof v !== 'bigint'));
      assert.deepStrictEqual(rows.map((r) => r.values.big), [1, '9007199254740993', -4, 0]);
      assert.strictEqual(bigIntValue(-(2n ** 53n) + 1n), -(2 ** 53) + 1);
      assert.strictEqual(bigIntValue(-(2n ** 63n)), '-9223372036854775808');
      assert.deepStrictEqual(toColumnValue({ when: new Date(Date.UTC(2024, 0, 2)), bytes: new Uint8Array([104, 105]), list: [3n] }), { when: '2024-01-02T00:00:00.000Z', bytes: 'aGk=', list: [3] });
      // JSON.stringify would throw on a BigInt: what IPC and the run files do with examples.
      assert.doesNotThrow(() => JSON.stringify(rows));
    });

    it('chat rows: messages as JSONL and as a Parquet list of structs', async () => {
      assert.deepStrictEqual(await readPromptExamples(fixture('chat.jsonl')), CHAT);
      assert.deepStrictEqual(await readPromptExamples(fixture('chat.parquet')), CHAT);
    });

    it('TRL formats: a prompt that is a conversation, a conversational completion, solution / ground_truth as the answer', async () => {
      const file = write('trl.jsonl', [
        { prompt: [{ role: 'user', content: 'Hi?' }], completion: [{ role: 'assistant', content: 'Hello.' }], solution: '42' },
        { prompt: 'Two?', ground_truth: 2 },
        { prompt: 'Both?', answer: 'a', solution: 's' },
      ].map((r) => JSON.stringify(r)).join('\n'));
      const [chat, text, both] = await readPromptExamples(file);
      assert.deepStrictEqual(chat, { id: '1', prompt: 'Hi?', messages: [{ role: 'user', content: 'Hi?' }], answer: '42', completion: 'Hello.', columns: { solution: '42' } });
      assert.deepStrictEqual(text, { id: '2', prompt: 'Two?', answer: '2', columns: { ground_truth: 2 } });
      assert.strictEqual(both.answer, 'a');
    });

    it('CSV: a messages cell holds JSON; numeric columns become numbers, empty cells null, the task\'s own columns stay text', async () => {
      const file = write('chat.csv', 'id,messages,answer,score,note\n007,"[{""role"":""user"",""content"":""Hi""}]",01,1.5,\n8,"[{""role"":""user"",""content"":""Yo""}]",2,,b\n');
      const [first, second] = await readPromptExamples(file);
      assert.deepStrictEqual(first, { id: '007', prompt: 'Hi', messages: [{ role: 'user', content: 'Hi' }], answer: '01', columns: { score: 1.5, note: null } });
      assert.deepStrictEqual(second.columns, { score: null, note: 'b' });
    });

    it('JSON: rows under a field, and a .json file holding JSON Lines; gzipped text files', async () => {
      const nested = write('nested.json', JSON.stringify({ version: 1, data: [{ prompt: 'A' }, { prompt: 'B' }] }));
      assert.deepStrictEqual((await readPromptExamples(nested, 'data')).map((e) => e.prompt), ['A', 'B']);
      const lines = write('lines.json', '{"prompt": "A"}\n{"prompt": "B"}\n');
      assert.deepStrictEqual((await readPromptExamples(lines)).map((e) => [e.id, e.prompt]), [['1', 'A'], ['2', 'B']]);
      const gz = write('rows.jsonl.gz', zlib.gzipSync(fs.readFileSync(fixture('rows.jsonl'))));
      assert.deepStrictEqual(await readPromptExamples(gz), ROWS);
      const csvGz = write('rows.csv.gz', zlib.gzipSync(fs.readFileSync(fixture('rows.csv'))));
      assert.deepStrictEqual(await readPromptExamples(csvGz), ROWS);
    });
  });

  describe('errors name the file and the line or row', () => {
    const rejects = async (name: string, text: string | Buffer, expected: RegExp) => {
      const file = write(name, text);
      await assert.rejects(readPromptExamples(file), (err: Error) => {
        assert.ok(err.message.startsWith(file), `${err.message} should start with ${file}`);
        assert.match(err.message.slice(file.length), expected);
        return true;
      });
    };

    it('JSONL: the line of a bad row', async () => {
      await rejects('a.jsonl', '{"prompt": "ok"}\n\n{"prompt": ', /^:3: invalid JSON/);
      await rejects('b.jsonl', '{"prompt": "ok"}\n{"question": "x"}\n', /^:2: no prompt: a row needs a "prompt" \(text or chat messages\) or a "messages" \(chat\) value \(this row has: question\)$/);
      await rejects('c.jsonl', '{"prompt": "  "}\n', /^:1: prompt is empty$/);
      await rejects('d.jsonl', '{"prompt": 5}\n', /^:1: prompt: expected text or a list of \{role, content\} messages, got number 5$/);
      await rejects('e.jsonl', '[1, 2]\n', /^:1: expected an object \(one row\), got an array$/);
      await rejects('f.jsonl', '{"prompt": "a", "answer": {"x": 1}}\n', /^:1: answer: expected text or a number, got an object$/);
      await rejects('g.jsonl', '{"prompt": "a", "id": 1}\n{"prompt": "b", "id": 1}\n', /^:2: id "1" repeats .*g\.jsonl:1$/);
      await rejects('h.jsonl', '{"prompt": "a", "completion": 3}\n', /^:1: completion: expected text or a list/);
    });

    it('chat: malformed messages', async () => {
      await rejects('m1.jsonl', '{"messages": []}\n', /^:1: messages: the conversation has no messages$/);
      await rejects('m2.jsonl', '{"messages": "hi"}\n', /^:1: messages: expected a list of \{role, content\} messages, got string "hi"$/);
      await rejects('m3.jsonl', '{"messages": [{"role": "user"}]}\n', /^:1: messages\[0\]\.content: expected text, got null$/);
      await rejects('m4.jsonl', '{"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}]}]}\n', /^:1: messages\[0\]\.content: expected text, got an array \(lists of content parts/);
      await rejects('m5.jsonl', '{"messages": [{"content": "a"}]}\n', /^:1: messages\[0\]\.role: expected a role such as "user", got null$/);
      await rejects('m6.jsonl', '{"messages": [{"role": "user", "content": ""}]}\n', /^:1: messages: every message is empty$/);
      await rejects('m7.csv', 'messages\n"[{""role"": ""user"""\n', /^:2: messages: a CSV cell holding chat messages must be a JSON list/);
    });

    it('CSV: the line a record starts on, past quoted multi-line fields', async () => {
      await rejects('a.csv', 'prompt,answer\n"multi\nline, with comma",1\n"",2\n', /^:4: prompt is empty$/);
      await rejects('b.csv', 'prompt,answer\nok,1\n\n"two\nlines",2\nbad,3,extra\n', /^: invalid CSV: Invalid Record Length: columns length is 2, got 3 on line 6$/);
      await rejects('c.csv', 'question\nx\n', /^:2: no prompt/);
      // Windows line breaks, also inside a quoted field, and a file that mixes them (edited on two systems).
      await rejects('d.csv', 'prompt,answer\r\n"multi\r\nline",1\r\nok,2\n"",3\r\n', /^:5: prompt is empty$/);
      const mixed = await readPromptExamples(write('e.csv', 'prompt,n\r\na,1\r\nb,2\nc,3\r\n"d\r\ne",4\n'));
      assert.deepStrictEqual(mixed.map((e) => [e.id, e.prompt, e.columns?.n]), [['2', 'a', 1], ['3', 'b', 2], ['4', 'c', 3], ['5', 'd\ne', 4]]);
    });

    it('JSON: the row of a bad array item or column entry; shapes that are not tables', async () => {
      await rejects('a.json', JSON.stringify([{ prompt: 'a' }, { prompt: '' }]), /^: row 2: prompt is empty$/);
      await rejects('b.json', JSON.stringify({ prompt: ['a', 7] }), /^: row 2: prompt: expected text or a list .* got number 7$/);
      await rejects('c.json', JSON.stringify({ prompt: ['a', 'b'], answer: ['1'] }), /^: the column arrays differ in length \("prompt": 2, "answer": 1\)$/);
      await rejects('d.json', JSON.stringify({ data: [{ prompt: 'a' }] }), /^: "data" holds a list of objects: set task\.field to "data" to read them as the rows$/);
      await rejects('e.json', '"text"', /^: expected an array of rows or an object of column arrays \(or set task\.field to the key that holds them\), got string "text"$/);
      await rejects('h.json', JSON.stringify({ version: 1, rows: [] }), /^: expected an array of rows or an object of column arrays \(or set task\.field to the key that holds them\): "version" is not an array$/);
      await rejects('f.json', '[{"prompt": "a"},', /^: invalid JSON/);
      await rejects('g.json', '[]', /^: no rows$/);
    });

    it('Parquet: the row number; a file that is not Parquet', async () => {
      const bad = fs.readFileSync(fixture('chat.parquet'));
      await rejects('broken.parquet', bad.subarray(0, bad.length - 10), /^: cannot read Parquet: /);
      await rejects('text.parquet', 'prompt\nhello\n', /^: cannot read Parquet: /);
    });

    it('unreadable files and unknown extensions', async () => {
      await assert.rejects(readPromptExamples(path.join(tmp, 'missing.csv')), /^Error: cannot read dataset file .*missing\.csv: ENOENT/);
      await assert.rejects(readPromptExamples(write('data.tsv', 'prompt\nx\n')), /data\.tsv: unknown dataset format: the name must end in \.jsonl, \.json, \.csv \(each optionally \.gz\) or \.parquet/);
      await assert.rejects(readPromptExamples(write('bad.jsonl.gz', 'not gzip')), /bad\.jsonl\.gz: not a gzip file/);
    });
  });

  describe('the task', () => {
    const rows = (n: number) => Array.from({ length: n }, (_, i) => JSON.stringify({ prompt: `q${i + 1}`, answer: String(i + 1), ...(i % 2 ? { completion: 'c' } : {}) })).join('\n');
    const config = (overrides: Partial<PromptsTaskConfig>): PromptsTaskConfig => ({ type: 'prompts', train_file: write('twenty.jsonl', rows(20)), max_train: 0, max_eval: 200, ...overrides });

    it('held-out split: disjoint, covering, seeded, a fraction rounded up or a count', () => {
      const items = Array.from({ length: 20 }, (_, i) => i);
      const a = heldOutSplit(items, 0.25, 7, 'f');
      assert.strictEqual(a.eval.length, 5);
      assert.deepStrictEqual([...a.train, ...a.eval].sort((x, y) => x - y), items);
      assert.ok(a.eval.every((i) => !a.train.includes(i)));
      assert.deepStrictEqual(heldOutSplit(items, 0.25, 7, 'f'), a);
      assert.notDeepStrictEqual(heldOutSplit(items, 0.25, 8, 'f').eval, a.eval);
      assert.strictEqual(heldOutSplit(items, 0.01, 7, 'f').eval.length, 1);
      assert.strictEqual(heldOutSplit(items, 3, 7, 'f').eval.length, 3);
      assert.throws(() => heldOutSplit(items, 20, 7, 'data.csv'), /^Error: task\.eval_split: holding out 20 of the 20 rows of data\.csv leaves none to train on$/);
    });

    it('without eval_file holds out 10 % by default (seeded by split_seed, else the run seed); max_train and max_eval cap', async () => {
      const task = await PromptsTask.load(config({}), 1);
      const held = task.evalSet();
      assert.strictEqual(held.length, 2);
      const train = task.nextTrain(18);
      assert.deepStrictEqual(new Set([...train, ...held].map((e) => e.id)).size, 20);
      assert.deepStrictEqual((await PromptsTask.load(config({ split_seed: 5 }), 1)).evalSet(), (await PromptsTask.load(config({ split_seed: 5 }), 2)).evalSet());
      assert.deepStrictEqual((await PromptsTask.load(config({ eval_split: 0 }), 1)).evalSet(), []);
      const capped = await PromptsTask.load(config({ eval_split: 6, max_eval: 4, max_train: 3 }), 1);
      assert.strictEqual(capped.evalSet().length, 4);
      assert.strictEqual(new Set(capped.nextTrain(30).map((e) => e.id)).size, 3);
    });

    it('with eval_file validates on it; SFT draws the rows with a completion; the cursor resumes', async () => {
      const task = await PromptsTask.load(config({ eval_file: fixture('rows.csv') }), 3);
      assert.deepStrictEqual(task.evalSet(), ROWS);
      assert.ok(task.nextSft(15).every((e) => e.completion === 'c'));
      task.nextTrain(7);
      const saved = task.cursor();
      const next = task.nextTrain(9);
      const resumed = await PromptsTask.load(config({ eval_file: fixture('rows.csv') }), 3);
      resumed.restoreCursor(saved);
      assert.deepStrictEqual(resumed.nextTrain(9), next);
      assert.strictEqual((task as PromptTask).isCorrect, undefined);
    });
  });

  it('every column reaches a user reward function as a field of example, next to id, prompt, answer, messages', async () => {
    // The function runs in a reward thread: what it saw comes back as the message of an error it throws.
    const module = write('reads-columns.js', `module.exports = (prompt, completion, example) => {
      if (completion === 'show') throw new Error(JSON.stringify(example));
      return completion.includes(example.tag) ? example.difficulty : 0;
    };`);
    const scorer = await RewardScorer.load([{ name: 'tagged', module, weight: 1 }], [], tmp);
    try {
      const examples = await readPromptExamples(fixture('rows.zstd.parquet'));
      const scored = await scorer.score(['easy, short', 'nope', 'math!', 'x'], examples, () => assert.fail('no failure expected'));
      assert.deepStrictEqual(scored.totals, [1, 0, 2, 1]);
      const seen = async (example: Example) => JSON.parse((await scorer.score(['show'], [example], () => undefined)).errors[0] ?? 'null') as unknown;
      assert.deepStrictEqual(await seen(examples[0]), { difficulty: 1, big: 1, tag: 'easy, short', id: '101', prompt: 'Spell the word cat.', answer: 'cat', completion: 'c a t' });
      const chat = await readPromptExamples(fixture('chat.jsonl'));
      assert.deepStrictEqual(await seen(chat[0]), { topic: 'sky', id: 'c1', prompt: CHAT[0].prompt, answer: 'blue', messages: CHAT[0].messages });
    } finally {
      scorer.dispose();
    }
  });
});
