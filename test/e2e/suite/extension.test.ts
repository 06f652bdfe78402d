/**
 * Extension tests inside a real VS Code: activation, the Start Run command on the bandit example, live metrics
 * over IPC matching the run directory, the dashboard panel, Stop Run, bad configs, and reopening a finished run.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';
import type { GrpoStudioApi } from '../../../src/host/extension';
import type { LiveRun, RunMessageEvent } from '../../../src/host/runManager';
import type { GroupItem, RunItem, RunsTreeItem, StepItem } from '../../../src/host/runsTree';
import { MetricsRecord, parseJsonl, WorkerMessage } from '../../../src/protocol';
// Bundled into this suite (not the extension's instance): it only reads files and asks VS Code for the workspace's.
import { startRunChoices } from '../../../src/host/commands';

const EXTENSION_ID = 'grpo-studio.grpo-studio';

function waitFor<T>(api: GrpoStudioApi, runDir: () => string | undefined, predicate: (m: WorkerMessage) => T | undefined, what: string, ms = 60000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      listener.dispose();
      reject(new Error(`timed out waiting for ${what}`));
    }, ms);
    const listener = api.runs.onMessage((event: RunMessageEvent) => {
      // By folder: the runs directory and another root may both hold a run of one name.
      if (event.runDir !== runDir()) return;
      const result = predicate(event.message);
      if (result === undefined) return;
      clearTimeout(timer);
      listener.dispose();
      resolve(result);
    });
  });
}

/** The bandit example under another name, with steps enough to outlast any test: for stopping and pausing it. */
function writeEndlessBandit(extensionPath: string, configPath: string, name: string): string {
  const config = JSON.parse(fs.readFileSync(path.join(extensionPath, 'examples', 'bandit.json'), 'utf8'));
  config.name = name;
  config.optimization.max_steps = 1000000;
  fs.writeFileSync(configPath, JSON.stringify(config));
  return configPath;
}

function readMetrics(runDir: string): MetricsRecord[] {
  const file = path.join(runDir, 'metrics.jsonl');
  return parseJsonl<MetricsRecord>(fs.readFileSync(file, 'utf8'), file).records;
}

function dashboardTabLabels(): string[] {
  return vscode.window.tabGroups.all.flatMap((g) => g.tabs).filter((t) => t.input instanceof vscode.TabInputWebview).map((t) => t.label);
}

/** The workbench adds a new panel's tab, and renames it after a title change, on a later update: poll for it. */
async function assertDashboardTab(label: string, ms = 10000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!dashboardTabLabels().includes(label) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.ok(dashboardTabLabels().includes(label), `no tab "${label}" among ${JSON.stringify(dashboardTabLabels())}`);
}

