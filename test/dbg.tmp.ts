import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { launchBrowser, WebviewHarness } from '/work/wt-charts/test/webview/harness';
import { writeFixtureRun } from '/work/wt-charts/test/webview/fixtures';
(async () => {
  const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbg-'));
  const runId = writeFixtureRun(runsDir, { name: 'd', steps: 5, rolloutSteps: () => false, groups: 1, groupSize: 2, tokens: 2 });
  fs.writeFileSync(path.join(runsDir, runId, 'metrics.jsonl'), JSON.stringify({ step: 0, time: Date.now(), metrics: { 'sft/loss': 1.25 } }) + '\n' + JSON.stringify({ step: 1, time: Date.now(), metrics: { 'reward': 1.25 } }) + '\n');
  const b = await launchBrowser();
  const h = await WebviewHarness.open(b, runsDir);
  await h.push({ type: 'show', runId });
  await h.page.waitForTimeout(1500);
  await h.page.locator('figure[data-chart="warm-start"]').screenshot({ path: '/tmp/dbg/ws.png' });
  await b.close();
})();
