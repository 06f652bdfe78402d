import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { builtInConfigs, describeConfigFile, highlightAfterUpdate, workspaceConfigs } from '../../../src/host/configPicks';

const ROOT = path.resolve(__dirname, '../../..');

describe('Start Run choices', () => {
  let workspace: string;
  before(() => {
    workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-picks-'));
    fs.mkdirSync(path.join(workspace, 'configs'));
    fs.writeFileSync(path.join(workspace, 'configs', 'mine.grpo.json'), JSON.stringify({ name: 'my-bandit', description: 'mine', task: { type: 'bandit' } }));
    fs.writeFileSync(path.join(workspace, 'broken.grpo.json'), JSON.stringify({ name: 'broken', task: { type: 'bandit' }, optimization: { learning_rate: -1 } }));
  });
  after(() => fs.rmSync(workspace, { recursive: true, force: true }));

  it('offers the built-in examples and the templates, each by its config name', () => {
    const choices = builtInConfigs(ROOT);
    const names = (origin: string) => choices.filter((c) => c.origin === origin).map((c) => c.name);
    assert.deepStrictEqual(names('example'), ['arithmetic-demo', 'bandit-seed-000', 'stories-dog']);
    assert.ok(names('template').length >= 3, names('template').join());
    assert.ok(choices.every((c) => c.valid), choices.filter((c) => !c.valid).map((c) => c.detail).join('\n'));
    assert.ok(choices.find((c) => c.origin === 'template')?.description.includes('template'));
  });

  it('leaves out hidden JSON files (an editor backup, a test scratch config)', () => {
    const extension = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-ext-'));
    try {
      fs.mkdirSync(path.join(extension, 'examples'));
      fs.writeFileSync(path.join(extension, 'examples', 'shown.json'), JSON.stringify({ name: 'shown', task: { type: 'bandit' } }));
      fs.writeFileSync(path.join(extension, 'examples', '.scratch.json'), JSON.stringify({ name: 'hidden', task: { type: 'bandit' } }));
      assert.deepStrictEqual(builtInConfigs(extension).map((c) => c.name), ['shown']);
    } finally {
      fs.rmSync(extension, { recursive: true, force: true });
    }
  });

  it("lists the workspace's *.grpo.json by path; one that does not validate says why, naming the field", () => {
    const file = (rel: string) => ({ fsPath: path.join(workspace, rel), shownPath: rel });
    const choices = workspaceConfigs([file('configs/mine.grpo.json'), file('broken.grpo.json')]);
    assert.deepStrictEqual(choices.map((c) => [c.name, c.description, c.valid]), [['broken.grpo.json', 'broken.grpo.json', false], ['my-bandit', 'configs/mine.grpo.json', true]]);
    assert.match(choices[0].detail ?? '', /^cannot run: .*broken\.grpo\.json.*optimization\.learning_rate/);
    assert.strictEqual(choices[1].detail, 'mine');
    assert.strictEqual(describeConfigFile(path.join(workspace, 'missing.grpo.json'), 'workspace').valid, false);
  });

  it("highlights the workspace's own config once it is listed first, unless the user moved the highlight or filtered", () => {
    const [demo, bandit, mine] = ['/ext/examples/arithmetic.json', '/ext/examples/bandit.json', '/ws/alerts.grpo.json'];
    // The built-ins were shown first with the demo highlighted only for being first: Enter started the demo.
    assert.strictEqual(highlightAfterUpdate(demo, demo, mine, false), mine);
    // Nothing highlighted yet: the first listed.
    assert.strictEqual(highlightAfterUpdate(undefined, demo, mine, false), mine);
    // The user moved to another choice, or typed toward the demo: it stays.
    assert.strictEqual(highlightAfterUpdate(bandit, demo, mine, false), bandit);
    assert.strictEqual(highlightAfterUpdate(demo, demo, mine, true), demo);
    // No workspace configs: the first stays first.
    assert.strictEqual(highlightAfterUpdate(demo, demo, demo, false), demo);
  });
});
