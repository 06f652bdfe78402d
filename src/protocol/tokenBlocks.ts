/**
 * Compact per-token storage: one "token block" per step holds the per-token columns (TokenColumns) of all the
 * step's completions, appended to `rollouts.tokens.bin` (`eval_rollouts.tokens.bin` for validation samples); the
 * step's line in rollouts.jsonl keeps everything else (prompts, completions, rewards, finish reasons, errors) and
 * a `token_block` pointer {file, offset, length} in place of each rollout's `tokens`. docs/run-format.md is the
 * full description (byte layout, a Python reader); in short:
 *
 *   - token texts are indices into the step's own table of distinct pieces (a block never depends on another);
 *   - number columns are float32 (float64 where float32 would change a value as a record shows it), split into
 *     byte planes (byte-stream split: the sign/exponent bytes of neighbouring values are alike and compress well),
 *     a row whose values are all one number (a per-rollout advantage) stored once;
 *   - clip flags are bits;
 *   - `logprob` (old + log ratio, as the trainer computes it) and `kl` (klPenaltyValue of logprob and ref_logprob
 *     with the run's estimator and clamps) are left out when they can be recomputed from the stored columns, which
 *     the writer checks token by token before leaving them out;
 *   - the whole payload is compressed (deflate, which Python's zlib reads; brotli is read too) and its CRC-32 is
 *     in the block's header, so a block that a crash or a disk error damaged is never read as data.
 *
 * Decoding gives the TokenColumns a record shows (6 significant digits, NaN/∞ as null, see roundTokenColumns):
 * exactly the values today's JSON lines held, recomputed `kl` to float32 precision. Node-only (zlib), so it is not
 * re-exported from the protocol index that the webview bundles; the reading (fs) is the caller's.
 */
import * as zlib from 'zlib';
import type { RunConfig } from './config';
import { klPenaltyValue, SAMPLED_KL_ESTIMATORS, SampledKlEstimator } from './klPenalty';
import { roundForRecord, type RolloutsRecord, type TokenColumns } from './records';

/** Where a step's token block lies: a file of the run directory, its byte offset and length. */
export interface TokenBlockRef {
  file: string;
  offset: number;
  length: number;
}

export type TokenCodec = 'deflate' | 'brotli';

/** What the writer knows of the run that lets it leave `kl` out (see tokenBlockOptions). */
export interface TokenBlockOptions {
  codec?: TokenCodec;
  /** The loss's sampled-token KL estimator: `kl` may be recomputed from logprob and ref_logprob with it. */
  kl?: DerivedKl;
}

interface DerivedKl {
  estimator: SampledKlEstimator;
  log_ratio_clamp: number;
  value_clamp: number;
}

/**
 * The options a run's config gives: `kl` is recomputable only where the trainer's per-token KL is a sampled-token
 * estimator of the policy's own log-prob, i.e. at token-level importance sampling (GSPO's ratio is a sequence's, so
 * old + log ratio is not the token's log-prob) and not the `full` KL (it needs the logits).
 */
export function tokenBlockOptions(config: RunConfig | undefined): TokenBlockOptions {
  const algorithm = config?.algorithm;
  if (!algorithm || algorithm.importance_sampling_level !== 'token' || algorithm.kl_estimator === 'full') return {};
  return { kl: { estimator: algorithm.kl_estimator, log_ratio_clamp: algorithm.kl_log_ratio_clamp, value_clamp: algorithm.kl_value_clamp } };
}

/** The policy's log-prob after the update as the trainer records it: old + log ρ (one function for both sides). */
export function policyLogprob(oldLogprob: number, ratio: number): number {
  return oldLogprob + Math.log(ratio);
}

/** A float as a record shows it: 6 significant digits, and null for NaN and ±∞ (what JSON makes of them). */
export function recordValue(x: number | null): number | null {
  return x !== null && Number.isFinite(x) ? roundForRecord(x) : null;
}

const NUMBER_COLUMNS = ['logprob', 'old_logprob', 'ref_logprob', 'advantage', 'ratio', 'kl', 'entropy'] as const;
const FLAG_COLUMNS = ['clipped_low', 'clipped_high'] as const;
type NumberColumn = (typeof NUMBER_COLUMNS)[number];
type FlagColumn = (typeof FLAG_COLUMNS)[number];
type ColumnName = NumberColumn | FlagColumn;
/** The trainer's key order, kept so a decoded record serialises as the trainer's did. */
const KEY_ORDER: readonly (keyof TokenColumns)[] = ['text', 'logprob', 'old_logprob', 'ref_logprob', 'advantage', 'ratio', 'clipped_low', 'clipped_high', 'kl', 'entropy'];

