import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { diffConfigs } from '../../../src/host/configDiff';
import { RunRequests } from '../../../src/host/runRequests';
import { rolloutStepIndex } from '../../../src/host/stepIndex';
import type { Comparison, PromptHistory, RolloutsRecord, RolloutSteps, StepRollouts, TokenColumns } from '../../../src/protocol';
import { RECURRING_PROMPT, writeFixtureRun } from '../../webview/fixtures';

describe('webview requests answered from run directories', () => {
  let runsDir: string;
  let requests: RunRequests;
  let id = 0;
  const ask = <T>(method: string, params: object) => requests.handle({ type: 'request', id: ++id, method, params } as Parameters<RunRequests['handle']>[0]) as Promise<T>;

  before(() => {
    runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-requests-'));
    writeFixtureRun(runsDir, { name: 'a', steps: 20, rolloutSteps: (s) => s % 5 === 0, groups: 3, groupSize: 2, tokens: 3, evalSteps: (s) => s === 10 });
    writeFixtureRun(runsDir, { name: 'b', steps: 10, rolloutSteps: () => false, groups: 1, groupSize: 2, tokens: 1, learningRate: 1e-3 });
    requests = new RunRequests({
      runDir: (runId) => {
        if (!['a', 'b'].includes(runId)) throw new Error(`run ${runId} is not shown here`);
        return path.join(runsDir, runId);
      },
      isLive: () => false,
      isStopping: () => false,
      stop: () => false,
      pause: () => false,
      proceed: () => false,
      saveFile: async () => undefined,
    });
  });
  after(() => fs.rmSync(runsDir, { recursive: true, force: true }));

  it('lists the steps with training and validation rollouts and reads one of them', async () => {
    assert.deepStrictEqual(await ask<RolloutSteps>('getRolloutSteps', { runId: 'a' }), { train: [5, 10, 15, 20], eval: [10] });
    const record = await ask<StepRollouts>('getRollouts', { runId: 'a', step: 15, source: 'train' });
    assert.strictEqual(record.step, 15);
    assert.strictEqual(record.groups.length, 3);
    assert.ok(!('tokens' in record.groups[0].rollouts[0]), 'the list carries no token columns');
    assert.strictEqual((await ask<StepRollouts>('getRollouts', { runId: 'a', step: 10, source: 'eval' })).groups.length, 2);
    assert.strictEqual(await ask('getRollouts', { runId: 'a', step: 3, source: 'train' }), undefined);
  });

  it("reads one completion's tokens, and colour domains span the whole step", async () => {
    const full = rolloutStepIndex(path.join(runsDir, 'a', 'rollouts.jsonl')).read<RolloutsRecord>(15);
    assert.ok(full);
    const tokens = await ask<TokenColumns>('getTokens', { runId: 'a', step: 15, source: 'train', group: 2, rollout: 1 });
    assert.deepStrictEqual(tokens, full.groups[2].rollouts[1].tokens);
    const { domains } = await ask<StepRollouts>('getRollouts', { runId: 'a', step: 15, source: 'train' });
    const entropies = full.groups.flatMap((g) => g.rollouts.flatMap((r) => r.tokens.entropy ?? []));
    assert.deepStrictEqual(domains.entropy, { min: Math.min(...entropies), max: Math.max(...entropies) });
    assert.strictEqual(await ask('getTokens', { runId: 'a', step: 15, source: 'train', group: 9, rollout: 0 }), undefined);
  });

  it("collects one prompt's samplings across steps and evaluations, without token columns", async () => {
    const history = await ask<PromptHistory>('getPromptHistory', { runId: 'a', prompt: RECURRING_PROMPT });
    assert.deepStrictEqual(
      history.occurrences.map((o) => [o.source, o.step]),
      [['train', 5], ['train', 10], ['eval', 10], ['train', 15], ['train', 20]],
    );
    assert.strictEqual(history.occurrences[0].rollouts.length, 2);
    assert.ok(!('tokens' in history.occurrences[0].rollouts[0]));
    assert.strictEqual(history.occurrences[0].rollouts[0].length, 6);
  });

  it('compares runs: their metrics and the config fields that differ', async () => {
    const comparison = await ask<Comparison>('getComparison', { runIds: ['a', 'b'] });
    assert.deepStrictEqual(comparison.runs.map((r) => [r.runId, r.metrics.length]), [['a', 20], ['b', 10]]);
    assert.deepStrictEqual(comparison.differences.map((d) => d.path), ['name', 'optimization.learning_rate', 'optimization.max_steps']);
  });

  it('refuses runs the panel does not show', async () => {
    await assert.rejects(ask('getSnapshot', { runId: '../elsewhere' }), /not shown here/);
  });
});

describe('config diff', () => {
  it('flattens to dotted paths, compares arrays whole, and reports missing fields', () => {
    const diff = diffConfigs([{ a: { b: 1, c: [1, 2] }, d: 'x' }, { a: { b: 1, c: [1, 3] } }, undefined]);
    assert.deepStrictEqual(diff, [
      { path: 'a.b', values: ['1', '1', undefined] },
      { path: 'a.c', values: ['[1,2]', '[1,3]', undefined] },
      { path: 'd', values: ['"x"', undefined, undefined] },
    ]);
    assert.deepStrictEqual(diffConfigs([{ x: 1 }, { x: 1 }]), []);
  });
});
