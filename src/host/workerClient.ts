/**
 * The host's side of a run's control socket (src/protocol/runSocket.ts). `WorkerConnection` is one connection
 * after its handshake; `RunAttachment` keeps a run attached: it connects when the worker serves its socket, catches
 * up from the run folder (what was written before it connected), streams the rest, reconnects while the worker
 * lives (a dropped connection, a worker that is still starting), and ends once the worker is gone. No `vscode`
 * here: tested against real sockets and processes.
 */
import * as net from 'net';
import * as path from 'path';
import * as readline from 'readline';
import { HostToWorkerMessage, isMetricsRecord, isRunEvent, isWorkerMessage, MetricsRecord, RUN_FILES, RunEvent, WorkerMessage } from '../protocol';
import { runLockHolder } from '../protocol/runLockFile';
import { isHandshakeReply, readSocketRecord, SOCKET_PROTOCOL_VERSION, SocketHello } from '../protocol/runSocket';
import { JsonlTail } from '../protocol/stepIndex';

export interface ConnectOptions {
  /** How long a welcome may take before `onWaiting` (or, with no `workerAlive`, before giving up). Default 5000. */
  patienceMs?: number;
  /** Whether the worker is still the run's live lock holder: while it is, the handshake is waited for. */
  workerAlive?: () => boolean;
  onWaiting?: (waitedMs: number) => void;
  /** Aborting it drops a connection still waiting for its welcome. */
  signal?: AbortSignal;
}

export class WorkerConnection {
  private readonly messageListeners: ((message: WorkerMessage) => void)[] = [];
  private readonly closeListeners: (() => void)[] = [];
  private closed = false;

  private constructor(
    private readonly socket: net.Socket,
    readonly pid: number,
  ) {
    socket.on('close', () => {
      this.closed = true;
      this.closeListeners.splice(0).forEach((listener) => listener());
    });
  }

  /**
   * Connects and says hello. Rejects when nothing listens there, the worker refuses (another protocol version: its
   * reason), or no welcome comes: within `patienceMs` when `workerAlive` is not given, else not before the worker is
   * gone. A live worker answers only when its event loop is free — between training steps, which are synchronous
   * compute and may take minutes — so giving up on it after a fixed time would give up for ever: its next hello
   * would wait for the same step. `onWaiting` is told once when `patienceMs` passes without a welcome. `onMessage`
   * gets every line after the welcome, in order; the first is delivered only after `onWelcome` returned (a caller
   * catches up from disk there, before the stream).
   */
  static connect(socketPath: string, onWelcome: (connection: WorkerConnection) => void, log: (message: string) => void, options: ConnectOptions = {}): Promise<WorkerConnection> {
    const patienceMs = options.patienceMs ?? 5000;
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(socketPath);
      let connection: WorkerConnection | undefined;
      let liveness: NodeJS.Timeout | undefined;
      const stopWaiting = () => {
        clearTimeout(timer);
        clearInterval(liveness);
        options.signal?.removeEventListener('abort', onAbort);
      };
      const fail = (err: Error) => {
        stopWaiting();
        socket.destroy();
        reject(err);
      };
      const onAbort = () => fail(new Error(`${socketPath}: attaching was cancelled`));
      if (options.signal?.aborted) onAbort();
      options.signal?.addEventListener('abort', onAbort);
      const timer = setTimeout(() => {
        const alive = options.workerAlive;
        if (!alive) return fail(new Error(`${socketPath}: no handshake within ${patienceMs} ms`));
        options.onWaiting?.(patienceMs);
        liveness = setInterval(() => {
          if (!alive()) fail(new Error(`${socketPath}: the worker ended before answering the handshake`));
        }, Math.min(patienceMs, 1000));
      }, patienceMs);
      socket.on('error', (err) => {
        // After the handshake 'close' follows and says it.
        if (!connection) fail(err);
      });
      socket.on('connect', () => {
        const hello: SocketHello = { type: 'hello', protocol: SOCKET_PROTOCOL_VERSION };
        socket.write(JSON.stringify(hello) + '\n');
      });
      const lines = readline.createInterface({ input: socket, crlfDelay: Infinity });
      // readline re-emits the socket's errors, which the socket's own handler above already deals with.
      lines.on('error', () => undefined);
      lines.on('line', (line) => {
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch {
          log(`${socketPath}: ignored a line that is not JSON: ${line.slice(0, 200)}`);
          return;
        }
        if (connection) {
          if (isWorkerMessage(value)) connection.messageListeners.forEach((listener) => listener(value));
          else log(`${socketPath}: ignored an unknown worker message: ${line.slice(0, 200)}`);
          return;
        }
        if (!isHandshakeReply(value)) return fail(new Error(`${socketPath}: expected the worker's welcome, got ${line.slice(0, 200)}`));
        if (value.type === 'refused') return fail(new Error(`${socketPath}: the worker refused the connection: ${value.reason}`));
        stopWaiting();
        connection = new WorkerConnection(socket, value.pid);
        onWelcome(connection);
        resolve(connection);
      });
      socket.once('close', () => {
        if (!connection) fail(new Error(`${socketPath}: closed before the handshake`));
      });
    });
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  onMessage(listener: (message: WorkerMessage) => void): void {
    this.messageListeners.push(listener);
  }

  onClose(listener: () => void): void {
    if (this.closed) listener();
    else this.closeListeners.push(listener);
  }

  send(message: HostToWorkerMessage): boolean {
    if (this.closed) return false;
    this.socket.write(JSON.stringify(message) + '\n');
    return true;
  }

  close(): void {
    this.socket.end();
  }
}

