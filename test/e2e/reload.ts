/**
 * A run outlives a window reload, in a real VS Code driven from outside (the extension tests run inside the extension
 * host, which a reload ends). The workspace's `grpo.startOnOpen` names a long run: the first open asks once, and
 * Start starts it; mid-run the window reloads (`workbench.action.reloadWindow`); the new window attaches to the same
 * worker (same pid, steps still advancing), names it in a "still running" message, does not start a second run, and
 * Pause, Continue and Stop from the palette reach the worker over its socket. Then an external (verl) run opened with
 * "GRPO: Open External Run…" survives a second reload: its dashboard comes back, read as verl. Screenshots under
 * test-results/.
 * usage: node reload.js <server-url> <extension-dir> <workspace-folder> <results-dir>
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Locator, Page } from 'playwright-core';
import { isProcessAlive as isAlive } from '../../src/protocol/runLockFile';
import { launchChromium, workbenchUrl } from './browser';
import { check, log, runCommand, summary } from './uiSteps';

interface RunFiles {
  runDir: string;
  steps(): number;
  events(): string[];
  lockPid(): number | undefined;
}

function runFiles(runsDir: string): RunFiles[] {
  if (!fs.existsSync(runsDir)) return [];
  return fs.readdirSync(runsDir).map((name) => {
    const runDir = path.join(runsDir, name);
    const lines = (file: string) => (fs.existsSync(path.join(runDir, file)) ? fs.readFileSync(path.join(runDir, file), 'utf8').split('\n').filter(Boolean) : []);
    return {
      runDir,
      steps: () => lines('metrics.jsonl').length,
      events: () => lines('events.jsonl').map((line) => (JSON.parse(line) as { type: string }).type),
      lockPid: () => (fs.existsSync(path.join(runDir, 'run.lock')) ? (JSON.parse(fs.readFileSync(path.join(runDir, 'run.lock'), 'utf8')) as { pid: number }).pid : undefined),
    };
  });
}

async function waitUntil(page: Page, condition: () => boolean, what: string, ms = 60000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await page.waitForTimeout(200);
  }
}

/**
 * A notification by its text, looked up in the notification centre: a toast may already have been tucked away
 * there (the workbench hides toasts while it is busy starting).
 */
async function notification(page: Page, text: string | RegExp, ms = 60000): Promise<Locator> {
  const deadline = Date.now() + ms;
  for (;;) {
    await runCommand(page, 'Notifications: Show Notifications');
    const item = page.locator('.notifications-center .monaco-list-row', { hasText: text }).first();
    try {
      await item.waitFor({ timeout: 3000 });
      return item;
    } catch {
      if (Date.now() > deadline) throw new Error(`no notification ${String(text)}`);
      await page.keyboard.press('Escape');
      await page.waitForTimeout(1000);
    }
  }
}

/** Waits until some frame (a webview's page is two iframes down) has `selector`, with `text` in it if given. */
async function waitForFrame(page: Page, selector: string, text: string | undefined, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    for (const frame of page.frames()) {
      const found = await frame.locator(selector, text ? { hasText: text } : {}).count().catch(() => 0);
      if (found > 0) return;
    }
    if (Date.now() > deadline) throw new Error(`no webview shows ${selector}${text ? ` with "${text}"` : ''}`);
    await page.waitForTimeout(500);
  }
}

async function openWorkbench(page: Page, url: string): Promise<void> {
  await page.goto(url, { timeout: 180000 });
  await page.locator('.monaco-workbench').waitFor({ timeout: 60000 });
  await page.locator('.statusbar').waitFor({ timeout: 60000 });
}

