/**
 * The curves' second pass in headless Chromium: health alerts and their step links, robust y ranges with edge
 * markers, symlog, compact ticks, distinct colours, the reward band within the reward's range, the metric picker
 * with pins kept in the webview state and by the host, one crosshair across charts, CSV of every metric, and what the curves say
 * before the first step. Needs `npm run build` (dist/webview.js). Screenshots go to test-results/.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Browser } from 'playwright-core';
import { MetricsRecord, RUN_FILES } from '../../src/protocol';
import { formatCompact } from '../../webview/ranges';
import { writeFixtureRun } from './fixtures';
import { closeChecked, dashboardTeardown, launchBrowser, WebviewHarness } from './harness';

const STEPS = 80;
const RESULTS = path.resolve(__dirname, '../../test-results');

interface Plot {
  left: number;
  right: number;
  top: number;
  bottom: number;
  min: number;
  max: number;
  yScale: string;
  yMin: number;
  yMax: number;
  clipped: boolean;
  yTicks: string[];
  colors: string[];
  band?: [number, number];
  bandDrawn?: [number, number];
  legend?: string[];
  drawn: string[];
}

/**
 * Hand-made rows with what the charts and alerts must handle: a 25 s warm start at step 0 (time/sft, sft/loss),
 * one 40 s step, entropy collapsing after step 60, a KL spike at step 50, a loss of both signs, a KL of 1e-8, an
 * all-zero series, a reward whose ± std leaves [0, 1], two failed samples at step 30, validation every 10 steps.
 */
function rowAt(step: number): MetricsRecord {
  const time = Date.UTC(2026, 0, 1) + 25_000 + step * 1500;
  if (step === 0) return { step, time, metrics: { 'sft/loss': 1.25, 'sft/steps': 100, 'time/sft': 25, 'eval/accuracy': 0.1 } };
  const metrics: Record<string, number> = {
    reward: Math.min(0.95, 0.2 + step / 100),
    reward_std: 0.35,
    loss: step % 2 ? -0.02 * step : 0.03 * step,
    kl: step === 50 ? 4.2 : 1e-8 * step,
    entropy: step > 60 ? 0.05 : 2,
    grad_norm: 1 + (step % 7) / 10,
    'time/step': step === 70 ? 40 : 1 + (step % 5) / 10,
    'time/sample': 0.5,
    'time/reference': 0.1,
    'time/train': 0.3,
    'time/reward': 0.05,
    'time/io_previous_step': 0.01,
    'dynamic_sampling/dropped_groups': 0,
    'rewards/failed': step === 30 ? 2 : 0,
    'completions/repetition': 0.1,
    'memory/rss_mb': 900 + step,
    'rewards/correct/format_reward': 0.5,
  };
  if (step % 10 === 0) metrics['eval/accuracy'] = 0.1 + step / 200;
  return { step, time, metrics };
}

