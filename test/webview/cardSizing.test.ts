/**
 * Rollout cards as tall as their text, in headless Chromium, with the harness's fonts and with larger, wider ones
 * (the webview takes VS Code's: code-server's wrapped a bandit card's "r 1" and hid half of "apple"): a 20-rollout
 * bandit group of one-word answers, and story completions of several lines. No card's head wraps, no text box
 * overflows, and a story too long for the tallest card ends at a whole line. The fonts are measured once per set of
 * fonts (and again when VS Code changes them); a reward name whose characters combine is measured whole. Needs
 * `npm run build`.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Browser } from 'playwright-core';
import { GroupRecord, RolloutRecord, validateRunConfig } from '../../src/protocol';
import { RunDirectoryWriter } from '../../src/worker/runDirectory';
import { CARD_LAYOUT } from '../../webview/cardLayout';
import { CARD_FONTS_MEASURED } from '../../webview/cardMetrics';
import { writeFixtureRun } from './fixtures';
import { dashboardTeardown, launchBrowser, WebviewHarness } from './harness';

const RESULTS = path.resolve(__dirname, '../../test-results');
/** The webview's size in a 1500 × 1000 window with VS Code's sidebar (300 px) and activity bar (48 px) open. */
const VIEWPORT = { width: 1500 - 300 - 48, height: 1000 };

const ANSWERS = ['apple', 'elderberry', 'banana', 'date'];
/** Stories of one to three lines: every line fits in the tallest card. */
const STORY_LINES = ['She saw a big rabbit.', 'Tim was a kind monkey.\nHe liked to play.', 'The dog ran.\nIt was happy.\nIt slept.'];
/** A 64-token story: longer than the tallest card holds. */
const LONG_STORY = 'One day, Bob found a shiny stone. He liked to run around and make a big rock. He had a cute day, a boy named Tim. Tim was a kind monkey who loved to jump and play in the forest with his friends all day long.';

function completion(text: string, reward: number, advantage: number, rewards: Record<string, number>, finish: 'stop' | 'length'): RolloutRecord {
  const tokens = text.split(/(?<= )/);
  return { completion: text, reward, rewards, advantage, finish_reason: finish, tokens: { text: tokens, logprob: tokens.map(() => -1), advantage: tokens.map(() => advantage) } };
}

function writeRun(runsDir: string, name: string, groups: GroupRecord[]): void {
  const config = validateRunConfig({ name, task: { type: 'bandit' }, optimization: { optimizer: 'adam', learning_rate: 1e-3, max_steps: 1 } });
  const dir = path.join(runsDir, name);
  const writer = new RunDirectoryWriter(dir, config);
  const start = Date.UTC(2026, 0, 1);
  writer.appendEvent({ type: 'started', time: start, runId: name, runDir: dir, pid: 0, backend: 'cpu', device: 'fixture', fallbacks: [], config });
  writer.appendMetrics({ step: 1, time: start + 1000, metrics: { reward: 0.5 } });
  writer.appendRollouts({ step: 1, groups });
  writer.appendEvent({ type: 'finished', time: start + 2000, outcome: 'completed', steps: 1 });
  writer.close();
}

interface CardBox {
  rollout: number;
  width: number;
  headLines: number;
  headCut: boolean;
  textHeight: number;
  textScroll: number;
  textLines: number;
  textBottom: number;
  footTop: number;
  footBottom: number;
  bottom: number;
}

/** A reward function's name of combining characters, its line about as wide as the widest card minimum. */
const COMBINING_REWARD = 'cafe\u0301_cre\u0300me_bru\u0302le\u0301e 👍';

/** The fonts of the second pass: bigger and wider than the harness's (system-ui 13 px, monospace). */
const WIDE_FONTS: Record<string, string> = {
  '--vscode-font-family': '"DejaVu Serif", serif',
  '--vscode-font-size': '15px',
  '--vscode-editor-font-family': '"DejaVu Sans Mono", monospace',
};

