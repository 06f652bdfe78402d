/**
 * Writes that survive a crash or a power cut at any instant: a reader sees the old file or the new one, never a
 * prefix. The pattern is the usual one (a temporary file in the same folder, fsync, rename, fsync the folder): rename
 * within one file system is atomic, and the folder's fsync makes the rename itself durable.
 */
import * as fs from 'fs';
import * as path from 'path';

/** Writes `data` to `file` atomically and durably. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  // The pid keeps two writers of the same file (which the run lock forbids, but tests do not) off each other's temp.
  const temporary = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(temporary, 'w');
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(temporary, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  fs.renameSync(temporary, file);
  fsyncDirectory(path.dirname(file));
}

/**
 * Makes the entries of a folder (created, renamed, removed files) durable. Windows cannot open a folder for fsync,
 * and some file systems refuse it; there the rename is as durable as the platform makes it, which is all we can do.
 */
export function fsyncDirectory(dir: string): void {
  let fd: number;
  try {
    fd = fs.openSync(dir, 'r');
  } catch {
    return;
  }
  try {
    fs.fsyncSync(fd);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM' && code !== 'EBADF') throw err;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * fsyncs every file under `dir` (and the folders themselves) and returns their sizes by relative path, '/'-separated:
 * the manifest a checkpoint is checked against before resuming from it.
 */
export function syncTree(dir: string): Record<string, number> {
  const sizes: Record<string, number> = {};
  const visit = (folder: string, prefix: string): void => {
    for (const entry of fs.readdirSync(folder, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(folder, entry.name);
      const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        visit(full, relative);
        continue;
      }
      const fd = fs.openSync(full, 'r+');
      try {
        fs.fsyncSync(fd);
        sizes[relative] = fs.fstatSync(fd).size;
      } finally {
        fs.closeSync(fd);
      }
    }
    fsyncDirectory(folder);
  };
  visit(dir, '');
  return sizes;
}
