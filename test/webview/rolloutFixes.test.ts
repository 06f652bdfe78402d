/**
 * Issue 15's rollout-browser fixes in headless Chromium against generated runs: the advantage legend in the run's
 * own supervision mode, an on-policy run's ratio (1 everywhere) not offered as a colour, a whole group of 8 in view
 * at 1500 px, validation samples as a compact list, an empty filter result that says so and clears, one KL outlier
 * that saturates instead of blanking the rest, and token text of at least 4.5:1 contrast. Needs `npm run build`.
 * Screenshots go to test-results/webview-fixes-*.png.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Browser } from 'playwright-core';
import { GroupRecord, RUN_FILES, validateRunConfig } from '../../src/protocol';
import { RunDirectoryWriter } from '../../src/worker/runDirectory';
import { composite, contrastRatio, MIN_TEXT_CONTRAST, Rgb } from '../../webview/tokenColors';
import { groupsAt, metricsAt } from './fixtures';
import { dashboardTeardown, launchBrowser, WebviewHarness } from './harness';

const RESULTS = path.resolve(__dirname, '../../test-results');
/** The dark theme's editor background (test/webview/theme-dark.css), what token fills are painted over. */
const EDITOR_BACKGROUND: Rgb = [0x1f, 0x1f, 0x1f];
const STEPS = 2;
const KL_OUTLIER = 9.46;
const VALIDATION_PROMPTS = 128;

interface RunOptions {
  algorithm?: Record<string, unknown>;
  /** Changes a step's groups before they are written (an outlier). */
  edit?: (step: number, groups: GroupRecord[]) => void;
  /** Validation after the last step: this many prompts, one completion each. */
  validationPrompts?: number;
  /** Tokens (words) per completion: 12 unless set. */
  tokens?: number;
}

/** Deterministic numbers in [0, 1). */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** A finished run of 8 prompts × 8 completions per step, with the given algorithm settings. */
function writeRun(runsDir: string, name: string, options: RunOptions = {}): string {
  const config = validateRunConfig({ name, task: { type: 'bandit' }, algorithm: options.algorithm ?? {}, optimization: { optimizer: 'adam', learning_rate: 1e-5, max_steps: STEPS } });
  const runDir = path.join(runsDir, name);
  const writer = new RunDirectoryWriter(runDir, config);
  const random = lcg(17);
  const start = Date.UTC(2026, 0, 1);
  writer.appendEvent({ type: 'started', time: start, runId: name, runDir, pid: 0, backend: 'cpu', device: 'fixture', fallbacks: [], config });
  for (let step = 1; step <= STEPS; step++) {
    writer.appendMetrics(metricsAt(step, STEPS, random, start + step * 1000, 1e-5));
    const groups = groupsAt(step, 8, 8, options.tokens ?? 12, random);
    if (config.algorithm.num_iterations === 1) groups.forEach(samplePassRatios);
    options.edit?.(step, groups);
    writer.appendRollouts({ step, groups });
  }
  writer.appendEvent({ type: 'finished', time: start + STEPS * 1000 + 100, outcome: 'completed', steps: STEPS });
  writer.close();
  if (options.validationPrompts) {
    const groups = groupsAt(STEPS, options.validationPrompts, 1, 10, random).map((g, i) => ({ ...g, prompt: `Validation prompt ${i + 1}: add ${i} and ${STEPS}.` }));
    fs.writeFileSync(path.join(runDir, RUN_FILES.evalRollouts), JSON.stringify({ step: STEPS, groups }) + '\n');
  }
  return name;
}

/**
 * What a μ = 1 run stores: π_old is the sampling pass of the very weights that train, so each ratio is 1 up to the
 * float rounding between the two forward passes, and nothing clips.
 */
function samplePassRatios(group: GroupRecord, g: number): void {
  group.rollouts.forEach((rollout, r) => {
    const t = rollout.tokens;
    t.ratio = t.text.map((_, i) => 1 + 2e-5 * Math.sin(1 + g * 31 + r * 7 + i));
    t.old_logprob = t.logprob.map((lp, i) => lp - Math.log(t.ratio![i]));
    t.clipped_low = t.text.map(() => false);
    t.clipped_high = t.text.map(() => false);
  });
}

async function screenshot(h: WebviewHarness, name: string): Promise<void> {
  fs.mkdirSync(RESULTS, { recursive: true });
  await h.page.screenshot({ path: path.join(RESULTS, `webview-fixes-${name}.png`) });
}