describe('rollout cards as tall as their text (Chromium)', function () {
  let browser: Browser;
  let runsDir: string;
  let harness: WebviewHarness | undefined;

  before(async () => {
    runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-cards-'));
    // The bandit demo: G = 20 one-word answers, 17 right (r 1, A +0.4201) and 3 wrong (r 0, A −2.38).
    const bandit = Array.from({ length: 20 }, (_, i) => {
      const wrong = i % 7 === 5;
      return completion(wrong ? 'banana' : ANSWERS[i % 2 === 0 ? 0 : 1], wrong ? 0 : 1, wrong ? -2.38 : 0.4201, { vowel: wrong ? 0 : 1 }, 'stop');
    });
    writeRun(runsDir, 'bandit', [{ prompt: 'Pick a word.', ground_truth: 'a word starting with a vowel', rollouts: bandit }]);
    const rewards = { mentions_dog: 0, repetition: -0.03704, length: 0.6222 };
    const stories = [
      ...STORY_LINES.map((text, i) => completion(text, 0.1185 + i / 100, -0.02308 + i / 100, rewards, 'stop')),
      ...Array.from({ length: 5 }, (_, i) => completion(`${LONG_STORY} ${i}`, 0.15, 0.008399, rewards, 'length')),
    ];
    writeRun(runsDir, 'stories', [
      // Short multi-line stories only: the group's cards are as tall as the longest of them.
      { prompt: 'Emma went to the beach with her family.', rollouts: STORY_LINES.map((text, i) => completion(text, 0.12, i - 1, rewards, 'stop')) },
      { prompt: 'One day, Bob found a shiny stone.', rollouts: stories },
    ]);
    // Reward names whose characters combine (an accent as a combining mark, an emoji): measured as whole lines.
    const combining = Array.from({ length: 20 }, (_, i) => completion('yes', 1, 0.25 * (i % 3), { [COMBINING_REWARD]: 1 }, 'stop'));
    writeRun(runsDir, 'combining', [{ prompt: 'Say yes.', rollouts: combining }]);
    writeFixtureRun(runsDir, { name: 'steps', steps: 3, rolloutSteps: () => true, groups: 4, groupSize: 8, tokens: 40 });
    browser = await launchBrowser();
  });

  dashboardTeardown(() => ({ browser, runsDir, harness }), () => (harness = undefined));

  async function open(runId: string, fonts?: Record<string, string>): Promise<WebviewHarness> {
    const h = await WebviewHarness.open(browser, runsDir, { tab: 'rollouts' }, VIEWPORT);
    harness = h;
    // Set through the CSSOM (the CSP allows no inline <style>), as VS Code sets its variables.
    if (fonts) await h.page.evaluate((vars) => Object.entries(vars).forEach(([name, value]) => document.documentElement.style.setProperty(name, value)), fonts);
    await h.push({ type: 'show', runId });
    await h.page.locator('.token-view .tokens[data-state="ready"]').waitFor();
    return h;
  }

  async function cards(h: WebviewHarness, group: number): Promise<CardBox[]> {
    return h.page.locator(`.card[data-group="${group}"]`).evaluateAll((els) =>
      els.map((e) => {
        // No named helper here: tsx would wrap it in a `__name` call that does not exist in the page.
        const [head, text, foot] = ['.card-head', '.card-text', '.card-foot'].map((selector) => e.querySelector(selector) as HTMLElement);
        // The head's lines: the distinct tops of its parts' line boxes (a wrapped "r 1" has two).
        const headTops = new Set([...head.children].flatMap((span) => [...span.getClientRects()].map((r) => Math.round(r.top))));
        return {
          rollout: Number((e as HTMLElement).dataset.rollout),
          width: e.getBoundingClientRect().width,
          headLines: headTops.size,
          headCut: head.scrollWidth > head.clientWidth,
          textHeight: text.clientHeight,
          textScroll: text.scrollHeight,
          textLines: Number(getComputedStyle(e).getPropertyValue('--text-lines')),
          textBottom: text.getBoundingClientRect().bottom,
          footTop: foot.getBoundingClientRect().top,
          footBottom: foot.getBoundingClientRect().bottom,
          bottom: e.getBoundingClientRect().bottom,
        };
      }),
    );
  }

  /** Every card: a one-line head shown whole, its text above its foot, its foot inside it. */
  function assertFrame(card: CardBox, what: string): void {
    assert.strictEqual(card.headLines, 1, `${what} #${card.rollout + 1}: the head wraps onto ${card.headLines} lines`);
    assert.ok(!card.headCut, `${what} #${card.rollout + 1}: the head is cut at the right`);
    assert.ok(card.textBottom <= card.footTop + 0.5, `${what} #${card.rollout + 1}: text runs under the foot`);
    assert.ok(card.footBottom <= card.bottom + 0.5, `${what} #${card.rollout + 1}: foot outside the card`);
  }

  /** Times the page was laid out to measure card text so far. */
  async function fontMeasurements(h: WebviewHarness): Promise<number> {
    return h.page.evaluate((name) => performance.getEntriesByName(name).length, CARD_FONTS_MEASURED);
  }

  async function openStep(h: WebviewHarness, step: number): Promise<void> {
    await h.page.locator('input.step-input').fill(String(step));
    await h.page.locator('input.step-input').dispatchEvent('change');
    await h.page.locator('.rollout-browser .summary', { hasText: new RegExp(`^step ${step}:`) }).waitFor();
    await h.page.locator('.token-view .tokens[data-state="ready"]').waitFor();
  }

  async function setFonts(h: WebviewHarness, fonts: Record<string, string> | undefined): Promise<void> {
    await h.page.evaluate((vars) => {
      for (const name of ['--vscode-font-family', '--vscode-font-size', '--vscode-editor-font-family']) document.documentElement.style.removeProperty(name);
      Object.entries(vars ?? {}).forEach(([name, value]) => document.documentElement.style.setProperty(name, value));
    }, fonts);
    // The cards are fitted again before the next frame: two frames later they are drawn.
    await h.page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
  }

  it('measures the fonts once, not per step; a font change (VS Code sets it on <html>) re-measures and re-fits the cards', async () => {
    const h = await open('steps');
    const first = await fontMeasurements(h);
    assert.ok(first >= 1, 'the first step measured the fonts');
    const harnessBoxes = await cards(h, 1);
    await openStep(h, 2);
    await openStep(h, 1);
    assert.strictEqual(await fontMeasurements(h), first, 'other steps in the same fonts measure nothing');

    await setFonts(h, WIDE_FONTS);
    assert.strictEqual(await fontMeasurements(h), first + 1, 'new fonts are measured once');
    const wideBoxes = await cards(h, 1);
    for (const card of wideBoxes) assertFrame(card, 'wide fonts');
    assert.ok(wideBoxes[0].width > harnessBoxes[0].width, `cards refitted to the wider fonts: ${harnessBoxes[0].width} → ${wideBoxes[0].width} px`);
    await openStep(h, 3);
    for (const card of await cards(h, 1)) assertFrame(card, 'wide fonts, another step');
    assert.strictEqual(await fontMeasurements(h), first + 1, 'a step in the new fonts measures nothing');

    // Back to the first fonts: known already, so nothing is measured, and the cards are as they were.
    await setFonts(h, undefined);
    await openStep(h, 1);
    assert.strictEqual(await fontMeasurements(h), first + 1);
    assert.deepStrictEqual((await cards(h, 1)).map((c) => c.width), harnessBoxes.map((c) => c.width));
  });

  it('a reward name of combining characters (accents as marks, an emoji): its line measured whole, shown whole', async () => {
    const h = await open('combining');
    const lines = await h.page.locator('.card[data-group="0"]').evaluateAll((els) =>
      els.map((e) => {
        const rewards = e.querySelector('.card-rewards') as HTMLElement;
        return { text: rewards.textContent, scroll: rewards.scrollWidth, client: rewards.clientWidth, card: e.getBoundingClientRect().width };
      }),
    );
    assert.strictEqual(lines.length, 20);
    for (const line of lines) assert.ok(line.scroll <= line.client, `"${line.text}" is ${line.scroll} px in a ${line.client} px line`);
  });

  for (const [label, fonts] of [['harness fonts', undefined], ['wide 15 px fonts', WIDE_FONTS]] as const) {
    it(`bandit, G = 20 one-word answers (${label}): "r 1" and "A +0.4201" on one line, every answer whole`, async () => {
      const h = await open('bandit', fonts);
      const boxes = await cards(h, 0);
      assert.strictEqual(boxes.length, 20);
      for (const card of boxes) {
        assertFrame(card, 'bandit');
        assert.ok(card.textScroll <= card.textHeight, `bandit #${card.rollout + 1}: text ${card.textScroll} px in a ${card.textHeight} px box`);
      }
      fs.mkdirSync(RESULTS, { recursive: true });
      await h.page.locator('.rollout-browser').screenshot({ path: path.join(RESULTS, `webview-cards-bandit-${fonts ? 'wide' : 'harness'}.png`) });
    });

    it(`stories (${label}): multi-line completions whole; one too long for the tallest card ends at a whole line`, async () => {
      const h = await open('stories', fonts);
      // Short multi-line stories: every line shown, none cut.
      for (const card of await cards(h, 0)) {
        assertFrame(card, 'short story');
        assert.ok(card.textScroll <= card.textHeight, `short story #${card.rollout + 1}: text ${card.textScroll} px in a ${card.textHeight} px box`);
      }
      const mixed = await cards(h, 1);
      assert.strictEqual(mixed.length, 8);
      for (const card of mixed) {
        assertFrame(card, 'story');
        // The box holds whole lines only (no line cut through its letters): the lines the layout gave it.
        assert.strictEqual(card.textHeight % CARD_LAYOUT.lineHeight, 0, `story #${card.rollout + 1}: a ${card.textHeight} px text box cuts a line`);
        assert.ok(card.textHeight <= card.textLines * CARD_LAYOUT.lineHeight, `story #${card.rollout + 1}: ${card.textHeight} px for ${card.textLines} lines`);
        if (card.rollout < STORY_LINES.length) assert.ok(card.textScroll <= card.textHeight, `story #${card.rollout + 1} fits: ${card.textScroll} px in ${card.textHeight} px`);
      }
      assert.ok(mixed.every((c) => c.bottom - c.footBottom < CARD_LAYOUT.lineHeight), 'no empty line at the bottom of a card');
      fs.mkdirSync(RESULTS, { recursive: true });
      await h.page.locator('.rollout-browser').screenshot({ path: path.join(RESULTS, `webview-cards-stories-${fonts ? 'wide' : 'harness'}.png`) });
    });
  }
});