/**
 * The per-token columns as a record holds them: numbers rounded by roundForRecord, NaN and ±∞ as null (a
 * StoredNumber: what JSON.stringify writes and every reader of the JSON lines got), absent columns left out.
 */
export function roundTokenColumns(raw: TokenColumns): TokenColumns {
  const out: Record<string, unknown> = {};
  for (const key of KEY_ORDER) {
    const values = raw[key];
    if (values === undefined) continue;
    out[key] = key === 'text' || isFlag(key) ? [...values] : (values as (number | null)[]).map(recordValue);
  }
  return out as unknown as TokenColumns;
}

/** A rollouts record whose per-token columns are as a record holds them (what goes over IPC). */
export function roundRolloutsRecord(record: RolloutsRecord): RolloutsRecord {
  return { ...record, groups: record.groups.map((g) => ({ ...g, rollouts: g.rollouts.map((r) => ({ ...r, tokens: roundTokenColumns(r.tokens) })) })) };
}

/** The per-token columns of a step, group by group, rollout by rollout: the rows of its block. */
export function tokenRows(record: RolloutsRecord): TokenColumns[] {
  return record.groups.flatMap((g) => g.rollouts.map((r) => r.tokens));
}

/** `record` with each rollout's tokens replaced by `rows` (record order). */
export function withTokenRows(record: RolloutsRecord, rows: readonly TokenColumns[]): RolloutsRecord {
  let next = 0;
  return { ...record, groups: record.groups.map((g) => ({ ...g, rollouts: g.rollouts.map((r) => ({ ...r, tokens: rows[next++] })) })) };
}

/** The line rollouts.jsonl holds for a step whose tokens are in a block: no `tokens`, a `token_block` pointer. */
export function storedRolloutsLine(record: RolloutsRecord, ref: TokenBlockRef): object {
  // `step` first: the step index reads a line's step from its first bytes (src/protocol/stepIndex.ts).
  const { step, groups, ...rest } = record;
  return { step, token_block: ref, ...rest, groups: groups.map((g) => ({ ...g, rollouts: g.rollouts.map(({ tokens: _tokens, ...r }) => r) })) };
}

/**
 * A parsed line of rollouts.jsonl / eval_rollouts.jsonl with its tokens in place: a line with a `token_block` gets
 * each rollout's TokenColumns from the block `read` returns (the caller's I/O); a line of the older inline format
 * is returned as it is. Throws, naming the file and offset, when the block is missing, short, damaged or is not
 * this step's: the caller treats the line as malformed.
 */
