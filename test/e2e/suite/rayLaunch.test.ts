/**
 * "GRPO: Launch on Ray…" inside a real VS Code, against a local server answering as Ray's Jobs API (Ray cannot be
 * installed here): the review document, the edited command submitted with the token from SecretStorage, the
 * record in the shared folder, the Ray Jobs view following the status, Stop, and a JS-reward config refused.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';
import type { GrpoStudioApi } from '../../../src/host/extension';
import { RayJobsTreeProvider } from '../../../src/host/rayJobsTree';
import { RAY_JOB_FILE, RayJobRecord } from '../../../src/protocol';
import { RayJobsClient } from '../../../src/worker/rayJobs';
import { FakeRay } from '../../unit/worker/fakeRay';

const EXTENSION_ID = 'grpo-studio.grpo-studio';

async function until<T>(what: string, probe: () => T | undefined, ms = 20000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** No editor tab shows the review document and no open document of it has unsaved edits (closing asks nothing). */
function assertReviewClosed(uri: vscode.Uri): void {
  const tabs = vscode.window.tabGroups.all.flatMap((g) => g.tabs).filter((t) => t.input instanceof vscode.TabInputText && t.input.uri.toString() === uri.toString());
  assert.deepStrictEqual(tabs.map((t) => t.label), [], 'the review editor is still open');
  assert.strictEqual(vscode.workspace.textDocuments.some((d) => d.uri.toString() === uri.toString() && d.isDirty), false, 'unsaved edits left');
  assert.strictEqual(uri.scheme, 'file', 'an untitled document would ask to be saved');
}