export interface AttachOptions {
  /** Every record of the run from its worker, disk catch-up first, each once. */
  onMessage(message: WorkerMessage): void;
  /** The worker is gone (its lock released, or its process dead): no more messages come. */
  onEnded(): void;
  /** A connection completed its handshake (the first, or one after a drop): `isConnected` changed. */
  onAttached?(): void;
  log(message: string): void;
  /**
   * Which metrics already on disk to replay on first connecting: `all` (a run this host just started: the dashboard
   * may have read its snapshot before the first records) or `latest` (a run found running: its past is read from disk
   * by whoever draws it; the status bar needs the newest step).
   */
  catchUp: 'all' | 'latest';
  /** While true the worker may still be starting (no lock or socket yet): keep waiting for it. */
  starting?(): boolean;
  retryMs?: number;
  /** How long a handshake may go unanswered before the log says the worker is busy (a long step). Default 5000. */
  patienceMs?: number;
}

/** Keeps a host attached to one run's worker across dropped connections, until the worker ends or `detach`. */
export class RunAttachment {
  private connection: WorkerConnection | undefined;
  private detached = false;
  private readonly events: JsonlTail;
  private readonly metrics: JsonlTail;
  private firstCatchUp = true;
  /** Events delivered from one source that the other may bring again (as JSON text): dropped there once. */
  private readonly fromDisk = new Set<string>();
  private readonly fromSocket = new Set<string>();
  /** The newest step whose metrics were delivered. */
  private lastStep = -1;
  /** Resolves when the worker is gone or the host detached. */
  readonly ended: Promise<void>;
  /** Resolves true on the first welcome, false if the attachment ended without one. */
  readonly firstConnected: Promise<boolean>;
  private resolveFirstConnected: (connected: boolean) => void = () => undefined;
  /** Cancels a handshake still waiting on `detach`. */
  private readonly cancel = new AbortController();

  constructor(
    readonly runDir: string,
    private readonly options: AttachOptions,
  ) {
    this.events = new JsonlTail(path.join(runDir, RUN_FILES.events));
    this.metrics = new JsonlTail(path.join(runDir, RUN_FILES.metrics));
    this.firstConnected = new Promise((resolve) => (this.resolveFirstConnected = resolve));
    this.ended = this.keepAttached().finally(() => this.resolveFirstConnected(false));
  }

