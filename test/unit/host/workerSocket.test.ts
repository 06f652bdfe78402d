/**
 * The control socket over real Unix sockets: the worker's ControlServer and the host's WorkerConnection /
 * RunAttachment. Handshake and versions, streaming in order, Stop / Pause over the socket, a host that attaches late
 * (the past from disk, the rest from the socket, nothing twice), reconnecting after the connection drops, and
 * ending once the worker's lock is gone.
 */
import * as assert from 'assert';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { HostToWorkerMessage, RUN_FILES, RunEvent, WorkerMessage } from '../../../src/protocol';
import { MAX_SOCKET_PATH_BYTES, readSocketRecord, socketPathFor } from '../../../src/protocol/runSocket';
import { RunAttachment, WorkerConnection } from '../../../src/host/workerClient';
import { ControlServer } from '../../../src/worker/controlServer';
import { RunLock } from '../../../src/worker/runLock';

const metrics = (step: number): WorkerMessage => ({ type: 'metrics', record: { step, time: 1000 + step, metrics: { reward: step / 10 } } });
const log = (message: string): RunEvent => ({ type: 'log', time: 5, level: 'warning', message });

/** As the worker's sink does it: the record on disk first, then to the hosts. */
function write(runDir: string, server: ControlServer | undefined, message: WorkerMessage): void {
  const file = message.type === 'metrics' ? RUN_FILES.metrics : RUN_FILES.events;
  fs.appendFileSync(path.join(runDir, file), JSON.stringify(message.type === 'metrics' ? message.record : message) + '\n');
  server?.broadcast(message);
}

async function until(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function rawExchange(socketPath: string, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(socketPath, () => socket.write(line + '\n'));
    let text = '';
    socket.on('data', (data) => (text += data.toString()));
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
  });
}

