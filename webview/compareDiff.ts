/**
 * The Compare panel's diff of one prompt across the compared runs: pick a prompt two or more of them sampled (the
 * host lists them: getComparedPrompts), then for each side a run, a sampling (its step) and a completion, and the
 * token diff of the two (tokenDiffView.ts). Each side is a PeerDiffPicker over the compared runs that sampled the
 * prompt (getComparedPromptRuns); their tokens come through getPeerTokens, as the prompt view's "Diff with another
 * run…" reads them, so verl and TRL runs are diffed by their words there as here. Nothing is read until asked.
 */
import type { RolloutSource } from '../src/protocol/records';
import type { ComparedPrompt, ComparedPromptRun, PromptStepTokens, TimelineOccurrence, TokenQuantity } from '../src/protocol/webview';
import { PeerDiffPicker } from './peerDiff';
import { mergeDomains } from './timelineLayout';
import { QUANTITIES, QUANTITY_ORDER } from './tokenColors';
import { DiffSide, TokenDiffView } from './tokenDiffView';
import { labelled, select, setOptions, smallButton, textField } from './toolkit';

export interface CompareDiffHost {
  fetchPrompts(): Promise<ComparedPrompt[]>;
  fetchRuns(prompt: string): Promise<ComparedPromptRun[]>;
  fetchTokens(peerId: string, prompt: string, source: RolloutSource, step: number): Promise<PromptStepTokens | undefined>;
  /** How the comparison labels a run (legends, table), by its id here. */
  runLabel(runId: string): string | undefined;
}

/** Prompts listed in the select at most: the filter finds the others. */
const LISTED_PROMPTS = 200;

interface Side {
  side: DiffSide | undefined;
  occurrence: TimelineOccurrence | undefined;
}

export class CompareDiffView {
  readonly element = document.createElement('section');
  private readonly open: HTMLButtonElement;
  private readonly controls = document.createElement('div');
  private readonly filter: HTMLInputElement;
  private readonly promptSelect = document.createElement('select');
  private readonly status = document.createElement('p');
  private readonly pickers: [PeerDiffPicker, PeerDiffPicker];
  private readonly sides: [Side, Side] = [{ side: undefined, occurrence: undefined }, { side: undefined, occurrence: undefined }];
  private readonly diff = new TokenDiffView();
  private prompts: ComparedPrompt[] = [];
  private quantity: TokenQuantity = 'advantage';
  /** The runs of the prompt picked, fetched once for both sides. */
  private runs: { prompt: string; reply: Promise<ComparedPromptRun[]> } | undefined;
  /** Bumped on every new comparison: replies for an earlier one are dropped. */
  private generation = 0;

  constructor(private readonly host: CompareDiffHost) {
    this.element.className = 'compare-diff';
    const heading = document.createElement('h2');
    heading.textContent = 'Diff a prompt across runs';
    this.open = smallButton('Choose a prompt…', 'List the prompts two or more of the compared runs sampled, then diff a completion of one run against one of another', () => void this.loadPrompts());
    this.filter = textField('Filter prompts', '', () => this.listPrompts());
    this.filter.className = 'compare-prompt-filter';
    this.promptSelect.className = 'compare-prompt';
    this.promptSelect.addEventListener('change', () => this.pickPrompt());
    const quantity = select(QUANTITY_ORDER.map((q) => ({ value: q, label: QUANTITIES[q].label })), this.quantity, (q) => {
      this.quantity = q;
      this.update();
    });
    const toolbar = document.createElement('div');
    toolbar.className = 'toolbar';
    toolbar.append(labelled('Prompt', this.filter), this.promptSelect, labelled('Values', quantity));
    this.pickers = [this.sidePicker(0, 'Run A'), this.sidePicker(1, 'Run B')];
    this.pickers[0].element.classList.add('compare-side-a');
    this.pickers[1].element.classList.add('compare-side-b');
    this.controls.append(toolbar, this.pickers[0].element, this.pickers[1].element);
    this.status.className = 'summary';
    this.element.append(heading, this.open, this.status, this.controls, this.diff.element);
    this.reset();
  }