describe('rollout browser fixes (issue 15, Chromium)', function () {
  let browser: Browser;
  let runsDir: string;
  let harness: WebviewHarness | undefined;

  before(async () => {
    runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-webview-fixes-'));
    writeRun(runsDir, 'outcome-mu1', { validationPrompts: VALIDATION_PROMPTS });
    writeRun(runsDir, 'short-answers', { tokens: 1 });
    // A <pad> sampled between two digits: the completion's text ("22") leaves it out, its tokens have it.
    writeRun(runsDir, 'pad-inside', {
      tokens: 4,
      edit: (_step, groups) => {
        const rollout = groups[1].rollouts[0];
        rollout.tokens.text = ['2', '<pad>', '2', '\n'];
        rollout.completion = '22';
        rollout.finish_reason = 'stop';
      },
    });
    writeRun(runsDir, 'process-mu2', { algorithm: { supervision: 'process', num_iterations: 2 } });
    // One token of one completion at the last step with a KL far beyond the rest (all below 0.05).
    writeRun(runsDir, 'kl-outlier', { algorithm: { beta: 0.1 }, edit: (step, groups) => step === STEPS && (groups[2].rollouts[3].tokens.kl![5] = KL_OUTLIER) });
    browser = await launchBrowser();
  });

  dashboardTeardown(() => ({ browser, runsDir, harness }), () => (harness = undefined));

  /** The rollouts tab of a run in a 1500 × 1000 page (issue 15's window), its last step's first card selected. */
  async function openRollouts(runId: string): Promise<WebviewHarness> {
    harness = await WebviewHarness.open(browser, runsDir, { tab: 'rollouts' }, { width: 1500, height: 1000 });
    await harness.push({ type: 'show', runId });
    await harness.page.locator('.rollout-browser .summary', { hasText: `step ${STEPS}:` }).waitFor();
    await harness.page.locator('.token-view .tokens[data-state="ready"]').waitFor();
    return harness;
  }

  async function selectCard(h: WebviewHarness, group: number, rollout: number): Promise<void> {
    await h.page.locator(`.card[data-group="${group}"][data-rollout="${rollout}"]`).click();
    await h.page.locator(`.card.selected[data-group="${group}"][data-rollout="${rollout}"]`).waitFor();
    await h.page.locator('.token-view .tokens[data-state="ready"]').waitFor();
  }

  const legendTitle = (h: WebviewHarness) => h.page.locator('.token-view .legend-title').innerText();
  const quantityOptions = (h: WebviewHarness) => h.page.locator('.token-view select option').evaluateAll((options) => options.map((o) => (o as HTMLOptionElement).value));

  it('words the advantage legend by the run\'s supervision: outcome runs never read "per token"', async () => {
    const outcome = await openRollouts('outcome-mu1');
    assert.strictEqual(await outcome.page.locator('.token-view select').inputValue(), 'advantage');
    const title = await legendTitle(outcome);
    assert.match(title, /one value per completion \(outcome supervision\)/);
    assert.doesNotMatch(title, /process|per token/);
    await screenshot(outcome, 'outcome');
    await outcome.close();
    harness = undefined;
    const process = await openRollouts('process-mu2');
    assert.match(await legendTitle(process), /^A per token \(process supervision\)/);
  });

  it('a run opened live before its config.json exists: group std and advantage legend as from the finished run\'s folder', async () => {
    const runId = 'live-population';
    fs.mkdirSync(path.join(runsDir, runId));
    const config = validateRunConfig({ name: runId, task: { type: 'bandit' }, algorithm: { std_estimator: 'population' }, optimization: { optimizer: 'adam', learning_rate: 1e-5, max_steps: STEPS } });
    harness = await WebviewHarness.open(browser, runsDir, { tab: 'rollouts' }, { width: 1500, height: 1000 });
    await harness.push({ type: 'show', runId });
    await harness.page.locator('.rollout-browser .summary', { hasText: 'No rollouts' }).waitFor();
    // The worker's first records: `started` with the config, then a step (18 of 20 rewards 1: population std 0.3, unbiased 0.3078).
    await harness.forward(runId, { type: 'started', time: Date.now(), runId, runDir: path.join(runsDir, runId), pid: 1, backend: 'cpu', device: 'fixture', fallbacks: [], config });
    const groups = groupsAt(1, 1, 20, 3, lcg(5));
    groups[0].rollouts.forEach((r, i) => {
      r.reward = i < 2 ? 0 : 1;
      r.advantage = ((i < 2 ? 0 : 1) - 0.9) / 0.3;
    });
    await harness.forward(runId, { type: 'rollouts', record: { step: 1, groups } });
    await harness.page.locator('.token-view .tokens[data-state="ready"]').waitFor();
    assert.strictEqual(await harness.page.locator('.group-stats').first().textContent(), 'mean 0.9 · std 0.3');
    const title = await legendTitle(harness);
    assert.match(title, /one value per completion \(outcome supervision\), shared by all its tokens/);
    assert.doesNotMatch(title, /process|per token/);
  });

  it('μ = 1: says the ratio is 1 (on-policy) and does not offer ratio or clipping as colours; μ = 2 does', async () => {
    const onPolicy = await openRollouts('outcome-mu1');
    const options = await quantityOptions(onPolicy);
    assert.ok(!options.includes('ratio') && !options.includes('clipped'), options.join());
    assert.ok(options.includes('advantage') && options.includes('kl'), options.join());
    const note = onPolicy.page.locator('.token-view .ratio-note');
    assert.ok(await note.isVisible());
    assert.match(await note.innerText(), /π_θ \/ π_old = 1 at every token: the run is on-policy \(num_iterations μ = 1/);
    // No swatch anywhere reads ×1 ×1 ×1.
    assert.ok((await onPolicy.page.locator('.legend .swatch').allTextContents()).every((s) => !s.startsWith('×')));
    await screenshot(onPolicy, 'mu1');
    await onPolicy.close();
    harness = undefined;
    const offPolicy = await openRollouts('process-mu2');
    assert.ok((await quantityOptions(offPolicy)).includes('ratio'));
    assert.ok(await offPolicy.page.locator('.token-view .ratio-note').isHidden());
    await offPolicy.page.locator('.token-view select').selectOption('ratio');
    const swatches = await offPolicy.page.locator('.legend .swatch').allTextContents();
    assert.ok(new Set(swatches).size >= 3, swatches.join(' '));
  });

  it('shows all 8 completions of a group at 1500 px, wrapped onto lines, none cut off', async () => {
    const h = await openRollouts('outcome-mu1');
    const list = await h.page.locator('.group-list').boundingBox();
    assert.ok(list);
    const cards = await h.page.locator('.card[data-group="0"]').evaluateAll((els) => els.map((e) => e.getBoundingClientRect().toJSON() as DOMRect));
    assert.strictEqual(cards.length, 8);
    for (const card of cards) {
      assert.ok(card.left >= list.x - 0.5 && card.right <= list.x + list.width + 0.5, `card ${JSON.stringify(card)} outside the list ${JSON.stringify(list)}`);
      assert.ok(card.top >= list.y - 0.5 && card.bottom <= list.y + list.height + 0.5, `card ${JSON.stringify(card)} below the list`);
      assert.ok(card.width >= 160, `card ${card.width} px wide`);
    }
    // Cards do not overlap one another.
    for (let i = 0; i < cards.length; i++) {
      for (let j = i + 1; j < cards.length; j++) {
        const [a, b] = [cards[i], cards[j]];
        assert.ok(a.right <= b.left || b.right <= a.left || a.bottom <= b.top || b.bottom <= a.top, `cards ${i} and ${j} overlap`);
      }
    }
    // Keyboard still walks the cards: → on the last card of the first line moves to the next line's first.
    await selectCard(h, 0, 0);
    const perLine = new Set(cards.map((c) => Math.round(c.top))).size;
    assert.ok(perLine >= 1 && perLine <= 2, `${perLine} lines`);
    for (let i = 0; i < 7; i++) await h.page.keyboard.press('ArrowRight');
    await h.page.locator('.card.selected[data-group="0"][data-rollout="7"]').waitFor();
    await h.page.keyboard.press('ArrowDown');
    await h.page.locator('.card.selected[data-group="1"][data-rollout="7"]').waitFor();
    await screenshot(h, 'cards-1500');
  });

  it('a group of 8 short answers beside the detail pane (1500 px window, sidebar open): two short lines, nothing cut', async () => {
    // The webview's width with VS Code's sidebar (300 px) and activity bar (48 px) open.
    harness = await WebviewHarness.open(browser, runsDir, { tab: 'rollouts' }, { width: 1500 - 300 - 48, height: 1000 });
    await harness.push({ type: 'show', runId: 'short-answers' });
    await harness.page.locator('.token-view .tokens[data-state="ready"]').waitFor();
    const cardsOf = (group: number) =>
      harness!.page.locator(`.card[data-group="${group}"]`).evaluateAll((els) =>
        els.map((e) => {
          const text = e.querySelector('.card-text') as HTMLElement;
          const foot = e.querySelector('.card-foot') as HTMLElement;
          const box = e.getBoundingClientRect();
          return { top: Math.round(box.top), height: box.height, width: box.width, textCut: text.scrollHeight > text.clientHeight + 1, footBottom: foot.getBoundingClientRect().bottom, bottom: box.bottom };
        }),
      );
    await screenshot(harness, 'short-answers-1152');
    // Group 1 holds the awkward and hostile completions (several lines); group 3 one word each.
    for (const group of [0, 2]) {
      const cards = await cardsOf(group);
      assert.strictEqual(cards.length, 8);
      assert.ok(new Set(cards.map((c) => c.top)).size <= 2, `group ${group}: lines at ${[...new Set(cards.map((c) => c.top))].join(', ')}`);
      for (const card of cards) {
        assert.ok(!card.textCut, `group ${group}: text cut`);
        assert.ok(card.footBottom <= card.bottom + 0.5, `group ${group}: foot outside the card`);
        assert.ok(card.width >= 112, `card ${card.width} px wide`);
        if (group === 2) assert.ok(card.height < 90, `a ${card.height} px tall card for a one-word answer`);
      }
    }
  });

  it('a special token inside a completion shows on its card ("2<pad>2", not "22"), boxed as in the token view', async () => {
    const h = await openRollouts('pad-inside');
    const card = h.page.locator('.card[data-group="1"][data-rollout="0"] .card-text');
    assert.strictEqual(await card.innerText(), '2<pad>2');
    assert.deepStrictEqual(await card.locator('.special-token').allInnerTexts(), ['<pad>']);
    // A completion without hidden tokens reads as its text.
    const other = await h.page.locator('.card[data-group="1"][data-rollout="1"] .card-text').innerText();
    assert.ok(!other.includes('<pad>'), other);
    await h.page.locator('.card[data-group="1"][data-rollout="0"]').screenshot({ path: path.join(RESULTS, 'webview-fixes-pad-card.png') });
  });

  it('lists 128 one-completion validation groups compactly, one line each, and opens one', async () => {
    const h = await openRollouts('outcome-mu1');
    await h.page.locator('.scrub-bar select').selectOption('eval');
    await h.page.locator('.rollout-browser .summary', { hasText: `validation after step ${STEPS}: ${VALIDATION_PROMPTS} groups` }).waitFor();
    const rows = h.page.locator('.group-row.compact');
    await rows.first().waitFor();
    const heights = await rows.evaluateAll((els) => els.map((e) => e.getBoundingClientRect().height));
    assert.ok(heights.every((height) => height <= 32), heights.join());
    const list = await h.page.locator('.group-list').boundingBox();
    assert.ok(list);
    const inView = await rows.evaluateAll((els, bottom) => els.filter((e) => e.getBoundingClientRect().bottom <= bottom).length, list.y + list.height);
    assert.ok(inView >= 20, `${inView} validation prompts in view`);
    // Virtualised still: not all 128 rows exist.
    assert.ok((await rows.count()) < VALIDATION_PROMPTS);
    // The line carries the prompt, the completion, the reward and the length.
    const line = await h.page.locator('.card.compact[data-group="4"]').innerText();
    assert.match(line, /Validation prompt 5: add 4 and 2\./);
    assert.match(line, /r [\d.]+/);
    assert.match(line, /10 tok · (stop|truncated)/);
    await selectCard(h, 4, 0);
    await h.page.locator('.token-view h3', { hasText: `validation after step ${STEPS} · group 5 · completion 1 of 1` }).waitFor();
    await h.page.keyboard.press('ArrowDown');
    await h.page.locator('.card.selected[data-group="5"]').waitFor();
    assert.strictEqual(await h.page.locator('.tag.tied').count(), 0);
    await screenshot(h, 'validation');
  });

  it('a filter that matches nothing says so, names the filter, and "Clear filter" brings the step back', async () => {
    const h = await openRollouts('outcome-mu1');
    assert.ok(await h.page.locator('.empty-filter').isHidden());
    await h.page.locator('input.search').fill('no such text anywhere');
    await h.page.getByPlaceholder('min').fill('0.5');
    const notice = h.page.locator('.empty-filter');
    await notice.waitFor();
    assert.strictEqual(await h.page.locator('.group-row').count(), 0);
    assert.match(await notice.innerText(), new RegExp(`No completion of step ${STEPS} matches the filter \\(text “no such text anywhere”, reward ≥ 0.5\\)`));
    await screenshot(h, 'empty-filter');
    await notice.getByText('Clear filter').click();
    await h.page.locator('.group-row').first().waitFor();
    assert.ok(await notice.isHidden());
    assert.strictEqual(await h.page.locator('input.search').inputValue(), '');
    assert.strictEqual(await h.page.getByPlaceholder('min').inputValue(), '');
    assert.deepStrictEqual(harness?.lastState?.rollouts?.filter, { search: '', minReward: undefined, maxReward: undefined, tied: 'any', truncatedOnly: false });
    assert.match(await h.page.locator('.rollout-browser .summary').innerText(), /8 groups, 64 completions$/);
  });

  it('one KL outlier (9.46) saturates; the other tokens keep their colours and the legend says so', async () => {
    const h = await openRollouts('kl-outlier');
    await selectCard(h, 2, 2);
    await h.page.locator('.token-view select').selectOption('kl');
    const alphas = await h.page.locator('.token-view .token').evaluateAll((spans) => spans.map((s) => Number(/rgba\([^)]*, ([\d.]+)\)/.exec((s as HTMLElement).style.backgroundColor)?.[1] ?? (((s as HTMLElement).style.backgroundColor) ? 1 : 0))));
    // Scaled to the outlier, every token here (KL < 0.05) would be below 0.05 / 9.46 of the range: alpha ≤ 0.084.
    assert.ok(Math.max(...alphas) >= 0.3, `strongest KL fill ${Math.max(...alphas)}`);
    assert.ok(alphas.filter((a) => a >= 0.2).length >= 6, alphas.join());
    const saturation = await h.page.locator('.legend .legend-saturation').innerText();
    assert.match(saturation, /outliers saturate \(step max 9\.46\)/);
    const swatches = await h.page.locator('.legend .swatch').allTextContents();
    assert.match(swatches.at(-1) ?? '', /^≥0\.0\d+/);
    await selectCard(h, 2, 3);
    const outlier = await h.page.locator('.token-view .token[data-index="5"]').evaluate((s) => (s as HTMLElement).style.backgroundColor);
    assert.strictEqual(outlier, 'rgba(209, 134, 22, 0.8)');
    await screenshot(h, 'kl-outlier');
  });

  it('every coloured token and legend swatch has text of at least 4.5:1 contrast on its fill', async () => {
    for (const runId of ['outcome-mu1', 'kl-outlier']) {
      const h = await openRollouts(runId);
      for (const quantity of ['advantage', 'kl', 'entropy', 'logprob']) {
        await h.page.locator('.token-view select').selectOption(quantity);
        const cells = await h.page.locator('.token-view .token, .legend .swatch').evaluateAll((els) =>
          els.map((e) => ({ background: getComputedStyle(e).backgroundColor, color: getComputedStyle(e).color, text: e.textContent ?? '' })),
        );
        let checked = 0;
        for (const cell of cells) {
          const bg = cell.background.match(/[\d.]+/g)?.map(Number) ?? [];
          if (bg.length === 4 && bg[3] === 0) continue;
          const fill = composite(bg.slice(0, 3) as Rgb, bg[3] ?? 1, EDITOR_BACKGROUND);
          const color = (cell.color.match(/\d+/g)?.map(Number) ?? []).slice(0, 3) as Rgb;
          const ratio = contrastRatio(color, fill);
          assert.ok(ratio >= MIN_TEXT_CONTRAST, `${runId} ${quantity} "${cell.text}": ${cell.color} on ${cell.background} is ${ratio.toFixed(2)}:1`);
          checked++;
        }
        assert.ok(checked > 5, `${quantity}: ${checked} coloured cells`);
      }
      await h.close();
      harness = undefined;
    }
  });
});
