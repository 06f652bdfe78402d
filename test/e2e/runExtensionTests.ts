/**
 * Runs the mocha suite inside a real VS Code extension host, as @vscode/test-electron would: the workbench is
 * opened in Chromium with extensionTestsPath in its payload; the suite's output and exit code come back through the
 * smoke-test driver's `codeAutomationLog` / `codeAutomationExit` hooks.
 * usage: node runExtensionTests.js <server-url> <extension-dir> <suite.js> <workspace-folder>
 */
import * as util from 'util';
import { launchChromium, workbenchUrl } from './browser';

const NOISE = /ChatModelSelection|AgentHost|open-vsx\.org|mobile\.events\.data|github|copilot/i;
const TIMEOUT_MS = Number(process.env.GRPO_E2E_TIMEOUT_MS ?? 300000);

async function main(): Promise<number> {
  const [base, extensionPath, suitePath, folder] = process.argv.slice(2);
  const browser = await launchChromium();
  try {
    const page = browser.context.pages()[0] ?? (await browser.context.newPage());
    const exited = new Promise<number>((resolve) => {
      void page.exposeFunction('codeAutomationLog', (_type: string, args: unknown[]) => {
        const line = util.format(...args);
        if (!NOISE.test(line) || process.env.VERBOSE) console.log(line);
      });
      void page.exposeFunction('codeAutomationExit', (code: number) => resolve(code));
    });
    await page.goto(workbenchUrl(base, folder, extensionPath, suitePath));
    const timeout = new Promise<number>((resolve) => setTimeout(() => resolve(-1), TIMEOUT_MS));
    const code = await Promise.race([exited, timeout]);
    if (code === -1) console.error(`extension tests did not finish within ${TIMEOUT_MS / 1000} s`);
    return code;
  } finally {
    await browser.close();
  }
}

main().then(
  (code) => {
    console.log(`extension tests exit code: ${code}`);
    process.exit(code === 0 ? 0 : 1);
  },
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
