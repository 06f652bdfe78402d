/**
 * The prompt × step view in headless Chromium against a generated run: opening it from a rollout group, the token
 * colours drawn on the canvas (pixels checked against tokenColors' scale over the prompt's steps), the colouring
 * switch, virtualisation (rows outside the viewport neither drawn nor fetched), validation prompts, the hover
 * card's values, the searchable prompt list, and the token diff of two completions. Needs `npm run build`.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Browser } from 'playwright-core';
import { RolloutRecord, RolloutsRecord, RUN_FILES, TokenColumns, TokenQuantity, validateRunConfig } from '../../src/protocol';
import { RunDirectoryWriter } from '../../src/worker/runDirectory';
import { rolloutStepIndex } from '../../src/protocol/stepIndex';
import { layoutRows, TIMELINE_GEOMETRY } from '../../webview/timelineLayout';
import { diffCounts, diffTokens } from '../../webview/tokenDiff';
import { domainOf, tokenColor, tokenValue, TokenPalette } from '../../webview/tokenColors';
import { RECURRING_PROMPT, writeFixtureRun } from './fixtures';
import { dashboardTeardown, launchBrowser, WebviewHarness } from './harness';

/** The chart colours and editor background of test/webview/theme-dark.css. */
const PALETTE: TokenPalette = { positive: [0x89, 0xd1, 0x85], negative: [0xf1, 0x4c, 0x4c], high: [0xd1, 0x86, 0x16] };
const BACKGROUND = [0x1f, 0x1f, 0x1f];
const STEPS = 120;
const GROUP_SIZE = 4;
const RESULTS = path.resolve(__dirname, '../../test-results');
const { rowHeight, stepGap, cellWidth, gutter } = TIMELINE_GEOMETRY;

