/**
 * The dashboard webview in plain headless Chromium, without VS Code: the page is the one the extension serves
 * (same HTML, same strict CSP, same bundle), `acquireVsCodeApi` is replaced by a bridge to this process, and this
 * process answers the webview's requests with the extension's own RunRequests over fixture run directories.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { chromium, Browser, Page } from 'playwright-core';
import { dashboardHtml } from '../../src/host/dashboardHtml';
import { runKey } from '../../src/host/liveRuns';
import { RunRequests } from '../../src/host/runRequests';
import type { HostToWebviewMessage, WebviewRequestMessage, WebviewState, WebviewToHostMessage, WorkerMessage } from '../../src/protocol';
import { knownRunFolders } from '../../src/protocol/runReaders';

const ROOT = path.resolve(__dirname, '../..');
const ORIGIN = 'https://grpo.test';
const NONCE = 'dGVzdC1ub25jZQ';

export interface SavedFile {
  fileName: string;
  data: Buffer;
}

/** No Chromium to drive: says what to install or set, instead of Playwright's launch stack trace. */
export class MissingChromium extends Error {
  constructor(executable: string) {
    super(
      `No Chromium at ${executable}: the webview tests and bench:webview drive a real Chromium. Run "npm run setup" ` +
        '(on Debian/Ubuntu it apt-installs chromium; needs root or sudo), or "sudo apt-get install chromium", or set ' +
        'CHROMIUM to a Chromium or Chrome executable.',
    );
    this.name = 'MissingChromium';
  }
}

/** The Chromium executable (CHROMIUM, else Debian's /usr/bin/chromium); MissingChromium when there is none. */
export function chromiumPath(): string {
  const executable = process.env.CHROMIUM ?? '/usr/bin/chromium';
  try {
    fs.accessSync(executable, fs.constants.X_OK);
  } catch {
    throw new MissingChromium(executable);
  }
  return executable;
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update'],
  });
}

function contentType(file: string): string {
  return file.endsWith('.js') ? 'text/javascript' : file.endsWith('.css') ? 'text/css' : 'text/html';
}

export class WebviewHarness {
  readonly saved: SavedFile[] = [];
  /**
   * The folders (resolved) of the runs the host side treats as live, as the extension keys them: Stop / Pause /
   * Continue requests for them succeed and are logged in `controls`. `markLive` adds a run by its page id.
   */
  readonly liveRunDirs = new Set<string>();
  /**
   * The control requests that reached the host, as `stop:<folder>`, `pause:<folder>`, `continue:<folder>`, the
   * folder relative to runsDir (`run-live`; a same-named folder elsewhere reads `../elsewhere/run-live`).
   */
  readonly controls: string[] = [];
  readonly cspViolations: string[] = [];
  readonly pageErrors: string[] = [];
  /** Every request the page made, in order (tests check what the host was asked to read). */
  readonly requestLog: WebviewRequestMessage[] = [];
  /** Where a run id is, where not `runsDir/<id>` (as the panel maps the ids of the runs it shows to their folders). */
  readonly runDirs = new Map<string, string>();
  /** The host's pinned metrics (the workspace state); a test hands one page's to the next, as a reopened panel. */
  pinnedMetrics: string[] | undefined;
  /** Run folders outside `runsDir` the host offers for the cross-run diff. */
  readonly extraPeerRunDirs: string[] = [];
  private readonly requests: RunRequests;
  private readyResolve: (() => void) | undefined;
  private readyReject: ((err: Error) => void) | undefined;

  private constructor(
    readonly page: Page,
    readonly runsDir: string,
  ) {
    this.requests = new RunRequests({
      runDir: (runId) => this.runDirOf(runId),
      isLive: (runDir) => this.liveRunDirs.has(runKey(runDir)),
      isStopping: () => false,
      stop: (runDir) => this.control('stop', runDir),
      pause: (runDir) => this.control('pause', runDir),
      proceed: (runDir) => this.control('continue', runDir),
      // Every run in the folder, as the extension offers the runs directory's (tests add others, e.g. external ones).
      peerRunDirs: () => [...knownRunFolders(runsDir, []), ...this.extraPeerRunDirs],
      pins: { get: () => this.pinnedMetrics, set: (pins) => void (this.pinnedMetrics = pins) },
      saveFile: async (fileName, data) => {
        this.saved.push({ fileName, data });
        return path.join('/saved', fileName);
      },
    });
  }

