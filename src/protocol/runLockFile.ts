/**
 * Reading a run's lock: one writer per run: the process that appends to a run folder holds `run.lock` in it, naming its pid and the time
 * the operating system started that process. A bare pid is not enough to tell a live writer: after a crash or a
 * reboot the pid may belong to another program. The start time tells them apart (Linux: /proc/<pid>/stat; macOS
 * and the BSDs: `ps -o lstart=`; where neither exists the pid's liveness alone decides).
 *
 * Shared by the worker (which takes the lock: src/worker/runLock.ts) and the host, which uses `runLockHolder` to decide
 * whether a run is running. Node-only (fs, child_process), so not re-exported from the protocol index the webview bundles.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { RUN_FILES } from './records';

export interface LockInfo {
  pid: number;
  /** The OS's start time of `pid` (opaque text, compared for equality), or null where it cannot be read. */
  start_time: string | null;
  hostname: string;
  /** When the lock was taken (ms since the epoch). */
  time: number;
}

/** The start time of process `pid` as the OS reports it, or null when the process is gone or the OS does not say. */
export function processStartTime(pid: number): string | null {
  if (!Number.isSafeInteger(pid) || pid <= 0) return null;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime, clock ticks after boot); the command name (field 2) may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ? `linux:${fields[19]}` : null;
  } catch {
    // no /proc: not Linux, or the process is gone (then ps says nothing either)
  }
  if (process.platform === 'win32' || process.platform === 'linux') return null;
  try {
    const started = execFileSync('ps', ['-o', 'lstart=', '-p', String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 2000 }).trim();
    return started ? `ps:${started}` : null;
  } catch {
    return null;
  }
}

/** Whether a process with this id exists (for any user): signal 0 checks without sending anything. */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function lockPath(runDir: string): string {
  return path.join(runDir, RUN_FILES.lock);
}

/** The lock file's content, or undefined when there is none; `'unreadable'` when it is not a lock this code wrote. */
export function readLock(runDir: string): LockInfo | 'unreadable' | undefined {
  let text: string;
  try {
    text = fs.readFileSync(lockPath(runDir), 'utf8');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : 'unreadable';
  }
  try {
    const value = JSON.parse(text) as Partial<LockInfo>;
    if (typeof value.pid !== 'number' || (value.start_time !== null && typeof value.start_time !== 'string')) return 'unreadable';
    return { pid: value.pid, start_time: value.start_time, hostname: String(value.hostname ?? ''), time: Number(value.time ?? 0) };
  } catch {
    return 'unreadable';
  }
}

/** Why `lock` no longer stands for a live writer, or undefined when its process is still running. */
export function staleReason(lock: LockInfo): string | undefined {
  // Another machine's pid (a run folder on a shared drive) cannot be checked from here: trust it.
  if (lock.hostname && lock.hostname !== os.hostname()) return undefined;
  if (!isProcessAlive(lock.pid)) return `pid ${lock.pid} is not running`;
  if (lock.start_time === null) return undefined;
  const now = processStartTime(lock.pid);
  if (now !== null && now !== lock.start_time) return `pid ${lock.pid} now belongs to another process (started ${now}, the lock's ${lock.start_time})`;
  return undefined;
}

/** The live process that holds the run's lock, or undefined when none does (no lock, or a stale one). */
export function runLockHolder(runDir: string): LockInfo | undefined {
  const lock = readLock(runDir);
  if (lock === undefined || lock === 'unreadable') return undefined;
  return staleReason(lock) === undefined ? lock : undefined;
}