export function resolveTokenBlock(value: unknown, read: (ref: TokenBlockRef) => Uint8Array | undefined): unknown {
  if (!isObject(value) || value.token_block === undefined) return value;
  const ref = parseRef(value.token_block);
  const where = `${ref.file} at byte ${ref.offset}`;
  const bytes = read(ref);
  if (!bytes || bytes.length !== ref.length) throw new Error(`${where}: the token block is missing or shorter than ${ref.length} bytes`);
  const step = typeof value.step === 'number' ? value.step : Number.NaN;
  let rows: TokenColumns[];
  try {
    rows = decodeTokenBlock(bytes, step);
  } catch (err) {
    throw new Error(`${where}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const { groups, ...rest } = value;
  delete rest.token_block;
  if (!Array.isArray(groups)) throw new Error(`${where}: the record has no groups`);
  let next = 0;
  const withTokens = groups.map((g: unknown) => {
    if (!isObject(g) || !Array.isArray(g.rollouts)) throw new Error(`${where}: a group without rollouts`);
    return { ...g, rollouts: g.rollouts.map((r: unknown) => ({ ...(isObject(r) ? r : {}), tokens: rows[next++] })) };
  });
  if (next !== rows.length) throw new Error(`${where}: the block holds ${rows.length} rollouts, the record ${next}`);
  return { ...rest, groups: withTokens };
}

function parseRef(value: unknown): TokenBlockRef {
  const ok = isObject(value) && typeof value.file === 'string' && /^[\w.-]+$/.test(value.file) && isOffset(value.offset) && isOffset(value.length);
  // A plain file name of the run directory, never a path: a record must not make the host read elsewhere.
  if (!ok) throw new Error(`token_block must be {file (a file name of the run directory), offset, length}, got ${JSON.stringify(value)}`);
  return { file: value.file as string, offset: value.offset as number, length: value.length as number };
}

// ---- byte layout -------------------------------------------------------------------------------------------------

/** "GRPT": the first bytes of every block. */
const MAGIC = 0x54505247;
const FORMAT_VERSION = 1;
const HEADER_BYTES = 16;
const CODEC_IDS: Record<TokenCodec, number> = { deflate: 1, brotli: 2 };

interface ColumnHeader {
  name: ColumnName;
  /** f32: stored little-endian in byte planes; bits: one bit per token; derived: recomputed on reading. */
  type: 'f32' | 'bits' | 'derived';
  /** The rollouts that have this column, when not all of them. */
  rows?: number[];
  /** Of those, the ones whose values are all one number, stored once. */
  constant_rows?: number[];
  /** Bytes of its section in the payload. */
  bytes?: number;
  /** Tokens whose value is given exactly (float64) after the stored or derived one, by position in the column. */
  patches?: number;
  /** How a derived `kl` is recomputed. */
  estimator?: SampledKlEstimator;
  log_ratio_clamp?: number;
  value_clamp?: number;
}

interface BlockHeader {
  step: number;
  /** Tokens per rollout, in record order. */
  lengths: number[];
  /** The step's distinct token texts; a token's text is an index into them. */
  pieces: string[];
  /** Width of a piece index (1, 2 or 4 bytes), and bytes of the text section. */
  piece_bytes: 1 | 2 | 4;
  text_bytes: number;
  columns: ColumnHeader[];
}

/**
 * A step's block. Throws on columns it cannot store exactly (a length that is not the row's token count, a column
 * it does not know): the writer then keeps that step's tokens inline, as before.
 */
export function encodeTokenBlock(step: number, rows: readonly TokenColumns[], options: TokenBlockOptions = {}): Uint8Array {
  return encodeTokenRows(step, rows, options).block;
}

/**
 * encodeTokenBlock, and the rows as decodeTokenBlock will read them back (a recomputed `kl` included), from the
 * values it stored: what the worker sends a live dashboard, so it shows what the run folder will show.
 */
export function encodeTokenRows(step: number, rows: readonly TokenColumns[], options: TokenBlockOptions = {}): { block: Uint8Array; read: TokenColumns[] } {
  const lengths = rows.map((row, i) => {
    if (!Array.isArray(row.text) || row.text.some((t) => typeof t !== 'string')) throw new Error(`rollout ${i}: text must be strings`);
    for (const [key, values] of Object.entries(row)) {
      if (values === undefined || key === 'text') continue;
      if (!(NUMBER_COLUMNS as readonly string[]).includes(key) && !isFlag(key)) throw new Error(`rollout ${i}: unknown token column '${key}'`);
      if (!Array.isArray(values) || values.length !== row.text.length) throw new Error(`rollout ${i}: ${key} has ${Array.isArray(values) ? values.length : 'no'} values for ${row.text.length} tokens`);
    }
    return row.text.length;
  });
  const { pieces, indices, width } = pieceTable(rows);
  const text = byteStreamSplit(indices, width);
  const sections: Uint8Array[] = [text];
  const stored: StoredValues = new Map();
  const storedColumns: ColumnHeader[] = [];
  const derivable: { header: ColumnHeader; raw: number[][]; section: Uint8Array }[] = [];
  for (const name of NUMBER_COLUMNS) {
    const present = rowsWith(rows, name);
    if (present.length === 0) continue;
    const header: ColumnHeader = { name, type: 'f32', ...(present.length !== rows.length ? { rows: present } : {}) };
    const raw = present.map((i) => (rows[i][name] as (number | null)[]).map(toNumber));
    const { section, values } = encodeNumbers(raw, header, present);
    stored.set(name, values);
    storedColumns.push(header);
    sections.push(section);
    if (name === 'logprob' || name === 'kl') derivable.push({ header, raw, section });
  }
  // Derived columns go last: a reader recomputes them from the columns stored before them, in header order.
  const derived: ColumnHeader[] = [];
  const derivedSections: Uint8Array[] = [];
  for (const { header, raw, section } of derivable) {
    const present = header.rows ?? rows.map((_, i) => i);
    const again = header.name === 'logprob' ? deriveLogprob(present, stored) : options.kl ? deriveKl(present, stored, options.kl) : undefined;
    if (!again) continue;
    const agrees = header.name === 'logprob' ? showsAlike : klAgrees(present, stored);
    const misses = patchesOf(raw, present, again, agrees);
    // A derivation that misses many tokens is the wrong one (another estimator, a sequence-level ratio): stored.
    const tokens = raw.reduce((n, r) => n + r.length, 0);
    if (misses.positions.length > MAX_PATCHED_SHARE * tokens) continue;
    const patchSection = encodePatches(misses);
    if (patchSection.length >= section.length) continue;
    const index = storedColumns.indexOf(header);
    sections.splice(index + 1, 1);
    storedColumns.splice(index, 1);
    stored.set(header.name, applyPatches(again, present, misses));
    derived.push({ name: header.name, type: 'derived', ...(header.rows ? { rows: header.rows } : {}), ...(header.name === 'kl' ? options.kl : {}), ...patchFields(misses, patchSection) });
    derivedSections.push(patchSection);
  }
  for (const name of FLAG_COLUMNS) {
    const present = rowsWith(rows, name);
    if (present.length === 0) continue;
    const bits = packBits(present.flatMap((i) => (rows[i][name] as boolean[]).map(Boolean)));
    storedColumns.push({ name, type: 'bits', ...(present.length !== rows.length ? { rows: present } : {}), bytes: bits.length });
    sections.push(bits);
  }
  const columns = [...storedColumns, ...derived];
  sections.push(...derivedSections);
  const header: BlockHeader = { step, lengths, pieces, piece_bytes: width, text_bytes: text.length, columns };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const size = Buffer.alloc(4);
  size.writeUInt32LE(headerBytes.length);
  const payload = Buffer.concat([size, headerBytes, ...sections]);
  const codec = options.codec ?? 'deflate';
  const compressed = codec === 'brotli'
    ? zlib.brotliCompressSync(payload, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 9, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: payload.length } })
    : zlib.deflateRawSync(payload, { level: 9 });
  const read = rows.map((row, i) => {
    const out: Record<string, unknown> = { text: row.text };
    for (const name of FLAG_COLUMNS) if (row[name] !== undefined) out[name] = (row[name] as boolean[]).map(Boolean);
    for (const [name, values] of stored) if (values.has(i)) out[name] = values.get(i);
    return roundTokenColumns(out as unknown as TokenColumns);
  });
  const block = Buffer.alloc(HEADER_BYTES + compressed.length);
  block.writeUInt32LE(MAGIC, 0);
  block.writeUInt8(FORMAT_VERSION, 4);
  block.writeUInt8(CODEC_IDS[codec], 5);
  block.writeUInt32LE(compressed.length, 8);
  block.writeUInt32LE(crc32(compressed), 12);
  compressed.copy(block, HEADER_BYTES);
  return { block, read };
}

/** How a block stores each column (`f32`, `f64`, `bits`, or `derived`: recomputed), for tests and the bench. */
export function tokenBlockColumns(bytes: Uint8Array): Record<string, string> {
  const { header } = openBlock(bytes);
  return Object.fromEntries(header.columns.map((c) => [c.name, c.type]));
}

/** How many tokens of each column a block gives exactly after its float32 or recomputed values (its patches). */
export function tokenBlockPatches(bytes: Uint8Array): Record<string, number> {
  const { header } = openBlock(bytes);
  return Object.fromEntries(header.columns.map((c) => [c.name, c.patches ?? 0]));
}

/**
 * The rows of a block as a record holds them (roundTokenColumns' form). Throws when the block is not a token block,
 * is damaged (CRC-32), or belongs to another step than `expectedStep` (when given).
 */
export function decodeTokenBlock(bytes: Uint8Array, expectedStep?: number): TokenColumns[] {
  const { header, payload, start } = openBlock(bytes);
  if (expectedStep !== undefined && header.step !== expectedStep) throw new Error(`token block of step ${header.step}, expected step ${expectedStep}`);
  let at = start;
  const take = (n: number) => payload.subarray(at, (at += n));
  const lengths = header.lengths;
  const total = lengths.reduce((a, b) => a + b, 0);
  const indices = byteStreamJoin(take(header.text_bytes), header.piece_bytes, total);
  const rows: Record<string, unknown>[] = [];
  let next = 0;
  for (const n of lengths) rows.push({ text: Array.from(indices.subarray(next, (next += n)), (i) => header.pieces[i]) });
  const raw = new Map<ColumnName, Map<number, number[]>>();
  for (const column of header.columns) {
    const present = column.rows ?? lengths.map((_, i) => i);
    if (column.type === 'bits') {
      const flags = unpackBits(take(column.bytes ?? 0), present.reduce((n, i) => n + lengths[i], 0));
      let k = 0;
      for (const i of present) rows[i][column.name] = flags.slice(k, (k += lengths[i]));
      continue;
    }
    const section = take(column.bytes ?? 0);
    const values = column.type === 'derived' ? applyPatches(deriveColumn(column, present, raw), present, decodePatches(section, column.patches ?? 0)) : decodeNumbers(section, column, present, lengths);
    raw.set(column.name, values);
    for (const i of present) rows[i][column.name] = values.get(i) ?? [];
  }
  return rows.map((row) => roundTokenColumns(row as unknown as TokenColumns));
}

/** Checks a block's header and CRC-32, decompresses it: its JSON header, and where the sections start. */
function openBlock(bytes: Uint8Array): { header: BlockHeader; payload: Buffer; start: number } {
  const block = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (block.length < HEADER_BYTES || block.readUInt32LE(0) !== MAGIC) throw new Error('not a token block (no "GRPT" header)');
  const version = block.readUInt8(4);
  if (version !== FORMAT_VERSION) throw new Error(`token block format ${version} is newer than this reader (${FORMAT_VERSION}): update GRPO Studio`);
  const codec = block.readUInt8(5);
  const length = block.readUInt32LE(8);
  if (block.length !== HEADER_BYTES + length) throw new Error(`token block of ${block.length} bytes, its header says ${HEADER_BYTES + length}`);
  const compressed = block.subarray(HEADER_BYTES);
  if (crc32(compressed) !== block.readUInt32LE(12)) throw new Error('token block is damaged (CRC-32 mismatch)');
  const payload = codec === CODEC_IDS.brotli ? zlib.brotliDecompressSync(compressed) : codec === CODEC_IDS.deflate ? zlib.inflateRawSync(compressed) : undefined;
  if (!payload) throw new Error(`token block codec ${codec} is unknown`);
  const headerLength = payload.readUInt32LE(0);
  const header = JSON.parse(payload.subarray(4, 4 + headerLength).toString('utf8')) as BlockHeader;
  return { header, payload, start: 4 + headerLength };
}

/** Stored (or derived) float values of a column, per rollout: what derivations start from, on both sides. */
type StoredValues = Map<ColumnName, Map<number, number[]>>;

function rowsWith(rows: readonly TokenColumns[], name: ColumnName): number[] {
  return rows.flatMap((row, i) => (row[name] !== undefined ? [i] : []));
}

/** logprob = old + log ρ from the stored old_logprob and ratio (undefined when a row lacks one of them). */
function deriveLogprob(present: number[], stored: StoredValues): Map<number, number[]> | undefined {
  const out = new Map<number, number[]>();
  for (const row of present) {
    const old = stored.get('old_logprob')?.get(row);
    const ratio = stored.get('ratio')?.get(row);
    if (!old || !ratio) return undefined;
    out.set(row, old.map((o, t) => policyLogprob(o, ratio[t])));
  }
  return out;
}

function deriveKl(present: number[], stored: StoredValues, kl: DerivedKl): Map<number, number[]> | undefined {
  const out = new Map<number, number[]>();
  const clamps = { logRatioClamp: kl.log_ratio_clamp, valueClamp: kl.value_clamp };
  for (const row of present) {
    const logprob = stored.get('logprob')?.get(row);
    const ref = stored.get('ref_logprob')?.get(row);
    if (!logprob || !ref) return undefined;
    out.set(row, logprob.map((lp, t) => klPenaltyValue(lp, ref[t], kl.estimator, clamps)));
  }
  return out;
}

/**
 * Whether two numbers show alike in a record (recordValue): the recomputed logprob must give each value so, and
 * float32 must keep each stored value so (else that token is patched). Called for every token of a step, so the
 * number → string → number of roundForRecord runs only near a rounding boundary: two numbers closer to each other
 * than `a` is to the nearest boundary of 6 significant digits round alike.
 */
export function sameRecordValue(a: number, b: number): boolean {
  if (a === b) return true;
  if (!Number.isFinite(a) || !Number.isFinite(b) || a === 0 || Math.sign(a) !== Math.sign(b)) return recordValue(a) === recordValue(b);
  const scale = 10 ** (Math.floor(Math.log10(Math.abs(a))) - 5);
  const q = Math.abs(a) / scale;
  // Near the start or end of a decade the digit count changes (and log10 may land a hair off): decided exactly.
  if (!(q > 100001 && q < 999998)) return recordValue(a) === recordValue(b);
  const toBoundary = Math.abs(q - Math.floor(q) - 0.5) * scale;
  return Math.abs(a - b) < toBoundary - 1e-9 * Math.abs(a) || recordValue(a) === recordValue(b);
}

/**
 * The recomputed kl (klPenaltyValue, float64, from the stored log-probs) must agree with the trainer's (float32
 * tensor arithmetic) to float32 precision: within KL_ULPS float32 ulps of its inputs, scaled by how much the
 * estimator amplifies an error of its log-ratio d (|∂kl/∂d| ≤ 1 + |kl| + |d| for every estimator). A token where
 * it does not is patched with the trainer's value.
 */
function klAgrees(present: number[], stored: StoredValues): (k: number) => Agrees {
  return (k) => {
    const lps = stored.get('logprob')?.get(present[k]) ?? [];
    const refs = stored.get('ref_logprob')?.get(present[k]) ?? [];
    return (value, again, t) => {
      if (!Number.isFinite(value) || !Number.isFinite(again)) return recordValue(value) === recordValue(again);
      const lp = lps[t];
      const ref = refs[t];
      const scale = (1 + Math.abs(lp) + Math.abs(ref)) * (1 + Math.abs(value) + Math.abs(ref - lp));
      return Math.abs(again - value) <= KL_ULPS * FLOAT32_EPSILON * scale;
    };
  };
}

/** Whether a stored or recomputed value (`again`) stands for the trainer's `value` at token t of a row. */
type Agrees = (value: number, again: number, t: number) => boolean;

/** More patched tokens than this share and a derivation is not used. */
const MAX_PATCHED_SHARE = 0.25;

/**
 * Tokens (positions in the column, rows concatenated) whose value the stored or derived one does not give as the
 * trainer's, with the trainer's value (float64): applied over the column on reading.
 */
interface Patches {
  positions: number[];
  values: number[];
}

function patchesOf(raw: number[][], present: number[], again: Map<number, number[]>, agreesIn: (k: number) => Agrees): Patches {
  const patches: Patches = { positions: [], values: [] };
  let position = 0;
  for (let k = 0; k < raw.length; k++) {
    const row = raw[k];
    const recomputed = again.get(present[k]) ?? [];
    const agrees = agreesIn(k);
    for (let t = 0; t < row.length; t++) {
      if (!agrees(row[t], recomputed[t] ?? Number.NaN, t)) {
        patches.positions.push(position + t);
        patches.values.push(row[t]);
      }
    }
    position += row.length;
  }
  return patches;
}

/** sameRecordValue for every row. */
const showsAlike = (): Agrees => sameRecordValue;

function applyPatches(values: Map<number, number[]>, present: number[], patches: Patches): Map<number, number[]> {
  if (patches.positions.length === 0) return values;
  const out = new Map([...values].map(([row, v]) => [row, [...v]]));
  let p = 0;
  let start = 0;
  for (const row of present) {
    const v = out.get(row) ?? [];
    for (; p < patches.positions.length && patches.positions[p] < start + v.length; p++) v[patches.positions[p] - start] = patches.values[p];
    start += v.length;
  }
  if (p !== patches.positions.length) throw new Error(`a patch at token ${patches.positions[p]} is past the column's ${start} tokens`);
  return out;
}

/** Position deltas as u32 byte planes, then the values as float64 byte planes. */
function encodePatches(patches: Patches): Uint8Array {
  if (patches.positions.length === 0) return new Uint8Array(0);
  const deltas = patches.positions.map((p, i) => p - (i > 0 ? patches.positions[i - 1] : 0));
  return Buffer.concat([byteStreamSplit(deltas, 4), byteStreamSplitBytes(new Uint8Array(Float64Array.from(patches.values).buffer), 8)]);
}

function decodePatches(section: Uint8Array, count: number): Patches {
  if (section.length !== 12 * count) throw new Error(`${count} patches in ${section.length} bytes`);
  if (count === 0) return { positions: [], values: [] };
  const deltas = byteStreamJoin(section.subarray(0, 4 * count), 4, count);
  const bytes = byteStreamJoinBytes(section.subarray(4 * count), 8);
  const values = Array.from(new Float64Array(bytes.buffer, bytes.byteOffset, count));
  let position = 0;
  return { positions: Array.from(deltas, (d) => (position += d)), values };
}

function patchFields(patches: Patches, section: Uint8Array): Pick<ColumnHeader, 'patches' | 'bytes'> {
  return { bytes: section.length, ...(patches.positions.length > 0 ? { patches: patches.positions.length } : {}) };
}

const FLOAT32_EPSILON = 2 ** -23;
const KL_ULPS = 4;

function deriveColumn(column: ColumnHeader, present: number[], raw: StoredValues): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const row of present) {
    if (column.name === 'logprob') {
      const old = raw.get('old_logprob')?.get(row);
      const ratio = raw.get('ratio')?.get(row);
      if (!old || !ratio) throw new Error(`derived logprob of rollout ${row} needs old_logprob and ratio`);
      out.set(row, old.map((o, t) => policyLogprob(o, ratio[t])));
    } else if (column.name === 'kl') {
      const lp = raw.get('logprob')?.get(row);
      const ref = raw.get('ref_logprob')?.get(row);
      if (!lp || !ref || !column.estimator || !SAMPLED_KL_ESTIMATORS.includes(column.estimator)) throw new Error(`derived kl of rollout ${row} needs logprob, ref_logprob and a sampled-token estimator`);
      const clamps = { logRatioClamp: column.log_ratio_clamp, valueClamp: column.value_clamp };
      out.set(row, lp.map((l, t) => klPenaltyValue(l, ref[t], column.estimator as SampledKlEstimator, clamps)));
    } else {
      throw new Error(`column ${column.name} cannot be derived`);
    }
  }
  return out;
}

