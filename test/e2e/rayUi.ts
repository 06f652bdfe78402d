/**
 * The UI test's "Launch on Ray" flow, as a person takes it: F1 → "GRPO: Launch on Ray…" → Open config file… (VS
 * Code's own file dialog) → verl's command in an editor → ☁ Submit to Ray → the job in the Ray Jobs
 * view, its logs in an output channel. Ray is a local stand-in answering with the Jobs API's payloads. Screenshots:
 * ray-review.png (the command under review) and ray-jobs.png (the job followed).
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Page } from 'playwright-core';
import { FakeRay } from '../unit/worker/fakeRay';

export interface RayWorkspace {
  ray: FakeRay;
  configPath: string;
}

/** Before the workbench opens: the Ray stand-in, the workspace's Ray settings and a config verl can run. */
export async function prepareRayWorkspace(folder: string, extensionPath: string): Promise<RayWorkspace> {
  const ray = new FakeRay();
  const address = await ray.start();
  fs.mkdirSync(path.join(folder, '.vscode'), { recursive: true });
  fs.writeFileSync(path.join(folder, '.vscode', 'settings.json'), JSON.stringify({ 'grpo.ray.address': address, 'grpo.ray.sharedDirectory': path.join(folder, 'shared') }, null, 2));
  const fixtures = path.join(extensionPath, 'test', 'fixtures');
  const configPath = path.join(folder, 'verl-gsm8k-style.json');
  fs.writeFileSync(configPath, JSON.stringify({
    name: 'verl-demo',
    model: { name_or_path: 'Qwen/Qwen2.5-0.5B-Instruct' },
    task: { type: 'prompts', train_file: path.join(fixtures, 'prompts', 'rows.jsonl'), eval_split: 1 },
    rewards: [{ name: 'exact', module: path.join(fixtures, 'verl', 'reward.py') }],
    algorithm: { num_generations: 8, epsilon: 0.2, epsilon_high: 0.28, beta: 0.001, kl_estimator: 'low_var_kl', loss_type: 'dapo' },
    optimization: { learning_rate: 1e-6, max_steps: 100, prompts_per_step: 64, micro_batch_size: 8 },
    sampling: { max_prompt_length: 512, max_completion_length: 1024 },
  }, null, 2));
  return { ray, configPath };
}

export async function launchOnRayFlow(page: Page, workspace: RayWorkspace, resultsDir: string, runCommand: (page: Page, title: string) => Promise<void>, log: (s: string) => void): Promise<void> {
  await runCommand(page, 'GRPO: Launch on Ray');
  await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Open config file' }).first().click();
  // VS Code's simple file dialog: a quick input holding a path.
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 15000 });
  // The dialog fills in its start folder once it has read it, over what was typed before: type until it stays.
  for (let tries = 0; tries < 20; tries++) {
    await input.fill(workspace.configPath);
    await page.waitForTimeout(500);
    if ((await input.inputValue()) === workspace.configPath) break;
  }
  await page.keyboard.press('Enter');
  // The review document's editor carries the "Submit to Ray" action (the notification offers it too).
  const submit = page.locator('.editor-actions .action-label[aria-label*="Submit to Ray"]').first();
  await submit.waitFor({ timeout: 30000 });
  await page.locator('.view-line', { hasText: 'verl.trainer.main_ppo' }).first().waitFor({ timeout: 15000 });
  await page.waitForTimeout(500);
  await page.screenshot({ path: path.join(resultsDir, 'ray-review.png') });
  log(`screenshot: ${path.join(resultsDir, 'ray-review.png')}`);

  await submit.click();
  const job = page.getByRole('treeitem', { name: /verl-demo/ }).first();
  await job.waitFor({ timeout: 30000 });
  const [id] = [...workspace.ray.jobs.keys()];
  const fake = workspace.ray.jobs.get(id);
  if (!fake) throw new Error('the stand-in received no job');
  fake.status = 'RUNNING';
  fake.logs = '(TaskRunner pid=4121) step:1 - critic/score/mean:0.125 - actor/pg_clipfrac:0.003 - response_length/mean:212.4\n';
  await page.locator('.part.panel .view-lines', { hasText: 'critic/score/mean' }).first().waitFor({ timeout: 20000 });
  await page.getByRole('treeitem', { name: /verl-demo/ }).filter({ hasText: 'running' }).first().waitFor({ timeout: 20000 });
  await page.waitForTimeout(300);
  await page.screenshot({ path: path.join(resultsDir, 'ray-jobs.png') });
  log(`screenshot: ${path.join(resultsDir, 'ray-jobs.png')}`);
}