describe('curves: health alerts, ranges, picker, crosshair, CSV (Chromium)', function () {
  let browser: Browser;
  let runsDir: string;
  let runId: string;
  let emptyRunId: string;
  let harness: WebviewHarness | undefined;

  before(async () => {
    runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-charts-'));
    runId = writeFixtureRun(runsDir, { name: 'charts-fixture', steps: STEPS, rolloutSteps: () => true, groups: 2, groupSize: 2, tokens: 4 });
    const runDir = path.join(runsDir, runId);
    fs.writeFileSync(path.join(runDir, RUN_FILES.metrics), Array.from({ length: STEPS + 1 }, (_, step) => JSON.stringify(rowAt(step))).join('\n') + '\n');
    // Built-in 0/1 rewards: the reward's range is [0, 1].
    const config = JSON.parse(fs.readFileSync(path.join(runDir, RUN_FILES.config), 'utf8')) as { rewards: unknown[] };
    config.rewards = [{ name: 'arithmetic_answer', weight: 1 }];
    fs.writeFileSync(path.join(runDir, RUN_FILES.config), JSON.stringify(config));
    // The warm start's loss curve: 4 points over 100 SFT steps.
    const warmStart = [25, 50, 75, 100].map((step) => ({ type: 'warm_start', time: Date.UTC(2026, 0, 1) + step * 250, step, steps: 100, loss: 3 / step }));
    fs.appendFileSync(path.join(runDir, RUN_FILES.events), warmStart.map((e) => JSON.stringify(e) + '\n').join(''));
    // A run still in its warm start: started, no metrics yet.
    emptyRunId = writeFixtureRun(runsDir, { name: 'charts-empty', steps: 1, rolloutSteps: () => false, groups: 1, groupSize: 2, tokens: 2 });
    fs.writeFileSync(path.join(runsDir, emptyRunId, RUN_FILES.metrics), '');
    browser = await launchBrowser();
  });

  dashboardTeardown(() => ({ browser, runsDir, harness }), () => (harness = undefined));

  async function open(state?: Parameters<typeof WebviewHarness.open>[2], id = runId): Promise<WebviewHarness> {
    harness = await WebviewHarness.open(browser, runsDir, state);
    await harness.push({ type: 'show', runId: id });
    if (id === runId) await harness.page.locator('figure.chart[data-chart="reward"][data-points]').waitFor({ state: 'attached' });
    return harness;
  }

  async function plotOf(h: WebviewHarness, chart: string): Promise<Plot> {
    return JSON.parse((await h.page.locator(`figure[data-chart="${chart}"]`).getAttribute('data-plot')) ?? '{}') as Plot;
  }

  async function screenshot(h: WebviewHarness, name: string): Promise<void> {
    fs.mkdirSync(RESULTS, { recursive: true });
    await h.page.screenshot({ path: path.join(RESULTS, `webview-${name}.png`), fullPage: false });
  }

  it('lists health alerts above the curves; a step link opens the rollout browser at that step', async () => {
    const h = await open();
    const strip = h.page.locator('.health-strip');
    await strip.locator('.health-alert').first().waitFor();
    const rules = await strip.locator('.health-alert').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.rule));
    assert.deepStrictEqual(rules, ['entropy-collapse', 'kl-blowup', 'reward-failures']);
    assert.match((await strip.locator('[data-rule="kl-blowup"] .health-message').textContent()) ?? '', /above 1 \(up to 4\.2\) at step 50$/);
    // The entropy alert links its first steps and its last.
    assert.deepStrictEqual(await strip.locator('[data-rule="entropy-collapse"] .step-link').allTextContents(), ['61', '62', '63', '64', '65', '80']);
    await screenshot(h, 'health-strip');
    // A live step with a NaN loss raises a new alert without a reload.
    await h.push({ type: 'metrics', runId, record: { step: STEPS + 1, time: Date.UTC(2026, 0, 1) + 200_000, metrics: { ...rowAt(STEPS).metrics, loss: null } } });
    await strip.locator('[data-rule="non-finite"]', { hasText: `(loss) at step ${STEPS + 1}` }).waitFor();
    await strip.locator('[data-rule="kl-blowup"] .step-link[data-step="50"]').click();
    await h.page.locator('.rollout-browser .summary', { hasText: /^step 50:/ }).waitFor();
    assert.strictEqual(Number(await h.page.locator('input.step-input').inputValue()), 50);
  });

  it('robust y ranges: the warm start and one slow step do not set the step-time axis (marked at the edge); warm start charted apart', async () => {
    const h = await open();
    const time = await plotOf(h, 'time');
    assert.ok(time.yMax < 3, `step-time axis up to ${time.yMax}`);
    assert.strictEqual(time.clipped, true);
    // Six per-step series, six colours.
    assert.strictEqual(time.colors.length, 6);
    assert.strictEqual(new Set(time.colors).size, 6);
    assert.strictEqual(await h.page.locator('figure[data-chart="time"]').getAttribute('data-traces'), '6');
    assert.strictEqual(await h.page.locator('figure[data-chart="warm-start"]').getAttribute('data-points'), '4');
    // The all-zero series gets [0, 1], not −1…1.
    const zero = await plotOf(h, 'dynamic-sampling');
    assert.deepStrictEqual([zero.yMin, zero.yMax], [0, 1]);
    // A KL of 1e-8 · step reads as compact ticks (one spike at 4.2 is clipped, not the axis).
    const kl = await plotOf(h, 'kl');
    assert.ok(kl.clipped && kl.yMax < 1e-5, `kl axis up to ${kl.yMax}`);
    assert.ok(kl.yTicks.length > 2 && kl.yTicks.every((t) => !/\.0+e/.test(t) && t.length <= 6), `ticks ${kl.yTicks.join(' ')}`);
    // The reward's band (0.35 std around up to 0.95) stays in the reward's range [0, 1].
    const reward = await plotOf(h, 'reward');
    assert.ok(reward.band && reward.band[0] >= 0 && reward.band[1] <= 1, `band ${JSON.stringify(reward.band)}`);
    assert.ok(reward.yMin >= 0 && reward.yMax <= 1);
    await h.page.locator('figure[data-chart="time"]').scrollIntoViewIfNeeded();
    await screenshot(h, 'charts-ranges');
  });

  it('a reward band wider than the robust y range is drawn within the axis, and the legend says how far it reaches', async () => {
    const h = await open();
    const reward = await plotOf(h, 'reward');
    assert.ok(reward.band && reward.bandDrawn, 'a band');
    // The band (0.35 std) reaches 0 to 1; the axis spans the rewards (0.2 to 0.95) padded.
    assert.ok(reward.band[0] < reward.yMin || reward.band[1] > reward.yMax, `band ${JSON.stringify(reward.band)} within axis ${reward.yMin}–${reward.yMax}: the fixture no longer tests a wide band`);
    assert.ok(reward.bandDrawn[0] >= reward.yMin && reward.bandDrawn[1] <= reward.yMax, `drawn ${JSON.stringify(reward.bandDrawn)} outside ${reward.yMin}–${reward.yMax}`);
    assert.deepStrictEqual(reward.legend, [`reward ± std: ${reward.band[0]} to ${reward.band[1]} (beyond axis)`, 'reward']);
    await h.page.locator('figure[data-chart="reward"]').screenshot({ path: path.join(RESULTS, 'webview-reward-band-beyond.png') });
    // A chart whose band fits keeps no band entry in its legend.
    const loss = await plotOf(h, 'loss');
    assert.strictEqual(loss.legend, undefined);
    // A chart of discovered series names even a lone one (its title says only "per function").
    assert.deepStrictEqual((await plotOf(h, 'reward-extras')).legend, ['correct/format_reward']);
  });

  it('log y: log scale for positive series, symlog for a loss of both signs with every point kept', async () => {
    const h = await open();
    await h.page.locator('.curves label', { hasText: 'log y' }).locator('input').check();
    await h.page.waitForFunction(() => document.querySelector('figure[data-chart="loss"]')?.getAttribute('data-plot')?.includes('symlog'));
    const loss = await plotOf(h, 'loss');
    assert.strictEqual(loss.yScale, 'symlog');
    assert.ok(loss.yMin < 0 && loss.yMax > 0);
    assert.strictEqual(await h.page.locator('figure[data-chart="loss"]').getAttribute('data-points'), String(STEPS));
    assert.ok(loss.yTicks.includes('0') && loss.yTicks.some((t) => t.startsWith('-')), `ticks ${loss.yTicks.join(' ')}`);
    // Charts out of view draw when scrolled to.
    await h.page.locator('figure[data-chart="memory"]').scrollIntoViewIfNeeded();
    await h.page.waitForFunction(() => document.querySelector('figure[data-chart="memory"]')?.getAttribute('data-plot')?.includes('logarithmic'));
    await h.page.locator('figure[data-chart="loss"]').scrollIntoViewIfNeeded();
    await screenshot(h, 'charts-symlog');
  });

  it('metric picker: every logged metric listed and searchable; a pin adds a chart on top, kept in the state', async () => {
    const h = await open();
    const picker = h.page.locator('.metric-picker');
    await picker.locator('summary').click();
    const keys = await picker.locator('li').evaluateAll((items) => items.map((i) => (i as HTMLElement).dataset.metric));
    for (const key of ['grad_norm', 'sft/loss', 'memory/rss_mb', 'rewards/correct/format_reward', 'reward_std', 'time/sft']) assert.ok(keys.includes(key), `${key} listed`);
    await picker.locator('input.metric-search').fill('GRAD');
    assert.deepStrictEqual(await picker.locator('li:visible .metric-name').allTextContents(), ['grad_norm']);
    await picker.locator('li[data-metric="grad_norm"] .pin').click();
    await h.page.locator('.charts.pinned figure[data-chart="pin:grad_norm"][data-points="80"]').waitFor({ state: 'attached' });
    assert.deepStrictEqual(h.lastState?.pinnedMetrics, ['grad_norm']);
    await picker.locator('input.metric-search').fill('sft');
    await picker.locator('li[data-metric="sft/loss"] .pin').click();
    await h.page.locator('.charts.pinned figure[data-chart="pin:sft/loss"]').waitFor();
    assert.deepStrictEqual(h.lastState?.pinnedMetrics, ['grad_norm', 'sft/loss']);
    await screenshot(h, 'metric-picker');
    await picker.locator('li[data-metric="sft/loss"] .pin').click();
    assert.strictEqual(await h.page.locator('figure[data-chart="pin:sft/loss"]').count(), 0);
    assert.deepStrictEqual(h.lastState?.pinnedMetrics, ['grad_norm']);
    // A pinned chart's own Unpin button does the same.
    await picker.locator('li[data-metric="sft/loss"] .pin').click();
    await h.page.locator('figure[data-chart="pin:sft/loss"]').getByRole('button', { name: 'Unpin' }).click();
    assert.strictEqual(await h.page.locator('figure[data-chart="pin:sft/loss"]').count(), 0);
    assert.strictEqual(await picker.locator('li[data-metric="sft/loss"] .pin').getAttribute('aria-pressed'), 'false');
    assert.deepStrictEqual(h.lastState?.pinnedMetrics, ['grad_norm']);
    // A reloaded webview draws the pinned charts again.
    const state = h.lastState;
    await h.close();
    harness = undefined;
    const reloaded = await open(state);
    await reloaded.page.locator('.charts.pinned figure[data-chart="pin:grad_norm"][data-points="80"]').waitFor({ state: 'attached' });
    assert.strictEqual(await reloaded.page.locator('li[data-metric="grad_norm"] .pin').getAttribute('aria-pressed'), 'true');
  });

  it('pins are kept by the host: a dashboard closed and opened again (a new page, no saved state) charts them', async () => {
    const h = await open();
    const picker = h.page.locator('.metric-picker');
    await picker.locator('summary').click();
    await picker.locator('li[data-metric="grad_norm"] .pin').click();
    await h.page.locator('.charts.pinned figure[data-chart="pin:grad_norm"]').waitFor({ state: 'attached' });
    // The page's request to keep them is on its way: wait for it to reach the host.
    for (let i = 0; i < 50 && h.pinnedMetrics === undefined; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepStrictEqual(h.pinnedMetrics, ['grad_norm']);
    const kept = h.pinnedMetrics;
    await h.close();
    // Closed, not reloaded: the new page starts without state; the host (its workspaceState) still has the pins.
    harness = await WebviewHarness.open(browser, runsDir);
    harness.pinnedMetrics = kept;
    await harness.push({ type: 'show', runId });
    await harness.page.locator('.charts.pinned figure[data-chart="pin:grad_norm"][data-points="80"]').waitFor({ state: 'attached' });
    assert.strictEqual(await harness.page.locator('li[data-metric="grad_norm"] .pin').getAttribute('aria-pressed'), 'true');
    assert.deepStrictEqual(harness.lastState?.pinnedMetrics, ['grad_norm']);
  });

  it('Compare: every chart names every run, one without the metric as "(no kl)", and all charts share the x range', async () => {
    // A shorter run that logs no KL (beta 0): 30 steps of the same rows without `kl`.
    const noKl = writeFixtureRun(runsDir, { name: 'charts-no-kl', steps: 30, rolloutSteps: () => false, groups: 1, groupSize: 2, tokens: 2 });
    const rows = Array.from({ length: 31 }, (_, step) => {
      const row = rowAt(step);
      delete row.metrics.kl;
      return JSON.stringify(row);
    });
    fs.writeFileSync(path.join(runsDir, noKl, RUN_FILES.metrics), rows.join('\n') + '\n');
    try {
      harness = await WebviewHarness.open(browser, runsDir);
      await harness.push({ type: 'compare', runIds: [noKl, runId] });
      await harness.page.locator('figure[data-chart="kl"][data-points]').waitFor({ state: 'attached' });
      const kl = await plotOf(harness, 'kl');
      // The held-out KL (eval/kl), which neither run logs, is left out.
      assert.deepStrictEqual(kl.legend, ['charts-no-kl · training (kl_estimator) (no kl)', 'charts-fixture · training (kl_estimator)']);
      const reward = await plotOf(harness, 'reward');
      assert.deepStrictEqual(reward.legend?.filter((l) => !l.includes('± std')), ['charts-no-kl', 'charts-fixture']);
      // The KL chart spans both runs' steps (0–80), as the reward chart does, not only the run that logs KL.
      assert.deepStrictEqual([kl.min, kl.max], [0, STEPS]);
      assert.deepStrictEqual([reward.min, reward.max], [0, STEPS]);
      await harness.page.locator('figure[data-chart="kl"]').screenshot({ path: path.join(RESULTS, 'webview-compare-no-kl.png') });
    } finally {
      fs.rmSync(path.join(runsDir, noKl), { recursive: true, force: true });
    }
  });

  it('the reward band stays within the reward range of the run\'s config: a run, one with only its started record, and Compare; legends fit', async function () {
    // Three dashboards (two runs and their Compare), every chart drawn: ~35 s on a busy 2-core machine.
    this.timeout(120_000);
    // Two runs of a 0/1 reward, long names (as a user's are); the second has no config.json yet (opened right
    // after Start): its `started` record carries the config.
    const long = (n: number) => `arithmetic-demo-with-a-long-descriptive-name-${n}`;
    const ids = [1, 2].map((n) => writeFixtureRun(runsDir, { name: long(n), steps: 1, rolloutSteps: () => false, groups: 1, groupSize: 2, tokens: 2 }));
    try {
      for (const id of ids) {
        const dir = path.join(runsDir, id);
        fs.writeFileSync(path.join(dir, RUN_FILES.metrics), Array.from({ length: STEPS + 1 }, (_, step) => JSON.stringify(rowAt(step))).join('\n') + '\n');
        const config = JSON.parse(fs.readFileSync(path.join(dir, RUN_FILES.config), 'utf8')) as { rewards: unknown[] };
        config.rewards = [{ name: 'arithmetic_answer', weight: 1 }];
        fs.writeFileSync(path.join(dir, RUN_FILES.config), JSON.stringify(config));
        const events = fs.readFileSync(path.join(dir, RUN_FILES.events), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { type: string; config?: unknown });
        for (const event of events) if (event.type === 'started') event.config = config;
        fs.writeFileSync(path.join(dir, RUN_FILES.events), events.map((e) => JSON.stringify(e)).join('\n') + '\n');
      }
      const secondConfig = fs.readFileSync(path.join(runsDir, ids[1], RUN_FILES.config));
      fs.rmSync(path.join(runsDir, ids[1], RUN_FILES.config));
      const expected = `reward ± std: 0 to 1 (beyond axis)`;
      for (const id of ids) {
        const h = await WebviewHarness.open(browser, runsDir);
        await h.push({ type: 'show', runId: id });
        await h.page.locator('figure[data-chart="reward"][data-points]').waitFor({ state: 'attached' });
        const reward = await plotOf(h, 'reward');
        assert.deepStrictEqual(reward.band, [0, 1], `${id}: band ${JSON.stringify(reward.band)}`);
        assert.strictEqual(reward.legend?.[0], expected, id);
        await closeChecked(h);
      }
      // Compare (the host reads each run's config.json, written by then), in a narrow window: the same range for
      // each run, and every legend item within its chart.
      fs.writeFileSync(path.join(runsDir, ids[1], RUN_FILES.config), secondConfig);
      harness = await WebviewHarness.open(browser, runsDir, undefined, { width: 760, height: 900 });
      await harness.push({ type: 'compare', runIds: ids });
      await harness.page.locator('figure[data-chart="reward"][data-points]').waitFor({ state: 'attached' });
      const reward = await plotOf(harness, 'reward');
      assert.deepStrictEqual(reward.band, [0, 1], `compare: band ${JSON.stringify(reward.band)}`);
      assert.ok(reward.legend?.filter((l) => l.includes('± std')).every((l) => / ± std: 0 to 1 \(beyond axis\)$/.test(l)), JSON.stringify(reward.legend));
      await harness.page.locator('figure[data-chart="reward"]').screenshot({ path: path.join(RESULTS, 'webview-compare-reward-legend.png') });
      await harness.page.locator('figure[data-chart="clip"]').screenshot({ path: path.join(RESULTS, 'webview-compare-clip-legend.png') }).catch(() => undefined);
      const plots = await harness.page.locator('figure.chart:not([hidden])').evaluateAll((figures) => figures.map((f) => [(f as HTMLElement).dataset.chart, (f as HTMLElement).dataset.plot ?? '{}'] as [string, string]));
      let checked = 0;
      for (const [chart, json] of plots) {
        const plot = JSON.parse(json) as { width: number; legendBoxes?: [number, number, number][] };
        for (const [i, [left, top, width]] of (plot.legendBoxes ?? []).entries()) {
          checked++;
          assert.ok(left >= 0 && left + width <= plot.width, `${chart}: legend item ${i} spans ${left}–${left + width} of ${plot.width}`);
          for (const [left2, top2, width2] of (plot.legendBoxes ?? []).slice(i + 1)) {
            if (top2 === top) assert.ok(left2 >= left + width || left2 + width2 <= left, `${chart}: legend items overlap in a row`);
          }
        }
      }
      assert.ok(checked >= 10, `${checked} legend items checked`);
    } finally {
      for (const id of ids) fs.rmSync(path.join(runsDir, id), { recursive: true, force: true });
    }
  });

  it('a custom reward\'s band past the axis: its legend keeps both numbers whole (3 digits) in narrow charts, cutting a long run name instead; dashed swatches are dashed lines', async function () {
    this.timeout(120_000);
    // A reward module has no known range: the band is the reward ± an std of many digits, past the axis both ways.
    const std = 0.3617283;
    const long = (n: number) => `my-custom-reward-experiment-with-a-long-descriptive-name-${n}`;
    const ids = [1, 2].map((n) => {
      const id = writeFixtureRun(runsDir, { name: long(n), steps: 1, rolloutSteps: () => false, groups: 1, groupSize: 2, tokens: 2 });
      const dir = path.join(runsDir, id);
      fs.writeFileSync(path.join(dir, RUN_FILES.metrics), Array.from({ length: STEPS + 1 }, (_, step) => JSON.stringify({ ...rowAt(step), metrics: { ...rowAt(step).metrics, ...(step > 0 ? { reward_std: std } : {}) } })).join('\n') + '\n');
      const config = JSON.parse(fs.readFileSync(path.join(dir, RUN_FILES.config), 'utf8')) as { rewards: unknown[] };
      config.rewards = [{ name: 'mine', module: '/workspace/rewards/mine.js', weight: 1 }];
      fs.writeFileSync(path.join(dir, RUN_FILES.config), JSON.stringify(config));
      return id;
    });
    // The band's reach as the legend must write it, from the rows: rewards 0.21 … 0.95.
    const [min, max] = [formatCompact(0.21 - std, 3), formatCompact(0.95 + std, 3)];
    assert.deepStrictEqual([min, max], ['-0.152', '1.31']);
    const reach = ` ± std: ${min} to ${max} (beyond axis)`;
    const fits = (plot: Plot & { width: number; legendBoxes?: [number, number, number][] }, chart: string) => {
      for (const [i, [left, , width]] of (plot.legendBoxes ?? []).entries()) assert.ok(left >= 0 && left + width <= plot.width, `${chart}: legend item ${i} spans ${left}–${left + width} of ${plot.width}`);
    };
    try {
      // One run in a narrow window (one chart a row, ~300 px): "reward" and the whole reach fit.
      const h = await WebviewHarness.open(browser, runsDir, undefined, { width: 380, height: 900 });
      await h.push({ type: 'show', runId: ids[0] });
      await h.page.locator('figure[data-chart="reward"][data-points]').waitFor({ state: 'attached' });
      const single = (await plotOf(h, 'reward')) as Plot & { width: number; legendBoxes?: [number, number, number][] };
      assert.ok(single.width < 360, `chart ${single.width} px wide`);
      assert.strictEqual(single.legend?.[0], `reward${reach}`);
      fits(single, 'reward');
      await h.page.locator('figure[data-chart="reward"]').screenshot({ path: path.join(RESULTS, 'webview-band-legend-narrow.png') });
      await closeChecked(h);
      // Compare: each band's item names its run, cut in the middle where it must be, then the whole reach.
      harness = await WebviewHarness.open(browser, runsDir, undefined, { width: 760, height: 900 });
      await harness.push({ type: 'compare', runIds: ids });
      await harness.page.locator('figure[data-chart="reward"][data-points]').waitFor({ state: 'attached' });
      const reward = (await plotOf(harness, 'reward')) as Plot & { width: number; legendBoxes?: [number, number, number][] };
      const bands = reward.legend?.filter((l) => l.includes('± std')) ?? [];
      assert.strictEqual(bands.length, 2, JSON.stringify(reward.legend));
      for (const [i, band] of bands.entries()) {
        assert.ok(band.endsWith(reach), `${band} does not end with the whole reach`);
        const name = band.slice(0, -reach.length);
        assert.ok(name === long(i + 1) || (name.includes('…') && name.endsWith(`-${i + 1}`)), `run name shown as ${name}`);
      }
      assert.ok(bands.some((b) => b.includes('…')), `the names were not cut: the chart is not narrow enough to test it (${JSON.stringify(bands)})`);
      fits(reward, 'reward');
      await harness.page.locator('figure[data-chart="reward"]').screenshot({ path: path.join(RESULTS, 'webview-compare-band-legend.png') });
      // In Compare a chart's series after its first are dashed (the step-time chart has six): their swatches are
      // short dashed lines, the solid ones' filled boxes.
      const time = harness.page.locator('figure[data-chart="time"]');
      await time.scrollIntoViewIfNeeded();
      await harness.page.locator('figure[data-chart="time"][data-points]').waitFor({ state: 'attached' });
      const timePlot = (await plotOf(harness, 'time')) as Plot & { legendBoxes?: [number, number, number][] };
      // Which rows of each swatch's 12 × 12 px (the legend's boxWidth and font size) are painted, and the gaps in its
      // middle row. A string: tsx would wrap the named functions in helpers (`__name`) the page lacks.
      const swatches = (await harness.page.evaluate(`(() => {
        const canvas = document.querySelector('figure[data-chart="time"] canvas');
        const ctx = canvas.getContext('2d');
        const ratio = canvas.width / canvas.clientWidth;
        return ${JSON.stringify(timePlot.legendBoxes ?? [])}.map(([left, top]) => {
          const image = ctx.getImageData(Math.round(left * ratio), Math.round(top * ratio), Math.round(12 * ratio), Math.round(12 * ratio));
          const [r0, g0, b0] = ctx.getImageData(Math.round((left - 3) * ratio), Math.round((top + 6) * ratio), 1, 1).data;
          const painted = (x, y) => {
            const at = (y * image.width + x) * 4;
            return Math.abs(image.data[at] - r0) + Math.abs(image.data[at + 1] - g0) + Math.abs(image.data[at + 2] - b0) > 60;
          };
          const rows = Array.from({ length: image.height }, (_, y) => Array.from({ length: image.width }, (__, x) => painted(x, y)));
          const middle = rows[Math.floor(image.height / 2)];
          const gaps = middle.filter((p, x) => !p && middle.slice(0, x).some(Boolean) && middle.slice(x).some(Boolean)).length;
          return { paintedRows: rows.filter((row) => row.some(Boolean)).length, height: image.height, middleGaps: gaps };
        });
      })()`)) as { paintedRows: number; height: number; middleGaps: number }[];
      await time.screenshot({ path: path.join(RESULTS, 'webview-compare-dashed-legend.png') });
      // Legend items and drawn lines ("colour dash") in the same order: every series is logged by both runs.
      const legend = timePlot.legend ?? [];
      assert.strictEqual(legend.length, 12, JSON.stringify(legend));
      assert.strictEqual(swatches.length, legend.length);
      assert.strictEqual(timePlot.colors.length, legend.length);
      // The items drawn: a legend of many items shows the rows that fit above the plot (chart.js's legend height).
      const drawn = [...legend.entries()].filter(([i]) => (timePlot.legendBoxes?.[i][1] ?? Infinity) + 12 <= timePlot.top);
      for (const [i, text] of drawn) {
        const dashed = !timePlot.colors[i].endsWith(' ');
        const swatch = swatches[i];
        if (dashed) assert.ok(swatch.paintedRows <= swatch.height / 3 && swatch.middleGaps > 0, `${text}: a dashed line expected, got ${JSON.stringify(swatch)}`);
        else assert.ok(swatch.paintedRows >= swatch.height - 2, `${text}: a filled box expected, got ${JSON.stringify(swatch)}`);
      }
      const kinds = new Set(drawn.map(([i]) => timePlot.colors[i].endsWith(' ')));
      assert.strictEqual(kinds.size, 2, `${drawn.length} swatches checked: both solid and dashed ones`);
    } finally {
      for (const id of ids) fs.rmSync(path.join(runsDir, id), { recursive: true, force: true });
    }
  });

  it('one crosshair: pointing at a step on one chart marks the same x on the others', async () => {
    const h = await open();
    const plot = await plotOf(h, 'reward');
    const x = plot.left + ((40 - plot.min) / (plot.max - plot.min)) * (plot.right - plot.left);
    await h.page.locator('figure[data-chart="reward"] canvas').hover({ position: { x, y: (plot.top + plot.bottom) / 2 } });
    await h.page.locator('figure[data-chart="kl"][data-crosshair]').waitFor({ state: 'attached' });
    const at = Number(await h.page.locator('figure[data-chart="kl"]').getAttribute('data-crosshair'));
    assert.ok(Math.abs(at - 40) < 0.5, `crosshair at ${at}`);
    await screenshot(h, 'crosshair');
    await h.page.mouse.move(1, 1);
    await h.page.waitForFunction(() => !document.querySelector('figure[data-chart="kl"]')?.hasAttribute('data-crosshair'));
  });

  it('a live step is drawn on the charts in view; one scrolled out of view draws it once scrolled to', async () => {
    const h = await open();
    const memory = h.page.locator('figure[data-chart="memory"]');
    // The page opens at its top: the worker-memory chart, near the end of the grid, is below the fold.
    assert.ok(await memory.evaluate((f) => f.getBoundingClientRect().top > window.innerHeight), 'memory chart out of view');
    // Two frames: the charts' visibility observers have reported.
    await h.page.evaluate('new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))');
    const draws = await memory.getAttribute('data-draws');
    const next = STEPS + 1;
    await h.push({ type: 'metrics', runId, record: rowAt(next) });
    await h.page.locator(`figure[data-chart="reward"][data-points="${next}"]`).waitFor({ state: 'attached' });
    assert.strictEqual(await memory.getAttribute('data-points'), String(STEPS));
    assert.strictEqual(await memory.getAttribute('data-draws'), draws, 'the chart out of view was not drawn');
    await memory.scrollIntoViewIfNeeded();
    await h.page.locator(`figure[data-chart="memory"][data-points="${next}"]`).waitFor({ state: 'attached' });
    // Logged from step 1: one point a step, the last one the live step's.
    assert.deepStrictEqual((await plotOf(h, 'memory')).drawn, [`${next}@${next}`]);
    const data = await memory.evaluate((f) => {
      f.dispatchEvent(new Event('grpo:describe-data'));
      return JSON.parse((f as HTMLElement).dataset.drawnData ?? '[]') as [string, [number, number][]][];
    });
    assert.deepStrictEqual(data[0][1].at(-1), [next, rowAt(next).metrics['memory/rss_mb']]);
  });

  it('CSV of every metric: every logged column (reward_std included), confirmed with where it went', async () => {
    const h = await open();
    await h.page.getByRole('button', { name: 'CSV (all metrics)' }).click();
    await h.page.locator('.export-note', { hasText: 'Saved' }).waitFor();
    assert.strictEqual(await h.page.locator('.export-note').textContent(), `Saved ${runId}-metrics.csv to /saved/${runId}-metrics.csv`);
    const [header, ...rows] = h.saved[0].data.toString('utf8').trim().split('\n');
    const columns = header.split(',');
    const logged = new Set([...Array.from({ length: STEPS + 1 }, (_, s) => Object.keys(rowAt(s).metrics)).flat()]);
    assert.deepStrictEqual(new Set(columns.slice(3)), logged);
    assert.strictEqual(rows.length, STEPS + 1);
    const step12 = rows[12].split(',');
    assert.strictEqual(Number(step12[columns.indexOf('reward_std')]), 0.35);
    assert.strictEqual(Number(step12[columns.indexOf('kl')]), rowAt(12).metrics.kl);
    // The reward chart's own CSV carries its band's column.
    await h.page.locator('figure[data-chart="reward"]').getByRole('button', { name: 'CSV' }).click();
    for (let i = 0; i < 20 && h.saved.length < 2; i++) await h.page.waitForTimeout(50);
    assert.deepStrictEqual(h.saved[1].data.toString('utf8').split('\n')[0].split(','), ['run', 'step', 'time', 'reward', 'reward_std']);
  });

  it('before the first step: what the run is doing, then the SFT warm start\'s loss curve, live and from the run folder', async () => {
    const h = await open(undefined, emptyRunId);
    await h.page.locator('.curves .empty', { hasText: 'No metrics yet.' }).waitFor();
    await h.push({ type: 'event', runId: emptyRunId, event: { type: 'log', time: Date.now(), level: 'info', message: 'loading model' } });
    await h.page.locator('.curves .empty', { hasText: 'No metrics yet — loading model' }).waitFor();
    const events = [1, 2, 3].map((step) => ({ type: 'warm_start' as const, time: Date.UTC(2026, 0, 1) + step * 1000, step, steps: 100, loss: 2 / step }));
    for (const event of events) await h.push({ type: 'event', runId: emptyRunId, event });
    // The same point again (a live event that raced the snapshot) is not drawn twice.
    await h.push({ type: 'event', runId: emptyRunId, event: events[2] });
    await h.page.locator('figure[data-chart="warm-start"][data-points="3"]').waitFor();
    assert.strictEqual(await h.page.locator('.curves .empty').isHidden(), true);
    await screenshot(h, 'warm-start');
    // Reopened: the points come from events.jsonl.
    fs.appendFileSync(path.join(runsDir, emptyRunId, RUN_FILES.events), events.map((e) => JSON.stringify(e) + '\n').join(''));
    await h.close();
    harness = undefined;
    const reopened = await open(undefined, emptyRunId);
    await reopened.page.locator('figure[data-chart="warm-start"][data-points="3"]').waitFor();
  });

  it('a live run drawn record by record ends with the same charts as the run read whole (ranges, bands, legends, ticks)', async function () {
    this.timeout(300_000);
    // Past 500 steps the decimators merge their buckets: live draws go through it.
    const live = 300;
    const total = 700;
    const runOf = (name: string, rows: number) => {
      const id = writeFixtureRun(runsDir, { name, steps: 1, rolloutSteps: () => false, groups: 1, groupSize: 2, tokens: 2 });
      const dir = path.join(runsDir, id);
      fs.writeFileSync(path.join(dir, RUN_FILES.metrics), Array.from({ length: rows + 1 }, (_, step) => JSON.stringify(rowAt(step))).join('\n') + '\n');
      const config = JSON.parse(fs.readFileSync(path.join(dir, RUN_FILES.config), 'utf8')) as { rewards: unknown[] };
      config.rewards = [{ name: 'arithmetic_answer', weight: 1 }];
      fs.writeFileSync(path.join(dir, RUN_FILES.config), JSON.stringify(config));
      return id;
    };
    const liveId = runOf('charts-live', live);
    const wholeId = runOf('charts-whole', total);
    type Drawn = [string, [string, [number, number][]][]][];
    const drawnData = (h: WebviewHarness): Promise<Drawn> =>
      h.page.locator('figure.chart:not([hidden])').evaluateAll(
        (figures, event) =>
          figures.map((f) => {
            f.dispatchEvent(new Event(event));
            return [(f as HTMLElement).dataset.chart ?? '', JSON.parse((f as HTMLElement).dataset.drawnData ?? '[]') as [string, [number, number][]][]] as [string, [string, [number, number][]][]];
          }),
        // charts.ts's DESCRIBE_DATA_EVENT (that module needs a DOM to import).
        'grpo:describe-data',
      );
    const plots = (h: WebviewHarness) =>
      h.page.locator('figure.chart:not([hidden])').evaluateAll((figures) => figures.map((f) => [(f as HTMLElement).dataset.chart, (f as HTMLElement).dataset.points, (f as HTMLElement).dataset.traces, (f as HTMLElement).dataset.plot]));
    // Wall time and log y as well: points placed on a time axis and on log and symlog scales (NaN below 0).
    for (const curves of [undefined, { smoothing: 0.6, xAxis: 'step' as const, logScale: false }, { smoothing: 0, xAxis: 'time' as const, logScale: true }]) {
      const h = await WebviewHarness.open(browser, runsDir, curves && { curves });
      await h.push({ type: 'show', runId: liveId });
      await h.page.locator(`figure[data-chart="reward"][data-points="${live}"]`).waitFor({ state: 'attached' });
      const records = Array.from({ length: total - live }, (_, i) => ({ type: 'metrics', runId: liveId, record: rowAt(live + 1 + i) }));
      // Bursts of 1 to 40 records between draws, as a live run's pace and the draw gap make them. After each draw,
      // every chart that moved its points within its last layout (data-draws: layouts, moves) is laid out and drawn
      // anew by chart.js (charts.ts's LAY_OUT_EVENT): its pixels must not change.
      const { draws, moves, differ } = (await h.page.evaluate(`(async () => {
        const drawn = () => performance.getEntriesByName('grpo:charts-update').length;
        const movesOf = (f) => Number((f.dataset.draws ?? '0 0').split(' ')[1]);
        const first = drawn();
        const records = ${JSON.stringify(records)};
        let moves = 0;
        const differ = [];
        for (let i = 0, burst = 1; i < records.length; burst = (burst * 7) % 41 + 1) {
          const before = drawn();
          const figures = [...document.querySelectorAll('figure.chart')];
          const movedBefore = figures.map(movesOf);
          for (const message of records.slice(i, i + burst)) window.postMessage(message, '*');
          i += burst;
          await new Promise((resolve) => { const poll = () => (drawn() > before ? resolve() : setTimeout(poll, 5)); poll(); });
          figures.forEach((f, k) => {
            if (movesOf(f) === movedBefore[k]) return;
            moves += 1;
            const canvas = f.querySelector('canvas');
            const moved = canvas.toDataURL();
            f.dispatchEvent(new Event('grpo:lay-out'));
            if (canvas.toDataURL() !== moved) differ.push(f.dataset.chart + ' after record ' + i);
          });
        }
        return { draws: drawn() - first, moves, differ };
      })()`)) as { draws: number; moves: number; differ: string[] };
      assert.ok(draws > 10, `${draws} live draws`);
      assert.ok(moves > 20, `${moves} charts drawn by moving their points (curves ${JSON.stringify(curves ?? {})})`);
      assert.deepStrictEqual(differ, [], `charts whose points moved within their layout look as laid out anew (curves ${JSON.stringify(curves ?? {})})`);
      const whole = await WebviewHarness.open(browser, runsDir, curves && { curves });
      await whole.push({ type: 'show', runId: wholeId });
      await whole.page.locator(`figure[data-chart="reward"][data-points="${total}"]`).waitFor({ state: 'attached' });
      // A symlog chart keeps the linear threshold it took when a live value first made it mixed-sign (its points are
      // not plotted again at every step); a page read whole takes it from every value: those charts may differ.
      const [allLive, allWhole] = [await plots(h), await plots(whole)];
      const symlog = new Set([...allLive, ...allWhole].filter(([, , , plot]) => plot?.includes('"yScale":"symlog"')).map(([chart]) => chart));
      const [livePlots, wholePlots] = [allLive, allWhole].map((list) => list.filter(([chart]) => !symlog.has(chart)));
      assert.ok(livePlots.length >= (symlog.size ? 8 : 10), `${livePlots.length} charts compared`);
      assert.deepStrictEqual(livePlots, wholePlots, `curves ${JSON.stringify(curves ?? {})}`);
      // Every point handed to chart.js, not only counts: the page read whole draws twice too (its second draw
      // splices its tail), so a splice that goes wrong in both would still agree on counts and last steps.
      // Decimated points are distinct steps in order: a stale or doubled point breaks that on either page.
      const [liveData, wholeData] = [await drawnData(h), await drawnData(whole)].map((list) => list.filter(([chart]) => !symlog.has(chart)));
      for (const [chart, datasets] of [...liveData, ...wholeData]) {
        for (const [name, points] of datasets) {
          const steps = points.map(([step]) => step);
          assert.ok(
            steps.every((step, i) => i === 0 || step > steps[i - 1]),
            `${chart} ${name}: drawn steps not strictly increasing near ${steps.find((step, i) => i > 0 && step <= steps[i - 1])}`,
          );
        }
      }
      assert.deepStrictEqual(liveData, wholeData, `drawn points, curves ${JSON.stringify(curves ?? {})}`);
      await closeChecked(whole);
      await closeChecked(h);
    }
  });
});
