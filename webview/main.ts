/**
 * The dashboard app. One run: a header (state, backend, progress, Pause / Continue / Stop), and three tabs — curves, the rollout
 * browser, and one prompt across steps. Several runs: their curves overlaid and their config differences. All
 * state comes from the host (src/protocol/webview.ts); what the user chose (tab, step, colouring, filters) is kept
 * with setState, so a reloaded webview comes back as it was.
 */
import type { HealthThresholds } from '../src/protocol/health';
import type { RunConfig } from '../src/protocol/config';
import type { MetricsRecord, RunEvent, RunSnapshot, RunStatus, StartedEvent, WarmStartEvent } from '../src/protocol/records';
import { rewardRange } from '../src/protocol/rewardRanges';
import { RUN_ACTIONS, RunState, statusLabel } from '../src/protocol/runState';
import type { DashboardTab, HostToWebviewMessage, RevealTarget, RolloutSteps, RunLocation, WebviewState } from '../src/protocol/webview';
import { paletteColor, SERIES_COLORS } from './chartSpecs';
import { CompareDiffView } from './compareDiff';
import { configDiffTable } from './configDiff';
import { CurvesView, DEFAULT_CURVE_SETTINGS } from './curves';
import { PromptHistoryView } from './promptHistory';
import { DEFAULT_TIMELINE_STATE, PromptTimelineView } from './promptTimeline';
import { DEFAULT_BROWSER_STATE, RolloutBrowser } from './rollouts';
import { loraSummary, sourceSummary } from './runSummary';
import { listen, request, vscode } from './rpc';
import { runTokenFacts } from './tokenColors';
import { button, setDisabled, tabs, tag } from './toolkit';

type PushMessage = Exclude<HostToWebviewMessage, { type: 'response' }>;
type LiveMessage = Exclude<PushMessage, { type: 'show' } | { type: 'compare' }>;

const TABS: { value: DashboardTab; label: string }[] = [
  { value: 'curves', label: 'Curves' },
  { value: 'rollouts', label: 'Rollouts' },
  { value: 'prompt', label: 'Prompt history' },
];

class Dashboard {
  private state: WebviewState;
  /** Runs shown now: one, or the compared ones. */
  private runIds: string[] = [];
  private comparing = false;
  private loading = false;
  private readonly queued: LiveMessage[] = [];
  /**
   * The newest step drawn per run, -1 before any (step 0 is the validation before training): live records that
   * raced the snapshot's read are not drawn twice.
   */
  private lastSteps = new Map<string, number>();
  /** The shown run's state and its label (`interrupted` for a FAILED run whose worker vanished). */
  private runState: { state: RunState; status: RunStatus } = { state: 'RUNNING', status: 'running' };
  private maxSteps: number | undefined;
  /** The SFT warm start's newest progress: the header shows it until the first step's record (step 0's validation). */
  private warmStart: { step: number; steps: number } | undefined;

  private readonly title = document.createElement('h1');
  private readonly statusSlot = document.createElement('span');
  private readonly details = document.createElement('span');
  private readonly progress = document.createElement('span');
  private readonly pauseButton = button('Pause', () => void this.control('pauseRun', 'pause'));
  private readonly continueButton = button('Continue', () => void this.control('continueRun', 'continue'));
  private readonly stopButton = button('Stop', () => void this.control('stopRun', 'stop'));
  private readonly message = document.createElement('pre');
  /** What the run's reader could not do, and why (e.g. tokens shown as ids: no tokenizer found), once per run. */
  private readonly notice = document.createElement('p');
  private readonly tabBar = tabs(TABS, (tab) => this.selectTab(tab));
  private readonly curves: CurvesView;
  private browser: RolloutBrowser;
  private readonly browserSlot = document.createElement('div');
  private readonly history: PromptHistoryView;
  private readonly timeline: PromptTimelineView;
  /** The prompt tab: the prompt × step view above the history table. */
  private readonly promptPanel = document.createElement('div');
  private readonly compareSlot = document.createElement('div');
  /** Compare's diff of one prompt across the compared runs. */
  private readonly compareDiff: CompareDiffView;
  /** The compared runs' labels (as legends show them), by id. */
  private compareLabels = new Map<string, string>();

