/**
 * The UI flow a person would take, in a real VS Code in Chromium: F1 → "GRPO: Start Run" → pick the bandit
 * example → the dashboard shows charts with data and rollout rows. Saves screenshots under test-results/.
 * usage: node ui.js <server-url> <extension-dir> <workspace-folder> <results-dir>
 */
import * as fs from 'fs';
import * as path from 'path';
import type { FrameLocator, Page } from 'playwright-core';
import { launchChromium, workbenchUrl } from './browser';
import { launchOnRayFlow, prepareRayWorkspace } from './rayUi';
import { check, log, pickAfterCommand, runCommand, summary } from './uiSteps';

/** The name of the run config ui.ts writes into the workspace (mine.grpo.json). */
const WORKSPACE_CONFIG_NAME = 'ui-own-config';

function dashboardFrame(page: Page): FrameLocator {
  return page.frameLocator('iframe.webview').frameLocator('#active-frame');
}

async function main(): Promise<void> {
  const [base, extensionPath, folder, resultsDir] = process.argv.slice(2);
  const browser = await launchChromium();
  const page = browser.context.pages()[0] ?? (await browser.context.newPage());
  const consoleErrors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && /Content Security Policy|webview/i.test(m.text()) && consoleErrors.push(`${m.text()} [at ${m.location().url}:${m.location().lineNumber}]`));
  const rayWorkspace = await prepareRayWorkspace(folder, extensionPath);
  // A run config of the workspace's own (Start Run lists it first).
  fs.writeFileSync(path.join(folder, 'mine.grpo.json'), JSON.stringify({ name: WORKSPACE_CONFIG_NAME, task: { type: 'bandit' }, optimization: { max_steps: 5 } }));
  try {
    await page.goto(workbenchUrl(base, folder, extensionPath));
    await page.locator('.monaco-workbench').waitFor({ timeout: 60000 });
    await page.locator('.statusbar').waitFor({ timeout: 60000 });
    log('workbench loaded');

    await check('F1 → "GRPO: Start Run" lists the bandit example, and highlights the workspace\'s own config listed first', async () => {
      await runCommand(page, 'GRPO: Start Run');
      await page.locator('.quick-input-list .monaco-list-row', { hasText: 'bandit-seed-000' }).first().waitFor({ timeout: 15000 });
      // The workspace's config joins the list above the built-ins once its file search is done: Enter must start it,
      // not the built-in demo that was highlighted meanwhile.
      await page.locator('.quick-input-list .monaco-list-row', { hasText: WORKSPACE_CONFIG_NAME }).first().waitFor({ timeout: 15000 });
      await page.locator('.quick-input-list .monaco-list-row.focused', { hasText: WORKSPACE_CONFIG_NAME }).waitFor({ timeout: 5000 });
      // Gone for the later flows (Launch on Ray clicks a row of the same list before the workspace's configs come).
      fs.rmSync(path.join(folder, 'mine.grpo.json'));
      // (Its name shares no word with the bandit example's: typing "bandit" picks that one.)
      await page.keyboard.type('bandit', { delay: 20 });
      await page.keyboard.press('Enter');
      log('picked bandit-seed-000');
    });

    const frame = dashboardFrame(page);
    await check('the dashboard shows charts with data and rollout rows', async () => {
      await frame.locator('figure.chart[data-points]').first().waitFor({ timeout: 60000 });
      await page.waitForFunction(() => true);
      const rewardChart = frame.locator('figure.chart[data-chart="reward"]');
      await rewardChart.locator('canvas').waitFor();
      for (let i = 0; i < 100; i++) {
        if (Number(await rewardChart.getAttribute('data-points')) > 0) break;
        await page.waitForTimeout(200);
      }
      const points = Number(await rewardChart.getAttribute('data-points'));
      if (!(points > 0)) throw new Error(`reward chart has ${points} points`);
      // The rollout browser renders its list only while its tab is shown (a hidden tab costs a live run nothing).
      await frame.locator('button[data-tab="rollouts"]').click();
      await frame.locator('.rollout-browser .card').first().waitFor({ timeout: 30000 }).catch(() => undefined);
      const cards = await frame.locator('.rollout-browser .card').count();
      if (cards < 1) throw new Error('no rollout cards on the Rollouts tab');
      log(`reward chart: ${points} points; rollout cards: ${cards}`);
      await frame.locator('button[data-tab="curves"]').click();
    });

    await check('the run finishes and the status reads "completed"', async () => {
      await frame.locator('.status-completed').waitFor({ timeout: 60000 });
      await page.waitForTimeout(500); // let chart.js finish its last layout before the screenshot
      await page.screenshot({ path: path.join(resultsDir, 'dashboard.png') });
      log(`screenshot: ${path.join(resultsDir, 'dashboard.png')}`);
    });

    await check('the rollout browser shows the last step with its per-token view', async () => {
      await frame.locator('button[data-tab="rollouts"]').click();
      await frame.locator('.card.selected').waitFor({ timeout: 15000 });
      await frame.locator('.token-view .token').first().waitFor();
      await page.waitForTimeout(300);
      await page.screenshot({ path: path.join(resultsDir, 'rollouts.png') });
      log(`screenshot: ${path.join(resultsDir, 'rollouts.png')}`);
    });

    await check('the Runs tree lists run → steps → groups; clicking a group reveals it in the dashboard', async () => {
      await runCommand(page, 'GRPO: Focus on Runs View');
      const tree = page.locator('.pane-body .monaco-list[aria-label*="Runs"], .monaco-list[aria-label*="Runs"]').first();
      const run = tree.locator('.monaco-list-row[aria-level="1"]', { hasText: 'bandit-seed-000' }).first();
      await run.waitFor({ timeout: 15000 });
      await run.locator('.monaco-tl-twistie').click();
      // By tree level: the run's own row also reads "step 50/50".
      const step = tree.locator('.monaco-list-row[aria-level="2"]', { hasText: 'step 50' }).first();
      await step.waitFor({ timeout: 15000 });
      await step.locator('.monaco-tl-twistie').click();
      const group = tree.locator('.monaco-list-row[aria-level="3"]', { hasText: 'Pick a word.' }).first();
      await group.waitFor({ timeout: 15000 });
      await step.click();
      await frame.locator('.rollout-browser .summary', { hasText: 'step 50:' }).waitFor({ timeout: 15000 });
      await group.locator('.monaco-tl-twistie').click();
      const rollout = tree.locator('.monaco-list-row[aria-level="4"]').nth(2);
      await rollout.click();
      await frame.locator('.card.selected[data-group="0"][data-rollout="2"]').waitFor({ timeout: 15000 });
      await page.waitForTimeout(300);
      await page.screenshot({ path: path.join(resultsDir, 'tree.png') });
      log(`screenshot: ${path.join(resultsDir, 'tree.png')}`);
    });

    await check('a run written by another process (e.g. the CLI) updates the dashboard live', async () => {
      const runDir = path.join(folder, '.grpo', 'runs', '20990101-000000-cli-run');
      fs.mkdirSync(runDir, { recursive: true });
      fs.copyFileSync(path.join(extensionPath, 'examples', 'bandit.json'), path.join(runDir, 'config.json'));
      const line = (step: number) => JSON.stringify({ step, time: Date.now(), metrics: { reward: step / 10, kl: 0.01 * step } }) + '\n';
      fs.writeFileSync(path.join(runDir, 'metrics.jsonl'), line(1));
      // The Runs tree refreshes when the folder appears (and again as its state settles); a quick pick opened during
      // a refresh can lose focus and close, which pickAfterCommand retries.
      await page.getByRole('treeitem', { name: /cli-run/ }).first().waitFor({ timeout: 15000 });
      await pickAfterCommand(page, 'GRPO: Open Dashboard', 'cli-run');
      const reward = frame.locator('figure.chart[data-chart="reward"]');
      await frame.locator('h1', { hasText: 'bandit-seed-000' }).waitFor({ timeout: 15000 });
      await frame.locator('button[data-tab="curves"]').click();
      await frame.locator('figure.chart[data-chart="kl"][data-points="1"]').waitFor({ state: 'attached', timeout: 15000 });
      fs.appendFileSync(path.join(runDir, 'metrics.jsonl'), line(2) + line(3));
      await frame.locator('figure.chart[data-chart="kl"][data-points="3"]').waitFor({ state: 'attached', timeout: 15000 });
      log(`followed a run written outside VS Code: ${await reward.getAttribute('data-points')} reward points`);
    });

    await check('"GRPO: Launch on Ray…" shows verl\'s command for review; Submit follows the job in the Ray Jobs view', () =>
      launchOnRayFlow(page, rayWorkspace, resultsDir, runCommand, log),
    );

    await check('the webview raised no CSP errors', async () => {
      if (consoleErrors.length) throw new Error(consoleErrors.join('\n'));
    });
  } catch (err) {
    await page.screenshot({ path: path.join(resultsDir, 'ui-failure.png') }).catch(() => undefined);
    if (summary.failed === 0) {
      summary.failed++;
      console.log(`  ✖ ${err instanceof Error ? err.message : String(err)}`);
    }
  } finally {
    await rayWorkspace.ray.stop();
    await browser.close();
    console.log(`ui: ${summary.passed} passed, ${summary.failed} failed`);
  }
  process.exit(summary.failed === 0 ? 0 : 1);
}

void main();
