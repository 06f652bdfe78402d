/**
 * A run's task data in verl's dataset layout: Parquet rows of `data_source`, `prompt` (chat messages), `ability`,
 * `reward_model: {style, ground_truth}` and `extra_info`, as verl's examples/data_preprocess/gsm8k.py writes them
 * (volcengine/verl b178a3cd56f58b2d502255daba591e92833930a7) and its RLHFDataset reads them. Written with
 * hyparquet-writer, the companion of the hyparquet reader the prompts task reads Parquet with.
 *
 * verl applies the model's chat template to `prompt`; a plain-text prompt of ours becomes one user message.
 * The row's own columns reach verl's compute_score in `extra_info`, beside `split`, `index` and our `id`.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import type { SchemaElement } from 'hyparquet-writer';
import type { RunConfig } from '../../protocol';
import { createTask } from '../tasks/createTask';
import type { ColumnValue, Example } from '../tasks/task';

export interface VerlMessage {
  role: string;
  content: string;
}

/** One row of verl's dataset; extra_info's values are strings, numbers or booleans (other values as JSON text). */
export interface VerlRow {
  data_source: string;
  prompt: VerlMessage[];
  ability: string;
  reward_model: { style: string; ground_truth: string };
  extra_info: Record<string, string | number | boolean | null>;
}

export type VerlSplit = 'train' | 'test';

/** Our task's train and validation examples, as a local run would draw them (paths in `config` absolute). */
export async function taskExamples(config: RunConfig): Promise<{ train: readonly Example[]; eval: readonly Example[] }> {
  const task = config.task;
  if (task.type !== 'arithmetic' && task.type !== 'gsm8k' && task.type !== 'prompts') {
    throw new Error(`task.type: "${task.type}" has no prompts to write for verl`);
  }
  const examples = await createTask(config, task);
  return { train: examples.trainSet(), eval: examples.evalSet() };
}

function stringColumn(example: Example, name: string): string | undefined {
  const value = example.columns?.[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Reserved in extra_info (ours), or a top-level verl column: not copied from the row's columns. */
const RESERVED_COLUMNS = new Set(['split', 'index', 'id', 'data_source', 'ability']);

function extraValue(value: ColumnValue): string | number | boolean | null {
  if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  return JSON.stringify(value);
}

/** Our examples as verl rows; `taskType` names the source where a row has no `data_source` / `ability` column. */
export function verlRows(examples: readonly Example[], split: VerlSplit, taskType: string): VerlRow[] {
  return examples.map((example, index) => {
    const extra: VerlRow['extra_info'] = {};
    for (const [name, value] of Object.entries(example.columns ?? {})) if (!RESERVED_COLUMNS.has(name)) extra[name] = extraValue(value);
    return {
      data_source: stringColumn(example, 'data_source') ?? `grpo-studio/${taskType}`,
      prompt: example.messages ? example.messages.map(({ role, content }) => ({ role, content })) : [{ role: 'user', content: example.prompt }],
      ability: stringColumn(example, 'ability') ?? taskType,
      reward_model: { style: 'rule', ground_truth: example.answer },
      extra_info: { split, index, id: example.id, ...extra },
    };
  });
}

type ExtraType = 'STRING' | 'DOUBLE' | 'BOOLEAN';

/**
 * The Parquet type of each extra_info field across all rows: one type per field, as Parquet needs. A field whose
 * values mix types is written as text (JSON for non-strings), so no value is lost.
 */
function extraTypes(rows: readonly VerlRow[]): Map<string, ExtraType> {
  const seen = new Map<string, Set<string>>();
  for (const row of rows) {
    for (const [name, value] of Object.entries(row.extra_info)) {
      if (!seen.has(name)) seen.set(name, new Set());
      if (value !== null) seen.get(name)?.add(typeof value);
    }
  }
  const types = new Map<string, ExtraType>();
  for (const [name, kinds] of seen) {
    const only = kinds.size === 1 ? [...kinds][0] : undefined;
    types.set(name, only === 'number' ? 'DOUBLE' : only === 'boolean' ? 'BOOLEAN' : 'STRING');
  }
  // `index` is an integer in verl's own files (pandas int64).
  types.delete('index');
  return types;
}

const text = (name: string): SchemaElement => ({ name, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' });
const leaf = (name: string, type: ExtraType): SchemaElement =>
  type === 'STRING' ? text(name) : { name, type: type === 'DOUBLE' ? 'DOUBLE' : 'BOOLEAN', repetition_type: 'OPTIONAL' };

/** The schema pyarrow writes for these rows: `prompt` a LIST of STRUCT<role, content>, the dicts as STRUCTs. */
function verlSchema(extra: Map<string, ExtraType>): SchemaElement[] {
  return [
    { name: 'root', num_children: 5 },
    text('data_source'),
    { name: 'prompt', repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
    { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
    { name: 'element', repetition_type: 'OPTIONAL', num_children: 2 },
    text('role'),
    text('content'),
    text('ability'),
    { name: 'reward_model', repetition_type: 'OPTIONAL', num_children: 2 },
    text('style'),
    text('ground_truth'),
    { name: 'extra_info', repetition_type: 'OPTIONAL', num_children: 1 + extra.size },
    { name: 'index', type: 'INT64', repetition_type: 'OPTIONAL' },
    ...[...extra].map(([name, type]) => leaf(name, type)),
  ];
}

function typedExtra(row: VerlRow, types: Map<string, ExtraType>): Record<string, string | number | boolean | bigint | null> {
  const out: Record<string, string | number | boolean | bigint | null> = { index: BigInt(row.extra_info.index as number) };
  for (const [name, type] of types) {
    const value = row.extra_info[name] ?? null;
    out[name] = value === null || type !== 'STRING' || typeof value === 'string' ? value : JSON.stringify(value);
  }
  return out;
}

/** The rows as Parquet bytes (snappy, as pyarrow's default). */
export function verlParquet(rows: readonly VerlRow[]): Uint8Array {
  const types = extraTypes(rows);
  const columnData = [
    { name: 'data_source', data: rows.map((r) => r.data_source) },
    { name: 'prompt', data: rows.map((r) => r.prompt) },
    { name: 'ability', data: rows.map((r) => r.ability) },
    { name: 'reward_model', data: rows.map((r) => r.reward_model) },
    { name: 'extra_info', data: rows.map((r) => typedExtra(r, types)) },
  ];
  return new Uint8Array(parquetWriteBuffer({ columnData, schema: verlSchema(types), codec: 'SNAPPY' }));
}

export interface VerlDatasetFiles {
  trainFile: string;
  /** Absent when the task holds out no validation rows. */
  valFile?: string;
  trainRows: number;
  valRows: number;
}

/** Writes train.parquet (and test.parquet with validation rows) into `dir`. */
export async function writeVerlDataset(config: RunConfig, dir: string): Promise<VerlDatasetFiles> {
  const { train, eval: held } = await taskExamples(config);
  if (train.length === 0) throw new Error(`task: no training prompts to write for verl (${config.task.type})`);
  fs.mkdirSync(dir, { recursive: true });
  const trainFile = path.join(dir, 'train.parquet');
  fs.writeFileSync(trainFile, verlParquet(verlRows(train, 'train', config.task.type)));
  let valFile: string | undefined;
  if (held.length > 0) {
    valFile = path.join(dir, 'test.parquet');
    fs.writeFileSync(valFile, verlParquet(verlRows(held, 'test', config.task.type)));
  }
  return { trainFile, valFile, trainRows: train.length, valRows: held.length };
}
