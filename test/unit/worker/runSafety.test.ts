/**
 * Run folders that cannot be damaged: config errors found before anything is written (issue 12 item 9), checkpoints
 * written atomically and resumed from the newest complete one (item 10), one writer per run (item 11).
 */
import * as assert from 'assert';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { MetricsRecord, WorkerMessage } from '../../../src/protocol';
import { train, TrainOptions } from '../../../src/worker/train';
import { beginCheckpoint, checkpointProblem, commitCheckpoint, listCheckpoints } from '../../../src/worker/runDirectory';
import { writeFileAtomic } from '../../../src/worker/durableFiles';
import { processStartTime, readLock, runLockHolder } from '../../../src/protocol/runLockFile';
import { RunLock } from '../../../src/worker/runLock';

const GSM8K = path.resolve(__dirname, '../../../examples/data/gsm8k');

function bandit(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'safe',
    backend: 'cpu',
    task: { type: 'bandit' },
    algorithm: { num_generations: 4 },
    optimization: { optimizer: 'sgd', learning_rate: 0.1, max_steps: 3 },
    checkpointing: { save_steps: 1, save_total_limit: 0 },
    ...overrides,
  };
}

describe('run folder safety', function () {
  this.timeout(60000);
  let tmp: string;
  beforeEach(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-safety-'))));
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  function writeConfig(config: Record<string, unknown>): string {
    const file = path.join(tmp, 'config.json');
    fs.writeFileSync(file, JSON.stringify(config));
    return file;
  }

  async function run(options: Partial<TrainOptions>): Promise<{ runDir: string; messages: WorkerMessage[] }> {
    const messages: WorkerMessage[] = [];
    const result = await train({
      runsDir: path.join(tmp, 'runs'),
      ...options,
      observers: [(m) => messages.push(m)],
      control: { shouldStop: () => false, waitWhilePaused: async () => undefined },
    });
    return { runDir: result.runDir, messages };
  }

  describe('every config error before anything is written', () => {
    const language = (overrides: Record<string, unknown>) => ({
      name: 'bad',
      backend: 'cpu',
      model: { name_or_path: 'tiny' },
      task: { type: 'arithmetic' },
      ...overrides,
    });

    async function refused(config: Record<string, unknown>, expected: RegExp): Promise<void> {
      const runsDir = path.join(tmp, 'runs');
      // As the extension does: the folder is claimed (empty) before the worker starts.
      const claimed = path.join(runsDir, 'claimed');
      fs.mkdirSync(claimed, { recursive: true });
      await assert.rejects(run({ configPath: writeConfig(config), runDir: claimed }), expected);
      await assert.rejects(run({ configPath: writeConfig(config) }), expected);
      assert.deepStrictEqual(fs.readdirSync(runsDir), [], 'no run folder is left behind');
    }

    it('an unknown built-in reward', () => refused(language({ rewards: [{ name: 'arithmetic_answr' }] }), /rewards\[0\]\.name: unknown built-in reward "arithmetic_answr"/));

    it('a missing reward module', () => refused(language({ rewards: [{ name: 'mine', module: 'no/such/reward.js' }] }), /rewards\[0\]\.module: .*no[/\\]such[/\\]reward\.js does not exist/));

    it('a Python reward module (for verl launches)', () =>
      refused(language({ rewards: [{ name: 'mine', module: path.resolve(__dirname, '../../fixtures/verl/reward.py') }] }), /rewards\[0\]\.module: .*reward\.py is a Python reward, which only a verl job runs \("GRPO: Launch on Ray…"\)/));

    it('a missing model folder', () => refused(language({ model: { name_or_path: './models/missing' } }), /model\.name_or_path: '\.\/models\/missing' is neither a preset/));

    it('a model folder without config.json', () => {
      fs.mkdirSync(path.join(tmp, 'empty-model'));
      return refused(language({ model: { name_or_path: 'empty-model' } }), /model\.name_or_path: .*empty-model: no config\.json/);
    });

    it('a missing data file', () => refused(language({ task: { type: 'prompts', train_file: 'missing.jsonl' }, rewards: [{ name: 'integer_format' }] }), /task\.train_file: .*missing\.jsonl does not exist/));

    it('a prompt template without its placeholder', () => refused(
      language({ task: { type: 'gsm8k', train_file: path.join(GSM8K, 'train_sample.jsonl'), eval_file: path.join(GSM8K, 'test_sample.jsonl'), prompt_template: 'Q: {q}\nA:' } }),
      /task\.prompt_template must be .* or contain "\{question\}"/,
    ));

    it('a dataset row without the prompt column, named by file and line', () => {
      fs.writeFileSync(path.join(tmp, 'rows.jsonl'), '{"prompt":"1+1=","answer":"2"}\n{"question":"2+2=","answer":"4"}\n');
      return refused(language({ task: { type: 'prompts', train_file: 'rows.jsonl' }, rewards: [{ name: 'integer_format' }] }), /rows\.jsonl:2: no prompt/);
    });

    it('lists every problem at once', async () => {
      const config = language({ model: { name_or_path: 'nowhere' }, rewards: [{ name: 'nope' }, { name: 'm', module: 'gone.js' }] });
      const err = await run({ configPath: writeConfig(config) }).then(() => undefined, (e: Error) => e);
      assert.ok(err, 'refused');
      for (const field of ['rewards[0].name', 'rewards[1].module', 'model.name_or_path']) assert.ok(err.message.includes(field), `${field} in ${err.message}`);
    });
  });

  describe('atomic checkpoints', () => {
    it('writes each checkpoint with a manifest and no temporary files left behind', async () => {
      const { runDir } = await run({ configPath: writeConfig(bandit()) });
      const checkpoints = listCheckpoints(runDir);
      assert.deepStrictEqual(checkpoints.map((c) => c.step), [1, 2, 3]);
      for (const { dir } of checkpoints) assert.strictEqual(checkpointProblem(dir), undefined);
      const state = JSON.parse(fs.readFileSync(path.join(checkpoints[2].dir, 'state.json'), 'utf8')) as { files: Record<string, number> };
      assert.deepStrictEqual(Object.keys(state.files), ['bandit.json']);
      assert.deepStrictEqual(fs.readdirSync(path.join(runDir, 'checkpoints')).sort(), ['step-1', 'step-2', 'step-3']);
      assert.ok(!fs.readdirSync(runDir).some((name) => name.endsWith('.tmp') || name === 'run.lock'), fs.readdirSync(runDir).join(', '));
    });

    it('resume skips a truncated newest checkpoint, with a message, and continues from the one before', async () => {
      const { runDir } = await run({ configPath: writeConfig(bandit()) });
      const newest = path.join(runDir, 'checkpoints', 'step-3', 'bandit.json');
      const size = fs.statSync(newest).size;
      fs.truncateSync(newest, Math.floor(size / 2));
      // Before: the newest folder with a state.json was taken, and its half file failed to parse mid-resume.
      fs.writeFileSync(path.join(runDir, 'config.json'), JSON.stringify({ ...JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8')), optimization: { optimizer: 'sgd', learning_rate: 0.1, max_steps: 4 } }));
      const resumed = await run({ resumeDir: runDir });
      const started = resumed.messages.find((m) => m.type === 'started');
      assert.strictEqual(started?.type === 'started' && started.resumedFrom, 2);
      const logs = resumed.messages.flatMap((m) => (m.type === 'log' ? [m.message] : []));
      assert.ok(logs.some((l) => l.includes(`skipped ${path.join('checkpoints', 'step-3')}: incomplete checkpoint (bandit.json has ${Math.floor(size / 2)} bytes, state.json lists ${size})`)), logs.join('\n'));
      const steps = fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as MetricsRecord).step);
      assert.deepStrictEqual(steps, [1, 2, 3, 3, 4]);
      assert.strictEqual(checkpointProblem(path.join(runDir, 'checkpoints', 'step-3')), undefined, 'step 3 is written anew, complete');
    });

    it('resume with no complete checkpoint says why', async () => {
      const { runDir } = await run({ configPath: writeConfig(bandit({ optimization: { optimizer: 'sgd', learning_rate: 0.1, max_steps: 1 } })) });
      fs.rmSync(path.join(runDir, 'checkpoints', 'step-1', 'bandit.json'));
      await assert.rejects(run({ resumeDir: runDir }), /no checkpoint to resume from \(none complete.*skipped checkpoints[/\\]step-1: incomplete checkpoint \(bandit\.json is missing\)/);
    });
  });

  describe('one writer per run', () => {
    async function stoppedRun(): Promise<string> {
      return (await run({ configPath: writeConfig(bandit({ optimization: { optimizer: 'sgd', learning_rate: 0.1, max_steps: 1 } })) })).runDir;
    }

    function writeLock(runDir: string, pid: number, startTime: string | null): void {
      fs.writeFileSync(path.join(runDir, 'run.lock'), JSON.stringify({ pid, start_time: startTime, hostname: os.hostname(), time: 1 }));
    }

    it('a resume of a live run is refused with its pid, and nothing in the folder changes', async () => {
      const runDir = await stoppedRun();
      const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
      try {
        const pid = child.pid ?? -1;
        writeLock(runDir, pid, processStartTime(pid));
        fs.appendFileSync(path.join(runDir, 'metrics.jsonl'), '{"step":2,"ti');
        const before = fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8');
        await assert.rejects(run({ resumeDir: runDir }), new RegExp(`is being written by another process \\(pid ${pid}`));
        assert.strictEqual(fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8'), before, 'the live writer\'s torn line is not truncated');
        assert.strictEqual(runLockHolder(runDir)?.pid, pid);
      } finally {
        child.kill('SIGKILL');
      }
    });

    it('a lock of a dead pid is taken over with a message', async () => {
      const runDir = await stoppedRun();
      writeLock(runDir, 2 ** 30, 'linux:1');
      assert.strictEqual(runLockHolder(runDir), undefined);
      const { messages } = await run({ resumeDir: runDir });
      const logs = messages.flatMap((m) => (m.type === 'log' ? [m.message] : []));
      assert.ok(logs.some((l) => l.includes(`took over the lock of run.lock: pid ${2 ** 30} is not running`)), logs.join('\n'));
      assert.strictEqual(readLock(runDir), undefined, 'released at the end');
    });

    it('a lock whose pid now belongs to another program (another start time) is taken over', async function () {
      if (processStartTime(process.pid) === null) this.skip(); // no process start times on this OS: liveness only
      const runDir = await stoppedRun();
      // This very process is alive, but it is not the process that wrote this lock.
      writeLock(runDir, process.pid, 'linux:1');
      assert.strictEqual(runLockHolder(runDir), undefined);
      const { messages } = await run({ resumeDir: runDir });
      const logs = messages.flatMap((m) => (m.type === 'log' ? [m.message] : []));
      assert.ok(logs.some((l) => l.includes(`pid ${process.pid} now belongs to another process`)), logs.join('\n'));
    });

    it('a second lock in the same folder is refused while the first is held, and granted after release', () => {
      const dir = path.join(tmp, 'lockdir');
      fs.mkdirSync(dir);
      const first = RunLock.acquire(dir);
      assert.strictEqual(runLockHolder(dir)?.pid, process.pid);
      assert.throws(() => RunLock.acquire(dir), new RegExp(`pid ${process.pid}`));
      first.release();
      assert.strictEqual(runLockHolder(dir), undefined);
      RunLock.acquire(dir).release();
    });

    it('an unreadable lock file is taken over', () => {
      const dir = path.join(tmp, 'lockdir');
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'run.lock'), '{"pid": 12');
      const lock = RunLock.acquire(dir);
      assert.match(lock.takeover ?? '', /unreadable/);
      lock.release();
    });
  });
});

describe('durable writes', () => {
  let tmp: string;
  beforeEach(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-durable-'))));
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('writeFileAtomic replaces a file whole and leaves no temporary file; a failed write keeps the old content', () => {
    const file = path.join(tmp, 'state.json');
    writeFileAtomic(file, '{"step":1}');
    writeFileAtomic(file, '{"step":2}');
    assert.strictEqual(fs.readFileSync(file, 'utf8'), '{"step":2}');
    assert.deepStrictEqual(fs.readdirSync(tmp), ['state.json']);
    // A folder where the temporary file would go: the write fails before the rename, the old file stays.
    fs.mkdirSync(`${file}.${process.pid}.tmp`);
    assert.throws(() => writeFileAtomic(file, '{"step":3}'));
    assert.strictEqual(fs.readFileSync(file, 'utf8'), '{"step":2}');
  });

  it('a checkpoint interrupted mid-write (its .partial folder) is never listed, and the next checkpoint clears it', () => {
    const runDir = path.join(tmp, 'run');
    const partial = beginCheckpoint(runDir, 5);
    fs.writeFileSync(path.join(partial, 'bandit.json'), '{"theta":[');
    assert.deepStrictEqual(listCheckpoints(runDir), []);
    const next = beginCheckpoint(runDir, 6);
    fs.writeFileSync(path.join(next, 'bandit.json'), '{}');
    const final = commitCheckpoint(runDir, 6, next, { step: 6 });
    assert.deepStrictEqual(fs.readdirSync(path.join(runDir, 'checkpoints')), ['step-6']);
    assert.strictEqual(checkpointProblem(final), undefined);
    assert.deepStrictEqual((JSON.parse(fs.readFileSync(path.join(final, 'state.json'), 'utf8')) as { files: unknown }).files, { 'bandit.json': 2 });
  });
});

describe('run lock on a shared drive', () => {
  it('a lock taken on another machine is trusted (its pid cannot be checked here) and the refusal says how to clear it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-lock-'));
    try {
      fs.writeFileSync(path.join(dir, 'run.lock'), JSON.stringify({ pid: 2 ** 30, start_time: null, hostname: 'other-host', time: 0 }));
      assert.strictEqual(runLockHolder(dir)?.hostname, 'other-host');
      assert.throws(() => RunLock.acquire(dir), /pid 1073741824 on other-host.*delete .*run\.lock/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