  /** A new comparison: nothing is read until the user asks. */
  reset(): void {
    this.generation++;
    this.prompts = [];
    this.runs = undefined;
    this.controls.hidden = true;
    this.open.hidden = false;
    this.status.textContent = '';
    this.element.dataset.state = 'idle';
    for (const picker of this.pickers) picker.setPrompt(undefined);
    this.diff.clear();
  }

  private sidePicker(index: 0 | 1, runLabel: string): PeerDiffPicker {
    return new PeerDiffPicker(
      {
        fetchPeers: (prompt) => this.runsOf(prompt),
        fetchTokens: (peerId, prompt, source, step) => this.host.fetchTokens(peerId, prompt, source, step),
        onChange: (side, occurrence) => {
          this.sides[index] = { side, occurrence };
          this.update();
        },
      },
      // Side B starts on the second run that sampled the prompt: a first diff across runs with no clicks.
      { runLabel, none: 'None of the compared runs sampled this prompt.', initialRun: index },
    );
  }

  /** The compared runs that sampled `prompt`, under the labels the comparison gives them. */
  private runsOf(prompt: string): Promise<ComparedPromptRun[]> {
    if (this.runs?.prompt !== prompt) {
      const reply = this.host.fetchRuns(prompt).then((runs) => runs.map((run) => ({ ...run, label: this.host.runLabel(run.runId) ?? run.label })));
      this.runs = { prompt, reply };
    }
    return this.runs.reply;
  }

  private async loadPrompts(): Promise<void> {
    const generation = this.generation;
    this.status.textContent = 'Reading the prompts of the compared runs…';
    this.element.dataset.state = 'loading';
    let prompts: ComparedPrompt[];
    try {
      prompts = await this.host.fetchPrompts();
    } catch (err) {
      if (generation === this.generation) this.status.textContent = `Cannot list the prompts: ${err instanceof Error ? err.message : String(err)}`;
      return;
    }
    if (generation !== this.generation) return;
    this.prompts = prompts;
    if (prompts.length === 0) {
      this.element.dataset.state = 'none';
      this.status.textContent = 'No prompt was sampled by two of the compared runs (the exact text must match).';
      return;
    }
    this.open.hidden = true;
    this.controls.hidden = false;
    this.element.dataset.state = 'ready';
    this.status.textContent = `${prompts.length} prompt${prompts.length === 1 ? '' : 's'} sampled by two or more of the compared runs.`;
    this.listPrompts();
  }

  /** The prompts matching the filter, most shared first; keeps the prompt picked when it still matches. */
  private listPrompts(): void {
    const needle = this.filter.value.trim().toLowerCase();
    const matching = this.prompts.filter((p) => !needle || p.prompt.toLowerCase().includes(needle)).slice(0, LISTED_PROMPTS);
    const current = this.promptSelect.value;
    const options = matching.map((p) => ({ value: p.prompt, label: `${oneLine(p.prompt)} — ${p.runIds.length} runs, ${p.samplings} samplings` }));
    setOptions(this.promptSelect, options, matching.some((p) => p.prompt === current) ? current : (matching[0]?.prompt ?? ''));
    if (this.promptSelect.value !== current) this.pickPrompt();
  }

  private pickPrompt(): void {
    const prompt = this.prompts.find((p) => p.prompt === this.promptSelect.value)?.prompt;
    this.promptSelect.title = prompt ?? '';
    for (const picker of this.pickers) picker.setPrompt(prompt);
    if (prompt === undefined) return;
    for (const picker of this.pickers) void picker.load();
  }

  private update(): void {
    const [a, b] = this.sides;
    if (!a.side || !b.side) {
      this.diff.prompt(this.promptSelect.value ? 'Pick a run, a sampling and a completion on each side.' : '');
      return;
    }
    // One scale for both sides: the two samplings' domains merged, as the prompt view merges its steps'.
    const domains = mergeDomains([a.occurrence, b.occurrence].filter((o): o is TimelineOccurrence => o !== undefined));
    this.diff.show(a.side, b.side, this.quantity, domains[this.quantity]);
  }
}

function oneLine(text: string, max = 80): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat || '∅ (empty)';
}
