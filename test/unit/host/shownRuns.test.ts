/**
 * Which runs a dashboard panel shows and how it comes back after a window reload: the state the page keeps
 * (WebviewState.locations, as the host sent it) restores external runs — verl and TRL fixture folders outside the
 * runs directory — with the format they were opened as; a state saved before locations existed still restores
 * runs of the runs directory. And Compare over our run, a verl run and a TRL run (two of them in folders named
 * `run`): each keeps its own id, curves and config.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { RunRequests } from '../../../src/host/runRequests';
import { FINISHED_RUNS } from './finishedRunsHost';
import { restoredView, runLocations, shownRunIds } from '../../../src/host/shownRuns';
import type { Comparison, RunLocation, WebviewState } from '../../../src/protocol';
import { writeFixtureRun } from '../../webview/fixtures';

const FIXTURES = path.resolve(__dirname, '../../fixtures');
const VERL = path.join(FIXTURES, 'verl', 'run');
const TRL = path.join(FIXTURES, 'trl', 'run');

describe('dashboard panels: run ids, and the state a window reload restores', () => {
  let runsDir: string;
  let ours: string;

  before(() => {
    runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-shown-'));
    ours = path.join(runsDir, writeFixtureRun(runsDir, { name: 'ours', steps: 4, rolloutSteps: () => false, groups: 1, groupSize: 2, tokens: 1 }));
  });
  after(() => fs.rmSync(runsDir, { recursive: true, force: true }));

  it('gives runs that share a folder name distinct ids', () => {
    assert.deepStrictEqual(shownRunIds(['/a/run', '/b/run', '/c/other']), ['run', 'b/run', 'other']);
    assert.deepStrictEqual(shownRunIds(['/x/b/run', '/b/run', '/y/b/run', '/z/b/run']), ['run', 'b/run', 'run (2)', 'run (3)']);
  });

  it('an external run shown alone comes back from its saved location, as the format it was opened as', () => {
    const [location] = runLocations([VERL]);
    assert.deepStrictEqual(location, { runId: 'run', runDir: VERL, format: 'verl' });
    // What the page saves on `show` (webview/main.ts), as VS Code hands it to the serializer after a reload.
    const saved: WebviewState = JSON.parse(JSON.stringify({ runId: location.runId, locations: [location], tab: 'rollouts' }));
    const restored = restoredView(saved, runsDir);
    assert.deepStrictEqual(restored?.view, { kind: 'run', runDir: VERL });
    assert.deepStrictEqual([...(restored?.formats ?? [])], [[VERL, 'verl']]);
    // The remembered format wins over detection (a folder being rewritten may look like none for a moment).
    assert.deepStrictEqual(runLocations([VERL], restored?.formats)[0].format, 'verl');
    assert.deepStrictEqual(runLocations([VERL], new Map([[VERL, 'trl']]))[0].format, 'trl');
  });

  it('a Compare panel of ours, verl and TRL comes back with all three', () => {
    const locations = runLocations([ours, VERL, TRL]);
    assert.deepStrictEqual(locations.map((l): [string, RunLocation['format']] => [l.runId, l.format]), [['ours', 'grpo-studio'], ['run', 'verl'], ['trl/run', 'trl']]);
    const saved: WebviewState = JSON.parse(JSON.stringify({ compareRunIds: locations.map((l) => l.runId), locations }));
    const restored = restoredView(saved, runsDir);
    assert.deepStrictEqual(restored?.view, { kind: 'compare', runDirs: [ours, VERL, TRL] });
    assert.deepStrictEqual(runLocations([ours, VERL, TRL], restored?.formats), locations);
  });

  it('a state saved before locations were kept restores runs of the runs directory; no run, no view', () => {
    assert.deepStrictEqual(restoredView({ runId: 'ours' }, runsDir)?.view, { kind: 'run', runDir: ours });
    assert.deepStrictEqual(restoredView({ compareRunIds: ['ours', 'b'] }, runsDir)?.view, { kind: 'compare', runDirs: [ours, path.join(runsDir, 'b')] });
    assert.strictEqual(restoredView(undefined, runsDir), undefined);
    assert.strictEqual(restoredView({ tab: 'curves' }, runsDir), undefined);
  });

  it('Compare reads our run, a verl run and a TRL run side by side', async () => {
    const locations = runLocations([ours, VERL, TRL]);
    const byId = new Map(locations.map((l) => [l.runId, l]));
    const requests = new RunRequests({
      runDir: (runId) => {
        const location = byId.get(runId);
        if (!location) throw new Error(`run ${runId} is not shown here`);
        return location.runDir;
      },
      runFormat: (runId) => byId.get(runId)?.format,
      ...FINISHED_RUNS,
    });
    const comparison = (await requests.handle({ type: 'request', id: 1, method: 'getComparison', params: { runIds: locations.map((l) => l.runId) } })) as Comparison;
    assert.deepStrictEqual(comparison.runs.map((r) => r.runId), ['ours', 'run', 'trl/run']);
    // Each run's own curve: verl's three logged steps, TRL's four log_history entries.
    assert.deepStrictEqual(comparison.runs.map((r) => r.metrics.length), [4, 3, 4]);
    for (const run of comparison.runs) assert.ok(run.metrics.every((m) => typeof m.step === 'number'), `${run.runId}: metrics without steps`);
    assert.ok(comparison.runs.every((r) => r.metrics.some((m) => typeof m.metrics.reward === 'number')), 'every run has a reward curve');
    // Legends tell them apart, though two folders are called `run`.
    assert.strictEqual(new Set(comparison.runs.map((r) => r.label)).size, 3);
    assert.ok(comparison.differences.some((d) => d.path === 'name'));
  });
});