/**
 * float32 byte planes of the rows' values, a row whose values are all one number stored once (float64, after the
 * others: per-rollout advantages), and patches (float64) for the tokens whose value float32 would change as a record
 * shows it (the sampler's log-probs are float64 numbers of float32 logits).
 */
function encodeNumbers(raw: number[][], header: ColumnHeader, present: number[]): { section: Uint8Array; values: Map<number, number[]> } {
  const constant = raw.flatMap((row, k) => (row.length > 1 && row.every((v) => Object.is(v, row[0])) ? [k] : []));
  const isConstant = new Set(constant);
  const kept = raw.map((row, k) => (isConstant.has(k) ? row : row.map(Math.fround)));
  const misses = patchesOf(raw, present, new Map(present.map((row, k) => [row, kept[k]])), showsAlike);
  const values = applyPatches(new Map(present.map((row, k) => [row, kept[k]])), present, misses);
  const floats = Float32Array.from(kept.flatMap((row, k) => (isConstant.has(k) ? [] : row)));
  const constants = Float64Array.from(constant.map((k) => raw[k][0]));
  const section = Buffer.concat([
    byteStreamSplitBytes(new Uint8Array(floats.buffer), 4),
    byteStreamSplitBytes(new Uint8Array(constants.buffer), 8),
    encodePatches(misses),
  ]);
  if (constant.length > 0) header.constant_rows = constant.map((k) => present[k]);
  Object.assign(header, patchFields(misses, section));
  return { section, values };
}

