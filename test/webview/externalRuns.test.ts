/**
 * The dashboard on other trainers' runs (test/fixtures, written as verl, TRL and prime-rl write them), through the
 * same RunRequests as the extension: curves under our names with the trainer's kept, rollouts, per-token view.
 * Needs `npm run build` (dist/webview.js). Screenshots go to test-results/.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import type { Browser } from 'playwright-core';
import * as os from 'os';
import { runLocations } from '../../src/host/shownRuns';
import { writeFixtureRun } from './fixtures';
import { closeChecked, launchBrowser, WebviewHarness } from './harness';

const FIXTURES = path.resolve(__dirname, '../fixtures');
const RESULTS = path.resolve(__dirname, '../../test-results');

describe('dashboard webview on verl, TRL and prime-rl runs (Chromium)', function () {
  this.timeout(60000);
  let browser: Browser;
  let harness: WebviewHarness | undefined;

  before(async () => (browser = await launchBrowser()));
  after(async () => browser?.close());
  afterEach(async () => {
    await closeChecked(harness);
    harness = undefined;
  });

  async function open(format: string, tab?: 'rollouts'): Promise<WebviewHarness> {
    harness = await WebviewHarness.open(browser, path.join(FIXTURES, format), tab ? { tab } : undefined);
    await harness.push({ type: 'show', runId: 'run' });
    await harness.page.locator('figure.chart[data-chart="reward"][data-points]').waitFor({ state: 'attached' });
    return harness;
  }

  async function screenshot(h: WebviewHarness, name: string): Promise<void> {
    fs.mkdirSync(RESULTS, { recursive: true });
    await h.page.screenshot({ path: path.join(RESULTS, `webview-${name}.png`) });
  }

  it('verl: curves under our names, the header says what was derived and renamed; the rollout browser shows the groups', async () => {
    const h = await open('verl');
    assert.strictEqual(await h.page.locator('figure[data-chart="reward"]').getAttribute('data-points'), '3');
    assert.strictEqual(await h.page.locator('figure[data-chart="clip"]').getAttribute('data-traces'), '1');
    const details = h.page.locator('header .details');
    assert.strictEqual(await details.textContent(), 'verl run · derived: advantage');
    assert.strictEqual(await h.page.locator('p.notice').isHidden(), true);
    const tooltip = (await details.getAttribute('title')) ?? '';
    assert.match(tooltip, /recomputed from each sample's score with verl's grpo estimator/);
    assert.match(tooltip, /reward ← critic\/score\/mean/);
    await screenshot(h, 'verl-curves');

    await h.page.getByRole('tab', { name: /rollouts/i }).click();
    await h.page.locator('.rollout-browser .summary').first().waitFor();
    assert.match((await h.page.locator('.rollout-browser .summary').first().textContent()) ?? '', /^step 3:/);
    assert.strictEqual(await h.page.locator('.card').count(), 8);
    await screenshot(h, 'verl-rollouts');
  });

  it('verl and TRL keep no tokens: cards say "tokens not recorded", the detail pane shows the text and offers no colouring', async () => {
    for (const format of ['verl', 'trl']) {
      const h = await open(format, 'rollouts');
      await h.page.locator('.card[data-group="0"][data-rollout="0"]').waitFor();
      const feet = await h.page.locator('.card .card-foot').allTextContents();
      assert.ok(feet.length > 0 && feet.every((f) => /^tokens not recorded · /.test(f)), `${format}: ${feet.join(' | ')}`);
      await h.page.locator('.card[data-group="0"][data-rollout="0"]').click();
      const text = h.page.locator('.token-view .tokens[data-state="text"] .completion-text');
      await text.waitFor();
      assert.ok(((await text.textContent()) ?? '').length > 0, `${format}: no completion text`);
      assert.strictEqual(await h.page.locator('.token-view .toolbar').isHidden(), true, `${format}: Colour by is offered`);
      assert.match((await h.page.locator('.token-view .text-only-note').textContent()) ?? '', /^Tokens not recorded: the trainer kept this completion as text only/);
      const facts = await h.page.locator('.token-view .facts').textContent();
      assert.match(facts ?? '', /lengthnot recorded/);
      await screenshot(h, `${format}-text-only`);
      await closeChecked(h);
      harness = undefined;
    }
  });

  it('prime-rl: the latest step has no token export; the step says so, names the step that has one and goes there', async () => {
    const h = await open('prime-rl', 'rollouts');
    await h.page.locator('.rollout-browser .summary', { hasText: /^step 2:/ }).waitFor();
    const note = h.page.locator('.rollout-browser .token-note');
    assert.strictEqual(await note.isVisible(), true);
    assert.match((await note.textContent()) ?? '', /^No token export at step 2 \(per-token data at step 1\)\. go to step 1$/);
    await screenshot(h, 'prime-rl-no-export-step');
    await note.getByRole('button', { name: 'go to step 1' }).click();
    await h.page.locator('.rollout-browser .summary', { hasText: /^step 1:/ }).waitFor();
    assert.strictEqual(await note.isHidden(), true);
    await h.page.locator('.card[data-group="0"][data-rollout="0"]').click();
    await h.page.locator('.token-view .tokens[data-state="ready"] .token').first().waitFor();
    assert.strictEqual(await h.page.locator('.token-view .toolbar').isVisible(), true);
  });

  it('TRL: the log history\'s four steps and the completions tables\' two', async () => {
    const h = await open('trl');
    assert.strictEqual(await h.page.locator('figure[data-chart="reward"]').getAttribute('data-points'), '4');
    assert.strictEqual(await h.page.locator('header .details').textContent(), 'TRL run · derived: reward');
  });

  it('prime-rl: the per-token view of a step with token exports', async () => {
    const h = await open('prime-rl', 'rollouts');
    await h.page.locator('input.step-input').fill('1');
    await h.page.locator('input.step-input').dispatchEvent('change');
    await h.page.locator('.rollout-browser .summary', { hasText: /^step 1:/ }).waitFor();
    await h.page.locator('.card[data-group="0"][data-rollout="0"]').click();
    await h.page.locator('.token-view .tokens[data-state="ready"]').waitFor();
    assert.deepStrictEqual(await h.page.locator('.token-view .token').allTextContents(), ['⟨19⟩', '⟨17⟩', '⟨151645⟩']);
    // Why ids, said once above the tabs: the fixture's folder names no model (decoding: test/unit/model/tokenizerLookup).
    const notice = h.page.locator('p.notice');
    assert.strictEqual(await notice.isVisible(), true);
    assert.match((await notice.textContent()) ?? '', /^Tokens are shown as ids: prime-rl's token exports hold ids, not text, and the run names no model \(looked for \[model\] name in /);
    await screenshot(h, 'prime-rl-tokens');
  });

  it('Compare: our run, a verl run and a TRL run overlaid, and the page keeps where each run is for a reload', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-compare-external-'));
    try {
      const ours = path.join(tmp, writeFixtureRun(tmp, { name: 'ours', steps: 4, rolloutSteps: () => false, groups: 1, groupSize: 2, tokens: 1 }));
      // The dashboard's ids (src/host/shownRuns.ts); the harness finds a run at FIXTURES/<id>, so each id is its path from there.
      const locations = runLocations([ours, path.join(FIXTURES, 'verl', 'run'), path.join(FIXTURES, 'trl', 'run')]).map((l) => ({ ...l, runId: path.relative(FIXTURES, l.runDir) }));
      harness = await WebviewHarness.open(browser, FIXTURES);
      await harness.push({ type: 'compare', runIds: locations.map((l) => l.runId), locations });
      await harness.page.locator('.config-diff table').waitFor();
      await harness.page.locator('figure[data-chart="reward"][data-traces="3"]').waitFor({ state: 'attached' });
      assert.strictEqual(await harness.page.locator('.message').isHidden(), true, (await harness.page.locator('.message').textContent()) ?? '');
      const details = (await harness.page.locator('header .details').textContent()) ?? '';
      assert.strictEqual(details.split(' · ').length, 3, details);
      assert.deepStrictEqual(harness.lastState?.locations, locations);
      assert.deepStrictEqual(harness.lastState?.compareRunIds, locations.map((l) => l.runId));
      await screenshot(harness, 'compare-external');
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('two external runs in folders of one name, opened one after the other: the second is shown', async () => {
    harness = await WebviewHarness.open(browser, FIXTURES);
    const details = harness.page.locator('header .details');
    for (const format of ['verl', 'prime-rl'] as const) {
      // The panel's id for a lone run is its folder's name, `run` for both (src/host/shownRuns.ts).
      const [location] = runLocations([path.join(FIXTURES, format, 'run')]);
      assert.strictEqual(location.runId, 'run');
      harness.runDirs.set('run', location.runDir);
      await harness.push({ type: 'show', runId: 'run', location });
      await harness.page.locator('header .details', { hasText: format === 'verl' ? /^verl run/ : /^prime-rl run/ }).waitFor();
      assert.deepStrictEqual(harness.lastState?.locations, [location]);
    }
    assert.match((await details.textContent()) ?? '', /^prime-rl run/);
    await screenshot(harness, 'same-name-second');
  });

  it('a verl run shown alone: the page keeps its folder and format for a reload', async () => {
    const location = { runId: 'verl/run', runDir: path.join(FIXTURES, 'verl', 'run'), format: 'verl' as const };
    harness = await WebviewHarness.open(browser, FIXTURES);
    await harness.push({ type: 'show', runId: location.runId, location });
    await harness.page.locator('figure.chart[data-chart="reward"][data-points]').waitFor({ state: 'attached' });
    assert.deepStrictEqual(harness.lastState?.locations, [location]);
    assert.strictEqual(harness.lastState?.runId, 'verl/run');
  });
});
