/**
 * Taking a run's lock: the process that appends to a run folder holds `run.lock` in it (pid + the OS's start time of
 * that pid), created whole in one step; a stale lock (dead pid, or a pid reused by another program) is taken over
 * with a message. Reading and judging a lock is src/protocol/runLockFile.ts, which the host shares.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { RUN_FILES } from '../protocol';
import { LockInfo, lockPath, processStartTime, readLock, staleReason } from '../protocol/runLockFile';
import { fsyncDirectory } from './durableFiles';

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
