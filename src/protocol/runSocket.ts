/**
 * The control socket of a live run. The worker runs detached from any editor window and serves a local socket —
 * a Unix socket in the runtime directory, or a named pipe on Windows — whose path it records in the run folder
 * (`run.socket`, next to `run.lock`). Any host connects to it: it streams the run's records as they are written and
 * takes Stop / Pause / Continue. The run folder stays the source of truth: a host that connects late reads the past
 * from disk and only the rest from the socket.
 *
 * Wire format: newline-delimited JSON. The client speaks first with `hello` naming its protocol version; the worker
 * answers `welcome` (then WorkerMessage lines follow) or `refused` with the reason, and closes. After the handshake
 * the client sends HostToWorkerMessage lines.
 *
 * Node-only (fs, os, crypto), so not re-exported from the protocol index the webview bundles.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { RUN_FILES } from './records';

export const SOCKET_PROTOCOL_VERSION = 1;

export interface SocketHello {
  type: 'hello';
  protocol: number;
}

export type SocketHandshakeReply =
  | { type: 'welcome'; protocol: number; pid: number; runId: string }
  | { type: 'refused'; reason: string };

/** The content of `run.socket`. */
export interface SocketRecord {
  path: string;
  pid: number;
  protocol: number;
}

/**
 * Unix socket paths are limited to 104 (macOS) or 108 (Linux) bytes, counting the terminating NUL: the socket lives
 * in a short directory, named by a hash, never in the run folder (which may also be on a network file system, where
 * sockets fail).
 */
export const MAX_SOCKET_PATH_BYTES = 103;

/** The directory for sockets: $XDG_RUNTIME_DIR (per user, private) when set and present, else the temp directory. */
export function socketDirectory(env: NodeJS.ProcessEnv = process.env): string {
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime && path.isAbsolute(runtime)) {
    try {
      if (fs.statSync(runtime).isDirectory()) return runtime;
    } catch {
      // not there (a stale variable after a logout): the temp directory
    }
  }
  return os.tmpdir();
}

/** A short socket path for a worker of `runDir`, unique per run folder and process. */
export function socketPathFor(runDir: string, pid: number, platform: NodeJS.Platform = process.platform, env: NodeJS.ProcessEnv = process.env): string {
  const name = `grpo-${createHash('sha256').update(`${path.resolve(runDir)}\0${pid}`).digest('hex').slice(0, 16)}`;
  if (platform === 'win32') return `\\\\.\\pipe\\${name}`;
  const socketPath = path.join(socketDirectory(env), `${name}.sock`);
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
    throw new Error(`the control socket path ${socketPath} is ${Buffer.byteLength(socketPath)} bytes, over the ${MAX_SOCKET_PATH_BYTES} a Unix socket allows: set TMPDIR (or XDG_RUNTIME_DIR) to a shorter directory`);
  }
  return socketPath;
}

export function socketRecordPath(runDir: string): string {
  return path.join(runDir, RUN_FILES.socket);
}

/** The run's socket record, or undefined when there is none or it is not one (a reason is then given to `onBad`). */
export function readSocketRecord(runDir: string, onBad: (reason: string) => void = () => undefined): SocketRecord | undefined {
  const file = socketRecordPath(runDir);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') onBad(`${file}: ${(err as Error).message}`);
    return undefined;
  }
  try {
    const value = JSON.parse(text) as Partial<SocketRecord>;
    if (typeof value.path !== 'string' || typeof value.pid !== 'number' || typeof value.protocol !== 'number') {
      onBad(`${file}: expected {"path", "pid", "protocol"}, got ${text.trim().slice(0, 200)}`);
      return undefined;
    }
    return { path: value.path, pid: value.pid, protocol: value.protocol };
  } catch (err) {
    onBad(`${file}: not JSON (${(err as Error).message})`);
    return undefined;
  }
}

export function isSocketHello(value: unknown): value is SocketHello {
  return typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'hello' && typeof (value as { protocol?: unknown }).protocol === 'number';
}

export function isHandshakeReply(value: unknown): value is SocketHandshakeReply {
  if (typeof value !== 'object' || value === null) return false;
  const type = (value as { type?: unknown }).type;
  return type === 'welcome' || type === 'refused';
}
