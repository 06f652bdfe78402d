/**
 * The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian header length, a
 * JSON header `{name: {dtype, shape, data_offsets: [begin, end]}}`, then the raw little-endian tensor bytes.
 * Tensors are read as float32 (f16 and bf16 are widened exactly) and written as float32, so save → load is
 * bit-exact. Sharded checkpoints are read through `model.safetensors.index.json`.
 */
import * as fs from 'fs';
import * as path from 'path';

export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

export type TensorMap = Map<string, HostTensor>;

const DTYPE_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4 };

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** Reads every tensor of one safetensors file. Errors name the file and, where it applies, the tensor. */
export function readSafetensors(file: string): TensorMap {
  const bytes = readFile(file);
  if (bytes.length < 8) throw new Error(`${file}: truncated file (${bytes.length} bytes, no header length)`);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  if (8 + headerLength > bytes.length) {
    throw new Error(`${file}: truncated file: header needs ${headerLength} bytes, file has ${bytes.length - 8} after the length`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`${file}: header is not valid JSON (${(err as Error).message})`);
  }
  const dataStart = 8 + headerLength;
  const tensors: TensorMap = new Map();
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const entry = checkEntry(value, name, file);
    const [begin, end] = entry.data_offsets;
    if (dataStart + end > bytes.length) {
      throw new Error(`${file}: truncated file: tensor '${name}' needs bytes ${begin}..${end} of the data, file has ${bytes.length - dataStart}`);
    }
    tensors.set(name, { shape: entry.shape, data: toFloat32(bytes.subarray(dataStart + begin, dataStart + end), entry.dtype) });
  }
  return tensors;
}

/** Reads `model.safetensors`, or every shard listed in `model.safetensors.index.json`, from a checkpoint folder. */
export function readCheckpointTensors(dir: string): TensorMap {
  const single = path.join(dir, 'model.safetensors');
  if (fs.existsSync(single)) return readSafetensors(single);
  const indexFile = path.join(dir, 'model.safetensors.index.json');
  if (!fs.existsSync(indexFile)) throw new Error(`${dir}: no model.safetensors or model.safetensors.index.json`);
  const index = JSON.parse(fs.readFileSync(indexFile, 'utf8')) as { weight_map?: Record<string, string> };
  if (!index.weight_map || typeof index.weight_map !== 'object') throw new Error(`${indexFile}: missing field 'weight_map'`);
  const tensors: TensorMap = new Map();
  for (const shard of new Set(Object.values(index.weight_map))) {
    for (const [name, t] of readSafetensors(path.join(dir, shard))) tensors.set(name, t);
  }
  for (const [name, shard] of Object.entries(index.weight_map)) {
    if (!tensors.has(name)) throw new Error(`${indexFile}: tensor '${name}' is mapped to ${shard} but that file does not hold it`);
  }
  return tensors;
}

/** Writes float32 tensors (sorted by name, header padded to 8 bytes as the reference implementation does). */
export function writeSafetensors(file: string, tensors: TensorMap, metadata: Record<string, string> = { format: 'pt' }): void {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    const size = t.data.length * 4;
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let headerText = JSON.stringify(header);
  headerText += ' '.repeat((8 - (Buffer.byteLength(headerText) % 8)) % 8);
  const headerBytes = Buffer.from(headerText, 'utf8');
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let at = 8 + headerBytes.length;
  for (const name of names) {
    const data = tensors.get(name)!.data;
    Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(out, at);
    at += data.byteLength;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  // Write then rename, so a crash never leaves a half-written checkpoint under the final name.
  fs.writeFileSync(file + '.tmp', out);
  fs.renameSync(file + '.tmp', file);
}

function readFile(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new Error(`${file}: cannot read (${(err as Error).message})`);
  }
}

function checkEntry(value: unknown, name: string, file: string): HeaderEntry {
  const e = value as Partial<HeaderEntry>;
  if (typeof e !== 'object' || e === null || typeof e.dtype !== 'string' || !Array.isArray(e.shape) || !Array.isArray(e.data_offsets)) {
    throw new Error(`${file}: tensor '${name}' has a malformed header entry ${JSON.stringify(value)}`);
  }
  const width = DTYPE_BYTES[e.dtype];
  if (width === undefined) throw new Error(`${file}: tensor '${name}' has unsupported dtype ${e.dtype}`);
  const count = e.shape.reduce((a: number, b: number) => a * b, 1);
  const [begin, end] = e.data_offsets;
  if (end - begin !== count * width) {
    throw new Error(`${file}: tensor '${name}' has ${end - begin} bytes, shape [${e.shape}] of ${e.dtype} needs ${count * width}`);
  }
  return e as HeaderEntry;
}

function toFloat32(raw: Buffer, dtype: string): Float32Array {
  // Copy into an aligned buffer: the tensor's offset in the file need not be a multiple of its element size.
  const aligned = new Uint8Array(raw.length);
  aligned.set(raw);
  const buf = aligned.buffer;
  switch (dtype) {
    case 'F32':
      return new Float32Array(buf);
    case 'F64':
      return Float32Array.from(new Float64Array(buf));
    case 'I32':
      return Float32Array.from(new Int32Array(buf));
    case 'I64':
      return Float32Array.from(new BigInt64Array(buf), Number);
    case 'BF16': {
      // bfloat16 is the top half of a float32.
      const halves = new Uint16Array(buf);
      const words = new Uint32Array(halves.length);
      for (let i = 0; i < halves.length; i++) words[i] = halves[i] << 16;
      return new Float32Array(words.buffer);
    }
    case 'F16': {
      const halves = new Uint16Array(buf);
      const out = new Float32Array(halves.length);
      for (let i = 0; i < halves.length; i++) out[i] = halfToFloat(halves[i]);
      return out;
    }
    default:
      throw new Error(`unsupported dtype ${dtype}`);
  }
}

/** IEEE 754 binary16 → number (exact). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}