function decodeNumbers(section: Uint8Array, column: ColumnHeader, present: number[], lengths: number[]): Map<number, number[]> {
  const constant = new Set(column.constant_rows ?? []);
  const floatCount = present.reduce((n, row) => n + (constant.has(row) ? 0 : lengths[row]), 0);
  const floatBytes = byteStreamJoinBytes(section.subarray(0, 4 * floatCount), 4);
  const floats = new Float32Array(floatBytes.buffer, floatBytes.byteOffset, floatCount);
  const constantBytes = byteStreamJoinBytes(section.subarray(4 * floatCount, 4 * floatCount + 8 * constant.size), 8);
  const constants = new Float64Array(constantBytes.buffer, constantBytes.byteOffset, constant.size);
  const values = new Map<number, number[]>();
  let at = 0;
  let c = 0;
  for (const row of present) {
    const n = lengths[row];
    if (constant.has(row)) values.set(row, new Array<number>(n).fill(constants[c++]));
    else values.set(row, Array.from(floats.subarray(at, (at += n))));
  }
  const patches = decodePatches(section.subarray(4 * floatCount + 8 * constant.size), column.patches ?? 0);
  return applyPatches(values, present, patches);
}

function pieceTable(rows: readonly TokenColumns[]): { pieces: string[]; indices: number[]; width: 1 | 2 | 4 } {
  const table = new Map<string, number>();
  const indices: number[] = [];
  for (const row of rows) {
    for (const piece of row.text) {
      let index = table.get(piece);
      if (index === undefined) table.set(piece, (index = table.size));
      indices.push(index);
    }
  }
  const width = table.size <= 0x100 ? 1 : table.size <= 0x10000 ? 2 : 4;
  return { pieces: [...table.keys()], indices, width };
}

