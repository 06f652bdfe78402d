/** Steps shared by the Playwright flows in a real VS Code (ui.ts, reload.ts): checks with a tally, the palette. */
import type { Page } from 'playwright-core';

const started = Date.now();
export const log = (s: string): void => console.log(`  [${((Date.now() - started) / 1000).toFixed(1)}s] ${s}`);
export const summary = { passed: 0, failed: 0 };

export async function check(name: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
    summary.passed++;
    console.log(`  ✔ ${name}`);
  } catch (err) {
    summary.failed++;
    console.log(`  ✖ ${name}\n    ${err instanceof Error ? err.message : String(err)}`);
    throw err;
  }
}

/** Runs a palette command; retries because a new extension's commands appear a few seconds after load. */
export async function runCommand(page: Page, title: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible', timeout: 15000 });
    await input.fill(`>${title}`);
    try {
      await page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first().waitFor({ timeout: 5000 });
      await page.keyboard.press('Enter');
      return;
    } catch (err) {
      if (attempt >= 12) throw err;
      await page.keyboard.press('Escape');
      await page.waitForTimeout(1000);
    }
  }
}

/**
 * Runs a palette command that opens a quick pick, then picks the row containing `text`. A quick pick loses focus and
 * closes when a view refreshes under it (the Runs tree does when a run folder appears or changes state): then the
 * command is run again, up to three times.
 */
export async function pickAfterCommand(page: Page, title: string, text: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    await runCommand(page, title);
    try {
      await page.locator('.quick-input-list .monaco-list-row', { hasText: text }).first().click({ timeout: 8000 });
      return;
    } catch (err) {
      if (attempt >= 3) throw err;
      log(`the quick pick of "${title}" closed before "${text}" could be picked; again (attempt ${attempt + 1})`);
      await page.keyboard.press('Escape');
    }
  }
}
