/**
 * The dashboard webview in headless Chromium against generated run directories (no VS Code): curves, click to
 * step, per-token colours, hostile text, the virtualised browser and its keyboard, filters, prompt history, live
 * updates, state restore, comparison, and no CSP violations anywhere. Needs `npm run build` (dist/webview.js).
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Browser } from 'playwright-core';
import { MetricsRecord, parseJsonl, RolloutsRecord, TokenQuantity } from '../../src/protocol';
import { summarizeStep } from '../../src/host/runRequests';
import { rolloutStepIndex } from '../../src/protocol/stepIndex';
import { domainOf, tokenColor, tokenValue, TokenPalette } from '../../webview/tokenColors';
import { HOSTILE_COMPLETIONS, RECURRING_PROMPT, writeFixtureRun } from './fixtures';
import { launchBrowser, WebviewHarness } from './harness';

/** The chart colours of test/webview/theme-dark.css. */
const PALETTE: TokenPalette = { positive: [0x89, 0xd1, 0x85], negative: [0xf1, 0x4c, 0x4c], high: [0xd1, 0x86, 0x16] };
const STEPS = 120;
/** The fixture step where a reward function failed on group 1's first completion (and the loss is NaN). */
const FAILED_STEP = 64;
const RESULTS = path.resolve(__dirname, '../../test-results');

/** Saves what a test ended on, to look at (test-results/ is ignored by git). */
async function screenshot(h: WebviewHarness, name: string): Promise<void> {
  fs.mkdirSync(RESULTS, { recursive: true });
  await h.page.screenshot({ path: path.join(RESULTS, `webview-${name}.png`) });
}

