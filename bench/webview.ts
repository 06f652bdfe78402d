/**
 * `npm run bench:webview`: the dashboard in headless Chromium (the page and bundle VS Code loads) against a
 * generated run of 10,000 steps (17 metric series, 13 charts) and a step with 1,000 rollouts × 100 tokens.
 * Prints the first draw, the time per live update (one metrics record → every chart in view redrawn; target < 16 ms;
 * records are sent one per draw, as the view draws live records at most a few times a second),
 * and opening the 1,000-rollout step (scrubber → host reads one line via the step index and sends it without
 * per-token columns → list rendered → the selected completion's tokens fetched and drawn → next frame; < 200 ms).
 * Then the prompt × step view of one prompt sampled at every one of 1,000 steps (its own generated run, written by
 * the worker's RunDirectoryWriter: token blocks, as real runs): pick the prompt → history read → curve and the
 * rows in view drawn with their tokens → next frame (target < 500 ms).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { metricsAt, RECURRING_PROMPT, writeFixtureRun } from '../test/webview/fixtures';
import { chromiumPath, launchBrowser, MissingChromium, WebviewHarness } from '../test/webview/harness';

const STEPS = 10000;
const LIVE_UPDATES = 60;
const OPENS = 5;
const BIG_STEP = 5000;
const TIMELINE_STEPS = 1000;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

const ms = (v: number) => `${v.toFixed(1)} ms`;

async function measures(h: WebviewHarness, name: string): Promise<number[]> {
  return h.page.evaluate(`performance.getEntriesByName(${JSON.stringify(name)}).map((e) => e.duration)`);
}

/** Opens `step` from the scrubber's step box; resolves with ms until its list and tokens are shown and painted. */
async function openStep(h: WebviewHarness, step: number): Promise<number> {
  return h.page.evaluate(`new Promise((resolve) => {
    const input = document.querySelector('input.step-input');
    input.value = '${step}';
    const t0 = performance.now();
    input.dispatchEvent(new Event('change'));
    const shown = () => (document.querySelector('.rollout-browser .summary')?.textContent ?? '').startsWith('step ${step}:')
      && (document.querySelector('.token-view h3')?.textContent ?? '').startsWith('step ${step} ')
      && document.querySelector('.token-view .token') !== null;
    const poll = () => (shown() ? requestAnimationFrame(() => resolve(performance.now() - t0)) : setTimeout(poll, 1));
    poll();
  })`);
}

/** Picks `prompt` in the prompt × step view's search box; resolves with ms until its curve and visible rows are painted. */
async function openPrompt(h: WebviewHarness, prompt: string, steps: number): Promise<number> {
  return h.page.evaluate(`new Promise((resolve) => {
    const input = document.querySelector('input.prompt-search');
    input.value = ${JSON.stringify(prompt)};
    const t0 = performance.now();
    input.dispatchEvent(new Event('change'));
    const shown = () => document.querySelector('.timeline-chart')?.dataset.points === '${steps}'
      && document.querySelector('.timeline-scroller')?.dataset.state === 'ready';
    const poll = () => (shown() ? requestAnimationFrame(() => resolve(performance.now() - t0)) : setTimeout(poll, 1));
    poll();
  })`);
}

/** The prompt × step view of one prompt over TIMELINE_STEPS steps. */
async function benchTimeline(browser: Awaited<ReturnType<typeof launchBrowser>>, runsDir: string): Promise<void> {
  const started = Date.now();
  const runId = writeFixtureRun(runsDir, { name: 'bench-timeline', steps: TIMELINE_STEPS, rolloutSteps: () => true, groups: 4, groupSize: 8, tokens: 64 });
  const bytes = ['rollouts.jsonl', 'rollouts.tokens.bin'].reduce((n, f) => n + fs.statSync(path.join(runsDir, runId, f)).size, 0);
  console.log(`fixture: ${TIMELINE_STEPS} steps × 4 prompts × 8 completions × 64 tokens, the first prompt at every step (${(bytes / 1e6).toFixed(1)} MB on disk), written in ${Date.now() - started} ms`);
  const h = await WebviewHarness.open(browser, runsDir);
  await h.push({ type: 'show', runId });
  await h.page.locator('figure.chart[data-chart="reward"][data-points]').waitFor({ state: 'attached', timeout: 60000 });
  await h.page.locator('button[data-tab="prompt"]').click();
  await h.page.locator('.prompt-timeline').waitFor();
  // The search box lists the run's prompts on focus (the host's prompt index is built then: every step read once).
  const t0 = Date.now();
  await h.page.locator('input.prompt-search').focus();
  await h.page.waitForFunction(() => document.querySelectorAll('#timeline-prompts option').length > 0, undefined, { timeout: 120000 });
  console.log(`prompt list (host indexes the prompts of ${TIMELINE_STEPS} steps, first use): ${ms(Date.now() - t0)}`);
  const other = `Problem 500.1: add 1 and 500.`;
  const opens: number[] = [];
  for (let i = 0; i < OPENS; i++) {
    opens.push(await openPrompt(h, RECURRING_PROMPT, TIMELINE_STEPS));
    await openPrompt(h, other, 1);
  }
  const rows = await h.page.locator('.timeline-scroller').getAttribute('data-rows');
  console.log(`prompt × step view of one prompt over ${TIMELINE_STEPS} steps (${TIMELINE_STEPS * 8} completions; rows ${rows} drawn), pick → painted: median ${ms(percentile(opens, 0.5))}, max ${ms(Math.max(...opens))} (target < 500 ms)`);
  await h.close();
}