  constructor(root: HTMLElement) {
    this.state = vscode.getState() ?? {};
    const header = document.createElement('header');
    this.details.className = 'details';
    this.progress.className = 'progress';
    this.message.className = 'message';
    this.message.hidden = true;
    this.notice.className = 'notice';
    this.notice.hidden = true;
    this.pauseButton.title = 'Hold the run after its current step';
    this.continueButton.title = 'Let the paused run go on';
    this.stopButton.title = 'End the run after its current step, with a checkpoint';
    const controls = document.createElement('span');
    controls.className = 'run-controls';
    controls.append(this.pauseButton, this.continueButton, this.stopButton);
    header.append(this.title, this.statusSlot, this.progress, this.details, controls);
    this.curves = new CurvesView(this.state.curves ?? DEFAULT_CURVE_SETTINGS, this.state.pinnedMetrics ?? [], {
      onSettingsChange: (curves) => this.save({ curves }),
      onPinsChange: (pinnedMetrics) => this.savePins(pinnedMetrics),
      onStepClick: (_runId, step, source) => this.openStep({ step, source }),
      save: (fileName, content, encoding) => this.saveFile(fileName, content, encoding),
    });
    this.browser = this.newBrowser();
    this.browserSlot.className = 'tab-panel';
    this.timeline = new PromptTimelineView(this.state.timeline ?? DEFAULT_TIMELINE_STATE, {
      fetchTimeline: (prompt) => request('getPromptTimeline', { runId: this.runIds[0], prompt }),
      fetchTokens: (prompt, source, steps) => request('getPromptTokens', { runId: this.runIds[0], prompt, source, steps }),
      listPrompts: () => request('getPrompts', { runId: this.runIds[0] }),
      pickPrompt: (prompt) => this.openPrompt(prompt),
      open: (target) => this.openStep(target),
      onStateChange: (timeline) => this.save({ timeline }),
      fetchPeers: (prompt) => request('getPromptPeers', { runId: this.runIds[0], prompt }),
      fetchPeerTokens: (peerId, prompt, source, step) => request('getPeerTokens', { peerId, prompt, source, step }),
    });
    this.history = new PromptHistoryView({
      fetch: (prompt) => request('getPromptHistory', { runId: this.runIds[0], prompt }),
      open: (target) => this.openStep(target),
    });
    this.promptPanel.className = 'prompt-panel';
    this.promptPanel.append(this.timeline.element, this.history.element);
    this.compareSlot.className = 'compare';
    this.compareDiff = new CompareDiffView({
      fetchPrompts: () => request('getComparedPrompts', { runIds: this.runIds }),
      fetchRuns: (prompt) => request('getComparedPromptRuns', { runIds: this.runIds, prompt }),
      fetchTokens: (peerId, prompt, source, step) => request('getPeerTokens', { peerId, prompt, source, step }),
      runLabel: (runId) => this.compareLabels.get(runId),
    });
    root.append(header, this.message, this.notice, this.tabBar.element, this.curves.element, this.browserSlot, this.promptPanel, this.compareSlot);
    this.title.textContent = 'GRPO Dashboard';
    this.selectTab(this.state.tab ?? 'curves');
    document.addEventListener('visibilitychange', () => this.browser.setVisible(!this.browserSlot.hidden));
  }

  onMessage(message: PushMessage): void {
    if (message.type === 'show') {
      if (this.isShown(message.runId, message.location) && !this.comparing && !this.loading) {
        if (message.reveal) this.openStep(message.reveal);
      } else void this.load(message.runId, message.reveal, message.location);
      return;
    }
    if (message.type === 'compare') {
      void this.loadComparison(message.runIds, message.locations);
      return;
    }
    if (!this.runIds.includes(message.runId)) return;
    if (this.loading) this.queued.push(message);
    else this.applyLive(message);
  }

  private applyLive(message: LiveMessage): void {
    // A resumed run repeats the steps after its checkpoint: redraw from disk, where the later lines win.
    if (message.type === 'event' && message.event.type === 'started' && message.event.resumedFrom !== undefined && !this.comparing) {
      void this.load(message.runId, undefined, this.state.locations?.[0]);
      return;
    }
    switch (message.type) {
      case 'metrics':
        this.addMetrics(message.runId, message.record);
        break;
      case 'rollouts':
        if (!this.comparing) this.browser.addLiveRecord(message.record);
        break;
      case 'event':
        if (!this.comparing) this.applyEvent(message.event);
        break;
      case 'status':
        if (!this.comparing) this.setStatus(message.state, message.status);
        break;
    }
  }

  private newBrowser(): RolloutBrowser {
    return new RolloutBrowser(this.state.rollouts ?? DEFAULT_BROWSER_STATE, {
      fetch: (step, source) => request('getRollouts', { runId: this.runIds[0], step, source }),
      fetchTokens: (step, source, group, rollout) => request('getTokens', { runId: this.runIds[0], step, source, group, rollout }),
      onStateChange: (rollouts) => this.save({ rollouts }),
      openPromptHistory: (prompt) => this.openPrompt(prompt),
    });
  }

