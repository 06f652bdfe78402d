/**
 * The `prompts` task: any prompt dataset, as TRL's GRPOTrainer takes one. A row has
 *   - `prompt`: text, or a conversation (a list of `{role, content}`), TRL's "prompt-only" formats; or else
 *   - `messages`: a conversation; a final assistant turn becomes the row's reference completion;
 *   - `answer` (else TRL's `solution`, else verl's `ground_truth`): the ground truth built-in rewards compare with;
 *   - `completion`: a reference completion for the SFT warm start;
 *   - `id`: a stable id (default: the row's line or row number);
 *   - any other column: passed to reward functions as a field of `example` (TRL passes them as keyword arguments).
 * Chat rows keep their messages; the trainer renders them with the tokenizer's chat template. A bad row is an error
 * naming the file and line (or row).
 */
import type { ChatMessage } from '../../model/tokenizer';
import { Random } from '../../model/random';
import type { PromptsTaskConfig } from '../../protocol';
import { TASK_DEFAULT_REWARDS } from '../../protocol';
import { DatasetRow, describe, readDatasetRows } from './datasetFile';
import { ColumnValue, DataCursor, Example, PromptTask, ShuffledCursor } from './task';

/** Columns the first present (non-null) one of which is the ground truth: ours, TRL's accuracy_reward, verl's. */
export const ANSWER_COLUMNS = ['answer', 'solution', 'ground_truth'] as const;

/** When no `eval_file` and no `eval_split` is given: hold out 10 % of the training file. */
export const DEFAULT_EVAL_SPLIT = 0.1;

export class RowError extends Error {}

function fail(where: string, text: string): never {
  throw new RowError(`${where}: ${text}`);
}

/** One dataset row as an Example; `cellsAreText`: CSV, where a list column (`messages`) is a JSON string in a cell. */
export function rowToExample(row: DatasetRow, cellsAreText = false): Example {
  const { values, where } = row;
  const used = new Set<string>(['id', 'answer', 'completion']);
  const example: Example = { id: rowId(row), prompt: '', answer: answerOf(values, where) };
  if (values.prompt !== null && values.prompt !== undefined) {
    used.add('prompt');
    if (typeof values.prompt === 'string') {
      if (!values.prompt.trim()) fail(where, 'prompt is empty');
      example.prompt = values.prompt;
    } else if (Array.isArray(values.prompt)) {
      example.messages = parseMessages(values.prompt, 'prompt', where);
    } else {
      fail(where, `prompt: expected text or a list of {role, content} messages, got ${describe(values.prompt)}`);
    }
  } else if (values.messages !== null && values.messages !== undefined) {
    used.add('messages');
    const messages = parseMessages(cellsAreText ? jsonCell(values.messages, 'messages', where) : values.messages, 'messages', where);
    // A conversation that ends with the assistant's turn (an SFT row): the prompt is what precedes it.
    const last = messages[messages.length - 1];
    if (last.role === 'assistant' && messages.length > 1) {
      messages.pop();
      example.completion = last.content;
    }
    example.messages = messages;
  } else {
    const columns = Object.keys(values);
    fail(where, `no prompt: a row needs a "prompt" (text or chat messages) or a "messages" (chat) value${columns.length ? ` (this row has: ${columns.join(', ')})` : ''}`);
  }
  if (example.messages) example.prompt = example.messages.map((m) => m.content).join('\n');
  const completion = completionOf(values.completion, where);
  if (completion !== undefined) example.completion = completion;
  const columns = Object.fromEntries(Object.entries(values).filter(([key]) => !used.has(key)));
  if (Object.keys(columns).length > 0) example.columns = columns;
  return example;
}

function rowId(row: DatasetRow): string {
  const id = row.values.id;
  if (id === null || id === undefined) return String(row.position);
  if (typeof id === 'string' && id.length > 0) return id;
  if (typeof id === 'number') return String(id);
  return fail(row.where, `id: expected text or a number, got ${describe(id)}`);
}

function answerOf(values: Record<string, ColumnValue>, where: string): string {
  for (const column of ANSWER_COLUMNS) {
    const value = values[column];
    if (value === null || value === undefined) continue;
    if (typeof value === 'string') return value;
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    fail(where, `${column}: expected text or a number, got ${describe(value)}`);
  }
  return '';
}

/** A reference completion: text, or TRL's conversational form (a list of messages, whose contents are joined). */
function completionOf(value: ColumnValue | undefined, where: string): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return parseMessages(value, 'completion', where).map((m) => m.content).join('\n');
  return fail(where, `completion: expected text or a list of {role, content} messages, got ${describe(value)}`);
}