describe('control socket (real sockets)', function () {
  this.timeout(20000);
  let runDir: string;
  let lock: RunLock;
  let server: ControlServer | undefined;
  const commands: HostToWorkerMessage[] = [];
  const noLog = () => undefined;

  beforeEach(async () => {
    runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-socket-'));
    lock = RunLock.acquire(runDir);
    commands.length = 0;
    server = await ControlServer.listen(runDir, (m) => commands.push(m), noLog);
  });

  afterEach(async () => {
    await server?.close();
    lock.release();
    fs.rmSync(runDir, { recursive: true, force: true });
  });

  it('records a short socket path in the run folder, private to this user; removes it on close', async () => {
    const record = readSocketRecord(runDir);
    assert.ok(record && server);
    assert.strictEqual(record.path, server.socketPath);
    assert.strictEqual(record.pid, process.pid);
    assert.ok(Buffer.byteLength(record.path) <= MAX_SOCKET_PATH_BYTES);
    assert.strictEqual(fs.statSync(record.path).mode & 0o777, 0o600);
    await server.close();
    server = undefined;
    assert.strictEqual(readSocketRecord(runDir), undefined);
    assert.ok(!fs.existsSync(record.path));
  });

  it('socket paths: a named pipe on Windows; a clear error naming the path when the directory is too long', () => {
    assert.match(socketPathFor('/runs/a', 7, 'win32'), /^\\\\\.\\pipe\\grpo-[0-9a-f]{16}$/);
    assert.notStrictEqual(socketPathFor('/runs/a', 7, 'linux'), socketPathFor('/runs/b', 7, 'linux'));
    const deep = path.join(os.tmpdir(), 'x'.repeat(120));
    fs.mkdirSync(deep, { recursive: true });
    try {
      assert.throws(() => socketPathFor('/runs/a', 7, 'linux', { XDG_RUNTIME_DIR: deep }), /grpo-[0-9a-f]+\.sock is \d+ bytes, over the 103 a Unix socket allows: set TMPDIR/);
    } finally {
      fs.rmSync(deep, { recursive: true, force: true });
    }
  });

  it('handshake: the protocol version is checked, and a host that skips the hello is refused with the reason', async () => {
    const socketPath = server!.socketPath;
    assert.match(await rawExchange(socketPath, JSON.stringify({ type: 'hello', protocol: 99 })), /"refused".*speaks protocol 1, the host 99/);
    assert.match(await rawExchange(socketPath, JSON.stringify({ type: 'stop' })), /"refused".*expected \{\\"type\\":\\"hello\\"/);
    assert.deepStrictEqual(commands, [], 'a stop before the handshake is not obeyed');
    await assert.rejects(WorkerConnection.connect(path.join(runDir, 'nothing.sock'), noLog, noLog), /ENOENT/);
  });

  it('streams every message in order to each connected host, and takes Stop / Pause / Continue from any of them', async () => {
    const received: WorkerMessage[][] = [[], []];
    const hosts = await Promise.all(received.map((list) => WorkerConnection.connect(server!.socketPath, (c) => c.onMessage((m) => list.push(m)), noLog)));
    assert.strictEqual(server!.connectedHosts, 2);
    for (let step = 1; step <= 50; step++) server!.broadcast(metrics(step));
    await until(() => received.every((list) => list.length === 50), 'both hosts to get 50 messages');
    for (const list of received) assert.deepStrictEqual(list.map((m) => m.type === 'metrics' && m.record.step), Array.from({ length: 50 }, (_, i) => i + 1));
    assert.strictEqual(hosts[1].send({ type: 'pause' }), true);
    hosts[0].send({ type: 'resume' });
    hosts[0].send({ type: 'stop' });
    await until(() => commands.length === 3, 'three commands');
    assert.deepStrictEqual(commands.map((c) => c.type).sort(), ['pause', 'resume', 'stop']);
    hosts.forEach((h) => h.close());
  });

  it('a host that attaches late reads the past from disk and the rest from the socket, each record once', async () => {
    write(runDir, server, log('before'));
    for (let step = 1; step <= 3; step++) write(runDir, server, metrics(step));
    const got: WorkerMessage[] = [];
    const attachment = new RunAttachment(runDir, { catchUp: 'all', onMessage: (m) => got.push(m), onEnded: noLog, log: noLog, retryMs: 20 });
    await until(() => attachment.isConnected, 'the attachment');
    // Written to disk and sent: the host may see it both ways; it must get it once.
    for (let step = 4; step <= 6; step++) write(runDir, server, metrics(step));
    write(runDir, server, { type: 'paused', time: 9, step: 6 });
    await until(() => got.some((m) => m.type === 'paused'), 'the paused event');
    assert.deepStrictEqual(got.map((m) => (m.type === 'metrics' ? m.record.step : m.type)), ['log', 1, 2, 3, 4, 5, 6, 'paused']);
    assert.strictEqual(attachment.send({ type: 'resume' }), true);
    await until(() => commands.length === 1, 'the continue');
    attachment.detach();
  });

  it('`latest` catch-up replays the events and only the newest metrics (a run found running after a reload)', async () => {
    for (let step = 1; step <= 5; step++) write(runDir, server, metrics(step));
    const got: WorkerMessage[] = [];
    const attachment = new RunAttachment(runDir, { catchUp: 'latest', onMessage: (m) => got.push(m), onEnded: noLog, log: noLog, retryMs: 20 });
    await until(() => attachment.isConnected, 'the attachment');
    write(runDir, server, metrics(6));
    await until(() => got.length === 2, 'two messages');
    assert.deepStrictEqual(got.map((m) => m.type === 'metrics' && m.record.step), [5, 6]);
    attachment.detach();
  });

  it('reconnects when the connection drops while the worker lives, catching up on what was written meanwhile; ends when the worker is gone', async () => {
    const got: WorkerMessage[] = [];
    let ended = false;
    const attachment = new RunAttachment(runDir, { catchUp: 'all', onMessage: (m) => got.push(m), onEnded: () => (ended = true), log: noLog, retryMs: 20 });
    await until(() => attachment.isConnected, 'the attachment');
    write(runDir, server, metrics(1));
    await until(() => got.length === 1, 'step 1');
    // The socket goes away (the worker restarts its server); records written in the gap reach only the disk.
    await server!.close();
    server = undefined;
    write(runDir, undefined, metrics(2));
    write(runDir, undefined, log('in the gap'));
    server = await ControlServer.listen(runDir, (m) => commands.push(m), noLog);
    await until(() => attachment.isConnected && got.length === 3, 'the reconnection and its catch-up');
    write(runDir, server, metrics(3));
    await until(() => got.length === 4, 'step 3 over the new connection');
    // A catch-up reads events.jsonl, then metrics.jsonl (two files: their relative order is not recorded).
    assert.deepStrictEqual(got.map((m) => (m.type === 'metrics' ? m.record.step : m.type)), [1, 'log', 2, 3]);
    attachment.send({ type: 'stop' });
    await until(() => commands.some((c) => c.type === 'stop'), 'the stop over the new connection');

    // The worker writes its last record and ends: the attachment delivers it and ends.
    write(runDir, server, { type: 'finished', time: 20, outcome: 'stopped', steps: 3 });
    await server!.close();
    server = undefined;
    lock.release();
    await attachment.ended;
    assert.ok(ended);
    assert.deepStrictEqual(got.map((m) => (m.type === 'metrics' ? m.record.step : m.type)), [1, 'log', 2, 3, 'finished']);
    assert.deepStrictEqual((got.at(-1) as RunEvent), { type: 'finished', time: 20, outcome: 'stopped', steps: 3 });
  });

  it('a socket record left by a dead worker is not followed: the attachment ends instead of waiting', async () => {
    await server!.close();
    server = undefined;
    lock.release();
    fs.writeFileSync(path.join(runDir, RUN_FILES.socket), JSON.stringify({ path: '/nonexistent.sock', pid: 2 ** 30, protocol: 1 }));
    const attachment = new RunAttachment(runDir, { catchUp: 'all', onMessage: noLog, onEnded: noLog, log: noLog, retryMs: 20 });
    await attachment.ended;
    assert.strictEqual(attachment.isConnected, false);
  });

  it('attaches to a worker whose event loop is blocked by each step for longer than the handshake wait', async function () {
    this.timeout(60000);
    await server!.close();
    server = undefined;
    lock.release();
    const blockMs = 1500;
    const worker = spawn(process.execPath, ['-r', 'tsx/cjs', path.join(__dirname, 'busyWorker.fixture.ts'), runDir, String(blockMs), '100'], { stdio: ['ignore', 'inherit', 'inherit'] });
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    try {
      await until(() => readSocketRecord(runDir)?.pid === worker.pid, 'the busy worker to serve its socket', 30000);
      const steps = () => (fs.existsSync(path.join(runDir, RUN_FILES.metrics)) ? fs.readFileSync(path.join(runDir, RUN_FILES.metrics), 'utf8').split('\n').length - 1 : 0);
      const got: WorkerMessage[] = [];
      const logs: string[] = [];
      const attachment = new RunAttachment(runDir, { catchUp: 'latest', onMessage: (m) => got.push(m), onEnded: noLog, log: (m) => logs.push(m), retryMs: 20, patienceMs: 300 });
      const before = steps();
      await until(() => attachment.isConnected, 'the attachment', 4 * blockMs + 5000).catch((err: Error) => assert.fail(`${err.message}; its log: ${logs.join(' | ')}`));
      assert.match(logs.join('\n'), /has not answered for 0\.3 s; it answers between training steps, waiting for it/);
      assert.strictEqual(attachment.pid, worker.pid);
      assert.ok(steps() - before <= 1, `attached ${steps() - before} steps after connecting: the worker answers a host in the first pause between steps`);
      const atAttach = steps();
      await until(() => got.some((m) => m.type === 'metrics' && m.record.step > atAttach), 'a step over the socket', 3 * blockMs);
      assert.strictEqual(attachment.send({ type: 'stop' }), true);
      await attachment.ended;
    } finally {
      worker.kill('SIGKILL');
      await exited;
    }
  });

  it('a handshake left unanswered is waited for while the worker lives, and given up once it is gone or on cancel', async () => {
    // A listener that accepts and never answers: a worker whose step never ends.
    const silentPath = path.join(runDir, 'silent.sock');
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(silentPath, resolve));
    try {
      let alive = true;
      const waited: number[] = [];
      const pending = WorkerConnection.connect(silentPath, noLog, noLog, { patienceMs: 100, workerAlive: () => alive, onWaiting: (ms) => waited.push(ms) });
      let settled = false;
      void pending.catch(() => undefined).finally(() => (settled = true));
      await new Promise((resolve) => setTimeout(resolve, 600));
      assert.deepStrictEqual(waited, [100]);
      assert.strictEqual(settled, false, 'still waiting while the worker lives');
      alive = false;
      await assert.rejects(pending, /silent\.sock: the worker ended before answering the handshake/);

      const cancel = new AbortController();
      const cancelled = WorkerConnection.connect(silentPath, noLog, noLog, { patienceMs: 100, workerAlive: () => true, signal: cancel.signal });
      setTimeout(() => cancel.abort(), 300);
      await assert.rejects(cancelled, /attaching was cancelled/);
      await assert.rejects(WorkerConnection.connect(silentPath, noLog, noLog, { patienceMs: 100 }), /no handshake within 100 ms/);
    } finally {
      sockets.forEach((socket) => socket.destroy());
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
