/** The built CLI's usage: asked for (`--help`, `train --help`) it is the answer, on stdout; a wrong call is an error. */
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const CLI = path.resolve(__dirname, '../../dist/cli.js');

function cli(args: string[]) {
  assert.ok(fs.existsSync(CLI), `${CLI} is missing: run "npm run build" first`);
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
}

describe('grpo-studio usage', function () {
  this.timeout(60_000);

  for (const args of [['--help'], ['-h'], ['help'], ['train', '--help'], ['resume', '-h'], ['generate', '--help']]) {
    it(`\`grpo-studio ${args.join(' ')}\` prints the usage on stdout and exits 0`, () => {
      const result = cli(args);
      assert.equal(result.status, 0, result.stderr);
      assert.match(result.stdout, /^usage:\n {2}grpo-studio train <config\.json>/);
      assert.doesNotMatch(result.stdout + result.stderr, /ENOENT|cannot read run config/);
    });
  }

  it('a call without a command, or train without its config, is an error: usage on stderr, exit 2', () => {
    for (const args of [[], ['train']]) {
      const result = cli(args);
      assert.equal(result.status, 2, args.join(' '));
      assert.match(result.stderr, /^usage:/);
      assert.equal(result.stdout, '');
    }
  });
});