  private openPrompt(prompt: string): void {
    this.save({ prompt });
    this.showPrompt(prompt);
    this.selectTab('prompt');
  }

  private showPrompt(prompt: string): void {
    // The history table (every completion's text: MBs for a long run) is fetched after the view's first rows.
    void this.history.show(prompt, this.timeline.show(prompt));
  }

  /** `location`: where the host says the run is, kept in the saved state so a window reload restores it. */
  private async load(runId: string, reveal: RevealTarget | undefined, location: RunLocation | undefined): Promise<void> {
    const sameRun = this.state.runId === runId && !this.state.compareRunIds && sameFolder(this.state.locations?.[0], location);
    // A different run starts from a clean rollout browser; the same run (a reload) comes back where it was.
    this.state = sameRun ? this.state : { curves: this.state.curves, pinnedMetrics: this.state.pinnedMetrics, tab: this.state.tab === 'prompt' ? 'curves' : this.state.tab };
    this.save({ runId, compareRunIds: undefined, locations: location && [location] });
    this.runIds = [runId];
    this.comparing = false;
    this.loading = true;
    this.title.textContent = runId;
    this.compareSlot.replaceChildren();
    this.showRunTabs(true);
    // The prompt tab of another run would be empty: a different run shows its curves instead.
    if (!sameRun) this.selectTab(this.state.tab ?? 'curves');
    this.browser = this.newBrowser();
    this.browser.setVisible(!this.browserSlot.hidden);
    this.browserSlot.replaceChildren(this.browser.element);
    try {
      const [snapshot, steps, health] = await Promise.all([request('getSnapshot', { runId }), request('getRolloutSteps', { runId }), request('getHealthThresholds', {}), this.restorePins()]);
      this.render(snapshot, steps, health);
      if (reveal) this.openStep(reveal);
      this.timeline.forgetPrompts();
      if (this.state.prompt) this.showPrompt(this.state.prompt);
      else {
        this.history.clear();
        this.timeline.clear();
      }
    } catch (err) {
      this.showMessage(`Cannot read run ${runId}: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      this.loading = false;
      this.queued.splice(0).forEach((m) => this.applyLive(m));
    }
  }

  private render(snapshot: RunSnapshot, steps: RolloutSteps, health: HealthThresholds): void {
    this.maxSteps = snapshot.config?.optimization?.max_steps;
    this.title.textContent = snapshot.config?.name ?? snapshot.runId;
    this.title.title = snapshot.runDir;
    this.message.hidden = true;
    this.details.textContent = '';
    this.lastSteps = new Map();
    this.warmStart = undefined;
    this.curves.setActivity(undefined);
    for (const event of snapshot.events) this.applyEvent(event);
    const lora = loraSummary(snapshot.config?.model?.lora);
    if (lora) this.details.textContent = [this.details.textContent, lora].filter(Boolean).join(' · ');
    const source = sourceSummary(snapshot.source);
    this.details.title = source?.tooltip ?? '';
    if (source) this.details.textContent = [source.text, this.details.textContent].filter(Boolean).join(' · ');
    this.notice.textContent = snapshot.source?.notices?.join('\n') ?? '';
    this.notice.hidden = !snapshot.source?.notices?.length;
    this.setStatus(snapshot.state, snapshot.status);
    // A run opened right after Start may have no config.json yet; its `started` record carries the config.
    const started = snapshot.events.filter((e): e is StartedEvent => e.type === 'started').at(-1);
    const config = snapshot.config ?? started?.config;
    const run = { runId: snapshot.runId, label: snapshot.config?.name ?? snapshot.runId, startTime: snapshot.startTime, rewardRange: rewardRange(config) };
    this.curves.show([{ run, records: snapshot.metrics }], false, { health });
    this.curves.addWarmStart(snapshot.runId, snapshot.events.filter((e): e is WarmStartEvent => e.type === 'warm_start'));
    this.lastSteps = new Map([[snapshot.runId, snapshot.metrics.at(-1)?.step ?? -1]]);
    this.updateProgress();
    this.applyRunConfig(config);
    this.browser.setSteps(steps);
  }

  /**
   * What the rollout browser takes from the run's config: the std estimator its groups' std is computed with, and
   * the supervision mode the advantage legend names. From config.json, or from the `started` record when the
   * dashboard opened before the worker wrote config.json (both paths must read the same).
   */
  private applyRunConfig(config: RunConfig | undefined): void {
    this.browser.setStdEstimator(config?.algorithm?.std_estimator ?? 'unbiased');
    this.browser.setRunFacts(runTokenFacts(config));
    this.timeline.setRunFacts(runTokenFacts(config));
  }

  private async loadComparison(runIds: string[], locations: RunLocation[] | undefined): Promise<void> {
    this.save({ compareRunIds: runIds, tab: 'curves', locations });
    this.runIds = runIds;
    this.comparing = true;
    this.loading = true;
    this.showRunTabs(false);
    this.selectTab('curves');
    this.title.textContent = `Comparing ${runIds.length} runs`;
    this.notice.hidden = true;
    this.statusSlot.replaceChildren();
    this.progress.textContent = '';
    this.details.textContent = '';
    for (const control of this.controlButtons()) setDisabled(control, true);
    this.compareDiff.reset();
    try {
      const [comparison] = await Promise.all([request('getComparison', { runIds }), this.restorePins()]);
      this.compareLabels = new Map(comparison.runs.map((r) => [r.runId, r.label]));
      const colors = comparison.runs.map((_, i) => paletteColor(SERIES_COLORS[i % SERIES_COLORS.length]));
      this.details.textContent = comparison.runs.map((r) => `${r.label} (${r.status})`).join(' · ');
      this.curves.show(
        comparison.runs.map((r) => ({ run: { runId: r.runId, label: r.label, startTime: r.startTime, rewardRange: rewardRange(r.config) }, records: r.metrics })),
        true,
      );
      this.compareSlot.replaceChildren(configDiffTable(comparison, colors), this.compareDiff.element);
      this.lastSteps = new Map(comparison.runs.map((r) => [r.runId, r.metrics.at(-1)?.step ?? -1]));
    } catch (err) {
      this.showMessage(`Cannot compare: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      this.loading = false;
      this.queued.splice(0).forEach((m) => this.applyLive(m));
    }
  }

  /**
   * Whether `runId` at `location` is the run on screen. A run is its folder: two trainers' output folders often
   * share a name (`run`, `output`) and so an id, and opening the second must not keep the first.
   */
  private isShown(runId: string, location: RunLocation | undefined): boolean {
    return runId === this.runIds[0] && sameFolder(this.state.locations?.[0], location);
  }

  private showRunTabs(visible: boolean): void {
    this.tabBar.show('rollouts', visible);
    this.tabBar.show('prompt', visible);
    for (const control of this.controlButtons()) control.hidden = !visible;
    this.compareSlot.hidden = visible;
  }

  private selectTab(tab: DashboardTab): void {
    const shown = this.comparing ? 'curves' : tab;
    this.tabBar.select(shown);
    this.curves.element.hidden = shown !== 'curves';
    this.browserSlot.hidden = shown !== 'rollouts';
    this.browser.setVisible(shown === 'rollouts');
    this.promptPanel.hidden = shown !== 'prompt';
    if (!this.comparing) this.save({ tab: shown });
    if (shown === 'rollouts') this.browser.focusList();
  }

  /** Click on a curve, a prompt-history entry or a tree node: the rollout browser at that step. */
  private openStep(target: RevealTarget): void {
    this.selectTab('rollouts');
    this.browser.reveal(target);
  }

  private addMetrics(runId: string, record: MetricsRecord): void {
    if (record.step <= (this.lastSteps.get(runId) ?? -1)) return;
    this.lastSteps.set(runId, record.step);
    if (!this.comparing) this.updateProgress();
    this.curves.append(runId, record);
  }

  private applyEvent(event: RunEvent): void {
    switch (event.type) {
      case 'started':
        this.details.textContent = `backend ${event.backend} · ${event.device}`;
        this.details.title = event.fallbacks.length ? `Skipped: ${event.fallbacks.join('; ')}` : '';
        // Right after Start the run folder has no config yet: the worker's first record brings it.
        this.maxSteps = event.config.optimization?.max_steps;
        this.title.textContent = event.config.name ?? this.title.textContent;
        this.updateProgress();
        this.applyRunConfig(event.config);
        // A run opened before its config was written learns its reward's range here (the band's bounds).
        if (!this.comparing && this.runIds[0] !== undefined) this.curves.setRewardRange(this.runIds[0], rewardRange(event.config));
        break;
      case 'finished':
        this.setStatus(event.outcome === 'completed' ? 'COMPLETED' : 'STOPPED', event.outcome);
        break;
      case 'error':
        this.setStatus('FAILED', 'failed');
        this.showMessage(event.message);
        break;
      case 'warm_start':
        this.warmStart = { step: event.step, steps: event.steps };
        // A live point (the snapshot's are charted with its metrics, by render()).
        if (!this.loading) {
          this.curves.addWarmStart(this.runIds[0], [event]);
          this.updateProgress();
        }
        break;
      case 'log':
        // Before the first step (the SFT warm start, a model loading) the newest line says what the run is doing;
        // warnings (a backend skipped, a lock taken over) are not what it is doing: they stay in the log.
        if ((this.lastSteps.get(this.runIds[0]) ?? -1) < 0 && event.level === 'info') this.curves.setActivity(event.message);
        break;
      default:
        // pause_requested, paused, continued, stop_requested: the host derives the state again and sends it (`status`).
        break;
    }
  }

  /** The header's state tag and the control buttons each state allows (RUN_ACTIONS, as the tree's menus). */
  private setStatus(state: RunState, status: RunStatus): void {
    this.runState = { state, status };
    this.statusSlot.replaceChildren(tag(statusLabel(status)));
    this.statusSlot.className = `status status-${status}`;
    setDisabled(this.pauseButton, !RUN_ACTIONS.pause(state));
    setDisabled(this.continueButton, !RUN_ACTIONS.continue(state));
    setDisabled(this.stopButton, !RUN_ACTIONS.stop(state));
    // Pause and Continue take turns in one place; while pausing, Continue takes the pause back.
    const holding = state === 'PAUSED' || state === 'PAUSING';
    this.pauseButton.hidden = this.comparing || holding;
    this.continueButton.hidden = this.comparing || !holding;
  }

  private controlButtons(): HTMLElement[] {
    return [this.pauseButton, this.continueButton, this.stopButton];
  }

  private updateProgress(): void {
    const step = this.lastSteps.get(this.runIds[0]) ?? -1;
    // Until step 0's record the run is in its warm start (minutes on a CPU): its SFT progress, not "step 0".
    this.progress.textContent =
      step < 0 && this.warmStart ? `warm start ${this.warmStart.step} / ${this.warmStart.steps}` : `step ${Math.max(0, step)}${this.maxSteps ? ` / ${this.maxSteps}` : ''}`;
  }

  private showMessage(text: string): void {
    this.message.textContent = text;
    this.message.hidden = false;
  }

  /** Pins go to the page's state (a reload) and to the host (a dashboard closed and opened again). */
  private savePins(pinnedMetrics: string[]): void {
    this.save({ pinnedMetrics });
    request('setPinnedMetrics', { pins: pinnedMetrics }).catch((err: unknown) => this.showMessage(`Cannot keep the pins: ${err instanceof Error ? err.message : String(err)}`));
  }

  /** The pins the host kept for the workspace, where it kept any: a new page's state has none. */
  private async restorePins(): Promise<void> {
    const pins = await request('getPinnedMetrics', {}).catch(() => undefined);
    if (!pins) return;
    this.curves.usePins(pins);
    this.save({ pinnedMetrics: pins });
  }

  private save(change: Partial<WebviewState>): void {
    this.state = { ...this.state, ...change };
    vscode.setState(this.state);
  }

  private async saveFile(fileName: string, content: string, encoding: 'utf8' | 'base64'): Promise<string | undefined> {
    try {
      return (await request('saveFile', { fileName, content, encoding })).savedTo;
    } catch (err) {
      this.showMessage(`Export failed: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    }
  }

  /** Stop / Pause / Continue through the host; the new state comes back as a `status` push once the worker acts. */
  private async control(method: 'stopRun' | 'pauseRun' | 'continueRun', action: 'stop' | 'pause' | 'continue'): Promise<void> {
    if (this.comparing || !RUN_ACTIONS[action](this.runState.state)) return;
    const runId = this.runIds[0];
    for (const control of this.controlButtons()) setDisabled(control, true);
    try {
      const result = await request(method, { runId });
      if (!Object.values(result)[0]) this.showMessage(`Cannot ${action} run ${runId} from this window now: it is not attached to the run's worker (it is still attaching to it, or the worker has ended).`);
    } catch (err) {
      this.showMessage(`Cannot ${action} the run: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      // Re-enabled as the current state allows; the `status` push that follows the worker's record updates them.
      if (this.runIds[0] === runId) this.setStatus(this.runState.state, this.runState.status);
    }
  }
}

/** Two locations name one folder; an unknown side (a state saved before locations were kept) does not tell them apart. */
function sameFolder(a: RunLocation | undefined, b: RunLocation | undefined): boolean {
  return !a || !b || a.runDir === b.runDir;
}

const root = document.getElementById('app');
if (root) {
  const dashboard = new Dashboard(root);
  listen((message) => dashboard.onMessage(message));
  vscode.postMessage({ type: 'ready' });
}