export function registerExtensionTests(): void {
  describe('GRPO Studio in a real VS Code', () => {
    let api: GrpoStudioApi;
    let extensionPath: string;
    let tmp: string;

    before(async () => {
      const extension = vscode.extensions.getExtension<GrpoStudioApi>(EXTENSION_ID);
      assert.ok(extension, `${EXTENSION_ID} is not installed`);
      api = await extension.activate();
      extensionPath = extension.extensionPath;
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-ext-'));
    });

    after(() => fs.rmSync(tmp, { recursive: true, force: true }));

    it('activates and contributes the GRPO commands', async () => {
      const commands = await vscode.commands.getCommands(true);
      for (const id of ['grpo.startRun', 'grpo.stopRun', 'grpo.openDashboard', 'grpo.checkGpuSetup']) assert.ok(commands.includes(id), id);
    });

    it('Check GPU Setup opens the doctor report: every backend, wasm loading, and the steps', async () => {
      const report = await vscode.commands.executeCommand<string | undefined>('grpo.checkGpuSetup');
      assert.ok(report, 'no report');
      assert.match(report, /## Backends[\s\S]*\*\*webgpu\*\*[\s\S]*\*\*wasm\*\*: loads/);
      assert.match(report, /## To enable what is missing/);
      const shown = vscode.window.activeTextEditor?.document;
      assert.equal(shown?.languageId, 'markdown');
      assert.equal(shown?.getText(), report);
      // A read-only virtual document: never dirty, so closing it asks nothing (an untitled one asked to be saved).
      assert.equal(shown?.uri.scheme, 'grpo-report');
      assert.equal(shown?.isUntitled, false);
      assert.equal(shown?.isDirty, false);
      await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
      assert.ok(!vscode.window.visibleTextEditors.some((e) => e.document.uri.scheme === 'grpo-report'), 'the report did not close');
    });

    it('starts the bandit example: ≥ 5 metrics over IPC, the same lines on disk, dashboard open', async () => {
      let runDir: string | undefined;
      const metrics: MetricsRecord[] = [];
      const listener = api.runs.onMessage((e) => e.runDir === runDir && e.message.type === 'metrics' && metrics.push(e.message.record));
      const started = waitFor(api, () => runDir, (m) => (m.type === 'started' ? m : undefined), 'the started message');
      const finished = waitFor(api, () => runDir, (m) => (m.type === 'finished' ? m : undefined), 'the run to finish');

      const run = await vscode.commands.executeCommand<LiveRun | undefined>('grpo.startRun', path.join(extensionPath, 'examples', 'bandit.json'));
      assert.ok(run, 'no run started');
      runDir = run.runDir;
      const begin = await started;
      const end = await finished;
      listener.dispose();

      // The installed package carries the threaded wasm build's script: the worker runs one thread per CPU.
      const threads = Math.min(8, os.availableParallelism());
      assert.strictEqual(begin.backend, 'wasm');
      assert.strictEqual(begin.device, `CPU (WebAssembly SIMD, ${threads} thread${threads === 1 ? '' : 's'})`);
      assert.strictEqual(end.outcome, 'completed');
      assert.ok(metrics.length >= 5, `only ${metrics.length} metrics messages`);
      assert.ok(run.runDir.startsWith(api.runsDirectory()), run.runDir);
      assert.deepStrictEqual(readMetrics(run.runDir).slice(0, metrics.length), metrics);
      assert.strictEqual(await run.exited, 0);

      const last = metrics.at(-1);
      console.log(`    bandit run: ${metrics.length} steps, final reward ${last?.metrics.reward}, p(apple) ${last?.metrics['policy/p_apple']?.toFixed(3)}`);
      assert.strictEqual(api.dashboard()?.shownRunId, run.runId);
      await assertDashboardTab(`GRPO: ${run.runId}`);
      // Its worker gone, the status bar keeps the run's final state (it used to vanish), its click opening the run.
      for (let i = 0; i < 50 && api.runs.isLive(run.runDir); i++) await new Promise((r) => setTimeout(r, 100));
      assert.ok(!api.runs.isLive(run.runDir));
      assert.match(api.statusBar.text ?? '(hidden)', new RegExp(`GRPO completed · step ${end.steps}/${end.steps}`));
      assert.strictEqual(api.statusBar.runDir, run.runDir);
    });

    it('Stop Run stops a long run after its current step and the worker exits 0', async () => {
      const configPath = writeEndlessBandit(extensionPath, path.join(tmp, 'long.json'), 'long-bandit');

      let runDir: string | undefined;
      const fiveSteps = waitFor(api, () => runDir, (m) => (m.type === 'metrics' && m.record.step >= 5 ? true : undefined), '5 steps');
      const finished = waitFor(api, () => runDir, (m) => (m.type === 'finished' ? m : undefined), 'the stop');
      const run = await vscode.commands.executeCommand<LiveRun | undefined>('grpo.startRun', configPath);
      assert.ok(run);
      runDir = run.runDir;
      await fiveSteps;
      assert.strictEqual(await vscode.commands.executeCommand('grpo.stopRun', run.runDir), true);
      const end = await finished;
      assert.strictEqual(end.outcome, 'stopped');
      assert.strictEqual(await run.exited, 0);
      assert.strictEqual(readMetrics(run.runDir).length, end.steps);
      assert.ok(!api.runs.isLive(run.runDir));
    });

    it('Pause and Stop show in the tree on the same event as in the status bar, not a refresh later; the ended run stays in the status bar until clicked', async () => {
      const configPath = writeEndlessBandit(extensionPath, path.join(tmp, 'tree-state.json'), 'tree-state-bandit');
      let runDir: string | undefined;
      const threeSteps = waitFor(api, () => runDir, (m) => (m.type === 'metrics' && m.record.step >= 3 ? true : undefined), '3 steps');
      const paused = waitFor(api, () => runDir, (m) => (m.type === 'paused' ? true : undefined), 'the pause');
      const finished = waitFor(api, () => runDir, (m) => (m.type === 'finished' ? m : undefined), 'the stop');
      // At each state message: had the tree refreshed by the end of its dispatch (as the status bar updates), and
      // what did its item and the status bar say then. The tree's other refreshes wait up to a second.
      let treeChanged = false;
      const seen: { type: string; treeChanged: boolean; description: string | undefined; statusBar: string | undefined }[] = [];
      const treeListener = api.tree.onDidChangeTreeData(() => (treeChanged = true));
      const messageListener = api.runs.onMessage((e) => {
        if (e.runDir !== runDir || (e.message.type !== 'paused' && e.message.type !== 'finished')) return;
        treeChanged = false;
        const type = e.message.type;
        // After the event's other listeners (and RunManager's state event), before any timer can run.
        queueMicrotask(() => {
          const roots = api.tree.getChildren() as RunsTreeItem[];
          const item = roots.find((i): i is RunItem => 'summary' in i && i.summary.runDir === runDir);
          seen.push({ type, treeChanged, description: typeof item?.description === 'string' ? item.description : undefined, statusBar: api.statusBar.text });
        });
      });
      try {
        const run = await vscode.commands.executeCommand<LiveRun | undefined>('grpo.startRun', configPath);
        assert.ok(run);
        runDir = run.runDir;
        await threeSteps;
        assert.strictEqual(await vscode.commands.executeCommand('grpo.pauseRun', run.runDir), true);
        await paused;
        await new Promise((r) => setTimeout(r, 0));
        assert.strictEqual(seen[0]?.type, 'paused', JSON.stringify(seen));
        assert.ok(seen[0].treeChanged, 'the tree did not refresh on the paused message');
        assert.match(seen[0].description ?? '', /^paused · step \d+/);
        assert.match(seen[0].statusBar ?? '', /GRPO paused · step \d+/);
        assert.strictEqual(await vscode.commands.executeCommand('grpo.stopRun', run.runDir), true);
        const end = await finished;
        await new Promise((r) => setTimeout(r, 0));
        assert.strictEqual(seen[1]?.type, 'finished', JSON.stringify(seen));
        assert.ok(seen[1].treeChanged, 'the tree did not refresh on the finished message');
        // The worker may still be exiting: the tree says what the run's records say, as the status bar does.
        assert.match(seen[1].description ?? '', /^stopped · step \d+/);
        assert.match(seen[1].statusBar ?? '', /GRPO stopped · step \d+/);
        assert.strictEqual(await run.exited, 0);
        for (let i = 0; i < 50 && api.runs.isLive(run.runDir); i++) await new Promise((r) => setTimeout(r, 100));
        assert.match(api.statusBar.text ?? '(hidden)', new RegExp(`GRPO stopped · step ${end.steps}/1000000`));
        // Its click opens the run's dashboard and clears the item.
        await vscode.commands.executeCommand('grpo.statusBar.openEndedRun', run.runDir);
        assert.strictEqual(api.statusBar.text, undefined);
        assert.strictEqual(api.dashboard()?.shownRunId, run.runId);
      } finally {
        treeListener.dispose();
        messageListener.dispose();
        // A failed check leaves no run going into the next tests.
        const live = runDir === undefined ? undefined : api.runs.liveRun(runDir);
        if (live) {
          await vscode.commands.executeCommand('grpo.stopRun', live.runDir);
          await live.exited;
        }
      }
    });

    it('Stop Run stops a run whose reward never returns within 2 s, checkpoints the last step, and it resumes', async () => {
      // The reward loops forever once the marker file exists: the run is stuck inside user code when Stop comes.
      const marker = path.join(tmp, 'hang-now');
      fs.writeFileSync(path.join(tmp, 'hang.js'), `module.exports = () => { if (require('fs').existsSync(${JSON.stringify(marker)})) { while (true) {} } return 1; };`);
      const config = {
        name: 'endless-reward',
        seed: 3,
        model: { name_or_path: 'tiny' },
        task: { type: 'prompts', train_file: path.join(extensionPath, 'test', 'fixtures', 'prompts', 'rows.csv'), eval_split: 0 },
        rewards: [{ name: 'hang', module: './hang.js', timeout_s: 3600 }],
        algorithm: { num_generations: 2 },
        optimization: { max_steps: 1000, prompts_per_step: 2, micro_batch_size: 4 },
        sampling: { max_completion_length: 3 },
        evaluation: { eval_steps: 0 },
        checkpointing: { save_steps: 0 },
      };
      const configPath = path.join(tmp, 'endless.json');
      fs.writeFileSync(configPath, JSON.stringify(config));
      let runDir: string | undefined;
      const twoSteps = waitFor(api, () => runDir, (m) => (m.type === 'metrics' && m.record.step >= 2 ? true : undefined), '2 steps');
      const finished = waitFor(api, () => runDir, (m) => (m.type === 'finished' ? m : undefined), 'the stop');
      const run = await vscode.commands.executeCommand<LiveRun | undefined>('grpo.startRun', configPath);
      assert.ok(run);
      runDir = run.runDir;
      await twoSteps;
      fs.writeFileSync(marker, '');
      // A step of this run takes well under a second: after 1.5 s a reward call is spinning.
      await new Promise((r) => setTimeout(r, 1500));
      const stepsBefore = readMetrics(run.runDir).length;
      const asked = Date.now();
      assert.strictEqual(await vscode.commands.executeCommand('grpo.stopRun', run.runDir), true);
      const end = await finished;
      const exitCode = await run.exited;
      const took = Date.now() - asked;
      console.log(`    endless reward: stopped ${took} ms after Stop, at step ${end.steps}`);
      assert.ok(took < 2000, `stopped after ${took} ms`);
      assert.strictEqual(end.outcome, 'stopped');
      assert.strictEqual(exitCode, 0);
      assert.strictEqual(end.steps, stepsBefore, 'the step in flight is abandoned, the completed ones kept');
      assert.ok(fs.existsSync(path.join(run.runDir, 'checkpoints', `step-${end.steps}`, 'state.json')), 'checkpoint of the last completed step');

      fs.rmSync(marker);
      let resumedDir: string | undefined;
      const moreSteps = waitFor(api, () => resumedDir, (m) => (m.type === 'metrics' && m.record.step >= end.steps + 2 ? m.record.step : undefined), 'steps after resume');
      const resumedEnd = waitFor(api, () => resumedDir, (m) => (m.type === 'finished' ? m : undefined), 'the resumed run to stop');
      const resumed = await vscode.commands.executeCommand<LiveRun | undefined>('grpo.resumeRun', run.runDir);
      assert.ok(resumed);
      resumedDir = resumed.runDir;
      assert.strictEqual(await moreSteps, end.steps + 2);
      assert.strictEqual(await vscode.commands.executeCommand('grpo.stopRun', resumed.runDir), true);
      assert.strictEqual((await resumedEnd).outcome, 'stopped');
      assert.strictEqual(await resumed.exited, 0);
    });

    it('your own prompts and reward: a CSV and a Parquet run started from Start Run, a custom column reaching the reward', async () => {
      // The reward scores each completion with the row's `difficulty` column (an INT64 in the Parquet file).
      fs.writeFileSync(path.join(tmp, 'difficulty.js'), 'module.exports = (prompt, completion, example) => Number(example.difficulty);');
      const fixtures = path.join(extensionPath, 'test', 'fixtures', 'prompts');
      for (const file of ['rows.csv', 'rows.snappy.parquet']) {
        const config = {
          name: `prompts-${file.replace(/\W/g, '-')}`,
          seed: 2,
          model: { name_or_path: 'tiny' },
          task: { type: 'prompts', train_file: path.join(fixtures, file), eval_split: 2 },
          rewards: [{ name: 'difficulty', module: './difficulty.js' }],
          algorithm: { num_generations: 2 },
          optimization: { max_steps: 2, prompts_per_step: 2, micro_batch_size: 4 },
          sampling: { max_completion_length: 3 },
          evaluation: { eval_steps: 2, n: 2, success: { reward: 'difficulty', threshold: 2 } },
          checkpointing: { save_steps: 0 },
        };
        const configPath = path.join(tmp, `${config.name}.json`);
        fs.writeFileSync(configPath, JSON.stringify(config));
        let runDir: string | undefined;
        const finished = waitFor(api, () => runDir, (m) => (m.type === 'finished' || m.type === 'error' ? m : undefined), `the ${file} run to finish`);
        const run = await vscode.commands.executeCommand<LiveRun | undefined>('grpo.startRun', configPath);
        assert.ok(run, `no run started for ${file}`);
        runDir = run.runDir;
        const end = await finished;
        assert.strictEqual(end.type, 'finished', JSON.stringify(end));
        assert.strictEqual(await run.exited, 0);
        const metrics = readMetrics(run.runDir);
        assert.deepStrictEqual(metrics.map((m) => m.step), [0, 1, 2], file);
        // Rows 101–104 have difficulty 1, 3, 2, 1: every sample scores its row's value, so the mean lies in [1, 3].
        const reward = metrics[1].metrics['rewards/difficulty/mean'];
        assert.ok(typeof reward === 'number' && reward >= 1 && reward <= 3, `${file}: reward ${reward}`);
        for (const key of ['eval/accuracy', 'eval/pass@2', 'eval/reward/mean@2']) assert.ok(typeof metrics[2].metrics[key] === 'number', `${file}: ${key}`);
      }
    });

    it('an invalid config starts no run', async () => {
      const before = fs.readdirSync(api.runsDirectory()).length;
      const bad = path.join(tmp, 'bad.json');
      fs.writeFileSync(bad, JSON.stringify({ name: 'bad', task: { type: 'bandit' }, algorithm: { num_generation: 4 } }));
      assert.strictEqual(await vscode.commands.executeCommand('grpo.startRun', bad), undefined);
      fs.writeFileSync(bad, '{ "name": "bad", ');
      assert.strictEqual(await vscode.commands.executeCommand('grpo.startRun', bad), undefined);
      assert.strictEqual(fs.readdirSync(api.runsDirectory()).length, before);
      assert.strictEqual(api.runs.liveRuns.length, 0);
    });

    it('reopens a finished run from disk in the dashboard', async () => {
      const [latest] = fs.readdirSync(api.runsDirectory()).sort().reverse();
      const runDir = path.join(api.runsDirectory(), latest);
      const panel = await vscode.commands.executeCommand<{ shownRunId: string; ready(): Promise<void> } | undefined>('grpo.openDashboard', runDir);
      assert.ok(panel);
      await panel.ready();
      assert.strictEqual(panel.shownRunId, latest);
      await assertDashboardTab(`GRPO: ${latest}`);
    });

    it('tree: run → steps → groups → rollouts; selecting a rollout reveals it in the dashboard', async () => {
      // This suite is bundled apart from the extension, so its classes are not the tree's: tell items by contextValue.
      const is = <T extends RunsTreeItem>(item: RunsTreeItem | undefined, kind: string): item is T => item?.contextValue === kind;
      const run = (await api.tree.getChildren()).find((item) => is<RunItem>(item, 'grpoRun.completed'));
      assert.ok(is<RunItem>(run, 'grpoRun.completed'), 'no completed run in the tree');
      const [step] = await api.tree.getChildren(run);
      assert.ok(is<StepItem>(step, 'grpoStep'), 'run has no steps');
      const [group] = await api.tree.getChildren(step);
      assert.ok(is<GroupItem>(group, 'grpoGroup'), 'step has no groups');
      const rollouts = await api.tree.getChildren(group);
      assert.strictEqual(rollouts.length, group.group.rollouts.length);
      const command = rollouts[1].command;
      assert.strictEqual(command?.command, 'grpo.reveal');
      const panel = await vscode.commands.executeCommand<{ shownRunId: string; lastReveal: unknown; ready(): Promise<void> }>(command.command, ...(command.arguments ?? []));
      await panel.ready();
      assert.strictEqual(panel.shownRunId, run.summary.runId);
      assert.deepStrictEqual(panel.lastReveal, { step: step.step, source: 'train', group: 0, rollout: 1 });
    });

    it('the tree refreshes by itself when a run appears that this window did not start (e.g. from the CLI)', async () => {
      const runDir = path.join(api.runsDirectory(), '20990101-000000-from-cli');
      // Let refreshes still pending from earlier runs (coalesced to 1 s) fire first, so the one awaited is the watcher's.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const refreshed = new Promise<void>((resolve) => {
        const listener = api.tree.onDidChangeTreeData(() => {
          listener.dispose();
          resolve();
        });
      });
      fs.mkdirSync(runDir);
      fs.copyFileSync(path.join(extensionPath, 'examples', 'bandit.json'), path.join(runDir, 'config.json'));
      fs.writeFileSync(path.join(runDir, 'metrics.jsonl'), JSON.stringify({ step: 1, time: Date.now(), metrics: { reward: 0.25 } }) + '\n');
      await Promise.race([refreshed, new Promise((_, reject) => setTimeout(() => reject(new Error('no refresh within 10 s')), 10000))]);
      const item = (await api.tree.getChildren()).find((i) => 'summary' in i && i.summary.runDir === runDir) as RunItem | undefined;
      // The config's name first (not the folder's timestamp), the start time from the folder name last.
      assert.strictEqual(item?.label, 'bandit-seed-000');
      assert.strictEqual(item?.description, 'interrupted · step 1/50 · reward 0.250 · Jan 1 2099 00:00');
      fs.rmSync(runDir, { recursive: true, force: true });
    });

    it('compares two runs in a panel of its own: the run dashboard stays on its run', async () => {
      const watched = api.dashboard()?.shownRunId;
      assert.ok(watched, 'no run dashboard open before comparing');
      const runDirs = fs.readdirSync(api.runsDirectory()).sort().slice(-2).map((name) => path.join(api.runsDirectory(), name));
      const roots = await api.tree.getChildren();
      const items = runDirs.map((dir) => roots.find((item) => 'summary' in item && item.summary.runDir === dir));
      const panel = await vscode.commands.executeCommand<{ shownRunIds: string[] }>('grpo.compareRuns', items[0], items);
      assert.deepStrictEqual(panel?.shownRunIds, runDirs.map((dir) => path.basename(dir)));
      assert.strictEqual(api.comparison(), panel);
      assert.notStrictEqual(api.dashboard(), panel);
      assert.strictEqual(api.dashboard()?.shownRunId, watched);
      await assertDashboardTab('GRPO: compare 2 runs');
      await assertDashboardTab(`GRPO: ${watched}`);
    });

    it("Start Run offers the workspace's *.grpo.json files and the built-in templates", async () => {
      const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
      assert.ok(folder, 'the tests run in a workspace folder');
      const config = path.join(folder, 'experiments', 'e2e-bandit.grpo.json');
      fs.mkdirSync(path.dirname(config), { recursive: true });
      fs.writeFileSync(config, JSON.stringify({ name: 'e2e-workspace-bandit', task: { type: 'bandit' } }));
      try {
        const choices = await startRunChoices(vscode.Uri.file(extensionPath));
        const mine = choices.find((c) => c.configPath === config);
        assert.ok(mine, JSON.stringify(choices.map((c) => c.label)));
        assert.match(mine.label, /e2e-workspace-bandit$/);
        assert.strictEqual(mine.description, path.join('experiments', 'e2e-bandit.grpo.json'));
        for (const template of fs.readdirSync(path.join(extensionPath, 'examples', 'templates'))) {
          assert.ok(choices.some((c) => c.configPath === path.join(extensionPath, 'examples', 'templates', template)), `template ${template} not offered`);
        }
      } finally {
        fs.rmSync(path.dirname(config), { recursive: true, force: true });
      }
    });

    it('Open External Run shows a verl run in the dashboard; a folder of no run format is refused', async () => {
      const verl = path.join(extensionPath, 'test', 'fixtures', 'verl', 'run');
      const panel = await vscode.commands.executeCommand<{ shownRunId: string; ready(): Promise<void> } | undefined>('grpo.openExternalRun', verl);
      assert.ok(panel, 'no dashboard for the verl run');
      await panel.ready();
      assert.strictEqual(panel.shownRunId, 'run');
      assert.strictEqual(await vscode.commands.executeCommand('grpo.openExternalRun', path.join(extensionPath, 'media')), undefined);
    });

    it('grpo.watchFolders lists runs of every format in the tree with their format, down to a step\'s groups', async () => {
      const fixtures = path.join(extensionPath, 'test', 'fixtures');
      const folders = [path.join(fixtures, 'verl'), path.join(fixtures, 'trl'), path.join(fixtures, 'prime-rl', 'run')];
      await vscode.workspace.getConfiguration('grpo').update('watchFolders', folders, vscode.ConfigurationTarget.Global);
      try {
        const roots = await api.tree.getChildren();
        const item = (dir: string) => roots.find((i) => 'summary' in i && i.summary.runDir === dir) as RunItem | undefined;
        const verl = item(path.join(fixtures, 'verl', 'run'));
        assert.match(String(verl?.description), /^verl · stopped · step 3 · reward 0\.500$/);
        assert.strictEqual(verl?.contextValue, 'grpoRun.external');
        assert.match(String(item(path.join(fixtures, 'verl', 'console'))?.description), /^verl · /);
        assert.match(String(item(path.join(fixtures, 'trl', 'run'))?.description), /^TRL · completed · step 4\/4/);
        assert.match(String(item(path.join(fixtures, 'prime-rl', 'run'))?.description), /^prime-rl · /);
        const steps = await api.tree.getChildren(verl);
        assert.deepStrictEqual(steps.map((s) => s.label), ['step 3', 'step 2', 'step 1']);
        const groups = await api.tree.getChildren(steps[2]);
        assert.deepStrictEqual(groups.map((g) => g.description), ['4 completions · mean 0.500', '4 completions · mean 0.500']);
      } finally {
        await vscode.workspace.getConfiguration('grpo').update('watchFolders', undefined, vscode.ConfigurationTarget.Global);
      }
    });
  });
}
