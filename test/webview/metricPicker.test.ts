/**
 * The metric picker's Pin / Unpin buttons in headless Chromium, in a dark and a light theme: every state (pinned
 * or not, hovered or not) keeps WCAG's 4.5:1 between the colours the page computes for its text and background.
 * A light theme's secondary hover background (#f2f3f4) under a pressed pin's white text read 1.1:1 before.
 * Needs `npm run build` (dist/webview.js).
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Browser } from 'playwright-core';
import { contrastRatio, MIN_TEXT_CONTRAST, Rgb } from '../../webview/tokenColors';
import { writeFixtureRun } from './fixtures';
import { dashboardTeardown, launchBrowser, WebviewHarness } from './harness';

const RESULTS = path.resolve(__dirname, '../../test-results');

/** VS Code's Light Modern button colours, with the light secondary hover of the user's report (#f2f3f4). */
const LIGHT_THEME: Record<string, string> = {
  '--vscode-foreground': '#3b3b3b',
  '--vscode-editor-background': '#ffffff',
  '--vscode-button-background': '#005fb8',
  '--vscode-button-foreground': '#ffffff',
  '--vscode-button-hoverBackground': '#0258a8',
  '--vscode-button-secondaryBackground': '#e5e5e5',
  '--vscode-button-secondaryForeground': '#3b3b3b',
  '--vscode-button-secondaryHoverBackground': '#f2f3f4',
};

function rgbOf(css: string): Rgb {
  const match = /rgba?\(([^)]+)\)/.exec(css);
  assert.ok(match, `a computed colour: ${css}`);
  const [r, g, b, a] = match[1].split(',').map(Number);
  assert.ok(a === undefined || a === 1, `an opaque colour: ${css}`);
  return [r, g, b];
}

describe('metric picker Pin / Unpin contrast (Chromium)', function () {
  let browser: Browser;
  let runsDir: string;
  let runId: string;
  let harness: WebviewHarness | undefined;

  before(async () => {
    runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-picker-'));
    runId = writeFixtureRun(runsDir, { name: 'picker', steps: 10, rolloutSteps: () => false, groups: 1, groupSize: 2, tokens: 4 });
    browser = await launchBrowser();
  });

  dashboardTeardown(() => ({ browser, runsDir, harness }), () => (harness = undefined));

  /** Text and background contrast of a button as the page computes them now. */
  async function contrastOf(h: WebviewHarness, selector: string): Promise<{ ratio: number; color: string; background: string }> {
    const { color, background } = await h.page.locator(selector).evaluate((e) => {
      const style = getComputedStyle(e);
      return { color: style.color, background: style.backgroundColor };
    });
    return { ratio: contrastRatio(rgbOf(color), rgbOf(background)), color, background };
  }

  for (const theme of ['dark', 'light'] as const) {
    it(`${theme} theme: Pin and Unpin read at 4.5:1 or more, hovered or not`, async () => {
      const h = await WebviewHarness.open(browser, runsDir);
      harness = h;
      if (theme === 'light') {
        // Set through the CSSOM (the page's CSP allows no inline <style>), as VS Code sets a theme's variables.
        await h.page.evaluate((vars) => {
          for (const [name, value] of Object.entries(vars)) document.documentElement.style.setProperty(name, value);
          document.body.className = 'vscode-light';
        }, LIGHT_THEME);
      }
      await h.push({ type: 'show', runId });
      const picker = h.page.locator('.metric-picker');
      await picker.locator('summary').click();
      await picker.locator('li[data-metric="kl"] .pin').click();
      await picker.locator('li[data-metric="kl"] .pin[aria-pressed="true"]').waitFor();
      for (const [metric, label] of [['kl', 'Unpin'], ['loss', 'Pin']] as const) {
        const selector = `.metric-picker li[data-metric="${metric}"] .pin`;
        assert.strictEqual(await h.page.locator(selector).textContent(), label);
        await h.page.mouse.move(0, 0);
        const rest = await contrastOf(h, selector);
        assert.ok(rest.ratio >= MIN_TEXT_CONTRAST, `${theme} ${label}: ${rest.color} on ${rest.background} is ${rest.ratio.toFixed(2)}:1`);
        await h.page.locator(selector).hover();
        const hovered = await contrastOf(h, selector);
        assert.ok(hovered.ratio >= MIN_TEXT_CONTRAST, `${theme} ${label} hovered: ${hovered.color} on ${hovered.background} is ${hovered.ratio.toFixed(2)}:1`);
      }
      await h.page.locator('.metric-picker li[data-metric="kl"] .pin').hover();
      fs.mkdirSync(RESULTS, { recursive: true });
      await picker.screenshot({ path: path.join(RESULTS, `webview-unpin-hover-${theme}.png`) });
    });
  }
});
