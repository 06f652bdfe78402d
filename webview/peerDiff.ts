/**
 * One prompt in two runs: under the prompt × step view, "Diff with another run…" asks the host which other runs
 * this window knows (the runs folder, `grpo.watchFolders`, any format) sampled the very same prompt text, then
 * offers that run's samplings and completions. The chosen completion becomes side B of the token diff; side A is the
 * completion last clicked in this run's grid.
 */
import type { RolloutSource } from '../src/protocol/records';
import type { PromptPeer, PromptStepTokens } from '../src/protocol/webview';
import { formatValue } from './charts';
import type { DiffSide } from './tokenDiffView';
import { labelled, setOptions, smallButton } from './toolkit';

export interface PeerDiffHost {
  fetchPeers(prompt: string): Promise<PromptPeer[]>;
  fetchTokens(peerId: string, prompt: string, source: RolloutSource, step: number): Promise<PromptStepTokens | undefined>;
  /** The other run's completion picked (undefined: none any more). */
  onChange(side: DiffSide | undefined): void;
}

export class PeerDiffPicker {
  readonly element = document.createElement('div');
  private readonly open: HTMLButtonElement;
  private readonly runSelect = document.createElement('select');
  private readonly stepSelect = document.createElement('select');
  private readonly rolloutSelect = document.createElement('select');
  private readonly pickers = document.createElement('span');
  private readonly status = document.createElement('span');
  private prompt: string | undefined;
  private peers: PromptPeer[] = [];
  /** Bumped on every change: replies for an earlier choice are dropped. */
  private generation = 0;

  constructor(private readonly host: PeerDiffHost) {
    this.element.className = 'toolbar peer-diff';
    this.open = smallButton('Diff with another run…', 'Find other runs that sampled this prompt and diff a completion of theirs against one of this run', () => void this.loadPeers());
    this.status.className = 'peer-status';
    this.runSelect.className = 'peer-run';
    this.stepSelect.className = 'peer-step';
    this.rolloutSelect.className = 'peer-rollout';
    this.runSelect.addEventListener('change', () => this.onRun());
    this.stepSelect.addEventListener('change', () => this.onStep());
    this.rolloutSelect.addEventListener('change', () => void this.pick());
    this.pickers.append(labelled('Other run', this.runSelect), labelled('Sampling', this.stepSelect), labelled('Completion', this.rolloutSelect));
    this.element.append(this.open, this.pickers, this.status);
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

  private async loadPeers(): Promise<void> {
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
      this.status.textContent = 'No other run this window lists (the runs folder, grpo.watchFolders) sampled exactly this prompt.';
      return;
    }
    this.status.textContent = '';
    this.pickers.hidden = false;
    setOptions(this.runSelect, peers.map((p, i) => ({ value: String(i), label: `${p.label} (${p.occurrences.length} sampling${p.occurrences.length === 1 ? '' : 's'})` })), '0');
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
      this.host.onChange({ label: `${peer.label}, ${where} #${rollout + 1} (reward ${formatValue(summary.reward)}, advantage ${formatValue(summary.advantage)})${unit}`, tokens });
    } catch (err) {
      if (generation === this.generation) this.status.textContent = `Cannot read that completion: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
}