function jsonCell(value: ColumnValue, column: string, where: string): ColumnValue {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value) as ColumnValue;
  } catch (err) {
    return fail(where, `${column}: a CSV cell holding chat messages must be a JSON list of {role, content}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export function parseMessages(value: ColumnValue, column: string, where: string): ChatMessage[] {
  if (!Array.isArray(value)) return fail(where, `${column}: expected a list of {role, content} messages, got ${describe(value)}`);
  if (value.length === 0) fail(where, `${column}: the conversation has no messages`);
  const messages = value.map((item, i): ChatMessage => {
    const at = `${column}[${i}]`;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return fail(where, `${at}: expected {role, content}, got ${describe(item)}`);
    const { role, content } = item;
    if (typeof role !== 'string' || !role.trim()) fail(where, `${at}.role: expected a role such as "user", got ${describe(role)}`);
    if (typeof content !== 'string') {
      const parts = Array.isArray(content) ? ' (lists of content parts, as multimodal datasets have, are not supported)' : '';
      fail(where, `${at}.content: expected text, got ${describe(content)}${parts}`);
    }
    return { role, content };
  });
  if (messages.every((m) => !m.content.trim())) fail(where, `${column}: every message is empty`);
  return messages;
}

/**
 * CSV cells are text. Columns that reach reward functions are typed as pandas (and so `datasets`) reads a CSV: a
 * column whose every non-empty cell is a number holds numbers (an integer beyond 2^53 keeps its digits as text), and
 * an empty cell is null. The columns the task itself reads (prompt, answers, id, …) stay text: "007" stays "007".
 */
export function typeCsvColumns(rows: DatasetRow[], keepText: readonly string[]): DatasetRow[] {
  const names = [...new Set(rows.flatMap((row) => Object.keys(row.values)))];
  const numeric = new Set(names.filter((name) => !keepText.includes(name) && rows.every((row) => isNumericCell(row.values[name]))));
  return rows.map((row) => {
    const values: Record<string, ColumnValue> = { ...row.values };
    for (const name of names) {
      const cell = values[name];
      // An empty prompt stays '' so that it is reported as empty rather than missing.
      if ((cell === '' && name !== 'prompt') || cell === undefined) values[name] = null;
      else if (numeric.has(name) && typeof cell === 'string') values[name] = csvNumber(cell);
    }
    return { ...row, values };
  });
}

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function isNumericCell(cell: ColumnValue | undefined): boolean {
  return cell === '' || cell === undefined || cell === null || (typeof cell === 'string' && NUMBER.test(cell.trim()));
}

function csvNumber(cell: string): number | string {
  const value = Number(cell.trim());
  const integer = /^[+-]?\d+$/.test(cell.trim());
  return integer && !Number.isSafeInteger(value) ? cell.trim() : value;
}

/**
 * Hold out `split` rows for validation, as `datasets`' `train_test_split(test_size=split, seed=…)`: a fraction below
 * 1 (the count rounded up) or a whole count. Rows are drawn at random with `seed`; both parts keep file order.
 */
export function heldOutSplit<T>(items: readonly T[], split: number, seed: number, source: string): { train: T[]; eval: T[] } {
  const count = split >= 1 ? split : Math.ceil(split * items.length);
  if (count >= items.length) {
    throw new Error(`task.eval_split: holding out ${count} of the ${items.length} rows of ${source} leaves none to train on`);
  }
  const rng = new Random(seed);
  const order = items.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const held = new Set(order.slice(0, count));
  return { train: items.filter((_, i) => !held.has(i)), eval: items.filter((_, i) => held.has(i)) };
}

/** Reads a dataset file into Examples; ids must be unique within the file. */
export async function readPromptExamples(file: string, field?: string): Promise<Example[]> {
  const { format, rows } = await readDatasetRows(file, { field });
  const typed = format === 'csv' ? typeCsvColumns(rows, ['prompt', 'messages', 'completion', 'id', ...ANSWER_COLUMNS]) : rows;
  const examples = typed.map((row) => rowToExample(row, format === 'csv'));
  const seen = new Map<string, string>();
  examples.forEach((example, i) => {
    const first = seen.get(example.id);
    if (first !== undefined) throw new RowError(`${typed[i].where}: id "${example.id}" repeats ${first}`);
    seen.set(example.id, typed[i].where);
  });
  return examples;
}

function limit<T>(items: T[], max: number): T[] {
  return max > 0 ? items.slice(0, max) : items;
}

export class PromptsTask implements PromptTask {
  readonly name = 'prompts';
  readonly defaultRewards = TASK_DEFAULT_REWARDS.prompts;
  private readonly train: ShuffledCursor<Example>;
  /** The rows with a reference completion, in their own shuffle: the warm start never moves GRPO's draws. */
  private readonly sft: ShuffledCursor<Example> | undefined;

  private constructor(
    trainExamples: Example[],
    private readonly evalExamples: Example[],
    seed: number,
  ) {
    this.train = new ShuffledCursor(trainExamples, seed);
    const withCompletions = trainExamples.filter((e) => e.completion !== undefined);
    this.sft = withCompletions.length > 0 ? new ShuffledCursor(withCompletions, seed + 3) : undefined;
  }

  /** Paths in `config` are absolute (resolveConfigPaths). */
  static async load(config: PromptsTaskConfig, seed: number): Promise<PromptsTask> {
    const all = await readPromptExamples(config.train_file, config.field);
    let train = all;
    let held: Example[] = [];
    if (config.eval_file !== undefined) {
      held = await readPromptExamples(config.eval_file, config.field);
    } else {
      const split = config.eval_split ?? DEFAULT_EVAL_SPLIT;
      if (split > 0) ({ train, eval: held } = heldOutSplit(all, split, config.split_seed ?? seed, config.train_file));
    }
    return new PromptsTask(limit(train, config.max_train), limit(held, config.max_eval), seed);
  }

  nextTrain(n: number): Example[] {
    return this.train.take(n);
  }

  /** Rows with a `completion` (or a final assistant turn); none: the warm start says the task has no references. */
  nextSft(n: number): Example[] {
    return this.sft ? this.sft.take(n) : [];
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