describe('dashboard webview (Chromium, fixtures)', function () {
  let browser: Browser;
  let runsDir: string;
  let runId: string;
  let otherRunId: string;
  let bigRunId: string;
  let harness: WebviewHarness;

  before(async () => {
    runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-webview-'));
    runId = writeFixtureRun(runsDir, { name: 'fixture-main', steps: STEPS, rolloutSteps: (s) => s % 2 === 0, groups: 5, groupSize: 4, tokens: 12, evalSteps: (s) => s % 40 === 0, failedRewardStep: FAILED_STEP, resumedAfter: 60 });
    otherRunId = writeFixtureRun(runsDir, { name: 'fixture-other', steps: 60, rolloutSteps: () => false, groups: 1, groupSize: 2, tokens: 2, learningRate: 3e-6 });
    bigRunId = writeFixtureRun(runsDir, { name: 'fixture-big', steps: 3, rolloutSteps: () => true, groups: 2, groupSize: 2, tokens: 4, bigStep: { step: 2, groups: 125, groupSize: 8, tokens: 60 } });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    fs.rmSync(runsDir, { recursive: true, force: true });
  });

  afterEach(async function () {
    if (!harness) return;
    assert.deepStrictEqual(harness.cspViolations, [], 'CSP violations');
    assert.deepStrictEqual(harness.pageErrors, [], 'page errors');
    await harness.close();
  });

  const readMetrics = (id: string) => parseJsonl<MetricsRecord>(fs.readFileSync(path.join(runsDir, id, 'metrics.jsonl'), 'utf8'), id).records;
  const readStep = (id: string, step: number) => rolloutStepIndex(path.join(runsDir, id, 'rollouts.jsonl')).read<RolloutsRecord>(step);

  async function openRun(id = runId, tab?: 'rollouts'): Promise<WebviewHarness> {
    harness = await WebviewHarness.open(browser, runsDir, tab ? { tab } : undefined);
    await harness.push({ type: 'show', runId: id });
    await harness.page.locator('figure.chart[data-chart="reward"][data-points]').waitFor({ state: 'attached' });
    return harness;
  }

  /** Clicks a completion's card and waits for its tokens to arrive from the host. */
  async function selectCard(h: WebviewHarness, group: number, rollout: number): Promise<void> {
    await h.page.locator(`.card[data-group="${group}"][data-rollout="${rollout}"]`).click();
    await h.page.locator('.token-view .tokens[data-state="ready"]').waitFor();
  }

  async function selectedStep(h: WebviewHarness): Promise<number> {
    return Number(await h.page.locator('input.step-input').inputValue());
  }

  async function goToStep(h: WebviewHarness, step: number): Promise<void> {
    await h.page.locator('input.step-input').fill(String(step));
    await h.page.locator('input.step-input').dispatchEvent('change');
    await h.page.locator('.rollout-browser .summary', { hasText: new RegExp(`^step ${step}:`) }).waitFor();
  }

  /** Clicks the point of `step` on a chart. */
  async function clickStep(h: WebviewHarness, chart: string, step: number): Promise<void> {
    const figure = h.page.locator(`figure[data-chart="${chart}"]`);
    const plot = JSON.parse((await figure.getAttribute('data-plot')) ?? '{}') as { left: number; right: number; top: number; bottom: number; min: number; max: number };
    const x = plot.left + ((step - plot.min) / (plot.max - plot.min)) * (plot.right - plot.left);
    await figure.locator('canvas').click({ position: { x, y: (plot.top + plot.bottom) / 2 } });
  }

  it('draws every series with one point per logged step, and exports the same values as CSV', async () => {
    const h = await openRun();
    const metrics = readMetrics(runId);
    const reward = h.page.locator('figure[data-chart="reward"]');
    assert.strictEqual(Number(await reward.getAttribute('data-points')), STEPS);
    assert.strictEqual(await h.page.locator('figure[data-chart="reward-functions"]').getAttribute('data-traces'), '2');
    assert.strictEqual(await h.page.locator('figure[data-chart="clip"]').getAttribute('data-traces'), '3');
    // Validation is logged every 10th step only.
    assert.strictEqual(await h.page.locator('figure[data-chart="eval"]').getAttribute('data-points'), String(STEPS / 10));
    await reward.getByRole('button', { name: 'CSV' }).click();
    for (let i = 0; i < 20 && h.saved.length === 0; i++) await h.page.waitForTimeout(50);
    const csv = h.saved[0].data.toString('utf8').trim().split('\n');
    assert.strictEqual(h.saved[0].fileName, `${runId}-reward.csv`);
    // The band's metric beside the value: the CSV has what the chart draws.
    assert.deepStrictEqual(csv[0].split(','), ['run', 'step', 'time', 'reward', 'reward_std']);
    assert.strictEqual(csv.length, STEPS + 1);
    const row = csv[37].split(',');
    assert.strictEqual(Number(row[1]), metrics[36].step);
    assert.strictEqual(Number(row[3]), metrics[36].metrics.reward);
    assert.strictEqual(Number(row[4]), metrics[36].metrics.reward_std);
    await reward.getByRole('button', { name: 'PNG' }).click();
    for (let i = 0; i < 20 && h.saved.length < 2; i++) await h.page.waitForTimeout(50);
    assert.deepStrictEqual([...h.saved[1].data.subarray(1, 4)], [...Buffer.from('PNG')]);
    await screenshot(h, 'curves');
  });

  it('clicking a point of a curve opens the rollout browser at that step', async () => {
    const h = await openRun();
    const step = 64;
    await clickStep(h, 'kl', step);
    await h.page.locator('.rollout-browser').waitFor({ state: 'visible' });
    await h.page.locator('.card.selected').waitFor();
    assert.strictEqual(await selectedStep(h), step);
    assert.match((await h.page.locator('.rollout-browser .summary').first().textContent()) ?? '', new RegExp(`^step ${step}:`));
  });

  it('smoothing, wall-time axis and log scale keep the points and are saved in the state', async () => {
    const h = await openRun();
    await h.page.locator('input.smoothing').fill('0.9');
    await h.page.locator('.curves select').selectOption('time');
    await h.page.locator('.curves input[type="checkbox"]').check();
    await h.page.waitForTimeout(100);
    assert.strictEqual(await h.page.locator('figure[data-chart="reward"]').getAttribute('data-points'), String(STEPS));
    const plot = JSON.parse((await h.page.locator('figure[data-chart="reward"]').getAttribute('data-plot')) ?? '{}') as { min: number; max: number; yScale: string; smoothedLast: number };
    // Steps are 1.5 s apart in the fixture, from the run's start: the x axis now spans seconds, not steps.
    assert.ok(plot.min >= 0 && plot.max > STEPS, `x axis ${plot.min}..${plot.max}`);
    assert.strictEqual(plot.yScale, 'logarithmic');
    // The debiased EMA (α = 0.9) of the logged rewards, as drawn.
    const rewards = readMetrics(runId).map((m) => m.metrics.reward as number);
    let ema = 0;
    rewards.forEach((r) => (ema = 0.9 * ema + 0.1 * r));
    const expected = ema / (1 - 0.9 ** rewards.length);
    assert.ok(Math.abs(plot.smoothedLast - expected) < 1e-9, `smoothed ${plot.smoothedLast} vs ${expected}`);
    assert.deepStrictEqual(h.lastState?.curves, { smoothing: 0.9, xAxis: 'time', logScale: true });
  });

  it('colours each token by the chosen quantity exactly as its value says, with a legend', async () => {
    const h = await openRun(runId, 'rollouts');
    await selectCard(h, 1, 2);
    const record = readStep(runId, STEPS);
    assert.ok(record);
    const tokens = record.groups[1].rollouts[2].tokens;
    for (const quantity of ['advantage', 'entropy', 'ratio', 'clipped', 'logprob'] as TokenQuantity[]) {
      await h.page.locator('.token-view select').selectOption(quantity);
      const domain = domainOf(record.groups.flatMap((g) => g.rollouts.map((r) => r.tokens)), quantity);
      const shown = await h.page.locator('.token-view .token').evaluateAll((spans) => spans.map((s) => (s as HTMLElement).style.backgroundColor));
      assert.strictEqual(shown.length, tokens.text.length);
      shown.forEach((color, i) => {
        const expected = tokenColor(quantity, tokenValue(tokens, quantity, i), domain, PALETTE);
        // The browser stores alpha in 8 bits: compare the channels exactly and alpha to 1/255.
        const actual = color.match(/[\d.]+/g)?.map(Number) ?? [];
        const wanted = expected.match(/[\d.]+/g)?.map(Number) ?? [];
        assert.deepStrictEqual(actual.slice(0, 3), wanted.slice(0, 3), `${quantity} token ${i}: ${color} vs ${expected}`);
        assert.ok(Math.abs((actual[3] ?? 1) - (wanted[3] ?? 1)) <= 1 / 255 + 1e-9, `${quantity} token ${i}: ${color} vs ${expected}`);
      });
      assert.ok((await h.page.locator('.legend .swatch').count()) >= 3, `${quantity} legend`);
    }
    await h.page.locator('.token-view .token').nth(2).hover();
    const card = await h.page.locator('.token-card').innerText();
    for (const label of ['token', 'log-prob', 'old log-prob', 'ref log-prob', 'advantage', 'ratio', 'clipped', 'KL', 'entropy']) assert.match(card, new RegExp(label));
    await screenshot(h, 'tokens');
  });

  it('a token low in a short token view: its hover card opens above it, inside the view and the page', async () => {
    // A short window: the token view is its minimum height, the tokens a few lines from its bottom.
    harness = await WebviewHarness.open(browser, runsDir, { tab: 'rollouts' }, { width: 1100, height: 560 });
    const h = harness;
    await h.push({ type: 'show', runId });
    await selectCard(h, 1, 2);
    const view = h.page.locator('.token-view');
    await view.evaluate((e) => (e.scrollTop = e.scrollHeight));
    const last = h.page.locator('.token-view .token').last();
    await last.hover();
    const card = h.page.locator('.token-card');
    await card.waitFor({ state: 'visible' });
    const [token, cardBox, bounds] = await Promise.all([
      last.evaluate((e) => e.getBoundingClientRect().toJSON() as DOMRect),
      card.evaluate((e) => e.getBoundingClientRect().toJSON() as DOMRect),
      view.evaluate((e) => {
        const rect = e.getBoundingClientRect();
        return { left: rect.left + e.clientLeft, top: rect.top + e.clientTop, right: rect.left + e.clientLeft + e.clientWidth, bottom: Math.min(rect.top + e.clientTop + e.clientHeight, window.innerHeight), width: window.innerWidth };
      }),
    ]);
    // No room below the token in the view: the card has to go above it.
    assert.ok(token.bottom + cardBox.height > bounds.bottom, `the token (bottom ${token.bottom}) has room below for the card (${cardBox.height} px) in a view ending at ${bounds.bottom}`);
    assert.ok(cardBox.top >= bounds.top && cardBox.bottom <= bounds.bottom, `card ${cardBox.top}–${cardBox.bottom} outside the view's ${bounds.top}–${bounds.bottom}`);
    assert.ok(cardBox.left >= bounds.left && cardBox.right <= Math.min(bounds.right, bounds.width), `card ${cardBox.left}–${cardBox.right} outside ${bounds.left}–${bounds.right}`);
    assert.ok(cardBox.bottom <= token.top, `the card (bottom ${cardBox.bottom}) covers the token (top ${token.top})`);
    assert.match(await card.innerText(), /position\s+\d+/);
    await screenshot(h, 'token-card-above');
  });

  it('follows a theme switch: token colours take the new palette', async () => {
    const h = await openRun(runId, 'rollouts');
    await selectCard(h, 1, 0);
    const hues = async () => {
      const colors = await h.page.locator('.token-view .token').evaluateAll((spans) => spans.map((s) => (s as HTMLElement).style.backgroundColor).filter(Boolean));
      return new Set(colors.map((c) => c.replace(/, [\d.]+\)$/, '')));
    };
    const dark = new Set(['rgba(137, 209, 133', 'rgba(241, 76, 76']);
    const light = new Set(['rgba(56, 138, 52', 'rgba(229, 20, 0']);
    const before = await hues();
    assert.ok(before.size > 0 && [...before].every((c) => dark.has(c)), [...before].join(' | '));
    // What VS Code does on a theme switch: new variable values, then the body's theme class.
    await h.page.evaluate(() => {
      document.documentElement.style.setProperty('--vscode-charts-green', '#388a34');
      document.documentElement.style.setProperty('--vscode-charts-red', '#e51400');
      document.body.className = 'vscode-light';
    });
    for (let i = 0; i < 50 && [...(await hues())].some((c) => dark.has(c)); i++) await h.page.waitForTimeout(20);
    const after = await hues();
    assert.ok(after.size > 0 && [...after].every((c) => light.has(c)), [...after].join(' | '));
  });

  it('shows hostile model output as text, and whitespace and special tokens visibly', async () => {
    const h = await openRun(runId, 'rollouts');
    const texts = await h.page.locator('.card[data-group="0"] .card-text').allTextContents();
    for (const hostile of HOSTILE_COMPLETIONS) assert.ok(texts.includes(hostile), `${hostile} not shown as text`);
    assert.strictEqual(await h.page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
    assert.strictEqual(await h.page.locator('#app img, #app script').count(), 0);
    await selectCard(h, 0, 1);
    assert.deepStrictEqual(await h.page.locator('.token-view .token').allTextContents(), ['<', HOSTILE_COMPLETIONS[0].slice(1).replace(/ /g, '·')]);
    await selectCard(h, 0, 0);
    assert.deepStrictEqual(await h.page.locator('.token-view .token').allTextContents(), ['Hello', '·', 'world', '↵', '→', '<|endoftext|>']);
    assert.strictEqual(await h.page.locator('.token-view .token.special').textContent(), '<|endoftext|>');
  });

  it('opens a 1,000-rollout step with only the visible cards in the DOM; keyboard moves the selection', async () => {
    const h = await openRun(bigRunId, 'rollouts');
    await h.page.locator('input.step-input').fill('2');
    await h.page.locator('input.step-input').dispatchEvent('change');
    await h.page.locator('.rollout-browser .summary', { hasText: '1000 completions' }).waitFor();
    const cards = await h.page.locator('.card').count();
    assert.ok(cards > 0 && cards < 200, `${cards} cards in the DOM`);
    await h.page.locator('.card[data-group="0"][data-rollout="0"]').click();
    await h.page.keyboard.press('ArrowRight');
    await h.page.keyboard.press('ArrowDown');
    assert.deepStrictEqual([h.lastState?.rollouts?.group, h.lastState?.rollouts?.rollout], [1, 1]);
    await h.page.keyboard.press('End');
    await h.page.locator('.card.selected[data-group="124"]').waitFor();
    await h.page.keyboard.press('PageDown');
    await h.page.locator('.rollout-browser .summary', { hasText: /^step 3:/ }).waitFor();
  });

  it('filters by text, tied groups, truncation and reward, and sorts groups', async () => {
    const h = await openRun(runId, 'rollouts');
    const groups = () => h.page.locator('.group-row').evaluateAll((rows) => rows.map((r) => Number((r as HTMLElement).dataset.group)).sort((a, b) => a - b));
    await h.page.locator('input.search').fill('problem 120.3');
    assert.deepStrictEqual(await groups(), [3]);
    await h.page.locator('input.search').fill('');
    await h.page.locator('.filter-bar select').first().selectOption('only');
    assert.deepStrictEqual(await groups(), [4]);
    await h.page.locator('.filter-bar select').first().selectOption('hide');
    await h.page.getByLabel('truncated only').check();
    assert.strictEqual(await h.page.locator('.card').count(), 4);
    assert.deepStrictEqual(await h.page.locator('.card .card-foot').allTextContents(), Array(4).fill('12 tok · truncated'));
    await h.page.getByLabel('truncated only').uncheck();
    await h.page.getByPlaceholder('min').fill('0.75');
    const rewards = await h.page.locator('.card .reward').allTextContents();
    assert.ok(rewards.length > 0 && rewards.every((r) => Number(r.slice(2)) >= 0.75), rewards.join());
    await h.page.getByPlaceholder('min').fill('');
    await h.page.locator('.filter-bar select').nth(1).selectOption('reward-desc');
    const means = await h.page.locator('.group-stats').allTextContents();
    const values = means.map((m) => Number(/mean ([\d.]+)/.exec(m)?.[1]));
    assert.deepStrictEqual(values, [...values].sort((a, b) => b - a));
  });

  it('follows one prompt across training steps and evaluations, and opens a completion from there', async () => {
    const h = await openRun(runId, 'rollouts');
    await h.page.locator('.group-row[data-group="0"] .small-button').click();
    // The table is drawn in chunks (a prompt sampled at 1,000 steps would hold the page): wait for the last one.
    await h.page.locator(`.history-table[data-rows="${STEPS / 2 + STEPS / 40}"]`).waitFor();
    const rows = await h.page.locator('.history-table tbody tr').count();
    // Prompt 0 recurs in every training record (every 2nd step) and in each validation record (every 40th).
    assert.strictEqual(rows, STEPS / 2 + STEPS / 40);
    assert.strictEqual(await h.page.locator('.prompt-text').textContent(), RECURRING_PROMPT);
    assert.strictEqual(await h.page.locator('.history-table tr[data-source="eval"]').count(), STEPS / 40);
    await h.page.locator('.history-table tr[data-step="10"] .chip').nth(3).click();
    await h.page.locator('.card.selected[data-group="0"][data-rollout="3"]').waitFor();
    assert.strictEqual(await selectedStep(h), 10);
    await h.page.locator('button[data-tab="prompt"]').click();
    await screenshot(h, 'prompt-history');
  });

  it('live records extend the curves and the scrubber follows the newest step', async () => {
    const h = await openRun(runId, 'rollouts');
    const next = STEPS + 1;
    await h.push({ type: 'metrics', runId, record: { step: next, time: Date.UTC(2026, 0, 1) + next * 1500, metrics: { reward: 0.9, kl: 0.01 } } });
    const record = readStep(runId, STEPS);
    assert.ok(record);
    await h.push({ type: 'rollouts', runId, record: summarizeStep({ ...record, step: next }, 'train') });
    await h.page.locator('.rollout-browser .summary', { hasText: `step ${next}:` }).waitFor();
    // Charts out of view skip drawing until shown: the new point appears once the Curves tab is.
    assert.strictEqual(await h.page.locator('figure[data-chart="reward"]').getAttribute('data-points'), String(STEPS));
    await h.page.locator('button[data-tab="curves"]').click();
    await h.page.locator(`figure[data-chart="reward"][data-points="${next}"]`).waitFor({ state: 'attached' });
    assert.match((await h.page.locator('.progress').textContent()) ?? '', new RegExp(`step ${next}`));
  });

  it('out of sight, live steps wait: the rollout browser renders and reads tokens only once its tab is shown', async () => {
    const h = await openRun(runId);
    await h.page.locator('.token-view .tokens[data-state="ready"]').waitFor({ state: 'attached' });
    const tokenReads = () => h.requestLog.filter((m) => m.method === 'getTokens').length;
    const before = tokenReads();
    const record = readStep(runId, STEPS);
    assert.ok(record);
    const lastIndex = Number(await h.page.locator('input.scrubber').getAttribute('max'));
    // As the panel forwards a worker's records: the host keeps each step's tokens for the page to ask for.
    for (let i = 1; i <= 3; i++) await h.forward(runId, { type: 'rollouts', record: { ...record, step: STEPS + i } });
    // The scrubber counts the new steps at once; the list and the token view wait.
    await h.page.locator(`input.scrubber[max="${lastIndex + 3}"]`).waitFor({ state: 'attached' });
    await h.page.waitForTimeout(300);
    assert.strictEqual(tokenReads(), before, 'tokens read for steps nobody sees');
    assert.match((await h.page.locator('.rollout-browser .summary').textContent()) ?? '', new RegExp(`^step ${STEPS}:`));
    await h.page.locator('button[data-tab="rollouts"]').click();
    await h.page.locator('.rollout-browser .summary', { hasText: new RegExp(`^step ${STEPS + 3}:`) }).waitFor();
    await h.page.locator('.token-view .tokens[data-state="ready"]').waitFor();
    assert.strictEqual(tokenReads(), before + 1, 'the newest step\'s tokens, read once');
    assert.strictEqual(await selectedStep(h), STEPS + 3);
  });

  it('live records that come faster than a few a second are drawn together, every one of them', async () => {
    const h = await openRun(runId);
    await h.page.locator(`figure[data-chart="reward"][data-points="${STEPS}"]`).waitFor({ state: 'attached' });
    const records = Array.from({ length: 20 }, (_, i) => ({ type: 'metrics', runId, record: { step: STEPS + 1 + i, time: Date.UTC(2026, 0, 1) + (STEPS + 1 + i) * 1500, metrics: { reward: 0.5, kl: 0.01 } } }));
    // One record a frame, as a fast run on a fast machine sends them.
    const { draws, elapsed } = (await h.page.evaluate(`(async () => {
      const drawn = () => performance.getEntriesByName('grpo:charts-update').length;
      const first = drawn();
      const t0 = performance.now();
      for (const message of ${JSON.stringify(records)}) {
        window.postMessage(message, '*');
        await new Promise((r) => requestAnimationFrame(r));
      }
      const elapsed = performance.now() - t0;
      await new Promise((r) => { const poll = () => (document.querySelector('figure[data-chart="reward"]').dataset.points === '${STEPS + 20}' ? r() : setTimeout(poll, 10)); poll(); });
      return { draws: drawn() - first, elapsed };
    })()`)) as { draws: number; elapsed: number };
    // At least 250 ms between live draws: the first may come at once, then one per gap, and one for the rest.
    assert.ok(draws >= 1 && draws <= 2 + Math.floor(elapsed / 250), `${draws} draws for 20 records in ${elapsed.toFixed(0)} ms`);
    assert.ok(draws < 20, `${draws} draws for 20 records`);
  });

  it('a reloaded webview comes back on the same tab, step and selection', async () => {
    harness = await WebviewHarness.open(browser, runsDir, {
      runId,
      tab: 'rollouts',
      rollouts: { source: 'train', step: 30, group: 2, rollout: 1, colorBy: 'entropy', sort: 'index', filter: { search: '', minReward: undefined, maxReward: undefined, tied: 'any', truncatedOnly: false }, followLatest: false },
    });
    await harness.push({ type: 'show', runId });
    await harness.page.locator('.card.selected[data-group="2"][data-rollout="1"]').waitFor();
    assert.strictEqual(await selectedStep(harness), 30);
    assert.strictEqual(await harness.page.locator('.token-view select').inputValue(), 'entropy');
    assert.strictEqual(await harness.page.locator('button[data-tab="rollouts"]').getAttribute('aria-selected'), 'true');
  });

  it('a failed reward (null in the record) shows as "—" and the rest of the step still lists; a NaN metric is a gap', async () => {
    const h = await openRun();
    await h.page.locator('figure[data-chart="loss"][data-points]').waitFor({ state: 'attached' });
    assert.strictEqual(await h.page.locator('figure[data-chart="loss"]').getAttribute('data-points'), String(STEPS - 1));
    await h.page.locator('button[data-tab="rollouts"]').click();
    await goToStep(h, FAILED_STEP);
    assert.strictEqual(await h.page.locator('.card').count(), 5 * 4);
    assert.strictEqual(await h.page.locator('.card[data-group="1"][data-rollout="0"] .reward').textContent(), 'r —');
    assert.match((await h.page.locator('.card[data-group="1"][data-rollout="0"] .card-rewards').textContent()) ?? '', /correct —/);
    // The card says why it failed; the others have no error line.
    assert.strictEqual(await h.page.locator('.card[data-group="1"][data-rollout="0"] .card-error').textContent(), 'reward failed: reward function "correct" timed out after 10 s (rewards[].timeout_s): its thread was terminated');
    assert.strictEqual(await h.page.locator('.card .card-error').count(), 1);
    const record = readStep(runId, FAILED_STEP);
    assert.ok(record && record.groups[1].rollouts[0].reward === null, 'the fixture stores the NaN as null');
    // The group's mean is over the three scored completions (nanmean), as the trainer's baseline.
    const scored = record.groups[1].rollouts.slice(1).map((r) => r.reward as number);
    const mean = Number((await h.page.locator('.group-row[data-group="1"] .group-stats').textContent())?.match(/mean ([\d.]+)/)?.[1]);
    assert.ok(Math.abs(mean - scored.reduce((a, b) => a + b, 0) / 3) < 1e-3, `mean ${mean}`);
    await selectCard(h, 1, 0);
    assert.match(await h.page.locator('.token-view .facts').innerText(), /reward\s+—/);
    // The detail panel gives the whole reason, which the card cuts short.
    assert.match(await h.page.locator('.token-view .facts').innerText(), /reward failed\s+reward function "correct" timed out after 10 s \(rewards\[\]\.timeout_s\): its thread was terminated/);
  });

  it('the Validation chart opens validation samples (one per prompt, never "tied"); a reveal of training samples goes back', async () => {
    const h = await openRun();
    await h.page.locator('figure[data-chart="eval"][data-points]').waitFor({ state: 'attached' });
    await clickStep(h, 'eval', 40);
    await h.page.locator('.rollout-browser .summary', { hasText: /^validation after step 40:/ }).waitFor();
    assert.strictEqual(await h.page.locator('.tag.tied').count(), 0);
    await h.page.locator('.card[data-group="0"][data-rollout="0"]').click();
    await h.page.locator('.token-view h3', { hasText: /^validation after step 40 · group 1/ }).waitFor();
    // What the Runs tree sends for a completion: training samples, whatever the browser showed before.
    await h.push({ type: 'show', runId, reveal: { step: 64, source: 'train', group: 1, rollout: 1 } });
    await h.page.locator('.token-view h3', { hasText: 'step 64 · group 2 · completion 2 of 4' }).waitFor();
  });

  it('reads every per-token value by keyboard: the token strip is one tab stop, arrows move, the card shows the values', async () => {
    const h = await openRun(runId, 'rollouts');
    await selectCard(h, 1, 2);
    const tokens = readStep(runId, STEPS)?.groups[1].rollouts[2].tokens;
    assert.ok(tokens);
    await h.page.locator('.token-view .tokens').focus();
    for (const [key, index] of [['ArrowRight', 1], ['ArrowRight', 2], ['End', tokens.text.length - 1], ['ArrowLeft', tokens.text.length - 2], ['Home', 0]] as const) {
      await h.page.keyboard.press(key);
      const card = await h.page.locator('.token-card').innerText();
      const value = (name: string) => Number(new RegExp(`^${name}\\s+(\\S+)$`, 'm').exec(card)?.[1]);
      assert.strictEqual(value('position'), index, card);
      const close = (shown: number, stored: number | null | undefined, what: string) =>
        assert.ok(typeof stored === 'number' && Math.abs(shown - stored) <= 1e-3 * Math.max(1e-3, Math.abs(stored)), `${key} → token ${index} ${what}: ${shown} vs ${stored}`);
      close(value('log-prob'), tokens.logprob[index], 'log-prob');
      close(value('old log-prob'), tokens.old_logprob?.[index], 'old log-prob');
      close(value('advantage'), tokens.advantage?.[index], 'advantage');
      close(value('ratio'), tokens.ratio?.[index], 'ratio');
      close(value('KL'), tokens.kl?.[index], 'KL');
      close(value('entropy'), tokens.entropy?.[index], 'entropy');
      assert.strictEqual(await h.page.locator('.token-view .token.current').getAttribute('data-index'), String(index));
    }
  });

  it('compares runs: curves overlaid, config differences listed', async () => {
    harness = await WebviewHarness.open(browser, runsDir);
    await harness.push({ type: 'compare', runIds: [runId, otherRunId] });
    await harness.page.locator('.config-diff table').waitFor();
    assert.strictEqual(await harness.page.locator('figure[data-chart="reward"]').getAttribute('data-traces'), '2');
    const fields = await harness.page.locator('.config-diff tbody tr td:first-child').allTextContents();
    assert.deepStrictEqual(fields, ['name', 'optimization.learning_rate', 'optimization.max_steps']);
    assert.strictEqual(await harness.page.locator('button[data-tab="rollouts"]').isHidden(), true);
    await harness.page.locator('figure[data-chart="reward"][data-traces="2"]').waitFor({ state: 'attached' });
    await screenshot(harness, 'compare');
  });

  it('Compare in a narrow panel: long config values (a JSON list without spaces, a long description) wrap inside the table, shown whole', async () => {
    // Two runs whose configs differ in a rewards list (JSON text with no spaces to break at) and a long description.
    const rewards = (timeout: number) => [
      { name: 'arithmetic_answer', weight: 1, timeout_s: timeout },
      { name: 'flaky', module: '/work/a/rather/long/workspace/path/to/rewards/flaky_reward_function.js', weight: 0.5, timeout_s: timeout },
    ];
    const description = 'The built-in demo (about 2½ minutes on a 2-core CPU): a tiny character-level transformer learns two-digit addition from a sloppy teacher that forgets the carry 60 % of the time, then GRPO with a verifiable answer reward fixes it — validation accuracy on held-out sums climbs by about 40–50 points.';
    const ids = ['wide-config-a', 'wide-config-b'].map((name, i) => {
      const id = writeFixtureRun(runsDir, { name, steps: 5, rolloutSteps: () => false, groups: 1, groupSize: 2, tokens: 2 });
      const file = path.join(runsDir, id, 'config.json');
      const config = { ...(JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>), rewards: rewards(10 + i), ...(i === 1 ? { description } : {}) };
      fs.writeFileSync(file, JSON.stringify(config));
      return id;
    });
    try {
      harness = await WebviewHarness.open(browser, runsDir, undefined, { width: 640, height: 900 });
      await harness.push({ type: 'compare', runIds: ids });
      const table = harness.page.locator('.config-diff table');
      await table.waitFor();
      await table.scrollIntoViewIfNeeded();
      const fit = await table.evaluate((t) => {
        const container = t.parentElement as HTMLElement;
        const cells = [...t.querySelectorAll('td')].map((td) => ({ text: td.textContent ?? '', overflows: td.scrollWidth > td.clientWidth }));
        return { table: t.scrollWidth, container: container.clientWidth, page: document.documentElement.scrollWidth, viewport: document.documentElement.clientWidth, cells };
      });
      assert.ok(fit.table <= fit.container, `the table is ${fit.table} px wide in a ${fit.container} px panel`);
      assert.ok(fit.page <= fit.viewport, `the page scrolls sideways: ${fit.page} px in ${fit.viewport}`);
      // Every value is in its cell whole (the table's text is the JSON as the host sent it), none spills out.
      const texts = fit.cells.map((c) => c.text);
      assert.ok(texts.includes(JSON.stringify(rewards(10))) && texts.includes(JSON.stringify(rewards(11))), JSON.stringify(texts));
      assert.ok(texts.includes(JSON.stringify(description)), JSON.stringify(texts));
      assert.deepStrictEqual(fit.cells.filter((c) => c.overflows).map((c) => c.text), []);
      await harness.page.locator('.config-diff').screenshot({ path: path.join(RESULTS, 'webview-compare-config-narrow.png') });
    } finally {
      for (const id of ids) fs.rmSync(path.join(runsDir, id), { recursive: true, force: true });
    }
  });
});