export function registerRayLaunchTests(): void {
  describe('GRPO: Launch on Ray (real VS Code, local Ray Jobs API stand-in)', () => {
    let api: GrpoStudioApi;
    let extensionPath: string;
    let tmp: string;
    let ray: FakeRay;

    before(async () => {
      const extension = vscode.extensions.getExtension<GrpoStudioApi>(EXTENSION_ID);
      assert.ok(extension);
      api = await extension.activate();
      extensionPath = extension.extensionPath;
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-ray-'));
      ray = new FakeRay();
      ray.requiredToken = 'e2e-token';
      const address = await ray.start();
      const settings = vscode.workspace.getConfiguration('grpo');
      await settings.update('ray.address', address, vscode.ConfigurationTarget.Global);
      await settings.update('ray.sharedDirectory', path.join(tmp, 'shared'), vscode.ConfigurationTarget.Global);
      await vscode.commands.executeCommand('grpo.setRayToken', 'e2e-token');
    });

    after(async () => {
      const settings = vscode.workspace.getConfiguration('grpo');
      await settings.update('ray.address', undefined, vscode.ConfigurationTarget.Global);
      await settings.update('ray.sharedDirectory', undefined, vscode.ConfigurationTarget.Global);
      await vscode.commands.executeCommand('grpo.setRayToken', '');
      await ray.stop();
      fs.rmSync(tmp, { recursive: true, force: true });
    });

    function writeConfig(name: string, reward: string): string {
      const fixtures = path.join(extensionPath, 'test', 'fixtures');
      const config = {
        name,
        model: { name_or_path: 'Qwen/Qwen2.5-0.5B-Instruct' },
        task: { type: 'prompts', train_file: path.join(fixtures, 'prompts', 'rows.jsonl'), eval_split: 1 },
        rewards: [{ name: 'exact', module: path.join(fixtures, 'verl', reward) }],
        optimization: { learning_rate: 1e-6, max_steps: 4, prompts_per_step: 2 },
        sampling: { max_prompt_length: 128, max_completion_length: 64 },
      };
      const file = path.join(tmp, `${name}.json`);
      fs.writeFileSync(file, JSON.stringify(config));
      return file;
    }

    it('opens the command for review, submits the edited command with the token, records and follows the job, stops it', async () => {
      const document = await vscode.commands.executeCommand<vscode.TextDocument | undefined>('grpo.launchOnRay', writeConfig('ray-e2e', 'reward.py'));
      assert.ok(document, 'no review document');
      assert.strictEqual(document.languageId, 'shellscript');
      assert.match(document.getText(), /^python3 -m verl\.trainer\.main_ppo \\$/m);
      assert.match(document.getText(), /actor_rollout_ref\.rollout\.n=8 \\$/m);

      // The user edits the command before submitting.
      const editor = await vscode.window.showTextDocument(document);
      const line = document.getText().split('\n').findIndex((l) => l.includes('trainer.total_training_steps='));
      await editor.edit((edit) => edit.replace(document.lineAt(line).range, '    trainer.total_training_steps=2 \\'));
      assert.strictEqual(document.isDirty, true);
      const record = await vscode.commands.executeCommand<RayJobRecord | undefined>('grpo.submitRayJob', document.uri);
      assert.ok(record, 'not submitted');
      // Submitted: the review editor is gone and nothing is left that would ask "Save changes?".
      assertReviewClosed(document.uri);

      const submitted = ray.seen.find((s) => s.method === 'POST' && s.url === '/api/jobs/');
      assert.ok(submitted);
      assert.strictEqual(submitted.authorization, 'Bearer e2e-token');
      const body = submitted.body as { entrypoint: string; submission_id: string; runtime_env: { env_vars: Record<string, string> } };
      assert.match(body.entrypoint, / trainer\.total_training_steps=2 /);
      assert.strictEqual(body.submission_id, record.submission_id);
      assert.strictEqual(body.runtime_env.env_vars.VERL_FILE_LOGGER_PATH, record.metrics_file);
      const onDisk = JSON.parse(fs.readFileSync(path.join(record.job_dir, RAY_JOB_FILE), 'utf8')) as RayJobRecord;
      assert.deepStrictEqual(onDisk, record);
      assert.ok(fs.existsSync(record.train_file) && fs.existsSync(path.join(record.job_dir, 'reward.py')));

      // The view follows Ray's status.
      const job = ray.jobs.get(record.submission_id);
      assert.ok(job);
      await until('PENDING in the view', () => (api.ray.tree.state(record.submission_id)?.details?.status === 'PENDING' ? true : undefined));
      job.status = 'RUNNING';
      await vscode.commands.executeCommand('grpo.refreshRayJobs');
      assert.strictEqual(api.ray.tree.state(record.submission_id)?.details?.status, 'RUNNING');

      assert.strictEqual(await vscode.commands.executeCommand('grpo.stopRayJob', record.submission_id), true);
      assert.strictEqual(job.status, 'STOPPED');
      assert.strictEqual(api.ray.tree.state(record.submission_id)?.details?.status, 'STOPPED');
    });

    it('Cancel after an edit closes the review editor without asking to save, and removes the prepared folder', async () => {
      const before = new Set(fs.readdirSync(path.join(tmp, 'shared')));
      const document = await vscode.commands.executeCommand<vscode.TextDocument | undefined>('grpo.launchOnRay', writeConfig('ray-cancel', 'reward.py'));
      assert.ok(document, 'no review document');
      const prepared = fs.readdirSync(path.join(tmp, 'shared')).filter((d) => !before.has(d));
      assert.strictEqual(prepared.length, 1);
      const editor = await vscode.window.showTextDocument(document);
      await editor.edit((edit) => edit.insert(new vscode.Position(0, 0), '# edited\n'));
      assert.strictEqual(document.isDirty, true);
      assert.strictEqual(await vscode.commands.executeCommand('grpo.cancelRayLaunch', document.uri), true);
      assertReviewClosed(document.uri);
      assert.deepStrictEqual(fs.readdirSync(path.join(tmp, 'shared')).filter((d) => !before.has(d)), []);
      assert.strictEqual(ray.seen.some((s) => s.method === 'POST' && JSON.stringify(s.body ?? null).includes('ray-cancel')), false);
    });

    it('jobs recorded in an earlier session are followed from the start, without a refresh', async () => {
      const [record] = fs.readdirSync(path.join(tmp, 'shared'))
        .map((d) => path.join(tmp, 'shared', d, RAY_JOB_FILE))
        .filter((f) => fs.existsSync(f))
        .map((f) => JSON.parse(fs.readFileSync(f, 'utf8')) as RayJobRecord);
      assert.ok(record, 'no record from the launch test');
      const job = ray.jobs.get(record.submission_id);
      assert.ok(job);
      job.status = 'SUCCEEDED';
      const tree = new RayJobsTreeProvider(() => path.join(tmp, 'shared'), async (address) => new RayJobsClient({ address, token: 'e2e-token' }));
      try {
        await until('SUCCEEDED in a new view', () => (tree.state(record.submission_id)?.details?.status === 'SUCCEEDED' ? true : undefined));
        assert.deepStrictEqual(tree.getChildren().map((item) => item.label), ['ray-e2e']);
      } finally {
        tree.dispose();
      }
    });

    it('a config with a JS reward is refused before anything is written', async () => {
      const before = fs.readdirSync(path.join(tmp, 'shared'));
      const document = await vscode.commands.executeCommand<vscode.TextDocument | undefined>('grpo.launchOnRay', writeConfig('ray-js', 'reward.js'));
      assert.strictEqual(document, undefined);
      assert.deepStrictEqual(fs.readdirSync(path.join(tmp, 'shared')), before);
    });
  });
}