describe('prompt × step view (Chromium, fixtures)', function () {
  let browser: Browser;
  let runsDir: string;
  let runId: string;
  let harness: WebviewHarness | undefined;

  before(async () => {
    runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-timeline-'));
    runId = writeFixtureRun(runsDir, { name: 'timeline', steps: STEPS, rolloutSteps: (s) => s % 2 === 0, groups: 3, groupSize: GROUP_SIZE, tokens: 30, evalSteps: (s) => s % 20 === 0 });
    browser = await launchBrowser();
  });

  dashboardTeardown(() => ({ browser, runsDir, harness }), () => (harness = undefined));

  const trainSteps = Array.from({ length: STEPS / 2 }, (_, i) => 2 * (i + 1));
  /** The recurring prompt's completions at `step` (group 0 of every record), read from disk as the host does. */
  function completionsAt(step: number, file = 'rollouts.jsonl'): TokenColumns[] {
    const record = rolloutStepIndex(path.join(runsDir, runId, file)).read<RolloutsRecord>(step);
    assert.ok(record, `step ${step} in ${file}`);
    const group = record.groups.find((g) => g.prompt === RECURRING_PROMPT);
    assert.ok(group);
    return group.rollouts.map((r) => r.tokens);
  }

  /** A second run of the folder: it sampled the recurring prompt at its steps 3 and 6 (3 completions each). */
  function writeOtherRun(): string {
    return writeFixtureRun(runsDir, { name: 'other', steps: 6, rolloutSteps: (s) => s % 3 === 0, groups: 2, groupSize: 3, tokens: 30 });
  }

  /** The recurring prompt's completions of the other run at `step`, read from disk. */
  function otherCompletionsAt(otherId: string, step: number): TokenColumns[] {
    const record = rolloutStepIndex(path.join(runsDir, otherId, 'rollouts.jsonl')).read<RolloutsRecord>(step);
    const group = record?.groups.find((g) => g.prompt === RECURRING_PROMPT);
    assert.ok(group, `the other run's step ${step}`);
    return group.rollouts.map((r) => r.tokens);
  }

  /** The diff table shows exactly the kept, removed and added tokens of `a` → `b`. */
  async function assertDiffRows(h: WebviewHarness, a: readonly string[], b: readonly string[]): Promise<void> {
    const counts = diffCounts(diffTokens(a, b));
    for (const kind of ['same', 'removed', 'added'] as const) {
      assert.strictEqual(await h.page.locator(`.diff-table tr[data-kind="${kind}"]`).count(), counts[kind], kind);
    }
  }

  async function openTimeline(viewport?: { width: number; height: number }): Promise<WebviewHarness> {
    const h = await WebviewHarness.open(browser, runsDir, { tab: 'rollouts' }, viewport);
    harness = h;
    await h.push({ type: 'show', runId });
    await h.page.locator('.group-row[data-group="0"] .small-button').click();
    await h.page.locator('.timeline-scroller[data-state="ready"]').waitFor();
    return h;
  }

  /** The canvas pixel near the top-left corner of a token's cell (away from its text), as [r, g, b]. */
  async function cellPixel(h: WebviewHarness, row: number, column: number, rowTops: number[]): Promise<number[]> {
    const scroll = await h.page.locator('.timeline-scroller').evaluate((e) => ({ top: e.scrollTop, left: e.scrollLeft }));
    const x = gutter + column * cellWidth - scroll.left + 1;
    const y = rowTops[row] - scroll.top + 2;
    return h.page.locator('.timeline-canvas').evaluate((canvas, [px, py]) => {
      const ratio = window.devicePixelRatio || 1;
      const data = (canvas as HTMLCanvasElement).getContext('2d')?.getImageData(Math.round(px * ratio), Math.round(py * ratio), 1, 1).data;
      return data ? [data[0], data[1], data[2]] : [];
    }, [x, y]);
  }

  /** What `rgba(r, g, b, a)` over the editor background gives. */
  function blended(color: string): number[] {
    if (color === '') return BACKGROUND;
    const [r, g, b, a] = /rgba\(([^)]+)\)/.exec(color)![1].split(',').map(Number);
    return [r, g, b].map((c, i) => Math.round(BACKGROUND[i] * (1 - a) + c * a));
  }

  function assertPixel(actual: number[], expected: number[], what: string): void {
    assert.ok(actual.every((v, i) => Math.abs(v - expected[i]) <= 2), `${what}: pixel ${actual.join()} vs expected ${expected.join()}`);
  }

  const trainLayout = () => layoutRows(trainSteps.map((step, i) => ({ source: 'train' as const, step, group: i, rollouts: Array.from({ length: GROUP_SIZE }, () => ({ length: 30 }) as never) })), { rowHeight, stepGap });

  it('opens from a rollout group: one row per completion by step, the mean reward and reward std curves, tokens coloured by advantage', async () => {
    const h = await openTimeline();
    assert.strictEqual(await h.page.locator('.prompt-search').inputValue(), RECURRING_PROMPT);
    assert.strictEqual(await h.page.locator('.timeline-chart').getAttribute('data-points'), String(trainSteps.length));
    // No mean advantage (0 by construction in GRPO): the reward std within each group instead.
    assert.strictEqual(await h.page.locator('.timeline-chart').getAttribute('data-series'), 'mean reward|reward std (within group)');
    assert.match((await h.page.locator('.prompt-timeline .summary').first().textContent()) ?? '', new RegExp(`^${trainSteps.length} training steps, ${trainSteps.length * GROUP_SIZE} completions`));
    // The advantage scale spans every step of this prompt, so a colour means the same value in every row.
    const all = trainSteps.flatMap((s) => completionsAt(s));
    const domain = domainOf(all, 'advantage');
    const tops = trainLayout().rows.map((r) => r.top);
    for (const [row, column] of [[0, 0], [3, 5], [7, 3], [11, 11], [15, 18]]) {
      const tokens = completionsAt(trainSteps[Math.floor(row / GROUP_SIZE)])[row % GROUP_SIZE];
      const expected = blended(tokenColor('advantage', tokenValue(tokens, 'advantage', column), domain, PALETTE));
      assertPixel(await cellPixel(h, row, column, tops), expected, `row ${row} token ${column}`);
    }
    // The legend in the run's own supervision mode (outcome: the fixture's default), as the rollout browser words it.
    assert.match((await h.page.locator('.prompt-timeline .legend-title').textContent()) ?? '', /outcome supervision\), shared by all its tokens$/);
    fs.mkdirSync(RESULTS, { recursive: true });
    await h.page.locator('.prompt-timeline').screenshot({ path: path.join(RESULTS, 'webview-prompt-timeline.png') });
  });

  it('in a 400 px panel the toolbar wraps inside it: nothing sticks out, the page does not scroll sideways', async () => {
    const h = await openTimeline({ width: 400, height: 800 });
    // Both toolbars: the view's (prompt, samples, colouring, legend) and "Diff with another run…".
    const fit = await h.page.locator('.prompt-timeline .toolbar').evaluateAll((toolbars) => ({
      overflow: toolbars.map((t) => t.scrollWidth - t.clientWidth),
      page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
      outside: toolbars.flatMap((t) => {
        const right = t.getBoundingClientRect().right;
        return [...t.querySelectorAll('*')].filter((e) => e.getBoundingClientRect().width > 0 && e.getBoundingClientRect().right > right + 0.5).map((e) => `${e.tagName}.${e.className}`);
      }),
    }));
    assert.deepStrictEqual(fit, { overflow: [0, 0], page: 0, outside: [] });
    fs.mkdirSync(RESULTS, { recursive: true });
    await h.page.screenshot({ path: path.join(RESULTS, 'webview-prompt-timeline-400px.png') });
    await h.page.locator('.history-table tbody tr').first().scrollIntoViewIfNeeded();
    await h.page.screenshot({ path: path.join(RESULTS, 'webview-prompt-history-400px.png') });
  });

  it('switching the colouring quantity redraws the cells on that quantity\'s scale', async () => {
    const h = await openTimeline();
    const tops = trainLayout().rows.map((r) => r.top);
    const all = trainSteps.flatMap((s) => completionsAt(s));
    for (const quantity of ['entropy', 'ratio'] as TokenQuantity[]) {
      await h.page.locator('.prompt-timeline select').nth(1).selectOption(quantity);
      await h.page.waitForFunction(() => new Promise((r) => requestAnimationFrame(() => r(true))));
      const tokens = completionsAt(2)[3];
      const expected = blended(tokenColor(quantity, tokenValue(tokens, quantity, 4), domainOf(all, quantity), PALETTE));
      assertPixel(await cellPixel(h, 3, 4, tops), expected, `${quantity} of row 3 token 4`);
    }
    assert.strictEqual(h.lastState?.timeline?.colorBy, 'ratio');
  });

  it('draws and fetches only the rows in view, and the rest as they scroll in', async () => {
    const h = await openTimeline();
    const scroller = h.page.locator('.timeline-scroller');
    const total = trainSteps.length * GROUP_SIZE;
    const [first, end] = ((await scroller.getAttribute('data-rows')) ?? '').split('-').map(Number);
    const height = await scroller.evaluate((e) => e.clientHeight);
    assert.strictEqual(first, 0);
    assert.ok(end - first <= Math.ceil(height / rowHeight) + 1 && end < total, `rows ${first}-${end} of ${total} drawn in ${height}px`);
    const fetched = () => h.requestLog.flatMap((m) => (m.method === 'getPromptTokens' ? m.params.steps : []));
    // The steps in view and a margin: not the prompt's 60 steps.
    assert.ok(fetched().length < trainSteps.length / 2, `fetched steps ${fetched().join()}`);
    assert.ok(!fetched().includes(STEPS), 'the last step is not read before it scrolls into view');
    await scroller.evaluate((e) => e.scrollTo(0, e.scrollHeight));
    await h.page.locator('.timeline-scroller[data-state="ready"]').waitFor();
    await h.page.waitForFunction(() => document.querySelector('.timeline-scroller')?.getAttribute('data-rows')?.endsWith(`-${240}`));
    assert.ok(fetched().includes(STEPS));
    const [lastFirst] = ((await scroller.getAttribute('data-rows')) ?? '').split('-').map(Number);
    assert.ok(lastFirst > end, `after scrolling, rows from ${lastFirst}`);
    // Scrolling sideways draws the later token columns only.
    const left = await scroller.evaluate((e) => {
      e.scrollTo(e.scrollWidth, 0);
      return e.scrollLeft;
    });
    assert.ok(left > cellWidth, `scrolled ${left}px sideways`);
    await h.page.locator(`.timeline-scroller[data-columns="${Math.floor(left / cellWidth)}-30"]`).waitFor();
  });

  it('hovering a token shows its step, position and every per-token value', async () => {
    const h = await openTimeline();
    const tops = trainLayout().rows.map((r) => r.top);
    const box = await h.page.locator('.timeline-scroller').boundingBox();
    assert.ok(box);
    const row = 7;
    const column = 9;
    await h.page.mouse.move(box.x + gutter + column * cellWidth + cellWidth / 2, box.y + tops[row] + rowHeight / 2);
    const card = h.page.locator('.timeline-card');
    await card.waitFor({ state: 'visible' });
    const tokens = completionsAt(trainSteps[1])[3];
    const text = await card.innerText();
    assert.match(text, new RegExp(`step\\s+${trainSteps[1]}`));
    assert.match(text, new RegExp(`position\\s+${column}`));
    // Row 7 is the 4th completion of the second step: numbered 4, as its card in the rollout browser.
    assert.match(text, /completion\s+#4/);
    assert.ok(text.includes(JSON.stringify(tokens.text[column])), text);
    assert.match(text, new RegExp(`advantage\\s+${String(tokens.advantage?.[column]).replace(/[.-]/g, '\\$&').slice(0, 6)}`));
    assert.match(text, /entropy/);
    const domain = domainOf(trainSteps.flatMap((s) => completionsAt(s)), 'advantage');
    assert.strictEqual(await card.getAttribute('data-color'), tokenColor('advantage', tokenValue(tokens, 'advantage', column), domain, PALETTE));
  });

  it('hovering a token at the bottom-right of the window: the card opens above the pointer and ends within the window', async () => {
    // A small window: the grid (60 % of its height) runs past its bottom edge, its second token column near the right.
    harness = await WebviewHarness.open(browser, runsDir, { tab: 'rollouts' }, { width: 400, height: 560 });
    const h = harness;
    await h.push({ type: 'show', runId });
    await h.page.locator('.group-row[data-group="0"] .small-button').click();
    await h.page.locator('.timeline-scroller[data-state="ready"]').waitFor();
    const { width, height, scroller } = await h.page.evaluate(() => ({
      width: document.documentElement.clientWidth,
      height: document.documentElement.clientHeight,
      scroller: document.querySelector('.timeline-scroller')!.getBoundingClientRect().toJSON() as DOMRect,
    }));
    assert.ok(scroller.bottom > height, `the grid ends at ${scroller.bottom}, within the window (${height} px)`);
    // Every completion has a second token: a cell of that column near the bottom-right corner.
    const x = scroller.left + gutter + 1.5 * cellWidth;
    assert.ok(x > width - 120, `the pointer at ${x} is far from the window's right edge (${width})`);
    const card = h.page.locator('.timeline-card');
    for (let y = height - 4; y > height - 100 && !(await card.isVisible()); y -= 5) await h.page.mouse.move(x, y);
    await card.waitFor({ state: 'visible' });
    const box = await card.evaluate((e) => e.getBoundingClientRect().toJSON() as DOMRect);
    assert.ok(box.top >= 0 && box.bottom <= height, `card ${box.top}–${box.bottom} outside the window's 0–${height}`);
    assert.ok(box.left >= 0 && box.right <= width, `card ${box.left}–${box.right} outside the window's 0–${width}`);
    assert.match(await card.innerText(), /position\s+1\b/);
    await h.page.screenshot({ path: path.join(RESULTS, 'webview-timeline-card-corner.png') });
  });

  it('shows the validation samples of the prompt at each evaluation', async () => {
    const h = await openTimeline();
    await h.page.locator('.prompt-timeline select').first().selectOption('eval');
    const evalSteps = Array.from({ length: STEPS / 20 }, (_, i) => 20 * (i + 1));
    await h.page.locator('.timeline-chart[data-points="6"]').waitFor();
    await h.page.locator('.timeline-scroller[data-state="ready"]').waitFor();
    assert.match((await h.page.locator('.prompt-timeline .summary').first().textContent()) ?? '', /^6 evaluations, 6 completions/);
    // Validation samples are not trained on (the trainer stores advantage 0): no advantage to colour by, and the
    // chart draws the mean reward only (one completion per evaluation: no spread within it).
    const offered = await h.page.locator('.prompt-timeline select').nth(1).locator('option').evaluateAll((o) => o.map((e) => (e as HTMLOptionElement).value));
    assert.ok(!offered.includes('advantage') && offered.includes('logprob'), offered.join());
    assert.strictEqual(await h.page.locator('.timeline-chart').getAttribute('data-series'), 'mean reward');
    const fetched = h.requestLog.flatMap((m) => (m.method === 'getPromptTokens' && m.params.source === 'eval' ? m.params.steps : []));
    assert.deepStrictEqual(fetched, evalSteps);
    // Validation rows: one completion per evaluation; the third is step 60's.
    const tops = layoutRows(evalSteps.map((step) => ({ source: 'eval' as const, step, group: 0, rollouts: [{ length: 30 } as never] })), { rowHeight, stepGap }).rows.map((r) => r.top);
    const box = await h.page.locator('.timeline-scroller').boundingBox();
    assert.ok(box);
    await h.page.mouse.move(box.x + gutter + cellWidth / 2, box.y + tops[2] + rowHeight / 2);
    const card = h.page.locator('.timeline-card');
    await card.waitFor({ state: 'visible' });
    assert.match(await card.innerText(), /step\s+60/);
    const tokens = completionsAt(60, 'eval_rollouts.jsonl')[0];
    assert.ok((await card.innerText()).includes(JSON.stringify(tokens.text[0])));
    await h.page.locator('.prompt-timeline').screenshot({ path: path.join(RESULTS, 'webview-prompt-timeline-validation.png') });
  });

  it('the prompt list finds a prompt by its text and opens it', async () => {
    const h = await openTimeline();
    const search = h.page.locator('.prompt-search');
    await search.focus();
    await h.page.waitForFunction(() => document.querySelectorAll('#timeline-prompts option').length > 0);
    const other = 'Problem 40.1: add 1 and 40.';
    assert.ok(await h.page.locator(`#timeline-prompts option[value="${other}"]`).count());
    await search.fill(other);
    await search.dispatchEvent('change');
    await h.page.locator('.timeline-chart[data-points="1"]').waitFor();
    assert.strictEqual(await h.page.locator('.prompt-text').textContent(), other);
    await search.fill('no such prompt');
    await search.dispatchEvent('change');
    assert.match((await h.page.locator('.prompt-timeline .summary').first().textContent()) ?? '', /No prompt of this run is exactly "no such prompt"/);
  });

  it('clicking two completions shows their token diff with both values side by side', async () => {
    const h = await openTimeline();
    const tops = trainLayout().rows.map((r) => r.top);
    const box = await h.page.locator('.timeline-scroller').boundingBox();
    assert.ok(box);
    const click = (row: number) => h.page.mouse.click(box.x + gutter + 10, box.y + tops[row] + rowHeight / 2);
    await click(3);
    await h.page.locator('.token-diff', { hasText: 'click another to diff them' }).waitFor();
    await click(7);
    await h.page.locator('.token-diff[data-state="ready"]').waitFor();
    const a = completionsAt(2)[3];
    const b = completionsAt(4)[3];
    const counts = diffCounts(diffTokens(a.text, b.text));
    for (const kind of ['same', 'removed', 'added'] as const) {
      assert.strictEqual(await h.page.locator(`.diff-table tr[data-kind="${kind}"]`).count(), counts[kind], kind);
    }
    assert.ok(counts.same > 0 && counts.added + counts.removed > 0, 'the fixture pair has both kept and changed tokens');
    // The first unchanged token: its advantage in A and in B, in the table's columns.
    const ops = diffTokens(a.text, b.text);
    const firstSame = ops.findIndex((o) => o.kind === 'same');
    const op = ops[firstSame] as { a: number; b: number };
    const cells = await h.page.locator('.diff-table tbody tr').nth(firstSame).locator('td').allTextContents();
    assert.deepStrictEqual(cells.slice(1, 4), [String(op.a), String(op.b), JSON.stringify(a.text[op.a])]);
    assert.strictEqual(Number(cells[4]).toFixed(3), (a.advantage?.[op.a] ?? NaN).toFixed(3));
    assert.strictEqual(Number(cells[5]).toFixed(3), (b.advantage?.[op.b] ?? NaN).toFixed(3));
    await h.page.locator('.token-diff').screenshot({ path: path.join(RESULTS, 'webview-token-diff.png') });
  });

  it('diffs a completion against the same prompt in another run: ours, and a verl run outside the runs folder (its words)', async () => {
    const otherId = writeOtherRun();
    // A verl run (as verl's rollout dump writes it) that sampled the same prompt at its step 2, and one that did not.
    const verlDir = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-verl-peer-'));
    fs.mkdirSync(path.join(verlDir, 'rollout_data'));
    const verlLines = [' four, since 2 + 2 = 4', ' 5'].map((output, i) => JSON.stringify({ input: RECURRING_PROMPT, output, gts: '4', score: i === 0 ? 1 : 0, step: 2 }));
    fs.writeFileSync(path.join(verlDir, 'rollout_data', '2.jsonl'), verlLines.join('\n') + '\n');
    try {
      const h = await openTimeline();
      h.extraPeerRunDirs.push(verlDir, path.join(path.resolve(__dirname, '../fixtures'), 'trl', 'run'));
      const tops = trainLayout().rows.map((r) => r.top);
      const box = await h.page.locator('.timeline-scroller').boundingBox();
      assert.ok(box);
      await h.page.mouse.click(box.x + gutter + 10, box.y + tops[3] + rowHeight / 2);
      await h.page.locator('.peer-diff .small-button').click();
      await h.page.locator('.peer-diff[data-state="ready"]').waitFor();
      // The runs that sampled this very prompt: the other run of the folder and the verl run; not the TRL fixture, nor this run.
      const runs = await h.page.locator('.peer-run option').allTextContents();
      assert.deepStrictEqual(runs.map((r) => r.replace(/ \(\d+ samplings?\)$/, '')), ['other', `${path.basename(verlDir)} · verl`]);
      assert.deepStrictEqual(runs.map((r) => /\((\d+) sampling/.exec(r)?.[1]), ['2', '1']);
      // Step 3 of the other run (its first sampling), completion #2 (numbered from 1, as the cards).
      await h.page.locator('.peer-step').selectOption({ label: 'step 3' });
      await h.page.locator('.peer-rollout').selectOption('1');
      await h.page.locator('.token-diff[data-state="ready"]', { hasText: 'other, step 3 #2' }).waitFor();
      const a = completionsAt(2)[3];
      await assertDiffRows(h, a.text, otherCompletionsAt(otherId, 3)[1].text);
      assert.match((await h.page.locator('.token-diff .summary').textContent()) ?? '', /^A: this run, step 2 #4 .* → B: other, step 3 #2 /);
      await h.page.locator('.token-diff').screenshot({ path: path.join(RESULTS, 'webview-token-diff-runs.png') });

      // The verl run: no tokens recorded, so its completion's words stand in.
      await h.page.locator('.peer-run').selectOption({ index: 1 });
      await h.page.locator('.token-diff[data-state="ready"]', { hasText: 'its words' }).waitFor();
      const verlWords = [' four,', ' since', ' 2', ' +', ' 2', ' =', ' 4'];
      const verlCounts = diffCounts(diffTokens(a.text, verlWords));
      assert.strictEqual(await h.page.locator('.diff-table tr[data-kind="added"]').count(), verlCounts.added);
      assert.strictEqual(await h.page.locator('.diff-table tr[data-kind="removed"]').count(), verlCounts.removed);
    } finally {
      fs.rmSync(path.join(runsDir, otherId), { recursive: true, force: true });
      fs.rmSync(verlDir, { recursive: true, force: true });
    }
  });

  it('Compare: picks a prompt both compared runs sampled and diffs its completions between them at chosen steps', async () => {
    const otherId = writeOtherRun();
    try {
      const h = await WebviewHarness.open(browser, runsDir, undefined, { width: 1500, height: 1000 });
      harness = h;
      await h.push({ type: 'compare', runIds: [runId, otherId] });
      await h.page.locator('.config-diff table').waitFor();
      assert.ok(!h.requestLog.some((r) => r.method === 'getComparedPrompts'), 'no prompt is read before the user asks');
      await h.page.locator('.compare-diff > .small-button').click();
      await h.page.locator('.compare-diff[data-state="ready"]').waitFor();
      // Shared by both runs: the recurring prompt (60 + 6 validation samplings here, 2 there) and step 6's second problem.
      const prompts = await h.page.locator('.compare-prompt option').allTextContents();
      assert.deepStrictEqual(prompts, [`${RECURRING_PROMPT} — 2 runs, 68 samplings`, 'Problem 6.1: add 1 and 6. — 2 runs, 2 samplings']);
      // Side A starts on the first compared run, side B on the second, under the comparison's labels.
      await h.page.locator('.compare-side-b[data-state="ready"]').waitFor();
      assert.deepStrictEqual(await h.page.locator('.compare-side-a .peer-run option').allTextContents(), ['timeline (66 samplings)', 'other (2 samplings)']);
      assert.strictEqual(await h.page.locator('.compare-side-b .peer-run').inputValue(), '1');
      // Step 4 of this run, completion #3, against step 6 of the other, completion #1.
      await h.page.locator('.compare-side-a .peer-step').selectOption({ label: 'step 4' });
      await h.page.locator('.compare-side-a .peer-rollout').selectOption('2');
      await h.page.locator('.compare-side-b .peer-step').selectOption({ label: 'step 6' });
      await h.page.locator('.compare-side-b .peer-rollout').selectOption('0');
      const diff = h.page.locator('.compare-diff .token-diff[data-state="ready"]');
      await diff.filter({ hasText: /A: timeline, step 4 #3 .* → B: other, step 6 #1 / }).waitFor();
      await assertDiffRows(h, completionsAt(4)[2].text, otherCompletionsAt(otherId, 6)[0].text);
      // The tokens came through getPeerTokens for the compared runs' folders (the host offered them).
      const peers = h.requestLog.filter((r) => r.method === 'getPeerTokens').map((r) => (r.params as { peerId: string; step: number }));
      assert.ok(peers.some((p) => p.peerId === path.join(runsDir, runId) && p.step === 4), JSON.stringify(peers));
      assert.ok(peers.some((p) => p.peerId === path.join(runsDir, otherId) && p.step === 6), JSON.stringify(peers));
      fs.mkdirSync(RESULTS, { recursive: true });
      await h.page.locator('.compare-diff').screenshot({ path: path.join(RESULTS, 'webview-compare-diff.png') });
      await h.page.screenshot({ path: path.join(RESULTS, 'webview-compare-diff-panel.png'), fullPage: true });

      // The filter narrows the list; the prompt picked changes, and both sides start over on it.
      await h.page.locator('.compare-prompt-filter').fill('problem');
      assert.deepStrictEqual(await h.page.locator('.compare-prompt option').allTextContents(), ['Problem 6.1: add 1 and 6. — 2 runs, 2 samplings']);
      await diff.filter({ hasText: /A: timeline, step 6 #1 .* → B: other, step 6 #1 / }).waitFor();
    } finally {
      fs.rmSync(path.join(runsDir, otherId), { recursive: true, force: true });
    }
  });
});

/**
 * An on-policy run without a reference model (μ = 1, β = 0, as the arithmetic demo): π_θ / π_old is 1 up to float32
 * rounding at every token, no KL or ref log-prob is recorded, and the entropy is one value everywhere; a validation
 * prompt that training never sampled.
 */
describe('prompt × step view: only what the run recorded and what means something (Chromium)', function () {
  const PROMPT = '29+17=';
  const VALIDATION_PROMPT = '3+4=';
  /** What an on-policy run stores for π_θ / π_old: 1 up to float32 rounding. */
  const NOISY_ONES = [0.99999994, 1, 1.0000001, 1];
  let browser: Browser;
  let runsDir: string;
  let harness: WebviewHarness | undefined;

  function completion(reward: number, advantage: number, text: string[]): RolloutRecord {
    const ratio = text.map((_, i) => NOISY_ONES[i % NOISY_ONES.length]);
    const logprob = text.map((_, i) => -0.5 * (i + 1) * (1 + reward));
    return {
      completion: text.join(''),
      reward,
      rewards: { correct: reward },
      advantage,
      finish_reason: 'stop',
      tokens: {
        text,
        logprob,
        old_logprob: logprob.map((l, i) => l - Math.log(ratio[i])),
        advantage: text.map(() => advantage),
        ratio,
        clipped_low: text.map(() => false),
        clipped_high: text.map(() => false),
        entropy: text.map(() => 2.5),
      },
    };
  }

  before(async () => {
    runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-onpolicy-'));
    const config = validateRunConfig({ name: 'onpolicy', task: { type: 'bandit' }, optimization: { optimizer: 'adam', learning_rate: 1e-3, max_steps: 4 } });
    assert.strictEqual(config.algorithm.num_iterations, 1);
    assert.strictEqual(config.algorithm.beta, 0);
    const dir = path.join(runsDir, 'onpolicy');
    const writer = new RunDirectoryWriter(dir, config);
    const start = Date.UTC(2026, 0, 1);
    writer.appendEvent({ type: 'started', time: start, runId: 'onpolicy', runDir: dir, pid: 0, backend: 'cpu', device: 'fixture', fallbacks: [], config });
    const evalLines: string[] = [];
    for (let step = 1; step <= 4; step++) {
      writer.appendMetrics({ step, time: start + step * 1000, metrics: { reward: 0.5 } });
      // Two right of four at every step: advantages ±0.866 (unbiased std), reward std √(1/3).
      const a = Math.sqrt(3) / 2;
      writer.appendRollouts({ step, groups: [{ prompt: PROMPT, ground_truth: '46', rollouts: [completion(1, a, ['4', '6', '\n', '<eos>']), completion(0, -a, ['4', '7', '\n', '<eos>']), completion(1, a, ['4', '6', '\n', '<eos>']), completion(0, -a, ['3', '6', '\n', '<eos>'])] }] });
      if (step % 2 === 0) evalLines.push(JSON.stringify({ step, groups: [{ prompt: VALIDATION_PROMPT, ground_truth: '7', rollouts: [completion(step / 4, 0, ['7', '\n', '<eos>'])] }] }));
    }
    writer.appendEvent({ type: 'finished', time: start + 5000, outcome: 'completed', steps: 4 });
    writer.close();
    fs.writeFileSync(path.join(dir, RUN_FILES.evalRollouts), evalLines.join('\n') + '\n');
    browser = await launchBrowser();
  });

  dashboardTeardown(() => ({ browser, runsDir, harness }), () => (harness = undefined));

  /** The dashboard on the run's prompt × step view, coloured by `colorBy` as a reloaded webview had it. */
  async function open(colorBy: TokenQuantity): Promise<WebviewHarness> {
    const h = await WebviewHarness.open(browser, runsDir, { tab: 'rollouts', timeline: { source: 'train', colorBy } });
    harness = h;
    await h.push({ type: 'show', runId: 'onpolicy' });
    await h.page.locator('.group-row[data-group="0"] .small-button').click();
    await h.page.locator('.timeline-scroller[data-state="ready"]').waitFor();
    return h;
  }

  const offered = (h: WebviewHarness) => h.page.locator('.prompt-timeline select').nth(1).locator('option').evaluateAll((o) => o.map((e) => (e as HTMLOptionElement).value));

  async function pixelAt(h: WebviewHarness, x: number, y: number): Promise<number[]> {
    await h.page.waitForFunction(() => new Promise((r) => requestAnimationFrame(() => r(true))));
    return h.page.locator('.timeline-canvas').evaluate((canvas, [px, py]) => {
      const ratio = window.devicePixelRatio || 1;
      const data = (canvas as HTMLCanvasElement).getContext('2d')?.getImageData(Math.round(px * ratio), Math.round(py * ratio), 1, 1).data;
      return data ? [data[0], data[1], data[2]] : [];
    }, [x, y]);
  }

  it('offers the quantities the rollout browser offers: no ratio or clipping (μ = 1), no KL or ref log-prob (β = 0)', async () => {
    // A webview saved with "ratio": the run does not offer it, so the view colours by the first one it does.
    const h = await open('ratio');
    assert.deepStrictEqual(await offered(h), ['advantage', 'logprob', 'old_logprob', 'entropy']);
    assert.strictEqual(await h.page.locator('.prompt-timeline select').nth(1).inputValue(), 'advantage');
    assert.match((await h.page.locator('.prompt-timeline .legend-title').textContent()) ?? '', /outcome supervision/);
    // The rollout browser's token view offers the same for one of the completions.
    await h.page.getByRole('tab', { name: /^rollouts/i }).click();
    await h.page.locator('.card').first().click();
    await h.page.locator('.token-view .tokens[data-state="ready"]').waitFor();
    const browserOffers = await h.page.locator('.token-view select').evaluate((e) => [...(e as HTMLSelectElement).options].map((o) => o.value));
    assert.deepStrictEqual(browserOffers, ['advantage', 'logprob', 'old_logprob', 'entropy']);
  });

  it('a constant quantity (entropy 2.5 at every token) is drawn neutral, and its legend says so without swatches', async () => {
    const h = await open('entropy');
    const legend = h.page.locator('.prompt-timeline .legend');
    assert.strictEqual(await legend.locator('.legend-title').textContent(), 'entropy: 2.5 at every token (nothing to colour)');
    assert.strictEqual(await legend.locator('.swatch').count(), 0);
    // Every token cell of the first row is the editor background (the theme's #1f1f1f), not an extreme colour.
    for (let column = 0; column < 4; column++) {
      const pixel = await pixelAt(h, gutter + column * cellWidth + 1, 2);
      assert.deepStrictEqual(pixel, BACKGROUND, `token ${column}: ${pixel.join()}`);
    }
    fs.mkdirSync(RESULTS, { recursive: true });
    await h.page.locator('.prompt-timeline').screenshot({ path: path.join(RESULTS, 'webview-prompt-timeline-constant.png') });
  });

  it('a validation-only prompt: no advantage anywhere, and its training side says it was not sampled in training', async () => {
    const h = await open('advantage');
    const search = h.page.locator('.prompt-search');
    await search.focus();
    await h.page.waitForFunction(() => document.querySelectorAll('#timeline-prompts option').length > 1);
    await search.fill(VALIDATION_PROMPT);
    // Enter commits it (a dispatched change event would leave the input dirty: it would pick the prompt again on blur).
    await search.press('Enter');
    await h.page.locator('.timeline-chart[data-points="2"]').waitFor();
    // Both validation rows drawn with their tokens (not the training prompt's rows, ready before the search).
    await h.page.locator('.timeline-scroller[data-rows="0-2"][data-state="ready"]').waitFor();
    assert.strictEqual(await h.page.locator('.prompt-timeline select').first().inputValue(), 'eval');
    assert.strictEqual(await h.page.locator('.timeline-chart').getAttribute('data-series'), 'mean reward');
    assert.ok(!(await offered(h)).includes('advantage'));
    assert.doesNotMatch((await h.page.locator('.prompt-timeline .legend').textContent()) ?? '', /advantage/);
    // The diff of its two evaluations names rewards, never an advantage (none: no update follows validation).
    const tops = layoutRows([2, 4].map((step) => ({ source: 'eval' as const, step, group: 0, rollouts: [{ length: 3 } as never] })), { rowHeight, stepGap }).rows.map((r) => r.top);
    const box = await h.page.locator('.timeline-scroller').boundingBox();
    assert.ok(box);
    // Clicked on the labels: a token's hover card, below the pointer, would cover the next row.
    await h.page.mouse.click(box.x + gutter - 20, box.y + tops[0] + rowHeight / 2);
    await h.page.locator('.token-diff', { hasText: 'click another to diff them' }).waitFor();
    await h.page.mouse.click(box.x + gutter - 20, box.y + tops[1] + rowHeight / 2);
    await h.page.locator('.token-diff[data-state="ready"]').waitFor();
    const header = (await h.page.locator('.token-diff .summary').first().textContent()) ?? '';
    assert.match(header, /validation at step 2 #1 \(reward 0\.5\) → B: validation at step 4 #1 \(reward 1\)/);
    assert.doesNotMatch(header, /advantage/);
    await h.page.locator('.prompt-timeline').screenshot({ path: path.join(RESULTS, 'webview-prompt-timeline-validation-only.png') });
    // The training side: not "log-prob: not recorded", but that training never sampled it.
    await h.page.locator('.prompt-timeline select').first().selectOption('train');
    assert.match((await h.page.locator('.prompt-timeline .summary').first().textContent()) ?? '', /^Not sampled in training: this prompt is a validation prompt \(pick "validation" to see its 2 evaluations\)\.$/);
    assert.strictEqual(await h.page.locator('.prompt-timeline .legend').textContent(), '');
    await h.page.locator('.prompt-timeline').screenshot({ path: path.join(RESULTS, 'webview-prompt-timeline-validation-only-train.png') });
  });
});
