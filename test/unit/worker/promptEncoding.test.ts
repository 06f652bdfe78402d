import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { HfTokenizer } from '../../../src/model';
import { FilteredTask, PromptEncoder } from '../../../src/worker/promptEncoding';
import { DataCursor, Example, PromptTask, ShuffledCursor } from '../../../src/worker/tasks/task';

const STORIES = path.resolve(__dirname, '../../../examples/models/stories260K');
const TEMPLATE = "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}";

function tokenizer(): HfTokenizer {
  const json = JSON.parse(fs.readFileSync(path.join(STORIES, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
  const config = JSON.parse(fs.readFileSync(path.join(STORIES, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
  return new HfTokenizer(json, { ...config, chat_template: TEMPLATE });
}

/** A task over fixed examples, as the real ones walk theirs. */
class ListTask implements PromptTask {
  readonly name = 'list';
  readonly defaultRewards = [];
  private readonly train: ShuffledCursor<Example>;
  constructor(train: Example[], private readonly held: Example[]) {
    this.train = new ShuffledCursor(train, 1);
  }
  nextTrain(n: number): Example[] { return this.train.take(n); }
  nextSft(): Example[] { return []; }
  trainSet(): readonly Example[] { return this.train.items; }
  evalSet(): Example[] { return this.held; }
  cursor(): DataCursor { return this.train.cursor(); }
  restoreCursor(cursor: DataCursor): void { this.train.restore(cursor); }
}

const example = (id: string, words: number): Example => ({ id, prompt: Array.from({ length: words }, () => 'dog').join(' '), answer: '' });

describe('prompt encoder', () => {
  it('chat examples: rendered through the template (one BOS), and rewards and records see the rendered text', () => {
    const encoder = new PromptEncoder(tokenizer());
    const chat: Example = { id: 'c1', prompt: 'Tell a story', messages: [{ role: 'user', content: 'Tell a story' }], answer: '' };
    const { text, ids } = encoder.encode(chat);
    assert.strictEqual(text, '<s>[user] Tell a story\n[assistant]');
    assert.strictEqual(ids.filter((id) => id === 1).length, 1);
    assert.strictEqual(ids[0], 1);
    assert.strictEqual(encoder.asSeen(chat).prompt, text);
    const plain = example('p1', 2);
    assert.strictEqual(encoder.asSeen(plain), plain);
    assert.deepStrictEqual(encoder.encode(plain).ids[0], 1, 'plain text gets the BOS of the post-processor');
  });

  it('fit: refuses prompts past the context with the numbers, or leaves them out with max_prompt_length and says how many', () => {
    const encoder = new PromptEncoder(tokenizer());
    // "dog" ×k encodes to 1 + 2k tokens (BOS, then two pieces per word).
    const lengths = (e: Example) => encoder.encode(e).ids.length;
    const train = [example('a', 3), example('b', 10), example('c', 4), example('d', 20)];
    const held = [example('e', 30), example('f', 2)];
    assert.deepStrictEqual([...train, ...held].map(lengths), [7, 21, 9, 41, 61, 5]);
    const task = new ListTask(train, held);
    assert.throws(
      () => encoder.fit(task, { maxPositions: 80, maxCompletionLength: 32, seed: 1 }),
      /the longest prompt \(id e: "dog dog .*"\) has 61 tokens; with sampling.max_completion_length 32 that is 93, more than the model's 80 positions \(max_position_embeddings\). Set sampling.max_prompt_length \(at most 48\)/,
    );
    assert.throws(() => encoder.fit(task, { maxPositions: 80, maxCompletionLength: 32, seed: 1, maxPromptLength: 60 }), /sampling.max_prompt_length \(60\) \+ sampling.max_completion_length \(32\) = 92 exceeds the model's 80 positions/);
    assert.throws(() => encoder.fit(task, { maxPositions: 80, maxCompletionLength: 32, seed: 1, maxPromptLength: 6 }), /every one of the 4 training prompts is longer \(shortest: 7 tokens\)/);
    const fitted = encoder.fit(task, { maxPositions: 80, maxCompletionLength: 32, seed: 1, maxPromptLength: 20 });
    assert.strictEqual(fitted.message, 'sampling.max_prompt_length 20: left out 2 of 4 training prompts and 1 of 2 validation prompts (longest: 61 tokens)');
    assert.ok(fitted.task instanceof FilteredTask);
    assert.deepStrictEqual(fitted.task.evalSet().map((e) => e.id), ['f']);
    assert.deepStrictEqual(fitted.task.trainSet().map((e) => e.id), ['a', 'c']);
    const fits = encoder.fit(new ListTask([example('a', 3)], []), { maxPositions: 80, maxCompletionLength: 32, seed: 1 });
    assert.strictEqual(fits.message, undefined);
  });

  it('a filtered task draws only kept rows, and a restored cursor draws the same ones again', () => {
    const encoder = new PromptEncoder(tokenizer());
    const train = Array.from({ length: 12 }, (_, i) => example(`r${i}`, i % 2 === 0 ? 2 : 12));
    const { task } = encoder.fit(new ListTask(train, []), { maxPositions: 64, maxCompletionLength: 8, seed: 1, maxPromptLength: 5 });
    const first = task.nextTrain(4);
    assert.ok(first.every((e) => Number(e.id.slice(1)) % 2 === 0), first.map((e) => e.id).join());
    const saved = task.cursor();
    const next = task.nextTrain(7).map((e) => e.id);
    task.restoreCursor(saved);
    assert.deepStrictEqual(task.nextTrain(7).map((e) => e.id), next);
    assert.deepStrictEqual(task.nextSft(3), [], 'no references: nothing, without looping forever');
  });

  it('few rows left: every draw comes from them, epoch after epoch; no validation left is said', () => {
    const encoder = new PromptEncoder(tokenizer());
    const train = Array.from({ length: 18 }, (_, i) => example(`r${i}`, i === 3 || i === 10 ? 2 : 12));
    const fitted = encoder.fit(new ListTask(train, [example('e', 12)]), { maxPositions: 64, maxCompletionLength: 8, maxPromptLength: 5, seed: 1 });
    assert.match(fitted.message ?? '', /left out 16 of 18 training prompts and 1 of 1 validation prompts .*; no validation prompt is left, so there is no validation$/);
    for (let step = 0; step < 20; step++) {
      // Four prompts a step from two rows: each epoch (two draws) holds both, as any task's epochs do.
      assert.deepStrictEqual(fitted.task.nextTrain(4).map((e) => e.id).sort(), ['r10', 'r10', 'r3', 'r3']);
    }
  });
});
