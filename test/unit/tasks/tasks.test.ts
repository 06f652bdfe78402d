import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ArithmeticTask, withoutCarry } from '../../../src/worker/tasks/arithmetic';
import { Gsm8kTask, readGsm8k, renderPrompt } from '../../../src/worker/tasks/gsm8k';
import { ShuffledCursor } from '../../../src/worker/tasks/task';

const SAMPLE = path.resolve(__dirname, '../../../examples/data/gsm8k');

describe('tasks', () => {
  it('ShuffledCursor visits every item once per epoch and resumes exactly', () => {
    const cursor = new ShuffledCursor([0, 1, 2, 3, 4, 5, 6], 3);
    const epoch0 = cursor.take(7);
    assert.deepStrictEqual([...epoch0].sort(), [0, 1, 2, 3, 4, 5, 6]);
    cursor.take(2);
    const saved = cursor.cursor();
    assert.deepStrictEqual(saved, { epoch: 1, position: 2 });
    const next = cursor.take(9);
    const resumed = new ShuffledCursor([0, 1, 2, 3, 4, 5, 6], 3);
    resumed.restore(saved);
    assert.deepStrictEqual(resumed.take(9), next);
  });

  it('arithmetic: verifiable problems, disjoint held-out set, deterministic by seed', () => {
    const config = { type: 'arithmetic' as const, min_operand: 0, max_operand: 20, operations: ['+', '-', '*'] as ('+' | '-' | '*')[], num_train: 200, num_eval: 30, teacher_error_rate: 0 };
    const task = new ArithmeticTask(config, 7);
    const evalSet = task.evalSet();
    assert.strictEqual(evalSet.length, 30);
    const train = task.nextTrain(200);
    const held = new Set(evalSet.map((e) => e.prompt));
    assert.ok(train.every((e) => !held.has(e.prompt)));
    for (const e of [...evalSet, ...train]) {
      const [, a, op, b] = /^(\d+)([+\-*])(\d+)=$/.exec(e.prompt) ?? [];
      const expected = op === '+' ? +a + +b : op === '-' ? +a - +b : +a * +b;
      assert.strictEqual(e.answer, String(expected), e.prompt);
      assert.strictEqual(e.completion, `${expected}\n`);
    }
    assert.deepStrictEqual(new ArithmeticTask(config, 7).nextTrain(5), train.slice(0, 5));
    assert.notDeepStrictEqual(new ArithmeticTask(config, 8).nextTrain(5), train.slice(0, 5));
    assert.throws(() => new ArithmeticTask({ ...config, min_operand: 5, max_operand: 1 }, 1), /min_operand/);
  });

  it('arithmetic: an imperfect teacher drops the carry in about the configured share of SFT completions', () => {
    assert.strictEqual(withoutCarry('17+25='), '32');
    assert.strictEqual(withoutCarry('95+17='), '2'); // 9+1 = 10 → 0, 5+7 = 12 → 2: "02"
    assert.strictEqual(withoutCarry('12+13='), '25');
    assert.strictEqual(withoutCarry('7*8='), undefined);
    const config = { type: 'arithmetic' as const, min_operand: 10, max_operand: 99, operations: ['+'] as ('+' | '-' | '*')[], num_train: 2000, num_eval: 10, teacher_error_rate: 0.6 };
    const drawn = new ArithmeticTask(config, 1).nextSft(2000);
    const carrying = drawn.filter((e) => withoutCarry(e.prompt) !== e.answer);
    const sloppy = carrying.filter((e) => e.completion !== `${e.answer}\n`);
    assert.ok(carrying.length > 500);
    assert.ok(Math.abs(sloppy.length / carrying.length - 0.6) < 0.05, `${sloppy.length} of ${carrying.length}`);
    assert.ok(sloppy.every((e) => e.completion === `${withoutCarry(e.prompt)}\n`));
    assert.ok(drawn.every((e) => withoutCarry(e.prompt) !== e.answer || e.completion === `${e.answer}\n`), 'no-carry sums stay right');
    const perfect = new ArithmeticTask({ ...config, teacher_error_rate: 0 }, 1).nextSft(300);
    assert.ok(perfect.every((e) => e.completion === `${e.answer}\n`));
  });

  it('gsm8k: reads the shipped sample with gold answers and the R1-Zero template', () => {
    const task = new Gsm8kTask({ type: 'gsm8k', train_file: path.join(SAMPLE, 'train_sample.jsonl'), eval_file: path.join(SAMPLE, 'test_sample.jsonl'), prompt_template: 'r1_zero', max_train: 0, max_eval: 10 }, 1);
    assert.strictEqual(task.evalSet().length, 10);
    const [first] = task.evalSet();
    assert.strictEqual(first.answer, '18'); // test line 1: Janet's ducks
    assert.ok(first.prompt.startsWith('A conversation between User and Assistant.'));
    assert.ok(first.prompt.endsWith('Assistant: <think>'));
    assert.ok(first.prompt.includes("Janet’s ducks lay 16 eggs per day"));
    assert.strictEqual(task.nextTrain(3).length, 3);
  });

  it('gsm8k: custom templates, and errors that name the file and line', () => {
    assert.strictEqual(renderPrompt('Q: {question}\nA:', 'why?'), 'Q: why?\nA:');
    assert.throws(() => renderPrompt('no placeholder', 'x'), /prompt_template/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-gsm-'));
    const file = path.join(dir, 'bad.jsonl');
    fs.writeFileSync(file, '{"question": "a", "answer": "#### 1"}\n{"question": "b"}\n');
    assert.throws(() => readGsm8k(file, 'question_answer', 0), new RegExp(`${file.replace(/[.]/g, '\\.')}:2: expected string fields`));
    fs.writeFileSync(file, '{"question": "a", "answer": "1"}\n');
    assert.throws(() => readGsm8k(file, 'question_answer', 0), /bad\.jsonl:1: GSM8K answer has no "####"/);
    assert.throws(() => readGsm8k(path.join(dir, 'none.jsonl'), 'question_answer', 0), /cannot read GSM8K file/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