  /** A new page showing the dashboard; `state` is what `getState()` returns (a reloaded webview's saved state). */
  static async open(browser: Browser, runsDir: string, state?: WebviewState, viewport = { width: 1400, height: 900 }): Promise<WebviewHarness> {
    const page = await browser.newPage({ viewport });
    const harness = new WebviewHarness(page, runsDir);
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) harness.cspViolations.push(m.text());
    });
    page.on('pageerror', (err) => harness.pageErrors.push(err.message));
    // The page must say `ready`; if it throws first, fail with its error rather than wait forever.
    page.on('pageerror', (err) => harness.readyReject?.(err));
    if (process.env.GRPO_WEBVIEW_DEBUG) page.on('console', (m) => console.log(`    [page] ${m.text()}`));
    await page.route(`${ORIGIN}/**`, (route) => {
      const url = new URL(route.request().url());
      if (url.pathname === '/') {
        const html = dashboardHtml({ cspSource: ORIGIN, nonce: NONCE, scriptUri: `${ORIGIN}/dist/webview.js`, styleUri: `${ORIGIN}/media/dashboard.css` })
          // The theme variables VS Code would set: a second stylesheet from the same (allowed) origin.
          .replace('</head>', `<link rel="stylesheet" href="${ORIGIN}/theme.css">\n</head>`)
          .replace('<body>', '<body class="vscode-dark">');
        return route.fulfill({ body: html, contentType: 'text/html' });
      }
      const file = url.pathname === '/theme.css' ? path.join(__dirname, 'theme-dark.css') : path.join(ROOT, url.pathname);
      return route.fulfill({ body: fs.readFileSync(file), contentType: contentType(file) });
    });
    await page.exposeFunction('__grpoPost', (message: WebviewToHostMessage) => harness.fromWebview(message));
    await page.exposeFunction('__grpoSetState', (state: WebviewState) => void (harness.lastState = state));
    // A string, not a function: tsx would wrap a function in helpers (`__name`) that do not exist in the page.
    await page.addInitScript(`{
      const saved = ${JSON.stringify(state ?? null)};
      const api = { postMessage: (m) => window.__grpoPost(m), getState: () => saved ?? undefined, setState: (s) => window.__grpoSetState(s) };
      window.acquireVsCodeApi = () => api;
    }`);
    const ready = new Promise<void>((resolve, reject) => {
      harness.readyResolve = resolve;
      harness.readyReject = reject;
    });
    await page.goto(`${ORIGIN}/`);
    await ready;
    return harness;
  }

  lastState: WebviewState | undefined;

  /** The folder of a page's run id, as the panel maps the ids of the runs it shows. */
  runDirOf(runId: string): string {
    return this.runDirs.get(runId) ?? path.join(this.runsDir, runId);
  }

  /** The host treats the run the page calls `runId` (its folder, not its name) as live. */
  markLive(runId: string): void {
    this.liveRunDirs.add(runKey(this.runDirOf(runId)));
  }

  private control(action: string, runDir: string): boolean {
    if (!this.liveRunDirs.has(runKey(runDir))) return false;
    this.controls.push(`${action}:${path.relative(this.runsDir, runDir)}`);
    return true;
  }

  /** Sends a push message, as the extension host does with `webview.postMessage`. */
  async push(message: HostToWebviewMessage): Promise<void> {
    // As JSON text: Playwright's own serialisation of a large nested argument (a 1,000-rollout step) takes seconds.
    await this.page.evaluate((text) => window.postMessage(JSON.parse(text), '*'), JSON.stringify(message));
  }

  /** Forwards a live worker message of `runId` (its run folder under runsDir) as the dashboard panel does. */
  async forward(runId: string, message: WorkerMessage): Promise<void> {
    await this.push(this.requests.liveMessage(runId, message));
  }

  async close(): Promise<void> {
    await this.page.close();
  }

  private async fromWebview(message: WebviewToHostMessage): Promise<void> {
    if (message.type === 'ready') {
      this.readyResolve?.();
      this.readyReject = undefined;
      return;
    }
    this.requestLog.push(message);
    let reply: HostToWebviewMessage;
    try {
      reply = { type: 'response', id: message.id, result: await this.requests.handle(message) };
    } catch (err) {
      reply = { type: 'response', id: message.id, error: err instanceof Error ? err.message : String(err) };
    }
    await this.push(reply).catch(() => undefined);
  }
}

/** A test's end: the page broke no CSP rule and threw no error; then it closes. Nothing to do without a page. */
export async function closeChecked(harness: WebviewHarness | undefined): Promise<void> {
  if (!harness) return;
  assert.deepStrictEqual(harness.cspViolations, [], 'CSP violations');
  assert.deepStrictEqual(harness.pageErrors, [], 'page errors');
  await harness.close();
}

/** What a dashboard suite holds between its tests; read when its hooks run, so the suite may assign them any time. */
export interface SuiteResources {
  browser: Browser | undefined;
  runsDir: string | undefined;
  harness: WebviewHarness | undefined;
}

/**
 * The hooks every dashboard suite ends with: after each test its page is checked and closed (`forgetHarness` clears
 * the suite's variable), after all the browser closes and the run folder goes.
 */
export function dashboardTeardown(resources: () => SuiteResources, forgetHarness: () => void): void {
  after(async () => {
    const { browser, runsDir } = resources();
    await browser?.close();
    if (runsDir) fs.rmSync(runsDir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await closeChecked(resources().harness);
    forgetHarness();
  });
}
