/**
 * One prompt in two runs: under the prompt × step view, "Diff with another run…" asks the host which other runs
 * this window knows (the runs folder, `grpo.watchFolders`, any format) sampled the very same prompt text, then
 * offers that run's samplings and completions. The chosen completion becomes side B of the token diff; side A is the
 * completion last clicked in this run's grid. The Compare panel (compareDiff.ts) uses two of these, one per side,
 * over the compared runs.
 */
import type { RolloutSource } from '../src/protocol/records';
import type { PromptPeer, PromptStepTokens, TimelineOccurrence } from '../src/protocol/webview';
import { formatValue } from './charts';
import { completionScore } from './promptHistory';
import type { DiffSide } from './tokenDiffView';
import { labelled, setOptions, smallButton } from './toolkit';

export interface PeerDiffHost {
  fetchPeers(prompt: string): Promise<PromptPeer[]>;
  fetchTokens(peerId: string, prompt: string, source: RolloutSource, step: number): Promise<PromptStepTokens | undefined>;
  /** The other run's completion picked, and the sampling it is from (undefined: none any more). */
  onChange(side: DiffSide | undefined, occurrence?: TimelineOccurrence): void;
}

/** What a picker says and offers: the prompt view's "Diff with another run…", or one side of Compare's diff. */
export interface PeerPickerOptions {
  /** The button that looks for runs; without one the picker loads when told (`load`). */
  open?: { label: string; title: string };
  /** The run select's label. */
  runLabel: string;
  /** Said when no run sampled the prompt. */
  none: string;
  /** The run chosen at first (an index into the runs found; the first when there are fewer). */
  initialRun?: number;
}

const OTHER_RUN: PeerPickerOptions = {
  open: { label: 'Diff with another run…', title: 'Find other runs that sampled this prompt and diff a completion of theirs against one of this run' },
  runLabel: 'Other run',
  none: 'No other run this window lists (the runs folder, grpo.watchFolders) sampled exactly this prompt.',
};

export class PeerDiffPicker {
  readonly element = document.createElement('div');
  private readonly runSelect = document.createElement('select');
  private readonly stepSelect = document.createElement('select');
  private readonly rolloutSelect = document.createElement('select');
  private readonly pickers = document.createElement('span');
  private readonly status = document.createElement('span');
  private prompt: string | undefined;
  private peers: PromptPeer[] = [];
  /** Bumped on every change: replies for an earlier choice are dropped. */
  private generation = 0;

  constructor(
    private readonly host: PeerDiffHost,
    private readonly options: PeerPickerOptions = OTHER_RUN,
  ) {
    this.element.className = 'toolbar peer-diff';
    const open = options.open && smallButton(options.open.label, options.open.title, () => void this.load());
    this.status.className = 'peer-status';
    this.runSelect.className = 'peer-run';
    this.stepSelect.className = 'peer-step';
    this.rolloutSelect.className = 'peer-rollout';
    this.runSelect.addEventListener('change', () => this.onRun());
    this.stepSelect.addEventListener('change', () => this.onStep());
    this.rolloutSelect.addEventListener('change', () => void this.pick());
    this.pickers.append(labelled(options.runLabel, this.runSelect), labelled('Sampling', this.stepSelect), labelled('Completion', this.rolloutSelect));
    if (open) this.element.append(open);
    this.element.append(this.pickers, this.status);
    this.setPrompt(undefined);
  }

  /** A new prompt (or none): the other run's choice no longer applies. */
  setPrompt(prompt: string | undefined): void {
    this.generation++;
    this.prompt = prompt;
    this.peers = [];
    this.element.hidden = prompt === undefined;
    this.pickers.hidden = true;
    this.status.textContent = '';
    delete this.element.dataset.state;
    this.host.onChange(undefined);
  }

  /** Asks the host for the runs that sampled the prompt and offers their samplings (the button does this too). */
  async load(): Promise<void> {
    const prompt = this.prompt;
    if (prompt === undefined) return;
    const generation = ++this.generation;
    this.status.textContent = 'Looking for other runs that sampled this prompt…';
    this.element.dataset.state = 'loading';
    let peers: PromptPeer[];
    try {
      peers = await this.host.fetchPeers(prompt);
    } catch (err) {
      if (generation === this.generation) this.status.textContent = `Cannot look for other runs: ${err instanceof Error ? err.message : String(err)}`;
      return;
    }
    if (generation !== this.generation) return;
    this.peers = peers;
    this.element.dataset.state = peers.length ? 'ready' : 'none';
    if (peers.length === 0) {
      this.status.textContent = this.options.none;
      return;
    }
    this.status.textContent = '';
    this.pickers.hidden = false;
    const initial = Math.min(this.options.initialRun ?? 0, peers.length - 1);
    setOptions(this.runSelect, peers.map((p, i) => ({ value: String(i), label: `${p.label} (${p.occurrences.length} sampling${p.occurrences.length === 1 ? '' : 's'})` })), String(initial));
    this.onRun();
  }

  private peer(): PromptPeer | undefined {
    return this.peers[Number(this.runSelect.value)];
  }

  private onRun(): void {
    const peer = this.peer();
    if (!peer) return;
    const options = peer.occurrences.map((o, i) => ({ value: String(i), label: `${o.source === 'train' ? 'step' : 'validation at step'} ${o.step}` }));
    setOptions(this.stepSelect, options, String(options.length - 1));
    this.onStep();
  }

  private onStep(): void {
    const occurrence = this.peer()?.occurrences[Number(this.stepSelect.value)];
    if (!occurrence) return;
    setOptions(this.rolloutSelect, occurrence.rollouts.map((r, i) => ({ value: String(i), label: `#${i + 1} · reward ${formatValue(r.reward)}` })), '0');
    void this.pick();
  }

  /** Fetches the chosen completion's tokens and hands it on as side B. */
  private async pick(): Promise<void> {
    const peer = this.peer();
    const occurrence = peer?.occurrences[Number(this.stepSelect.value)];
    const rollout = Number(this.rolloutSelect.value);
    if (!peer || !occurrence || this.prompt === undefined) return;
    const generation = ++this.generation;
    this.status.textContent = 'Reading…';
    try {
      const reply = await this.host.fetchTokens(peer.peerId, this.prompt, occurrence.source, occurrence.step);
      if (generation !== this.generation) return;
      const tokens = reply?.tokens[rollout];
      const summary = occurrence.rollouts[rollout];
      if (!tokens || !summary) {
        this.status.textContent = 'That completion has no token data.';
        this.host.onChange(undefined);
        return;
      }
      this.status.textContent = '';
      const where = `${occurrence.source === 'train' ? 'step' : 'validation at step'} ${occurrence.step}`;
      const unit = reply?.words ? ' — its words: this trainer records no tokens' : '';
      this.host.onChange({ label: `${peer.label}, ${where} #${rollout + 1} (${completionScore(occurrence.source, summary.reward, summary.advantage)})${unit}`, tokens }, occurrence);
    } catch (err) {
      if (generation === this.generation) this.status.textContent = `Cannot read that completion: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
}
