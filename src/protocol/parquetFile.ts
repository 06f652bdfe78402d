/**
 * Parquet rows as objects, through hyparquet with every codec Parquet writers use (snappy, gzip, zstd, brotli,
 * lz4): the one Parquet reader of the project, for datasets (src/worker/tasks/datasetFile.ts) and for other
 * trainers' rollout tables (src/protocol/runReaders/trl.ts). Node-only (Buffer), not re-exported from the index.
 */
import { parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';

/** Every row of a Parquet file's bytes; a file that is not Parquet (or is cut short) throws, naming `file`. */
export async function readParquetObjects(file: string, bytes: Buffer): Promise<Record<string, unknown>[]> {
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  try {
    return await parquetReadObjects({ file: buffer, compressors });
  } catch (err) {
    throw new Error(`${file}: cannot read Parquet: ${err instanceof Error ? err.message : String(err)}`);
  }
}
