/**
 * The worker's side of the control socket (src/protocol/runSocket.ts): serves any number of hosts, each of which
 * says `hello` with its protocol version, then receives every WorkerMessage from then on and may send
 * HostToWorkerMessages. A host that falls far behind (a frozen window) is dropped rather than let the worker's
 * memory grow: it reconnects and reads what it missed from the run folder.
 */
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import * as readline from 'readline';
import { HostToWorkerMessage, isHostToWorkerMessage, WorkerMessage } from '../protocol';
import { isSocketHello, SOCKET_PROTOCOL_VERSION, SocketHandshakeReply, SocketRecord, socketPathFor, socketRecordPath } from '../protocol/runSocket';

/**
 * Lets the event loop run between two training steps (each is synchronous compute that blocks it): queued stop /
 * pause messages and signals are handled, and a host that connected during the step is let in. That takes two
 * turns of the loop: the first accepts the connection and starts reading it, only the second reads its hello and
 * answers (libuv watches a new socket from its next poll). With one turn a host would wait a whole further step
 * for its welcome.
 */
export async function betweenSteps(): Promise<void> {
  for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
}

/** Bytes queued for one host beyond which it is disconnected. */
const MAX_QUEUED_BYTES = 64 * 2 ** 20;

export class ControlServer {
  private readonly clients = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    readonly socketPath: string,
    private readonly runDir: string,
  ) {}

  /**
   * Listens on a fresh socket for `runDir` and records its path in the run folder. Call only while holding the
   * run's lock: `run.socket` is the lock holder's.
   */
  static async listen(runDir: string, onCommand: (message: HostToWorkerMessage) => void, log: (message: string) => void): Promise<ControlServer> {
    const socketPath = socketPathFor(runDir, process.pid);
    // A socket file left by a killed process with this pid (pids are reused) would make listen fail with EADDRINUSE.
    if (process.platform !== 'win32') fs.rmSync(socketPath, { force: true });
    const runId = path.basename(runDir);
    const server = net.createServer();
    const control = new ControlServer(server, socketPath, runDir);
    server.on('connection', (socket) => control.accept(socket, runId, onCommand, log));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => log(`control socket ${socketPath}: ${err.message}`));
    // Only this user may connect: a stop from another account would be a denial of service.
    if (process.platform !== 'win32') fs.chmodSync(socketPath, 0o600);
    const record: SocketRecord = { path: socketPath, pid: process.pid, protocol: SOCKET_PROTOCOL_VERSION };
    const temporary = `${socketRecordPath(runDir)}.${process.pid}.tmp`;
    fs.writeFileSync(temporary, JSON.stringify(record) + '\n');
    fs.renameSync(temporary, socketRecordPath(runDir));
    return control;
  }

  /** Sends a message to every host that completed the handshake. */
  broadcast(message: WorkerMessage): void {
    if (this.clients.size === 0) return;
    const line = JSON.stringify(message) + '\n';
    for (const socket of this.clients) {
      if (socket.writableLength > MAX_QUEUED_BYTES) {
        this.clients.delete(socket);
        socket.destroy();
        continue;
      }
      socket.write(line);
    }
  }

  get connectedHosts(): number {
    return this.clients.size;
  }

  /** Flushes what is queued to each host, closes the socket and removes its record. */
  async close(): Promise<void> {
    fs.rmSync(socketRecordPath(this.runDir), { force: true });
    const flushed = [...this.clients].map((socket) => new Promise<void>((resolve) => socket.end(resolve)));
    this.clients.clear();
    await Promise.race([Promise.all(flushed), new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: net.Socket, runId: string, onCommand: (message: HostToWorkerMessage) => void, log: (message: string) => void): void {
    let greeted = false;
    socket.on('error', () => this.clients.delete(socket));
    socket.on('close', () => this.clients.delete(socket));
    const lines = readline.createInterface({ input: socket, crlfDelay: Infinity });
    // readline re-emits the socket's errors (a host that vanished), handled above.
    lines.on('error', () => undefined);
    lines.on('line', (line) => {
      if (!line.trim()) return;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        log(`control socket: ignored a line that is not JSON: ${line.slice(0, 200)}`);
        return;
      }
      if (!greeted) {
        greeted = this.greet(socket, value, runId);
        return;
      }
      if (isHostToWorkerMessage(value)) onCommand(value);
      else log(`control socket: ignored an unknown message: ${line.slice(0, 200)}`);
    });
  }

  private greet(socket: net.Socket, hello: unknown, runId: string): boolean {
    let reply: SocketHandshakeReply;
    if (!isSocketHello(hello)) reply = { type: 'refused', reason: `expected {"type":"hello","protocol":${SOCKET_PROTOCOL_VERSION}} first` };
    else if (hello.protocol !== SOCKET_PROTOCOL_VERSION) reply = { type: 'refused', reason: `this worker speaks protocol ${SOCKET_PROTOCOL_VERSION}, the host ${hello.protocol}: update GRPO Studio in the window, or stop the run from the one that started it` };
    else reply = { type: 'welcome', protocol: SOCKET_PROTOCOL_VERSION, pid: process.pid, runId };
    socket.write(JSON.stringify(reply) + '\n');
    if (reply.type === 'refused') {
      socket.end();
      return false;
    }
    this.clients.add(socket);
    return true;
  }
}
