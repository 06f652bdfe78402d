/** `grpo-studio summary` from the built CLI (dist/cli.js; `npm run build` first), on a run of each format. */
import * as assert from 'assert';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { validateRunConfig } from '../../src/protocol';
import { RunDirectoryWriter } from '../../src/worker/runDirectory';
import type { RunFolderSummary } from '../../src/worker/summaryCommand';

const CLI = path.resolve(__dirname, '../../dist/cli.js');
const FIXTURES = path.resolve(__dirname, '../fixtures');

function summary(dir: string): RunFolderSummary {
  return JSON.parse(execFileSync(process.execPath, [CLI, 'summary', dir, '--json'], { encoding: 'utf8' })) as RunFolderSummary;
}

describe('grpo-studio summary (built CLI)', function () {
  this.timeout(60000);
  before(function () {
    if (!fs.existsSync(CLI)) throw new Error('dist/cli.js is missing: run "npm run build" first');
  });

  it('reports a verl run: format, steps, metric names with verl\'s originals, the last step\'s groups and completions', () => {
    const s = summary(path.join(FIXTURES, 'verl', 'run'));
    assert.strictEqual(s.format, 'verl');
    assert.deepStrictEqual(s.steps, { metrics: [1, 2, 3], train: [1, 2, 3], eval: [0] });
    assert.deepStrictEqual(s.metrics.find((m) => m.name === 'reward'), { name: 'reward', original: 'critic/score/mean' });
    assert.deepStrictEqual(s.lastRollouts, { source: 'train', step: 3, groups: 2, completions: 8 });
    assert.match(s.derived.join('\n'), /advantage: recomputed/);
  });

  it('reports a TRL run and a prime-rl run', () => {
    const trl = summary(path.join(FIXTURES, 'trl', 'run'));
    assert.deepStrictEqual([trl.format, trl.status, trl.steps.train, trl.lastRollouts], ['trl', 'completed', [2, 4], { source: 'train', step: 4, groups: 2, completions: 8 }]);
    assert.ok(trl.metrics.some((m) => m.name === 'rewards/accuracy_reward/mean'));
    const prime = summary(path.join(FIXTURES, 'prime-rl', 'run'));
    assert.deepStrictEqual([prime.format, prime.steps.train, prime.lastRollouts], ['prime-rl', [1, 2], { source: 'train', step: 2, groups: 2, completions: 4 }]);
  });

  it('reports one of our runs, prints text without --json, and refuses a folder of no format with what it looked for', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-summary-'));
    try {
      const runDir = path.join(tmp, 'ours');
      const writer = new RunDirectoryWriter(runDir, validateRunConfig({ name: 'ours', task: { type: 'bandit' } }));
      writer.appendMetrics({ step: 1, time: 1, metrics: { reward: 0.5, loss: 0.1 } });
      writer.appendRollouts({ step: 1, groups: [{ prompt: 'p', rollouts: [{ completion: 'c', reward: 1, rewards: {}, advantage: 0, finish_reason: 'stop', tokens: { text: ['c'], logprob: [-1] } }] }] });
      writer.close();
      const s = summary(runDir);
      assert.deepStrictEqual([s.format, s.steps.metrics, s.metrics.map((m) => m.name), s.lastRollouts], ['grpo-studio', [1], ['loss', 'reward'], { source: 'train', step: 1, groups: 1, completions: 1 }]);

      const text = execFileSync(process.execPath, [CLI, 'summary', path.join(FIXTURES, 'verl', 'console')], { encoding: 'utf8' });
      assert.match(text, /^format: verl$/m);
      assert.match(text, /^last training step with rollouts: 3: 2 groups, 8 completions$/m);

      const refused = spawnSync(process.execPath, [CLI, 'summary', tmp], { encoding: 'utf8' });
      assert.strictEqual(refused.status, 1);
      assert.match(refused.stderr, /not a run folder of any format GRPO Studio reads/);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
