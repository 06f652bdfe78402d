/** A run folder whose config.json is missing or broken still has a config: the one its `started` event carries. */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { RUN_FILES, validateRunConfig } from '../../../src/protocol';
import { readSnapshot, readSummary } from '../../../src/protocol/runStore';

describe('run config from the started event', () => {
  let runDir: string;
  const config = validateRunConfig({ name: 'from-started', task: { type: 'bandit' }, optimization: { max_steps: 7 } });

  beforeEach(() => {
    runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-config-fallback-'));
    const started = { type: 'started', time: 1, runId: path.basename(runDir), runDir, pid: 1, backend: 'wasm', device: 'CPU', fallbacks: [], config };
    fs.writeFileSync(path.join(runDir, RUN_FILES.events), JSON.stringify(started) + '\n');
  });

  afterEach(() => fs.rmSync(runDir, { recursive: true, force: true }));

  for (const [what, write] of [['missing', () => undefined], ['not JSON', () => fs.writeFileSync(path.join(runDir, RUN_FILES.config), '{ torn')]] as const) {
    it(`config.json ${what}: snapshot and summary use the started event's config`, () => {
      write();
      assert.equal(readSnapshot(runDir).config?.name, 'from-started');
      const summary = readSummary(runDir);
      assert.equal(summary.name, 'from-started');
      assert.equal(summary.maxSteps, 7);
    });
  }

  it('a readable config.json wins over the started event', () => {
    fs.writeFileSync(path.join(runDir, RUN_FILES.config), JSON.stringify({ ...config, name: 'from-file' }));
    assert.equal(readSnapshot(runDir).config?.name, 'from-file');
    assert.equal(readSummary(runDir).name, 'from-file');
  });
});
