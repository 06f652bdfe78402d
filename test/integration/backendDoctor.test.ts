/** `grpo-studio doctor` from the built CLI (dist/cli.js), as the "GRPO: Check GPU Setup" command runs it. */
import { strict as assert } from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import type { DoctorReport } from '../../src/worker/doctor';

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

  it('prints Markdown with the steps, and refuses unknown options', () => {
    const text = execFileSync(process.execPath, [CLI, 'doctor'], { encoding: 'utf8' });
    assert.match(text, /## Backends[\s\S]*## What this machine has[\s\S]*## To enable what is missing/);
    assert.throws(() => execFileSync(process.execPath, [CLI, 'doctor', '--bogus'], { stdio: 'pipe' }), /exited|Command failed/);
  });
});
