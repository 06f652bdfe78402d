/**
 * A prompt task: where prompts and their ground truths come from. Training prompts are drawn through a cursor
 * (epoch + position in a seeded shuffle), so a run resumed from a checkpoint draws exactly what it would have drawn.
 */
import type { ChatMessage } from '../../model/tokenizer';
import { Random } from '../../model/random';

/** A value of a dataset column, as JSON holds it (64-bit integers arrive as numbers or strings, never BigInt). */
export type ColumnValue = null | boolean | number | string | ColumnValue[] | { [key: string]: ColumnValue };

export interface Example {
  /** Stable id (dataset line or generated problem), so the inspector can follow one prompt across steps. */
  id: string;
  /**
   * The prompt as plain text: encoded with the tokenizer's own special-token rules (BOS for Llama/SentencePiece
   * tokenizers). For a chat example this is what the trainer renders through the chat template.
   */
  prompt: string;
  /** A conversation: the model sees `applyChatTemplate(messages)`, encoded without adding special tokens again. */
  messages?: ChatMessage[];
  /** The ground truth the rewards compare against ('' where the dataset has none). */
  answer: string;
  /** A reference completion for the SFT warm start, where the task has one. */
  completion?: string;
  /** The dataset's other columns, passed to reward functions as fields of `example` (TRL passes them as kwargs). */
  columns?: Record<string, ColumnValue>;
}

/**
 * What reward functions get as `example`: the row's other columns as fields (TRL passes them as keyword
 * arguments), then the example's own fields, which win over a column of the same name.
 */
export type RewardExample = Readonly<Record<string, unknown>> & Pick<Example, 'id' | 'prompt' | 'answer' | 'messages' | 'completion'>;

export function rewardExample(example: Example): RewardExample {
  const { id, prompt, answer, messages, completion } = example;
  return {
    ...example.columns,
    id,
    prompt,
    answer,
    ...(messages ? { messages } : {}),
    ...(completion !== undefined ? { completion } : {}),
  };
}

export interface DataCursor {
  epoch: number;
  position: number;
}

export interface PromptTask {
  readonly name: string;
  /** Built-in reward names used when the config lists none. */
  readonly defaultRewards: readonly string[];
  /** The next `n` training examples; advances the cursor. */
  nextTrain(n: number): Example[];
  /** `n` examples with teacher completions for the SFT warm start. */
  nextSft(n: number): Example[];
  /** Every training example (for checks before a run trains on them, such as prompt lengths). */
  trainSet(): readonly Example[];
  /** The fixed held-out set for validation. */
  evalSet(): Example[];
  /**
   * Whether a completion answers the example correctly: validation's `eval/accuracy` and `eval/pass@k` unless the
   * config's `evaluation.success` says otherwise. A task without a notion of correct (prompts) has none.
   */
  isCorrect?(completion: string, example: Example): boolean;
  cursor(): DataCursor;
  restoreCursor(cursor: DataCursor): void;
}

/** Walks a fixed list of examples in a fresh seeded shuffle every epoch. */
export class ShuffledCursor<T> {
  private order: number[] = [];
  private state: DataCursor = { epoch: 0, position: 0 };

  constructor(
    readonly items: readonly T[],
    private readonly seed: number,
  ) {
    if (items.length === 0) throw new Error('the training set is empty');
    this.order = this.shuffle(0);
  }

  take(n: number): T[] {
    const out: T[] = [];
    while (out.length < n) {
      if (this.state.position >= this.order.length) {
        this.state = { epoch: this.state.epoch + 1, position: 0 };
        this.order = this.shuffle(this.state.epoch);
      }
      out.push(this.items[this.order[this.state.position++]]);
    }
    return out;
  }

  cursor(): DataCursor {
    return { ...this.state };
  }

  restore(cursor: DataCursor): void {
    this.state = { ...cursor };
    this.order = this.shuffle(cursor.epoch);
  }

  /** Fisher–Yates with a stream seeded by (seed, epoch). */
  private shuffle(epoch: number): number[] {
    const rng = new Random((this.seed + epoch * 0x9e3779b1) >>> 0);
    const order = this.items.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    return order;
  }
}
