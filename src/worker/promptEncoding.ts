/**
 * Prompts as the model reads them, and the check that they fit its context before a run trains on them.
 *
 * Plain-text prompts are encoded with the tokenizer's own special-token rules; chat prompts (`Example.messages`) go
 * through the chat template and are encoded without adding special tokens again (see encodePrompt). A prompt plus
 * `max_completion_length` must fit the model's `max_position_embeddings`: a run whose longest prompt does not is
 * refused with the numbers, or, with `sampling.max_prompt_length`, longer rows are left out and counted. Prompts are
 * never cut from the left, which would drop the BOS token and the chat header (TRL removed its truncation for this).
 */
import { encodePrompt, renderPrompt, TextTokenizer } from '../model/tokenizer';
import { DataCursor, Example, PromptTask, ShuffledCursor } from './tasks/task';

export interface EncodedPrompt {
  /** What the model reads, as text (a chat prompt rendered through its template). */
  text: string;
  ids: number[];
}

export interface ContextLimits {
  /** The model's `max_position_embeddings`. */
  maxPositions: number;
  maxCompletionLength: number;
  /** `sampling.max_prompt_length`: prompts longer than this many tokens are left out (undefined: refuse instead). */
  maxPromptLength?: number;
  /** Seed of the shuffle the kept training examples are drawn in. */
  seed: number;
}

/** Encodes prompts once per example (the same objects come back every epoch) and keeps the result. */
export class PromptEncoder {
  private readonly cache = new WeakMap<Example, EncodedPrompt>();

  constructor(private readonly tokenizer: TextTokenizer) {}

  encode(example: Example): EncodedPrompt {
    let encoded = this.cache.get(example);
    if (!encoded) {
      const source = example.messages ?? example.prompt;
      encoded = { text: renderPrompt(this.tokenizer, source), ids: encodePrompt(this.tokenizer, source) };
      if (encoded.ids.length === 0) throw new Error(`prompt ${describe(example)} encodes to no tokens`);
      this.cache.set(example, encoded);
    }
    return encoded;
  }

  /** The example as rewards and records see it: a chat example's `prompt` is its rendered template. */
  asSeen(example: Example): Example {
    return example.messages ? { ...example, prompt: this.encode(example).text } : example;
  }

  /**
   * Checks every training and validation prompt against the context (see the module comment). Returns the task to
   * train on (the same one when every prompt fits) and a line for the log when rows were left out.
   */
  fit(task: PromptTask, limits: ContextLimits): { task: PromptTask; message?: string } {
    const { maxPositions, maxCompletionLength, maxPromptLength } = limits;
    if (maxPromptLength !== undefined && maxPromptLength + maxCompletionLength > maxPositions) {
      throw new Error(
        `sampling.max_prompt_length (${maxPromptLength}) + sampling.max_completion_length (${maxCompletionLength}) = ` +
        `${maxPromptLength + maxCompletionLength} exceeds the model's ${maxPositions} positions (max_position_embeddings)`,
      );
    }
    const train = task.trainSet();
    const evalSet = task.evalSet();
    if (maxPromptLength === undefined) {
      const longest = this.longest([...train, ...evalSet]);
      if (longest && longest.length + maxCompletionLength > maxPositions) {
        throw new Error(
          `the longest prompt (${describe(longest.example)}) has ${longest.length} tokens; with sampling.max_completion_length ` +
          `${maxCompletionLength} that is ${longest.length + maxCompletionLength}, more than the model's ${maxPositions} positions ` +
          `(max_position_embeddings). Set sampling.max_prompt_length (at most ${maxPositions - maxCompletionLength}) to leave ` +
          'longer prompts out, or lower sampling.max_completion_length',
        );
      }
      return { task };
    }
    const fits = (example: Example) => this.encode(example).ids.length <= maxPromptLength;
    const droppedTrain = train.filter((e) => !fits(e)).length;
    const droppedEval = evalSet.filter((e) => !fits(e)).length;
    if (droppedTrain === 0 && droppedEval === 0) return { task };
    if (droppedTrain === train.length) {
      throw new Error(`sampling.max_prompt_length (${maxPromptLength}): every one of the ${train.length} training prompts is longer (shortest: ${this.shortest(train)} tokens)`);
    }
    const noValidation = evalSet.length > 0 && droppedEval === evalSet.length ? '; no validation prompt is left, so there is no validation' : '';
    const message =
      `sampling.max_prompt_length ${maxPromptLength}: left out ${droppedTrain} of ${train.length} training prompts and ` +
      `${droppedEval} of ${evalSet.length} validation prompts (longest: ${this.longest([...train, ...evalSet])?.length} tokens)${noValidation}`;
    // Its own stream, apart from the task's (seed + 1, + 3) and the run's.
    return { task: new FilteredTask(task, fits, (limits.seed + 5) >>> 0), message };
  }

  private longest(examples: readonly Example[]): { example: Example; length: number } | undefined {
    let best: { example: Example; length: number } | undefined;
    for (const example of examples) {
      const length = this.encode(example).ids.length;
      if (!best || length > best.length) best = { example, length };
    }
    return best;
  }

  private shortest(examples: readonly Example[]): number {
    return Math.min(...examples.map((e) => this.encode(e).ids.length));
  }
}

function describe(example: Example): string {
  const text = example.prompt.length > 40 ? `${example.prompt.slice(0, 40)}…` : example.prompt;
  return `id ${example.id}: ${JSON.stringify(text)}`;
}

/**
 * A task without the examples `keep` rejects. Training draws walk the kept examples in a seeded shuffle of their
 * own (its cursor is what checkpoints save, so a resumed run draws what it would have drawn); the warm start draws
 * the inner task's references and skips those that do not fit.
 */
export class FilteredTask implements PromptTask {
  readonly name: string;
  readonly defaultRewards: readonly string[];
  readonly isCorrect?: (completion: string, example: Example) => boolean;
  private readonly train: ShuffledCursor<Example>;
  private readonly evalExamples: Example[];

  constructor(private readonly inner: PromptTask, private readonly keep: (example: Example) => boolean, seed: number) {
    this.name = inner.name;
    this.defaultRewards = inner.defaultRewards;
    this.isCorrect = inner.isCorrect?.bind(inner);
    this.train = new ShuffledCursor(inner.trainSet().filter(keep), seed);
    this.evalExamples = inner.evalSet().filter(keep);
  }

  nextTrain(n: number): Example[] {
    return this.train.take(n);
  }

  /** One draw at a time from the inner task's references; a whole epoch or more without one that fits is an error. */
  nextSft(n: number): Example[] {
    const out: Example[] = [];
    let misses = 0;
    while (out.length < n) {
      const drawn = this.inner.nextSft(1);
      if (drawn.length === 0) break; // a task without references
      const kept = drawn.filter(this.keep);
      out.push(...kept);
      misses = kept.length > 0 ? 0 : misses + 1;
      if (misses > 2 * this.inner.trainSet().length) {
        throw new Error('sampling.max_prompt_length: no example with a reference completion (for the sft warm start) is short enough');
      }
    }
    return out;
  }

  trainSet(): readonly Example[] {
    return this.train.items;
  }

  evalSet(): Example[] {
    return this.evalExamples;
  }

  cursor(): DataCursor {
    return this.train.cursor();
  }

  restoreCursor(cursor: DataCursor): void {
    this.train.restore(cursor);
  }
}
