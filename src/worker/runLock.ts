/**
 * One writer per run: the process that appends to a run folder holds `run.lock` in it, naming its pid and the time
 * the operating system started that process. A bare pid is not enough to tell a live writer: after a crash or a
 * reboot the pid may belong to another program. The start time tells them apart (Linux: /proc/<pid>/stat; macOS
 * and the BSDs: `ps -o lstart=`; where neither exists the pid's liveness alone decides).
 *
 * No vscode or tfjs imports: the extension host uses `runLockHolder` to decide whether a run is running.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { RUN_FILES } from '../protocol';
import { fsyncDirectory } from './durableFiles';

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

function isProcessAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function lockPath(runDir: string): string {
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

export class RunLockedError extends Error {
  constructor(readonly runDir: string, readonly holder: LockInfo) {
    const elsewhere = holder.hostname !== '' && holder.hostname !== os.hostname();
    super(
      `${runDir} is being written by another process (pid ${holder.pid}${elsewhere ? ` on ${holder.hostname}` : ''}, since ${new Date(holder.time).toISOString()}); stop that run first, or wait for it to end` +
        // Another machine's process cannot be checked from here: only the user can say it is gone.
        (elsewhere ? `; if it is no longer running there, delete ${path.join(runDir, RUN_FILES.lock)}` : ''),
    );
    this.name = 'RunLockedError';
  }
}

export class RunLock {
  private released = false;

  private constructor(
    readonly runDir: string,
    readonly info: LockInfo,
    /** Set when a stale lock was taken over: what happened, for the run's log. */
    readonly takeover: string | undefined,
  ) {}

  /**
   * Takes the run's lock, or throws RunLockedError naming the live holder. A stale lock (its process is gone, or its
   * pid now belongs to another program) is taken over, and `takeover` says so.
   */
  static acquire(runDir: string): RunLock {
    const info: LockInfo = { pid: process.pid, start_time: processStartTime(process.pid), hostname: os.hostname(), time: Date.now() };
    let takeover: string | undefined;
    // Two rounds: a stale lock is removed once; if another process took it in between, its lock is live.
    for (let attempt = 0; attempt < 2; attempt++) {
      if (tryCreate(runDir, info)) return new RunLock(runDir, info, takeover);
      const existing = readLock(runDir);
      if (existing === undefined) continue; // released in between
      const reason = existing === 'unreadable' ? 'the lock file is unreadable' : staleReason(existing);
      if (reason === undefined && existing !== 'unreadable') throw new RunLockedError(runDir, existing);
      takeover = `took over the lock of ${RUN_FILES.lock}: ${reason ?? ''}`;
      fs.rmSync(lockPath(runDir), { force: true });
    }
    const holder = readLock(runDir);
    if (holder !== undefined && holder !== 'unreadable') throw new RunLockedError(runDir, holder);
    throw new Error(`${lockPath(runDir)}: cannot take the run lock`);
  }

  /** Removes the lock, if it is still this process's (a takeover by another process is not undone). */
  release(): void {
    if (this.released) return;
    this.released = true;
    const current = readLock(this.runDir);
    if (current !== undefined && current !== 'unreadable' && current.pid === this.info.pid && current.time === this.info.time) {
      fs.rmSync(lockPath(this.runDir), { force: true });
    }
  }
}

/**
 * Creates the lock file with its whole content in one step: written to a temporary name, then hard-linked to the
 * lock's name, which fails if a lock exists. A reader never sees a half-written lock, and only one creator wins.
 */
function tryCreate(runDir: string, info: LockInfo): boolean {
  const temporary = `${lockPath(runDir)}.${process.pid}.${info.time}.tmp`;
  const fd = fs.openSync(temporary, 'w');
  try {
    fs.writeFileSync(fd, JSON.stringify(info) + '\n');
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.linkSync(temporary, lockPath(runDir));
    fsyncDirectory(runDir);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    // File systems without hard links (some network and FAT drives): exclusive create, then write.
    if ((err as NodeJS.ErrnoException).code === 'EPERM' || (err as NodeJS.ErrnoException).code === 'ENOTSUP') return createExclusive(runDir, info);
    throw err;
  } finally {
    fs.rmSync(temporary, { force: true });
  }
}

function createExclusive(runDir: string, info: LockInfo): boolean {
  let fd: number;
  try {
    fd = fs.openSync(lockPath(runDir), 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    fs.writeFileSync(fd, JSON.stringify(info) + '\n');
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return true;
}