  /** The worker's pid once connected. */
  get pid(): number | undefined {
    return this.connection?.pid;
  }

  get isConnected(): boolean {
    return this.connection?.isOpen ?? false;
  }

  send(message: HostToWorkerMessage): boolean {
    return this.connection?.send(message) ?? false;
  }

  /** Leaves the worker running and stops following it. */
  detach(): void {
    this.detached = true;
    this.cancel.abort();
    this.connection?.close();
  }

  private async keepAttached(): Promise<void> {
    const retryMs = this.options.retryMs ?? 250;
    let lastError = '';
    while (!this.detached) {
      const holder = runLockHolder(this.runDir);
      if (!holder && !this.options.starting?.()) break;
      const record = readSocketRecord(this.runDir, (reason) => this.options.log(reason));
      // The record must be the lock holder's: one left by a killed worker names a dead socket.
      if (holder && record && record.pid === holder.pid) {
        try {
          const pid = record.pid;
          const connection = await WorkerConnection.connect(record.path, (c) => this.welcomed(c), this.options.log, {
            patienceMs: this.options.patienceMs,
            // Waited for as long as the worker holds the run: it answers once its step lets it.
            workerAlive: () => runLockHolder(this.runDir)?.pid === pid,
            onWaiting: (ms) => this.options.log(`attaching to ${path.basename(this.runDir)}: its worker (pid ${pid}) has not answered for ${ms / 1000} s; it answers between training steps, waiting for it`),
            signal: this.cancel.signal,
          });
          await new Promise<void>((resolve) => connection.onClose(resolve));
          this.connection = undefined;
          continue;
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          if (message !== lastError) this.options.log(`cannot attach to ${path.basename(this.runDir)}: ${message}; retrying while its worker runs`);
          lastError = message;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
    // What the worker wrote after the connection closed (its last records, when it was quicker than the socket).
    if (!this.detached) this.catchUpFromDisk();
    if (!this.detached) this.options.onEnded();
  }

  private welcomed(connection: WorkerConnection): void {
    this.connection = connection;
    this.options.log(`attached to its worker (pid ${connection.pid})`);
    this.resolveFirstConnected(true);
    this.catchUpFromDisk();
    connection.onMessage((message) => {
      if (this.isNew(message, 'socket')) this.options.onMessage(message);
    });
    this.options.onAttached?.();
  }

  /**
   * Replays what the run folder holds that this host has not seen: all of it on the first connection (or the newest
   * metrics, see `catchUp`), then what was appended while disconnected, and at the end what the socket had no time
   * to bring. Each record reaches `onMessage` once, whether the disk or the socket (the worker writes a record before
   * it sends it) had it first.
   */
  private catchUpFromDisk(): void {
    const events = this.events.read<RunEvent>(isRunEvent);
    let metrics = this.metrics.read<MetricsRecord>(isMetricsRecord);
    if (this.firstCatchUp && this.options.catchUp === 'latest') metrics = metrics.slice(-1);
    this.firstCatchUp = false;
    for (const event of events) if (this.isNew(event, 'disk')) this.options.onMessage(event);
    for (const record of metrics) if (this.isNew({ type: 'metrics', record }, 'disk')) this.options.onMessage({ type: 'metrics', record });
  }

  private isNew(message: WorkerMessage, from: 'disk' | 'socket'): boolean {
    if (message.type === 'metrics') {
      if (message.record.step <= this.lastStep) return false;
      this.lastStep = message.record.step;
      return true;
    }
    // Rollouts are not replayed from disk (they are read a step at a time); info logs are never written there.
    if (message.type === 'rollouts' || message.type === 'eval_rollouts' || (message.type === 'log' && message.level === 'info')) return true;
    const key = JSON.stringify(message);
    const other = from === 'disk' ? this.fromSocket : this.fromDisk;
    if (other.delete(key)) return false;
    (from === 'disk' ? this.fromDisk : this.fromSocket).add(key);
    return true;
  }
}
