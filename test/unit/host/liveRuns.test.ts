/**
 * Runs are known by their folder, not its name: two run folders both called `20260101-000000-demo`, one in the
 * workspace's runs directory and one in another root (an opened external folder, a second workspace's runs
 * directory). One is live, the other finished or dead: isLive, the tree's state and context value (its menus), the
 * status bar and Stop each reach the right one. Before, the host asked by `path.basename`, and the finished twin
 * looked live (a dead worker's run read "running", offered Stop and Pause), and the status bar showed the first run
 * of that name whichever had spoken.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { endedStatusBarView, LiveEntry, liveSummary, LiveRunTable, runItemView, runKey, statusBarRun, statusBarView } from '../../../src/host/liveRuns';
import { RunRequests } from '../../../src/host/runRequests';
import { RunConfig, validateRunConfig } from '../../../src/protocol';
import { readerOrOurs } from '../../../src/protocol/runReaders';
import { readSummary } from '../../../src/protocol/runStore';
import { RunDirectoryWriter } from '../../../src/worker/runDirectory';

const NAME = '20260101-000000-demo';
const config: RunConfig = validateRunConfig({ name: 'demo', task: { type: 'bandit' }, optimization: { max_steps: 50 } });

/** A run folder as the worker writes it: `started`, `steps` metrics, and the end record if it ended. */
function writeRun(root: string, steps: number, end?: 'completed'): string {
  const runDir = path.join(root, NAME);
  const writer = new RunDirectoryWriter(runDir, config);
  writer.appendEvent({ type: 'started', time: Date.UTC(2026, 0, 1), runId: NAME, runDir, pid: 2 ** 30, backend: 'wasm', device: 'fixture', fallbacks: [], config });
  for (let step = 1; step <= steps; step++) writer.appendMetrics({ step, time: Date.UTC(2026, 0, 1) + step * 1000, metrics: { reward: step / 100 } });
  if (end) writer.appendEvent({ type: 'finished', time: Date.UTC(2026, 0, 2), outcome: end, steps });
  writer.close();
  return runDir;
}

