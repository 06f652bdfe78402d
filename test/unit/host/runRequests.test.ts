import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { diffConfigs } from '../../../src/host/configDiff';
import { RunRequests, summarizeStep } from '../../../src/host/runRequests';
import { FINISHED_RUNS } from './finishedRunsHost';
import { rolloutStepIndex } from '../../../src/protocol/stepIndex';
import type { ComparedPrompt, ComparedPromptRun, Comparison, PromptHistory, PromptListing, PromptStepTokens, PromptTimeline, RolloutsRecord, RolloutSteps, StepRollouts, TokenColumns } from '../../../src/protocol';
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
        if (!['a', 'b', 'a-again'].includes(runId)) throw new Error(`run ${runId} is not shown here`);
        return path.join(runsDir, runId);
      },
      ...FINISHED_RUNS,
    });
  });
  after(() => fs.rmSync(runsDir, { recursive: true, force: true }));

  it('lists the steps with training and validation rollouts and reads one of them', async () => {
    assert.deepStrictEqual(await ask<RolloutSteps>('getRolloutSteps', { runId: 'a' }), { train: [5, 10, 15, 20], eval: [10] });
    const record = await ask<StepRollouts>('getRollouts', { runId: 'a', step: 15, source: 'train' });
    assert.strictEqual(record.step, 15);
    assert.strictEqual(record.groups.length, 3);
    assert.ok(!('tokens' in record.groups[0].rollouts[0]), 'the list carries no token columns');
    assert.strictEqual(record.groups[0].rollouts[0].tokensRecorded, true);
    assert.strictEqual((await ask<StepRollouts>('getRollouts', { runId: 'a', step: 10, source: 'eval' })).groups.length, 2);
    assert.strictEqual(await ask('getRollouts', { runId: 'a', step: 3, source: 'train' }), undefined);
  });

  it('pinned metrics: kept through the host\'s store, checked; none kept reads undefined', async () => {
    let kept: string[] | undefined;
    const pinned = new RunRequests({ runDir: () => runsDir, ...FINISHED_RUNS, pins: { get: () => kept, set: (pins) => void (kept = pins) } });
    const askPinned = <T>(method: string, params: object) => pinned.handle({ type: 'request', id: ++id, method, params } as Parameters<RunRequests['handle']>[0]) as Promise<T>;
    assert.strictEqual(await askPinned('getPinnedMetrics', {}), undefined);
    await askPinned('setPinnedMetrics', { pins: ['grad_norm', 'kl'] });
    assert.deepStrictEqual(await askPinned('getPinnedMetrics', {}), ['grad_norm', 'kl']);
    await assert.rejects(askPinned('setPinnedMetrics', { pins: 'kl' }), /setPinnedMetrics: pins must be a list of metric names/);
  });

  it('external runs without per-token data: rollouts say tokens were not recorded; prime-rl names its token-export steps', async () => {
    const fixtures = path.resolve(__dirname, '../../fixtures');
    const external = new RunRequests({ runDir: (runId) => path.join(fixtures, runId), ...FINISHED_RUNS });
    const askExternal = <T>(method: string, params: object) => external.handle({ type: 'request', id: ++id, method, params } as Parameters<RunRequests['handle']>[0]) as Promise<T>;
    const verl = await askExternal<StepRollouts>('getRollouts', { runId: 'verl/run', step: 3, source: 'train' });
    assert.ok(verl.groups[0].rollouts.every((r) => !r.tokensRecorded && r.length === 0));
    assert.strictEqual((await askExternal<RolloutSteps>('getRolloutSteps', { runId: 'verl/run' })).tokenSteps, undefined);
    assert.deepStrictEqual(await askExternal<RolloutSteps>('getRolloutSteps', { runId: 'prime-rl/run' }), { train: [1, 2], eval: [], tokenSteps: [1] });
    const [step1, step2] = await Promise.all([1, 2].map((step) => askExternal<StepRollouts>('getRollouts', { runId: 'prime-rl/run', step, source: 'train' })));
    assert.ok(step1.groups[0].rollouts.every((r) => r.tokensRecorded));
    assert.ok(step2.groups[0].rollouts.every((r) => !r.tokensRecorded));
  });

  it('forwards live worker messages as the panel does: records as they are, rollouts summarised and remembered, the rest as events', async () => {
    const full = rolloutStepIndex(path.join(runsDir, 'a', 'rollouts.jsonl')).read<RolloutsRecord>(15);
    assert.ok(full);
    const metrics = { step: 21, time: 1, metrics: { reward: 0.5 } };
    assert.deepStrictEqual(requests.liveMessage('a', { type: 'metrics', record: metrics }), { type: 'metrics', runId: 'a', record: metrics });
    const rollouts = requests.liveMessage('a', { type: 'rollouts', record: full });
    assert.ok(rollouts.type === 'rollouts' && rollouts.record.step === 15 && rollouts.record.source === 'train');
    assert.ok(!('tokens' in rollouts.record.groups[0].rollouts[0]), 'summarised: the tokens are asked for separately');
    const evaluation = requests.liveMessage('a', { type: 'eval_rollouts', record: full });
    assert.ok(evaluation.type === 'rollouts' && evaluation.record.source === 'eval');
    const log = { type: 'log' as const, time: 2, level: 'info' as const, message: 'hello' };
    assert.deepStrictEqual(requests.liveMessage('a', log), { type: 'event', runId: 'a', event: log });
  });

  it('summarises a step once while it is among the recent ones; a live step is answered with the summary it was sent as', async () => {
    const fresh = new RunRequests({ runDir: (runId) => path.join(runsDir, runId), ...FINISHED_RUNS });
    const askFresh = <T>(method: string, params: object) => fresh.handle({ type: 'request', id: ++id, method, params } as Parameters<RunRequests['handle']>[0]) as Promise<T>;
    const full = rolloutStepIndex(path.join(runsDir, 'a', 'rollouts.jsonl')).read<RolloutsRecord>(15);
    assert.ok(full);
    const first = await askFresh<StepRollouts>('getRollouts', { runId: 'a', step: 15, source: 'train' });
    assert.deepStrictEqual(first, summarizeStep(full, 'train'));
    assert.strictEqual(await askFresh('getRollouts', { runId: 'a', step: 15, source: 'train' }), first, 'asked again: the summary made the first time');
    // Three other steps push it out of the recent ones: read and summarised again, to the same.
    for (const step of [5, 10, 20]) await askFresh('getRollouts', { runId: 'a', step, source: 'train' });
    const again = await askFresh<StepRollouts>('getRollouts', { runId: 'a', step: 15, source: 'train' });
    assert.notStrictEqual(again, first);
    assert.deepStrictEqual(again, first);
    // A live step (not on disk yet) is answered from memory, as the page was sent it.
    const live = fresh.liveRollouts('a', { ...full, step: 25 });
    assert.strictEqual(await askFresh('getRollouts', { runId: 'a', step: 25, source: 'train' }), live);
  });

  it("reads one completion's tokens, and colour domains span the whole step", async () => {
    const full = rolloutStepIndex(path.join(runsDir, 'a', 'rollouts.jsonl')).read<RolloutsRecord>(15);
    assert.ok(full);
    const tokens = await ask<TokenColumns>('getTokens', { runId: 'a', step: 15, source: 'train', group: 2, rollout: 1 });
    assert.deepStrictEqual(tokens, full.groups[2].rollouts[1].tokens);
    const { domains } = await ask<StepRollouts>('getRollouts', { runId: 'a', step: 15, source: 'train' });
    const entropies = full.groups.flatMap((g) => g.rollouts.flatMap((r) => r.tokens.entropy ?? []));
    // No outliers among the fixture's entropies: the colour scale's bounds are the extremes.
    const [min, max] = [Math.min(...entropies), Math.max(...entropies)];
    assert.deepStrictEqual(domains.entropy, { min, max, low: min, high: max });
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

  it("reads a prompt's token columns at the requested steps only, and lists the run's prompts", async () => {
    const index = rolloutStepIndex(path.join(runsDir, 'a', 'rollouts.jsonl'));
    const replies = await ask<PromptStepTokens[]>('getPromptTokens', { runId: 'a', prompt: RECURRING_PROMPT, source: 'train', steps: [10, 20, 7] });
    // Step 7 has no rollouts: left out, not an error.
    assert.deepStrictEqual(replies.map((r) => [r.source, r.step, r.group]), [['train', 10, 0], ['train', 20, 0]]);
    assert.deepStrictEqual(replies[1].tokens, index.read<RolloutsRecord>(20)?.groups[0].rollouts.map((r) => r.tokens));
    const evals = await ask<PromptStepTokens[]>('getPromptTokens', { runId: 'a', prompt: RECURRING_PROMPT, source: 'eval', steps: [10] });
    assert.strictEqual(evals.length, 1);
    assert.strictEqual(evals[0].tokens.length, 1);
    await assert.rejects(ask('getPromptTokens', { runId: 'a', prompt: RECURRING_PROMPT, source: 'train', steps: Array.from({ length: 300 }, (_, i) => i) }), /"steps" lists 300 steps; at most 256/);
    // The history carries each sampling's colour domains (its group's tokens), for one scale across steps.
    const history = await ask<PromptHistory>('getPromptHistory', { runId: 'a', prompt: RECURRING_PROMPT });
    const entropies = replies[1].tokens.flatMap((t) => t?.entropy ?? []);
    const [lowest, highest] = [Math.min(...entropies), Math.max(...entropies)];
    assert.deepStrictEqual(history.occurrences.find((o) => o.step === 20 && o.source === 'train')?.domains?.entropy, { min: lowest, max: highest, low: lowest, high: highest });
    // The view's lean history: the same samplings, each completion's reward, advantage and length only.
    const timeline = await ask<PromptTimeline>('getPromptTimeline', { runId: 'a', prompt: RECURRING_PROMPT });
    assert.deepStrictEqual(timeline.occurrences.map((o) => [o.source, o.step, o.group]), history.occurrences.map((o) => [o.source, o.step, o.group]));
    assert.deepStrictEqual(timeline.occurrences[1].rollouts, history.occurrences[1].rollouts.map((r) => ({ reward: r.reward, advantage: r.advantage, length: r.length })));
    assert.deepStrictEqual(timeline.occurrences[1].domains, history.occurrences[1].domains);
    const prompts = await ask<PromptListing[]>('getPrompts', { runId: 'a' });
    assert.deepStrictEqual(prompts[0], { prompt: RECURRING_PROMPT, train: 4, eval: 1 });
    assert.deepStrictEqual(prompts.find((p) => p.prompt === 'Problem 15.2: add 2 and 15.'), { prompt: 'Problem 15.2: add 2 and 15.', train: 1, eval: 0 });
  });

  it('compares runs: their metrics and the config fields that differ', async () => {
    const comparison = await ask<Comparison>('getComparison', { runIds: ['a', 'b'] });
    assert.deepStrictEqual(comparison.runs.map((r) => [r.runId, r.metrics.length]), [['a', 20], ['b', 10]]);
    assert.deepStrictEqual(comparison.differences.map((d) => d.path), ['name', 'optimization.learning_rate', 'optimization.max_steps']);
    assert.deepStrictEqual(comparison.runs.map((r) => r.label), ['a', 'b']);
  });

  it('labels two compared runs of one config apart by their start times', async () => {
    // A second run of config "a", started an hour later (its started event says when).
    const again = path.join(runsDir, 'a-again');
    fs.cpSync(path.join(runsDir, 'a'), again, { recursive: true });
    const events = path.join(again, 'events.jsonl');
    const start = Date.UTC(2026, 0, 1);
    fs.writeFileSync(events, fs.readFileSync(events, 'utf8').replace(`"time":${start}`, `"time":${start + 3_600_000}`));
    const comparison = await ask<Comparison>('getComparison', { runIds: ['a', 'a-again'] });
    assert.deepStrictEqual(comparison.runs.map((r) => r.name), ['a', 'a']);
    const [first, second] = comparison.runs.map((r) => r.label);
    assert.match(first, /^a · [A-Z][a-z]{2} \d+ (\d{4} )?\d\d:\d\d$/);
    assert.match(second, /^a · [A-Z][a-z]{2} \d+ (\d{4} )?\d\d:\d\d$/);
    assert.notStrictEqual(first, second);
  });

  it('refuses runs the panel does not show', async () => {
    await assert.rejects(ask('getSnapshot', { runId: '../elsewhere' }), /not shown here/);
    // The cross-run diff reads only runs the host listed (this host lists none).
    await assert.rejects(ask('getPeerTokens', { peerId: path.join(runsDir, 'b'), prompt: RECURRING_PROMPT, source: 'train', step: 5 }), /is not a run this window lists/);
    assert.deepStrictEqual(await ask('getPromptPeers', { runId: 'a', prompt: RECURRING_PROMPT }), []);
  });

  it("Compare's prompt diff: the prompts two compared runs share, their samplings, and their tokens once offered", async () => {
    // Run b logged no rollouts: nothing to diff.
    assert.deepStrictEqual(await ask('getComparedPrompts', { runIds: ['a', 'b'] }), []);
    // a-again (the copy of a, above) sampled every prompt a did: 4 training steps and 1 validation each.
    const prompts = await ask<ComparedPrompt[]>('getComparedPrompts', { runIds: ['a', 'a-again'] });
    assert.deepStrictEqual(prompts[0], { prompt: RECURRING_PROMPT, runIds: ['a', 'a-again'], samplings: 10 });
    assert.ok(prompts.every((p) => p.runIds.length === 2));
    const again = path.join(runsDir, 'a-again');
    const read = { peerId: again, prompt: RECURRING_PROMPT, source: 'train', step: 10 };
    await assert.rejects(ask('getPeerTokens', read), /is not a run this window lists/);
    const runs = await ask<ComparedPromptRun[]>('getComparedPromptRuns', { runIds: ['a', 'a-again'], prompt: RECURRING_PROMPT });
    assert.deepStrictEqual(runs.map((r) => [r.runId, r.peerId, r.occurrences.length]), [['a', path.join(runsDir, 'a'), 5], ['a-again', again, 5]]);
    const tokens = await ask<PromptStepTokens>('getPeerTokens', read);
    const record = rolloutStepIndex(path.join(again, 'rollouts.jsonl')).read<RolloutsRecord>(10);
    assert.deepStrictEqual(tokens.tokens, record?.groups.find((g) => g.prompt === RECURRING_PROMPT)?.rollouts.map((r) => r.tokens));
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
