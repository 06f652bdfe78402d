/**
 * One prompt across steps: every time it was sampled (at training steps, and on the validation set at every
 * evaluation), with its completions and rewards, so you can read how the answer changed as the policy learned.
 * Clicking a completion opens it in the rollout browser.
 */
import { RolloutSource, scoredMean, StoredNumber } from '../src/protocol/records';
import type { PromptHistory, PromptOccurrence, RevealTarget } from '../src/protocol/webview';
import { formatValue } from './charts';

/** Table rows drawn per task. */
const ROWS_PER_CHUNK = 50;

export interface PromptHistoryHost {
  fetch(prompt: string): Promise<PromptHistory>;
  open(target: RevealTarget): void;
}

function cell(row: HTMLTableRowElement, content: string | Node, className = ''): HTMLTableCellElement {
  const td = row.insertCell();
  td.className = className;
  td.append(content);
  return td;
}

/** A completion's reward against its group's mean; a failed reward (null) is marked as such. */
function chipClass(reward: StoredNumber, mean: number): string {
  if (reward === null) return 'failed';
  return reward > mean ? 'above' : reward < mean ? 'below' : 'even';
}

/**
 * How a completion reads in a label: its reward, and its advantage where it had one. Validation completions are
 * never trained on, so the trainer stores 0 for their advantage: printing "advantage 0" would claim a value.
 */
export function completionScore(source: RolloutSource, reward: StoredNumber, advantage: number): string {
  return source === 'train' ? `reward ${formatValue(reward)}, advantage ${formatValue(advantage)}` : `reward ${formatValue(reward)}`;
}

export class PromptHistoryView {
  readonly element = document.createElement('section');
  private readonly prompt = document.createElement('pre');
  private readonly summary = document.createElement('p');
  private readonly table = document.createElement('table');
  private loadToken = 0;

  constructor(private readonly host: PromptHistoryHost) {
    this.element.className = 'prompt-history';
    this.prompt.className = 'prompt-text';
    this.summary.className = 'summary';
    this.table.className = 'history-table';
    const head = this.table.createTHead().insertRow();
    for (const title of ['step', 'samples', 'mean reward', 'completions (click to open)']) {
      const th = document.createElement('th');
      th.textContent = title;
      head.append(th);
    }
    this.table.createTBody();
    this.element.append(this.prompt, this.summary, this.table);
    this.clear();
  }

  clear(): void {
    // A history still being fetched (for the run shown before) must not land here afterwards.
    this.loadToken++;
    this.prompt.textContent = '';
    this.summary.textContent = 'Pick a prompt in the rollout browser ("history" on a group, or H).';
    this.table.tBodies[0].replaceChildren();
  }

  /** Shows `prompt`'s history, fetched once `after` settles (the prompt × step view above goes first). */
  async show(prompt: string, after: Promise<unknown> = Promise.resolve()): Promise<void> {
    const token = ++this.loadToken;
    this.prompt.textContent = prompt;
    this.summary.textContent = 'Reading every step…';
    this.table.tBodies[0].replaceChildren();
    delete this.table.dataset.rows;
    try {
      await after.catch(() => undefined);
      if (token !== this.loadToken) return;
      const history = await this.host.fetch(prompt);
      if (token === this.loadToken) this.render(history);
    } catch (err) {
      if (token === this.loadToken) this.summary.textContent = `Cannot read the history: ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  private render(history: PromptHistory): void {
    const train = history.occurrences.filter((o) => o.source === 'train').length;
    const evals = history.occurrences.length - train;
    this.summary.textContent = `Sampled at ${train} training step${train === 1 ? '' : 's'}${evals ? ` and ${evals} evaluation${evals === 1 ? '' : 's'}` : ''}.`;
    this.table.tBodies[0].replaceChildren();
    this.renderRows(history.occurrences, 0, this.loadToken);
  }

  /**
   * Rows in chunks, one chunk per task: a prompt sampled at 1,000 steps has 8,000 chips, and drawn at once they would
   * hold the page (and the prompt × step view above, waiting for its tokens) for seconds.
   */
  private renderRows(occurrences: readonly PromptOccurrence[], from: number, token: number): void {
    if (token !== this.loadToken) return; // another prompt (or run) since
    const end = Math.min(occurrences.length, from + ROWS_PER_CHUNK);
    const body = this.table.tBodies[0];
    for (let i = from; i < end; i++) this.renderRow(body, occurrences[i]);
    this.table.dataset.rows = String(end);
    if (end < occurrences.length) setTimeout(() => this.renderRows(occurrences, end, token), 0);
  }

  private renderRow(body: HTMLTableSectionElement, occurrence: PromptOccurrence): void {
    const row = body.insertRow();
    row.dataset.step = String(occurrence.step);
    row.dataset.source = occurrence.source;
    const mean = scoredMean(occurrence.rollouts.map((r) => r.reward));
    cell(row, String(occurrence.step), 'number');
    const source = document.createElement('span');
    source.className = `tag source-${occurrence.source}`;
    source.textContent = occurrence.source === 'train' ? 'training' : 'validation';
    cell(row, source);
    cell(row, formatValue(mean), 'number');
    const chips = document.createElement('div');
    chips.className = 'chips';
    occurrence.rollouts.forEach((rollout, i) => {
      const chip = document.createElement('button');
      chip.type = 'button';
      chip.className = `chip ${chipClass(rollout.reward, mean)}`;
      chip.title = `completion ${i + 1} · ${completionScore(occurrence.source, rollout.reward, rollout.advantage).replace(', ', ' · ')} · ${rollout.length} tokens · ${rollout.finish_reason}`;
      const reward = document.createElement('span');
      reward.className = 'chip-reward';
      reward.textContent = formatValue(rollout.reward);
      const completion = document.createElement('span');
      completion.className = 'chip-text';
      completion.textContent = rollout.completion || '∅';
      chip.append(reward, completion);
      chip.addEventListener('click', () => this.host.open({ step: occurrence.step, source: occurrence.source, group: occurrence.group, rollout: i }));
      chips.append(chip);
    });
    cell(row, chips);
  }
}
