import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { RewardFailure, RewardsCancelled, RewardScorer } from '../../../src/worker/rewardScorer';
import { RewardErrorLog } from '../../../src/worker/rewardErrors';
import type { Example } from '../../../src/worker/tasks/task';

const example = (answer: string, prompt = 'q'): Example => ({ id: answer, prompt, answer });

describe('reward scorer', function () {
  // Each pool thread loads TypeScript through tsx on first use: allow for it on a busy machine.
  this.timeout(60000);
  let dir: string;
  const scorers: RewardScorer[] = [];
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-scorer-'))));
  after(() => {
    for (const scorer of scorers) scorer.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function load(...args: Parameters<typeof RewardScorer.load>): Promise<RewardScorer> {
    const scorer = await RewardScorer.load(...args);
    scorers.push(scorer);
    return scorer;
  }

  function writeModule(name: string, source: string): string {
    fs.writeFileSync(path.join(dir, name), source);
    return name;
  }

  it('uses the task defaults when the config lists no rewards', async () => {
    const scorer = await load([], ['arithmetic_answer'], dir);
    assert.deepStrictEqual(scorer.names, ['arithmetic_answer']);
    const scored = await scorer.score(['7\n', '8'], [example('7'), example('7')], () => assert.fail('no failure expected'));
    assert.deepStrictEqual(scored.totals, [1, 0]);
    assert.deepStrictEqual(scored.errors, [undefined, undefined]);
    assert.strictEqual(scored.metrics['rewards/arithmetic_answer/mean'], 0.5);
  });

  it('weights and sums rewards, averages their extras, and turns failures into NaN with a report', async () => {
    const len = writeModule('len.js', "module.exports = (p, c) => { if (c === 'boom') throw new Error('no'); return { reward: c.length, short: c.length < 3 ? 1 : 0 }; };");
    const scorer = await load([{ name: 'arithmetic_answer', weight: 2 }, { name: 'len', module: len, weight: 0.5 }], [], dir);
    const failures: RewardFailure[] = [];
    const scored = await scorer.score(['7', '1234', 'boom'], [example('7'), example('7'), example('7')], (f) => failures.push(f));
    assert.deepStrictEqual(scored.totals.slice(0, 2), [2 * 1 + 0.5 * 1, 2 * 0 + 0.5 * 4]);
    assert.ok(Number.isNaN(scored.totals[2]));
    assert.deepStrictEqual(scored.errors, [undefined, undefined, 'no']);
    assert.deepStrictEqual(scored.byFunction.arithmetic_answer, [1, 0, 0]);
    assert.deepStrictEqual(failures, [{ reward: 'len', message: 'no', prompt: 'q', completion: 'boom' }]);
    assert.strictEqual(scored.metrics['rewards/len/mean'], 2.5);
    assert.strictEqual(scored.metrics['rewards/len/short'], 0.5);
  });

  it('null / undefined abstain (TRL): the issue\'s example, arithmetic_answer + a reward for even first operands → 1.25', async () => {
    // null for an odd first operand, 0.5 otherwise; `example` arrives structured-cloned in the reward thread.
    const even = writeModule('even.js', "module.exports = (prompt, completion, example) => (Number(example.prompt.split('+')[0]) % 2 ? null : 0.5);");
    const scorer = await load([{ name: 'arithmetic_answer', weight: 1 }, { name: 'even', module: even, weight: 1 }], [], dir);
    // 16 correct completions, 8 with an odd first operand: (8·1 + 8·1.5)/16 = 1.25.
    const examples = Array.from({ length: 16 }, (_, i) => example(String(i + 1 + 1), `${i + 1}+1=`));
    const scored = await scorer.score(examples.map((e) => e.answer), examples, (f) => assert.fail(`no failure expected: ${JSON.stringify(f)}`));
    assert.deepStrictEqual(scored.totals, examples.map((_, i) => ((i + 1) % 2 ? 1 : 1.5)));
    assert.strictEqual(scored.totals.reduce((a, b) => a + b, 0) / 16, 1.25);
    assert.deepStrictEqual(scored.errors, new Array(16).fill(undefined));
    // The abstentions are left out of the function's own mean: 0.5 over the 8 it scored, not 0.25.
    assert.strictEqual(scored.metrics['rewards/even/mean'], 0.5);
    assert.strictEqual(scored.metrics['rewards/arithmetic_answer/mean'], 1);
  });

  it('a sample every function abstains on fails, saying so', async () => {
    const never = writeModule('never.js', 'module.exports = () => undefined;');
    const scorer = await load([{ name: 'never', module: never, weight: 1 }], [], dir);
    const failures: RewardFailure[] = [];
    const scored = await scorer.score(['a'], [example('a')], (f) => failures.push(f));
    assert.ok(Number.isNaN(scored.totals[0]));
    assert.match(scored.errors[0] ?? '', /every reward function abstained/);
    assert.deepStrictEqual(failures.map((f) => f.reward), ['never']);
  });

  it('refuses a reward beyond float32 (1e39) and non-finite extras, naming the function', async () => {
    const big = writeModule('big.js', "module.exports = (p, c) => (c === 'big' ? 1e39 : c === 'max' ? 3.4028234663852886e38 : { reward: 1, note: c === 'str' ? 'x' : Number.NaN });");
    const scorer = await load([{ name: 'big', module: big, weight: 1 }], [], dir);
    const scored = await scorer.score(['big', 'max', 'str', 'nan'], [example(''), example(''), example(''), example('')], () => undefined);
    assert.ok(Number.isNaN(scored.totals[0]));
    assert.strictEqual(scored.errors[0], 'reward function "big" returned an unusable value: reward 1e+39 is outside float32\'s range (|reward| ≤ 3.4028234663852886e+38): it would become ±Infinity in the tensors');
    // The largest float32 itself is fine.
    assert.strictEqual(scored.totals[1], 3.4028234663852886e38);
    assert.strictEqual(scored.errors[2], 'reward function "big" returned an unusable value: extra "note" is not a finite number: "x"');
    assert.strictEqual(scored.errors[3], 'reward function "big" returned an unusable value: extra "note" is not a finite number: NaN');
  });

  it('a weighted total beyond float32 fails the sample', async () => {
    const max = writeModule('max.js', 'module.exports = () => 3e38;');
    const scorer = await load([{ name: 'max', module: max, weight: 2 }], [], dir);
    const scored = await scorer.score(['x'], [example('')], () => undefined);
    assert.ok(Number.isNaN(scored.totals[0]));
    assert.match(scored.errors[0] ?? '', /weighted total reward 6e\+38 is outside float32's range/);
  });

  it('a call past timeout_s fails its sample only; the pool replaces the thread and goes on', async () => {
    const loop = writeModule('loop.js', "module.exports = (p, c) => { if (c === 'loop') while (true) {} return c.length; };");
    const scorer = await load([{ name: 'loop', module: loop, weight: 1, timeout_s: 0.5 }], [], dir, { poolSize: 1 });
    const failures: RewardFailure[] = [];
    const started = performance.now();
    const scored = await scorer.score(['ab', 'loop', 'abc'], [example(''), example(''), example('')], (f) => failures.push(f));
    assert.ok(performance.now() - started < 20000);
    assert.deepStrictEqual([scored.totals[0], scored.totals[2]], [2, 3]);
    assert.ok(Number.isNaN(scored.totals[1]));
    assert.strictEqual(scored.errors[1], 'reward function "loop" timed out after 0.5 s (rewards[].timeout_s): its thread was terminated');
    assert.deepStrictEqual(failures.map((f) => f.completion), ['loop']);
    // The replacement thread scores the next batch.
    assert.deepStrictEqual((await scorer.score(['abcd'], [example('')], () => assert.fail('no failure'))).totals, [4]);
  });

  it('a thread that crashes (an uncaught error, process.exit) fails its sample; the next call gets a new thread', async () => {
    const crash = writeModule('crash.js', "module.exports = (p, c) => { if (c === 'exit') process.exit(3); if (c === 'throw') { setTimeout(() => { throw new Error('late'); }); return new Promise(() => {}); } return 1; };");
    const scorer = await load([{ name: 'crash', module: crash, weight: 1 }], [], dir, { poolSize: 1 });
    const scored = await scorer.score(['exit', 'ok', 'throw', 'ok'], [example(''), example(''), example(''), example('')], () => undefined);
    assert.strictEqual(scored.errors[0], 'reward function "crash": its thread exited with code 3');
    assert.strictEqual(scored.errors[2], 'reward function "crash": its thread crashed: late');
    assert.deepStrictEqual([scored.totals[1], scored.totals[3]], [1, 1]);
  });

  it('a stop abandons a reward that never returns within a fraction of a second', async () => {
    const forever = writeModule('forever.js', 'module.exports = () => { while (true) {} };');
    const scorer = await load([{ name: 'forever', module: forever, weight: 1, timeout_s: 3600 }], [], dir, { poolSize: 2 });
    let stop = false;
    const scoring = scorer.score(['a', 'b', 'c'], [example(''), example(''), example('')], () => undefined, { shouldStop: () => stop });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const asked = performance.now();
    stop = true;
    await assert.rejects(scoring, RewardsCancelled);
    const took = performance.now() - asked;
    assert.ok(took < 500, `stopped after ${took} ms`);
  });

  it('reports a module that fails to load before anything is scored', async () => {
    await assert.rejects(load([{ name: 'gone', module: 'missing.js', weight: 1 }], [], dir), /cannot load reward module .*missing\.js/);
    writeModule('nofn.js', 'module.exports = { x: 1 };');
    await assert.rejects(load([{ name: 'nofn', module: 'nofn.js', weight: 1 }], [], dir), /must export a function/);
  });

  it('names an unknown built-in reward by its index', async () => {
    await assert.rejects(RewardScorer.load([{ name: 'a', weight: 1 }, { name: 'bogus', weight: 1 }], [], dir), /rewards\[0\]\.name: unknown built-in reward "a"/);
  });
});

describe('reward error log', () => {
  it('logs the first failures of each reward in full, then one count per flush', () => {
    const emitted: string[] = [];
    const warnings: string[] = [];
    const log = new RewardErrorLog((f) => emitted.push(`${f.reward}:${f.completion}`), (m) => warnings.push(m), 2);
    const failure = (reward: string, completion: string) => ({ reward, message: 'm', prompt: 'p', completion, step: 1 });
    for (const c of ['a', 'b', 'c', 'd']) log.report(failure('r', c));
    log.report(failure('s', 'x'));
    log.flush(1);
    log.flush(1);
    log.report({ ...failure('r', 'e'), step: 2 });
    log.flush(2);
    assert.deepStrictEqual(emitted, ['r:a', 'r:b', 's:x']);
    assert.deepStrictEqual(warnings, [
      'reward "r" failed on 2 more samples at step 1 (4 failures so far; the first 2 are logged in full as reward_error events)',
      'reward "r" failed on 1 more sample at step 2 (5 failures so far; the first 2 are logged in full as reward_error events)',
    ]);
  });
});