describe('live runs are keyed by their folder, not its name', () => {
  let tmp: string;
  /** The workspace's runs directory: its run is live in this window. */
  let live: string;
  /** Another root's run of the same name whose worker died without a last record. */
  let dead: string;
  /** A third root's run of the same name that completed. */
  let completed: string;
  let table: LiveRunTable<LiveEntry>;

  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-live-keys-'));
    live = writeRun(path.join(tmp, 'workspace', 'runs'), 12);
    dead = writeRun(path.join(tmp, 'external'), 7);
    completed = writeRun(path.join(tmp, 'other-workspace', 'runs'), 50, 'completed');
    assert.strictEqual(path.basename(live), path.basename(dead));
    table = new LiveRunTable();
    table.add({ runId: NAME, runDir: live });
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const treeView = (runDir: string) => runItemView(liveSummary(readerOrOurs(runDir), table, runDir));

  it('isLive answers for that folder only, however the folder is spelled', () => {
    assert.strictEqual(table.isLive(live), true);
    assert.strictEqual(table.isLive(`${live}${path.sep}`), true);
    assert.strictEqual(table.isLive(path.relative(process.cwd(), live)), true);
    assert.strictEqual(table.isLive(dead), false);
    assert.strictEqual(table.isLive(completed), false);
    assert.strictEqual(table.isLive(NAME), false, 'a folder name alone names no run');
  });

  it("the tree shows each twin's own state, and its context value offers that state's actions", () => {
    const liveItem = treeView(live);
    const deadItem = treeView(dead);
    const completedItem = treeView(completed);
    // One label for all three (the config's name): only the folder tells them apart.
    assert.deepStrictEqual([liveItem.label, deadItem.label, completedItem.label], ['demo', 'demo', 'demo']);
    assert.strictEqual(liveItem.contextValue, 'grpoRun.running');
    assert.match(liveItem.description, /^running · step 12\/50/);
    // Keyed by name, the dead twin read "running" (Stop and Pause offered for a worker that is gone).
    assert.strictEqual(deadItem.contextValue, 'grpoRun.failed');
    assert.match(deadItem.description, /^interrupted · step 7\/50/);
    assert.strictEqual(completedItem.contextValue, 'grpoRun.completed');
    assert.match(deadItem.tooltip, new RegExp(dead.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')));
  });

  it('a stop sent to the live run shows as stopping there only', () => {
    const run = table.get(live);
    assert.ok(run);
    run.stopping = true;
    assert.strictEqual(treeView(live).contextValue, 'grpoRun.stopping');
    assert.strictEqual(table.isStopping(dead), false);
    assert.strictEqual(treeView(dead).contextValue, 'grpoRun.failed');
  });

  it('a pause asked for and not yet reached reads "pausing…" in the tree and the status bar, and offers Continue and Stop', () => {
    const events = path.join(live, 'events.jsonl');
    fs.appendFileSync(events, JSON.stringify({ type: 'pause_requested', time: Date.UTC(2026, 0, 1, 1) }) + '\n');
    const item = treeView(live);
    assert.strictEqual(item.contextValue, 'grpoRun.pausing');
    assert.match(item.description, /^pausing… · step 12\/50/);
    assert.match(statusBarView(table.get(live)!, readSummary(live, true), false).text, /\$\(loading~spin\) GRPO pausing… · step 12\/50/);
    fs.appendFileSync(events, JSON.stringify({ type: 'paused', time: Date.UTC(2026, 0, 1, 2), step: 12 }) + '\n');
    assert.match(treeView(live).description, /^paused · step 12\/50/);
  });

  it('during the SFT warm start (no step record yet) the tree and the status bar show its progress, not "step 0"', () => {
    const runDir = path.join(tmp, 'warming', NAME);
    const writer = new RunDirectoryWriter(runDir, config);
    writer.appendEvent({ type: 'started', time: Date.UTC(2026, 0, 1), runId: NAME, runDir, pid: 2 ** 30, backend: 'wasm', device: 'fixture', fallbacks: [], config });
    writer.appendEvent({ type: 'warm_start', time: Date.UTC(2026, 0, 1, 0, 1), step: 36, steps: 600, loss: 1.5 });
    writer.appendEvent({ type: 'warm_start', time: Date.UTC(2026, 0, 1, 0, 2), step: 42, steps: 600, loss: 1.2 });
    writer.close();
    table.add({ runId: NAME, runDir });
    assert.match(treeView(runDir).description, /^running · warm start 42\/600/);
    assert.match(statusBarView(table.get(runDir)!, readSummary(runDir, true), false).text, /GRPO running · warm start 42\/600$/);
    // Step 0's validation record ends the warm start: steps from then on.
    fs.appendFileSync(path.join(runDir, 'metrics.jsonl'), JSON.stringify({ step: 0, time: Date.UTC(2026, 0, 1, 0, 3), metrics: { 'eval/accuracy': 0.5 } }) + '\n');
    assert.match(treeView(runDir).description, /^running · step 0\/50/);
  });

  it('Stop reaches the folder named: the dead twin has no worker to stop, the live one is found by its folder', () => {
    assert.strictEqual(table.get(dead), undefined);
    assert.strictEqual(table.get(completed), undefined);
    assert.strictEqual(table.get(live)?.runDir, live);
    // A second worker for the same folder is refused; a same-named folder elsewhere is another run.
    assert.throws(() => table.add({ runId: NAME, runDir: `${live}${path.sep}` }), /already live/);
    const twin = { runId: NAME, runDir: dead };
    table.add(twin);
    assert.strictEqual(table.get(dead), twin);
    assert.strictEqual(table.remove({ runId: NAME, runDir: dead }), false, 'only the entry itself is removed');
    assert.strictEqual(table.remove(twin), true);
    assert.strictEqual(table.isLive(live), true);
  });

  it('the status bar shows the run that spoke last, of two live runs of one name', () => {
    const second = { runId: NAME, runDir: dead };
    table.add(second);
    // The second one (listed after the first) sent the latest message.
    const shown = statusBarRun(table.all, dead);
    assert.strictEqual(shown, second, 'keyed by name it showed the first run of that name');
    const view = statusBarView(shown, readSummary(shown.runDir, true, table.isStopping(shown.runDir)), false);
    assert.strictEqual(view.runDir, dead, 'its click opens that run');
    assert.match(view.text, /GRPO running · step 7\/50/);
    assert.ok(view.tooltip.includes(dead));
    // The first one speaks: the bar follows it.
    assert.match(statusBarView(table.get(live) ?? second, readSummary(live, true), false).text, /step 12\/50/);
    assert.strictEqual(statusBarRun(table.all, live)?.runDir, live);
    // A folder no worker writes: the bar shows a live run, never the dead twin.
    table.remove(second);
    assert.strictEqual(statusBarRun(table.all, dead)?.runDir, live);
  });

  it('once a run has ended, the status bar keeps its final state from its folder, and its click opens that run', () => {
    const view = endedStatusBarView(readSummary(completed));
    assert.strictEqual(view.text, '$(pass) GRPO completed · step 50/50 · reward 0.500');
    assert.strictEqual(view.runDir, completed);
    assert.ok(view.tooltip.includes(completed) && /has ended \(completed\)/.test(view.tooltip), view.tooltip);
    // A run whose worker died without its last record: "interrupted", as the tree says.
    assert.match(endedStatusBarView(readSummary(dead)).text, /^\$\(warning\) GRPO interrupted · step 7\/50/);
    fs.appendFileSync(path.join(live, 'events.jsonl'), JSON.stringify({ type: 'finished', time: Date.UTC(2026, 0, 2), outcome: 'stopped', steps: 12 }) + '\n');
    assert.match(endedStatusBarView(readSummary(live)).text, /^\$\(debug-stop\) GRPO stopped · step 12\/50/);
  });

  it("the dashboard's requests ask the host by folder: a panel showing both twins stops and reads each one", async () => {
    const stops: string[] = [];
    // The panel's ids, as shownRunIds makes them for two folders of one name.
    const shown = new Map([[NAME, live], [`external/${NAME}`, dead]]);
    const requests = new RunRequests({
      runDir: (runId) => {
        const runDir = shown.get(runId);
        if (!runDir) throw new Error(`run ${runId} is not shown here`);
        return runDir;
      },
      isLive: (runDir) => table.isLive(runDir),
      isStopping: (runDir) => table.isStopping(runDir),
      stop: (runDir) => {
        if (!table.isLive(runDir)) return false;
        stops.push(runKey(runDir));
        return true;
      },
      pause: (runDir) => table.isLive(runDir),
      proceed: (runDir) => table.isLive(runDir),
      saveFile: async () => undefined,
    });
    const ask = <T>(method: string, params: object) => requests.handle({ type: 'request', id: 1, method, params } as never) as Promise<T>;
    assert.deepStrictEqual(await ask('stopRun', { runId: `external/${NAME}` }), { stopped: false });
    assert.deepStrictEqual(stops, []);
    assert.deepStrictEqual(await ask('stopRun', { runId: NAME }), { stopped: true });
    assert.deepStrictEqual(stops, [live]);
    assert.deepStrictEqual(await ask('pauseRun', { runId: `external/${NAME}` }), { paused: false });
    const status = async (runId: string) => (await ask<{ status: string }>('getSnapshot', { runId })).status;
    assert.strictEqual(await status(NAME), 'running');
    assert.strictEqual(await status(`external/${NAME}`), 'interrupted');
  });
});
