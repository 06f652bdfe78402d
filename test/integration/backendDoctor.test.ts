/** `grpo-studio doctor` from the built CLI (dist/cli.js), as the "GRPO: Check GPU Setup" command runs it. */
import { strict as assert } from 'assert';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { DoctorReport } from '../../src/worker/doctor';
import { findVulkanLoader } from '../../src/worker/webgpu';

const CLI = path.resolve(__dirname, '../../dist/cli.js');

describe('grpo-studio doctor', function () {
  this.timeout(120_000);

  it('reports every backend, with wasm and cpu loading, and a choice for auto', () => {
    assert.ok(fs.existsSync(CLI), `${CLI} is missing: run "npm run build" first`);
    const report = JSON.parse(execFileSync(process.execPath, [CLI, 'doctor', '--json'], { encoding: 'utf8' })) as DoctorReport;
    assert.deepEqual(report.backends.map((b) => b.name), ['tensorflow', 'webgpu', 'wasm', 'cpu']);
    for (const b of report.backends) console.log(`      ${b.name}: ${b.loads ? 'loads' : 'no'}: ${b.detail}`);
    assert.ok(report.backends.find((b) => b.name === 'wasm')?.loads);
    assert.ok(report.backends.find((b) => b.name === 'cpu')?.loads);
    assert.match(report.autoForRuns, /^(tensorflow|wasm)/);
    for (const b of report.backends.filter((x) => !x.loads)) assert.ok(b.fix, `${b.name} has no fix`);
  });

  it('without Vulkan, neither the doctor nor a run prints Dawn\'s own warning (its build path): one clean line says why', function () {
    if (process.platform !== 'linux' || findVulkanLoader()) this.skip();
    const quiet = (args: string[]) => {
      const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
      assert.equal(result.status, 0, result.stderr);
      const output = `${result.stdout}${result.stderr}`;
      assert.doesNotMatch(output, /node-webgpu|Couldn't load Vulkan|BackendVk\.cpp/, output);
      return output;
    };
    assert.match(quiet(['doctor']), /libvulkan\.so\.1 is not installed/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-dawn-'));
    try {
      const config = path.join(dir, 'tiny.grpo.json');
      fs.writeFileSync(config, JSON.stringify({ name: 'tiny', task: { type: 'bandit' }, optimization: { optimizer: 'sgd', learning_rate: 0.01, max_steps: 1 } }));
      const output = quiet(['train', config, '--out', path.join(dir, 'runs')]);
      assert.match(output, /warning: backend skipped: webgpu: Dawn found no GPU adapter: the Vulkan loader libvulkan\.so\.1 is not installed/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('with a software Vulkan driver, an auto run skips it in one line and prints none of Dawn\'s own warnings', function () {
    if (process.platform !== 'linux' || !findVulkanLoader()) this.skip();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-dawn-sw-'));
    try {
      const config = path.join(dir, 'tiny.grpo.json');
      fs.writeFileSync(config, JSON.stringify({ name: 'tiny', task: { type: 'bandit' }, optimization: { optimizer: 'sgd', learning_rate: 0.01, max_steps: 1 } }));
      const result = spawnSync(process.execPath, [CLI, 'train', config, '--out', path.join(dir, 'runs')], { encoding: 'utf8' });
      assert.equal(result.status, 0, result.stderr);
      const output = `${result.stdout}${result.stderr}`;
      const skipped = output.match(/warning: backend skipped: webgpu: (.*)/);
      // A machine with a real GPU takes it (then there is no skip line to check); llvmpipe is refused by name.
      if (skipped && /software adapter/.test(skipped[1])) assert.match(skipped[1], /llvmpipe|lavapipe|swiftshader/i);
      // Dawn's adapter-limit notices ("… artificially reduced …") came from loading it in-process for an adapter it refused.
      assert.doesNotMatch(output, /artificially reduced|node-webgpu|BackendVk\.cpp/, output);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('prints Markdown with the steps, and refuses unknown options', () => {
    const text = execFileSync(process.execPath, [CLI, 'doctor'], { encoding: 'utf8' });
    assert.match(text, /## Backends[\s\S]*## What this machine has[\s\S]*## To enable what is missing/);
    assert.throws(() => execFileSync(process.execPath, [CLI, 'doctor', '--bogus'], { stdio: 'pipe' }), /exited|Command failed/);
  });
});
