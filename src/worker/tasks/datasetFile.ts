/**
 * Reads the rows of a dataset file as Hugging Face `datasets` would load it, by extension: JSON Lines, JSON (an
 * array of row objects, an object of column arrays, or either under a `field`), CSV, Parquet; the text formats may
 * be gzipped. Each row carries where it came from (`file:line`, or `file: row N`) for error messages, and its values
 * as JSON holds them: 64-bit integers become numbers when they are safe, else decimal strings (never BigInt, which
 * neither JSON nor IPC can carry), dates ISO strings, binary base64.
 */
import * as fs from 'fs';
import * as zlib from 'zlib';
import { parse as parseCsv } from 'csv-parse/sync';
import { DATASET_EXTENSIONS_TEXT, datasetFormatOf, DatasetFormat } from '../../protocol';
import { readParquetObjects } from '../../protocol/parquetFile';
import type { ColumnValue } from './task';

export interface DatasetRow {
  /** For messages: `file:line` (JSONL, CSV: the line the record starts on) or `file: row N` (JSON, Parquet). */
  where: string;
  /** 1-based: the line (JSONL, CSV) or row number (JSON, Parquet); a row without an `id` column is known by it. */
  position: number;
  values: Record<string, ColumnValue>;
}

export interface DatasetRows {
  format: DatasetFormat;
  rows: DatasetRow[];
}

export interface ReadOptions {
  /** JSON only: the key of the top-level object that holds the rows. */
  field?: string;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export async function readDatasetRows(file: string, options: ReadOptions = {}): Promise<DatasetRows> {
  const kind = datasetFormatOf(file);
  if (!kind) throw new Error(`${file}: unknown dataset format: the name must end in ${DATASET_EXTENSIONS_TEXT}`);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read dataset file ${file}: ${message(err)}`);
  }
  if (kind.gzip) {
    try {
      bytes = zlib.gunzipSync(bytes);
    } catch (err) {
      throw new Error(`${file}: not a gzip file: ${message(err)}`);
    }
  }
  const rows = kind.format === 'parquet' ? await parquetRows(file, bytes) : textRows(file, kind.format, decodeText(bytes), options);
  if (rows.length === 0) throw new Error(`${file}: no rows`);
  return { format: kind.format, rows };
}

function decodeText(bytes: Buffer): string {
  const text = bytes.toString('utf8');
  return text.startsWith('\uFEFF') ? text.slice(1) : text;
}

function textRows(file: string, format: Exclude<DatasetFormat, 'parquet'>, text: string, options: ReadOptions): DatasetRow[] {
  if (format === 'jsonl') return jsonLinesRows(file, text);
  if (format === 'csv') return csvRows(file, text);
  return jsonRows(file, text, options.field);
}

function jsonLinesRows(file: string, text: string): DatasetRow[] {
  const rows: DatasetRow[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    const where = `${file}:${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new Error(`${where}: invalid JSON: ${message(err)}`);
    }
    rows.push({ where, position: i + 1, values: rowObject(value, where) });
  });
  return rows;
}

/**
 * A whole JSON document, as `datasets` reads one: an array of row objects or an object of equally long column
 * arrays (pandas' column orientation), optionally under `field`. A `.json` file that does not parse as one document
 * but holds one object per line is JSON Lines, which `datasets` also accepts under that extension.
 */
function jsonRows(file: string, text: string, field: string | undefined): DatasetRow[] {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (err) {
    if (field === undefined && text.trimStart().startsWith('{') && text.trim().includes('\n')) return jsonLinesRows(file, text);
    throw new Error(`${file}: invalid JSON: ${message(err)}`);
  }
  if (field !== undefined) {
    if (!isPlainObject(document) || !(field in document)) throw new Error(`${file}: task.field "${field}": the top-level object has no such key`);
    document = document[field];
  }
  const rowAt = (i: number) => ({ where: `${file}: row ${i + 1}`, position: i + 1 });
  if (Array.isArray(document)) return document.map((value, i) => ({ ...rowAt(i), values: rowObject(value, rowAt(i).where) }));
  if (isPlainObject(document)) return columnRows(file, document).map((values, i) => ({ ...rowAt(i), values }));
  throw new Error(`${file}: expected an array of rows or an object of column arrays${field === undefined ? ' (or set task.field to the key that holds them)' : ''}, got ${describe(document)}`);
}

