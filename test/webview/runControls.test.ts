/**
 * The dashboard header's run state and controls in headless Chromium: Pause / Continue / Stop go to the host as
 * requests (with ids) and are offered only in the states that allow them (RUN_ACTIONS, as the tree's menus); the
 * state pushed by the host shows as the header's tag; and right after Start, before the run folder has a config,
 * the worker's `started` record brings the run's name and its "/ max_steps". Needs `npm run build`.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Browser } from 'playwright-core';
import { validateRunConfig } from '../../src/protocol';
import { RunDirectoryWriter } from '../../src/worker/runDirectory';
import { dashboardTeardown, launchBrowser, WebviewHarness } from './harness';

const RESULTS = path.resolve(__dirname, '../../test-results');

describe('dashboard header: run state and controls (Chromium)', function () {
  let browser: Browser;
  let runsDir: string;
  let harness: WebviewHarness | undefined;
  const config = validateRunConfig({ name: 'live-demo', task: { type: 'bandit' }, optimization: { max_steps: 50 } });

  before(async () => {
    runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-controls-'));
    browser = await launchBrowser();
  });

  dashboardTeardown(() => ({ browser, runsDir, harness }), () => (harness = undefined));

  /** A run whose worker is still going: a `started` event and some steps, no end record. */
  function writeLiveRun(runId: string, steps: number): void {
    const runDir = path.join(runsDir, runId);
    const writer = new RunDirectoryWriter(runDir, config);
    writer.appendEvent({ type: 'started', time: Date.UTC(2026, 0, 1), runId, runDir, pid: 1, backend: 'wasm', device: 'fixture', fallbacks: [], config });
    for (let step = 1; step <= steps; step++) writer.appendMetrics({ step, time: Date.UTC(2026, 0, 1) + step * 1000, metrics: { reward: step / steps } });
    writer.close();
  }

  const controlButton = (h: WebviewHarness, label: string) => h.page.locator('header .toolkit-button', { hasText: label });

  /** Which of Pause / Continue / Stop are shown, and which of those are enabled: e.g. "Pause Stop | Pause Stop". */
  async function controls(h: WebviewHarness): Promise<string> {
    const shown: string[] = [];
    const enabled: string[] = [];
    for (const label of ['Pause', 'Continue', 'Stop']) {
      const button = controlButton(h, label);
      if (await button.isHidden()) continue;
      shown.push(label);
      if ((await button.getAttribute('disabled')) === null) enabled.push(label);
    }
    return `${shown.join(' ')} | ${enabled.join(' ')}`;
  }

  async function open(runId: string): Promise<WebviewHarness> {
    harness = await WebviewHarness.open(browser, runsDir, undefined, { width: 1200, height: 500 });
    await harness.push({ type: 'show', runId });
    await harness.page.locator('header .status .tag').waitFor();
    return harness;
  }

  it('Pause, Continue and Stop reach the host as requests, each offered only in the states that allow it', async () => {
    writeLiveRun('run-live', 12);
    const h = await open('run-live');
    h.markLive('run-live');
    // The snapshot was read before the host knew it live: the worker is gone as far as it knows (interrupted).
    assert.strictEqual(await h.page.locator('header .status').textContent(), 'interrupted');
    assert.strictEqual(await controls(h), 'Pause Stop | ', 'a run whose worker is gone offers nothing');

    await h.push({ type: 'status', runId: 'run-live', state: 'RUNNING', status: 'running' });
    assert.strictEqual(await controls(h), 'Pause Stop | Pause Stop');
    await controlButton(h, 'Pause').click();
    await h.page.waitForFunction(() => document.querySelector('header .status')?.textContent === 'running');
    assert.deepStrictEqual(h.controls, ['pause:run-live']);
    // The worker recorded the request and has not reached its boundary: pausing…, Continue takes it back.
    await h.push({ type: 'status', runId: 'run-live', state: 'PAUSING', status: 'pausing' });
    assert.strictEqual(await h.page.locator('header .status').textContent(), 'pausing…');
    assert.strictEqual(await controls(h), 'Continue Stop | Continue Stop');

    // The worker recorded its pause at a step boundary; the host derived PAUSED and says so.
    await h.push({ type: 'status', runId: 'run-live', state: 'PAUSED', status: 'paused' });
    assert.strictEqual(await h.page.locator('header .status').textContent(), 'paused');
    assert.strictEqual(await controls(h), 'Continue Stop | Continue Stop');
    await h.page.waitForTimeout(200);
    fs.mkdirSync(RESULTS, { recursive: true });
    await h.page.locator('header').screenshot({ path: path.join(RESULTS, 'webview-header-paused.png') });
    await controlButton(h, 'Continue').click();
    await h.page.waitForFunction(() => true);
    await h.push({ type: 'status', runId: 'run-live', state: 'RUNNING', status: 'running' });
    await controlButton(h, 'Stop').click();
    await h.push({ type: 'status', runId: 'run-live', state: 'STOPPING', status: 'stopping' });
    assert.deepStrictEqual(h.controls, ['pause:run-live', 'continue:run-live', 'stop:run-live']);
    assert.strictEqual(await controls(h), 'Pause Stop | ', 'nothing to ask of a stopping run');
    // Paused, stopping and stopped each have their own colour.
    const tagColour = () => h.page.locator('header .status .tag').evaluate((e) => getComputedStyle(e).backgroundColor);
    const stoppingColour = await tagColour();
    await h.page.locator('header').screenshot({ path: path.join(RESULTS, 'webview-header-stopping.png') });

    await h.push({ type: 'event', runId: 'run-live', event: { type: 'finished', time: Date.now(), outcome: 'stopped', steps: 12 } });
    assert.strictEqual(await h.page.locator('header .status').textContent(), 'stopped');
    assert.strictEqual(await controls(h), 'Pause Stop | ');
    const stoppedColour = await tagColour();
    await h.push({ type: 'status', runId: 'run-live', state: 'PAUSED', status: 'paused' });
    const pausedColour = await tagColour();
    assert.strictEqual(new Set([stoppingColour, stoppedColour, pausedColour]).size, 3, `${stoppingColour} ${stoppedColour} ${pausedColour}`);
  });

  it('a request for a run the host no longer reaches says so instead of failing silently', async () => {
    writeLiveRun('run-gone', 3);
    const h = await open('run-gone');
    await h.push({ type: 'status', runId: 'run-gone', state: 'RUNNING', status: 'running' });
    await controlButton(h, 'Pause').click();
    await h.page.locator('pre.message', { hasText: 'Cannot pause run run-gone' }).waitFor();
    assert.deepStrictEqual(h.controls, []);
  });

  it('right after Start (no config in the folder yet) the started record brings the name and "step N / max_steps"', async () => {
    const runId = '20260101-000000-live-demo';
    fs.mkdirSync(path.join(runsDir, runId));
    const h = await open(runId);
    assert.strictEqual(await h.page.locator('header h1').textContent(), runId);
    await h.push({ type: 'event', runId, event: { type: 'started', time: Date.now(), runId, runDir: path.join(runsDir, runId), pid: 1, backend: 'wasm', device: 'fixture', fallbacks: [], config } });
    await h.push({ type: 'metrics', runId, record: { step: 1, time: Date.now(), metrics: { reward: 0.5 } } });
    await h.page.locator('header .progress', { hasText: 'step 1 / 50' }).waitFor({ timeout: 5000 });
    assert.strictEqual(await h.page.locator('header h1').textContent(), 'live-demo');
  });

  it('during the warm start the header shows its SFT progress, not "step 0", and backend warnings stay out of the activity line', async () => {
    writeLiveRun('run-warming', 0);
    const h = await open('run-warming');
    await h.push({ type: 'event', runId: 'run-warming', event: { type: 'log', time: Date.now(), level: 'info', message: 'sft step 25/600: loss 1.2' } });
    await h.push({ type: 'event', runId: 'run-warming', event: { type: 'log', time: Date.now(), level: 'warning', message: 'backend skipped: webgpu: the optional package "webgpu" (Dawn) is not installed' } });
    await h.page.locator('.curves .empty', { hasText: 'sft step 25/600' }).waitFor();
    await h.page.waitForTimeout(200);
    const activity = await h.page.locator('.curves .empty').innerText();
    assert.ok(activity.includes('sft step 25/600') && !activity.includes('webgpu'), `the backend note is not what the run is doing: ${activity}`);
    await h.push({ type: 'event', runId: 'run-warming', event: { type: 'warm_start', time: Date.now(), step: 40, steps: 600, loss: 1.1 } });
    await h.page.locator('header .progress', { hasText: 'warm start 40 / 600' }).waitFor({ timeout: 5000 });
    // Step 0's validation record: steps from then on.
    await h.push({ type: 'metrics', runId: 'run-warming', record: { step: 0, time: Date.now(), metrics: { 'eval/accuracy': 0.5 } } });
    await h.page.locator('header .progress', { hasText: 'step 0 / 50' }).waitFor({ timeout: 5000 });
  });
});