async function main(): Promise<void> {
  const [base, extensionPath, folder, resultsDir] = process.argv.slice(2);
  // The tiny model on a few prompts: steps of a fraction of a second, so the run is still going after a reload on
  // a busy machine without flooding it (the bandit example takes thousands of steps a minute).
  const config = {
    name: 'outlives-reload',
    seed: 5,
    model: { name_or_path: 'tiny' },
    task: { type: 'prompts', train_file: path.join(extensionPath, 'test', 'fixtures', 'prompts', 'rows.csv'), eval_split: 0 },
    rewards: [{ name: 'length', module: './length.js' }],
    algorithm: { num_generations: 4 },
    optimization: { max_steps: 100000, prompts_per_step: 2, micro_batch_size: 8 },
    sampling: { max_completion_length: 8 },
    evaluation: { eval_steps: 0 },
    checkpointing: { save_steps: 0 },
  };
  fs.mkdirSync(path.join(folder, '.vscode'), { recursive: true });
  fs.writeFileSync(path.join(folder, 'long.grpo.json'), JSON.stringify(config, null, 2));
  fs.writeFileSync(path.join(folder, 'length.js'), 'module.exports = (prompt, completion) => completion.length / 8;');
  fs.writeFileSync(path.join(folder, '.vscode', 'settings.json'), JSON.stringify({ 'grpo.startOnOpen': 'long.grpo.json' }));
  const runsDir = path.join(folder, '.grpo', 'runs');

  const browser = await launchChromium();
  const page = browser.context.pages()[0] ?? (await browser.context.newPage());
  let workerPid: number | undefined;
  try {
    await openWorkbench(page, workbenchUrl(base, folder, extensionPath));
    log('workbench loaded');

    await check('grpo.startOnOpen asks once; Start starts the run', async () => {
      const ask = await notification(page, 'grpo.startOnOpen');
      await page.screenshot({ path: path.join(resultsDir, 'start-on-open-ask.png') });
      await ask.getByRole('button', { name: 'Start' }).click();
      await waitUntil(page, () => runFiles(runsDir).length === 1 && runFiles(runsDir)[0].steps() >= 5, 'five steps of the run');
      workerPid = runFiles(runsDir)[0].lockPid();
      if (!workerPid) throw new Error('no lock with a pid');
      log(`run started: worker pid ${workerPid}, ${runFiles(runsDir)[0].steps()} steps`);
    });

    await check('after a window reload the same worker runs on, and the new window attaches to it', async () => {
      const [run] = runFiles(runsDir);
      await runCommand(page, 'Developer: Reload Window');
      await page.waitForTimeout(1000);
      await page.locator('.monaco-workbench').waitFor({ timeout: 60000 });
      await page.locator('.statusbar').waitFor({ timeout: 60000 });
      const atReload = run.steps();
      await waitUntil(page, () => run.steps() > atReload + 5, 'steps after the reload', 120000);
      if (run.lockPid() !== workerPid || !isAlive(workerPid!)) throw new Error(`worker ${workerPid} is gone (lock: ${run.lockPid()})`);
      await notification(page, new RegExp(`still running: ${path.basename(run.runDir)}`), 300000);
      await page.keyboard.press('Escape');
      await page.locator('.statusbar-item', { hasText: /GRPO running · step \d+/ }).first().waitFor({ timeout: 30000 });
      if (runFiles(runsDir).length !== 1) throw new Error(`startOnOpen started again: ${runFiles(runsDir).length} runs`);
      if (run.events().includes('finished')) throw new Error('the run ended with the window');
      await page.screenshot({ path: path.join(resultsDir, 'reload-attached.png') });
      log(`after the reload: ${run.steps()} steps, same worker`);
    });

    await check('Pause and Continue from the palette reach the reattached worker; the status bar says paused', async () => {
      const [run] = runFiles(runsDir);
      await runCommand(page, 'GRPO: Pause Run');
      await waitUntil(page, () => run.events().includes('paused'), 'the paused event', 30000);
      await page.locator('.statusbar-item', { hasText: /GRPO paused · step \d+/ }).first().waitFor({ timeout: 30000 });
      const held = run.steps();
      await page.waitForTimeout(1500);
      if (run.steps() !== held) throw new Error(`steps went on while paused: ${held} → ${run.steps()}`);
      await page.screenshot({ path: path.join(resultsDir, 'reload-paused.png') });
      await runCommand(page, 'GRPO: Continue Run');
      await waitUntil(page, () => run.events().includes('continued') && run.steps() > held + 2, 'steps after Continue', 30000);
      log(`paused at ${held} steps, continued`);
    });

    await check('Stop from the palette stops the worker started before the reload', async () => {
      const [run] = runFiles(runsDir);
      await runCommand(page, 'GRPO: Stop Run');
      await waitUntil(page, () => run.events().includes('finished'), 'the finished event', 60000);
      await waitUntil(page, () => !isAlive(workerPid!), 'the worker to exit', 30000);
      const events = run.events();
      if (!events.includes('stop_requested')) throw new Error(`no stop_requested in ${events.join(', ')}`);
      log(`stopped after ${run.steps()} steps: ${events.join(', ')}`);
    });

    await check("an external run's dashboard (verl, opened with Open External Run…) comes back after a window reload", async () => {
      const verlRun = path.join(extensionPath, 'test', 'fixtures', 'verl', 'run');
      await runCommand(page, 'GRPO: Open External Run');
      const input = page.locator('.quick-input-widget input');
      await input.waitFor({ state: 'visible', timeout: 15000 });
      // The dialog fills in its start folder once it has read it, over what was typed before: type until it stays.
      for (let tries = 0; tries < 20; tries++) {
        await input.fill(verlRun);
        await page.waitForTimeout(500);
        if ((await input.inputValue()) === verlRun) break;
      }
      await page.locator('.quick-input-widget .monaco-button', { hasText: 'OK' }).first().click();
      await waitForFrame(page, 'header .details', 'verl run', 60000);
      await runCommand(page, 'Developer: Reload Window');
      await page.waitForTimeout(1000);
      await page.locator('.monaco-workbench').waitFor({ timeout: 60000 });
      // Restored by the panel serializer from the page's saved state: the verl run, read as verl, not an empty run.
      await waitForFrame(page, 'header .details', 'verl run', 120000);
      await waitForFrame(page, 'figure.chart[data-chart="reward"][data-points="3"]', undefined, 60000);
      await page.screenshot({ path: path.join(resultsDir, 'reload-external.png') });
      log('the verl dashboard came back after the reload');
    });
  } catch (err) {
    // With the notification centre open: what the extension said is part of why it failed.
    await runCommand(page, 'Notifications: Show Notifications').catch(() => undefined);
    await page.screenshot({ path: path.join(resultsDir, 'reload-failure.png') }).catch(() => undefined);
    if (summary.failed === 0) {
      summary.failed++;
      console.log(`  ✖ ${err instanceof Error ? err.message : String(err)}`);
    }
  } finally {
    if (workerPid !== undefined && isAlive(workerPid)) process.kill(workerPid, 'SIGKILL');
    await browser.close();
    console.log(`reload: ${summary.passed} passed, ${summary.failed} failed`);
  }
  process.exit(summary.failed === 0 ? 0 : 1);
}

void main();