function columnRows(file: string, columns: Record<string, unknown>): Record<string, ColumnValue>[] {
  const names = Object.keys(columns);
  const notArrays = names.filter((name) => !Array.isArray(columns[name]));
  if (names.length === 0 || notArrays.length > 0) {
    const hint = notArrays.length ? `: ${notArrays.slice(0, 3).map((n) => `"${n}"`).join(', ')} ${notArrays.length === 1 ? 'is not an array' : 'are not arrays'}` : '';
    throw new Error(`${file}: expected an array of rows or an object of column arrays (or set task.field to the key that holds them)${hint}`);
  }
  // {"data": [{…}, …]}: as columns this is one column of objects; the rows are under a field.
  const wrapped = names.find((name) => (columns[name] as unknown[]).length > 0 && (columns[name] as unknown[]).every(isPlainObject));
  if (wrapped !== undefined && names.length === 1) {
    throw new Error(`${file}: "${wrapped}" holds a list of objects: set task.field to "${wrapped}" to read them as the rows`);
  }
  const lengths = names.map((name) => (columns[name] as unknown[]).length);
  if (lengths.some((n) => n !== lengths[0])) {
    throw new Error(`${file}: the column arrays differ in length (${names.map((name, i) => `"${name}": ${lengths[i]}`).join(', ')})`);
  }
  return Array.from({ length: lengths[0] }, (_, i) => Object.fromEntries(names.map((name) => [name, toColumnValue((columns[name] as unknown[])[i])])));
}

/** CSV with a header row (RFC 4180 quoting: commas, quotes and newlines inside quoted fields). All cells are text. */
function csvRows(file: string, text: string): DatasetRow[] {
  let records: { record: Record<string, string>; info: { lines: number }; raw: string }[];
  // One kind of line break: a file edited on two systems mixes \r\n and \n, which csv-parse, detecting the break
  // from the first line, reads as a malformed field; and it counts a quoted \r\n as two lines.
  const lines = text.replace(/\r\n?/g, '\n');
  try {
    records = parseCsv(lines, { columns: true, info: true, raw: true, skip_empty_lines: true, relax_quotes: false });
  } catch (err) {
    // csv-parse names the line ("… on line 7").
    throw new Error(`${file}: invalid CSV: ${message(err)}`);
  }
  return records.map(({ record, info, raw }) => {
    const line = info.lines - linesInside(raw);
    return { where: `${file}:${line}`, position: line, values: { ...record } };
  });
}

/**
 * How many line breaks a record's raw text has between its first and last line: csv-parse reports the line a
 * record ends on, and a quoted field may span lines. Blank lines skipped before it are part of `raw`.
 */
function linesInside(raw: string): number {
  const body = raw.replace(/^\n+/, '').replace(/\n$/, '');
  return body.split('\n').length - 1;
}

async function parquetRows(file: string, bytes: Buffer): Promise<DatasetRow[]> {
  const objects = await readParquetObjects(file, bytes);
  return objects.map((object, i) => {
    const where = `${file}: row ${i + 1}`;
    return { where, position: i + 1, values: rowObject(object, where) };
  });
}

function rowObject(value: unknown, where: string): Record<string, ColumnValue> {
  if (!isPlainObject(value)) throw new Error(`${where}: expected an object (one row), got ${describe(value)}`);
  return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, toColumnValue(v)]));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value) && !(value instanceof Date);
}

export function describe(value: unknown): string {
  if (value === undefined || value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  const text = JSON.stringify(value);
  return `${typeof value} ${text.length > 40 ? `${text.slice(0, 40)}…` : text}`;
}

/** A value as JSON can hold it; see the module comment. */
export function toColumnValue(value: unknown): ColumnValue {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'number':
      return value;
    case 'bigint':
      return bigIntValue(value);
    case 'object':
      break;
    default:
      return String(value);
  }
  if (Array.isArray(value)) return value.map(toColumnValue);
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (ArrayBuffer.isView(value)) return typedArrayValue(value);
  if (value instanceof Map) return Object.fromEntries([...value.entries()].map(([k, v]) => [String(k), toColumnValue(v)]));
  return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, toColumnValue(v)]));
}

/** A 64-bit integer: a number where it is exact (|x| ≤ 2^53 − 1), else its decimal digits. */
export function bigIntValue(value: bigint): number | string {
  const asNumber = Number(value);
  return Number.isSafeInteger(asNumber) ? asNumber : value.toString();
}

/** Binary (Uint8Array) as base64; a typed array of numbers (e.g. BigInt64Array) as a list. */
function typedArrayValue(view: ArrayBufferView): ColumnValue {
  if (view instanceof Uint8Array) return Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString('base64');
  if (view instanceof DataView) return Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString('base64');
  return Array.from(view as unknown as ArrayLike<number | bigint>, (x) => (typeof x === 'bigint' ? bigIntValue(x) : x));
}
