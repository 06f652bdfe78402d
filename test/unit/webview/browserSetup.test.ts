/** Without Chromium, the webview tests and `npm run bench:webview` say what to install instead of a stack trace. */
import * as assert from 'assert';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { chromiumPath, MissingChromium } from '../../webview/harness';

const ROOT = path.resolve(__dirname, '../../..');

describe('a machine without Chromium', function () {
  this.timeout(60_000);

  it('chromiumPath names the missing executable and the fix', () => {
    const saved = process.env.CHROMIUM;
    process.env.CHROMIUM = '/nonexistent/chromium';
    try {
      assert.throws(() => chromiumPath(), (err: unknown) => err instanceof MissingChromium && /^No Chromium at \/nonexistent\/chromium: .*"npm run setup".*CHROMIUM/.test(err.message));
    } finally {
      if (saved === undefined) delete process.env.CHROMIUM;
      else process.env.CHROMIUM = saved;
    }
  });

  it('bench:webview stops at once with that message, exit code 1, no stack trace', () => {
    const tsx = path.join(ROOT, 'node_modules', '.bin', 'tsx');
    const result = spawnSync(tsx, [path.join(ROOT, 'bench', 'webview.ts')], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, CHROMIUM: '/nonexistent/chromium' } });
    assert.strictEqual(result.status, 1, result.stderr);
    assert.match(result.stderr, /^bench:webview: No Chromium at \/nonexistent\/chromium: .*npm run setup/);
    assert.doesNotMatch(result.stderr, /\n\s+at /, result.stderr);
    assert.doesNotMatch(result.stdout, /fixture:/, 'it wrote the fixture before finding no browser');
  });
});