/** Unsigned integers of `width` bytes, little-endian, as byte planes. */
function byteStreamSplit(values: number[], width: 1 | 2 | 4): Uint8Array {
  const bytes = new Uint8Array(values.length * width);
  values.forEach((v, i) => {
    for (let b = 0; b < width; b++) bytes[i * width + b] = (v >>> (8 * b)) & 0xff;
  });
  return byteStreamSplitBytes(bytes, width);
}

function byteStreamJoin(section: Uint8Array, width: number, count: number): Uint32Array {
  if (section.length !== count * width) throw new Error(`text section of ${section.length} bytes for ${count} tokens`);
  const bytes = byteStreamJoinBytes(section, width);
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    let v = 0;
    for (let b = 0; b < width; b++) v += bytes[i * width + b] * 2 ** (8 * b);
    out[i] = v;
  }
  return out;
}

/** Parquet's BYTE_STREAM_SPLIT: byte b of every value, then byte b + 1 of every value, … */
function byteStreamSplitBytes(bytes: Uint8Array, width: number): Uint8Array {
  const count = bytes.length / width;
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < count; i++) for (let b = 0; b < width; b++) out[b * count + i] = bytes[i * width + b];
  return out;
}

function byteStreamJoinBytes(section: Uint8Array, width: number): Uint8Array {
  if (section.length % width !== 0) throw new Error(`a section of ${section.length} bytes is not made of ${width}-byte values`);
  const count = section.length / width;
  const out = new Uint8Array(section.length);
  for (let i = 0; i < count; i++) for (let b = 0; b < width; b++) out[i * width + b] = section[b * count + i];
  return out;
}

/** Flags, 8 to a byte, the first in the lowest bit (numpy.unpackbits(..., bitorder='little')). */
function packBits(flags: boolean[]): Uint8Array {
  const out = new Uint8Array(Math.ceil(flags.length / 8));
  flags.forEach((flag, i) => {
    if (flag) out[i >> 3] |= 1 << (i & 7);
  });
  return out;
}

function unpackBits(bytes: Uint8Array, count: number): boolean[] {
  if (bytes.length !== Math.ceil(count / 8)) throw new Error(`a flag section of ${bytes.length} bytes for ${count} tokens`);
  return Array.from({ length: count }, (_, i) => (bytes[i >> 3] & (1 << (i & 7))) !== 0);
}

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3, as zlib.crc32 and Python's zlib.crc32). */
export function crc32(bytes: Uint8Array): number {
  crcTable ??= Uint32Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  let crc = 0xffffffff;
  for (const byte of bytes) crc = crcTable[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function toNumber(value: number | null): number {
  return value === null ? Number.NaN : value;
}

function isFlag(key: string): key is FlagColumn {
  return (FLAG_COLUMNS as readonly string[]).includes(key);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isOffset(value: unknown): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