async function main(): Promise<void> {
  // Before minutes of fixture writing: is there a browser to measure in?
  chromiumPath();
  const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-bench-webview-'));
  const started = Date.now();
  const runId = writeFixtureRun(runsDir, {
    name: 'bench-10k',
    steps: STEPS,
    rolloutSteps: (s) => s % 1000 === 0,
    groups: 4,
    groupSize: 8,
    tokens: 40,
    bigStep: { step: BIG_STEP, groups: 125, groupSize: 8, tokens: 100 },
  });
  const bytes = fs.statSync(path.join(runsDir, runId, 'rollouts.jsonl')).size;
  console.log(`fixture: ${STEPS} steps of metrics, step ${BIG_STEP} with 1000 rollouts × 100 tokens (rollouts.jsonl ${(bytes / 1e6).toFixed(1)} MB), written in ${Date.now() - started} ms`);

  const browser = await launchBrowser();
  try {
    const h = await WebviewHarness.open(browser, runsDir);
    await h.push({ type: 'show', runId });
    await h.page.locator(`figure[data-chart="reward"][data-points="${STEPS}"]`).waitFor({ state: 'attached', timeout: 60000 });
    const [firstDraw] = await measures(h, 'grpo:charts-update');
    const series = await h.page.locator('figure.chart:not([hidden])').evaluateAll((figures) => figures.reduce((n, f) => n + Number((f as HTMLElement).dataset.traces ?? 0), 0));
    console.log(`curves: ${series} series in ${await h.page.locator('figure.chart:not([hidden])').count()} charts, ${STEPS} steps each; first draw ${ms(firstDraw)}`);

    const time0 = Date.UTC(2026, 0, 1);
    for (let i = 1; i <= LIVE_UPDATES; i++) {
      const step = STEPS + i;
      const drawn = (await measures(h, 'grpo:charts-update')).length;
      await h.push({ type: 'metrics', runId, record: metricsAt(step, STEPS, Math.random, time0 + step * 1500, 1e-5) });
      // One record a draw: the view draws live records at most a few times a second (faster ones are drawn together),
      // so each record waits for its own draw.
      await h.page.evaluate(`new Promise((resolve) => {
        const poll = () => (performance.getEntriesByName('grpo:charts-update').length > ${drawn} ? requestAnimationFrame(resolve) : setTimeout(poll, 5));
        poll();
      })`);
    }
    const updates = (await measures(h, 'grpo:charts-update')).slice(1);
    const inView = await h.page.locator('figure.chart:not([hidden])').evaluateAll((figures) => figures.filter((f) => f.getBoundingClientRect().top < window.innerHeight).length);
    console.log(`live update (1 record → the ${inView} charts in view redrawn, ${updates.length} updates): median ${ms(percentile(updates, 0.5))}, p95 ${ms(percentile(updates, 0.95))}, max ${ms(Math.max(...updates))} (target < 16 ms)`);

    await h.page.locator('button[data-tab="rollouts"]').click();
    await h.page.locator('.rollout-browser .summary', { hasText: /^step \d+:/ }).waitFor();
    // The first open parses the step's line on the host; later ones find the record among the host's recent ones.
    const cold = await openStep(h, BIG_STEP);
    const warm: number[] = [];
    for (let i = 0; i < OPENS; i++) {
      await openStep(h, 1000);
      warm.push(await openStep(h, BIG_STEP));
    }
    const renders = (await measures(h, 'grpo:render-step')).filter((_, i) => i % 2 === 0);
    const cards = await h.page.locator('.card').count();
    console.log(`open the 1,000-rollout step (${cards} cards in the DOM), click → painted: first ${ms(cold)} (host reads and parses the ${(bytes / 1e6).toFixed(0)} MB line), again median ${ms(percentile(warm, 0.5))}, max ${ms(Math.max(...warm))}; of which rendering median ${ms(percentile(renders, 0.5))} (target < 200 ms)`);
    await h.close();
    await benchTimeline(browser, runsDir);
  } finally {
    await browser.close();
    fs.rmSync(runsDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  // A missing browser is a setup step, not a bug: say what to run, without a stack trace.
  console.error(err instanceof MissingChromium ? `bench:webview: ${err.message}` : err);
  process.exit(1);
});
