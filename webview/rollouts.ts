/**
 * The latest step's rollouts as a table: one row per completion, grouped by prompt. Model output is untrusted and
 * only ever inserted with textContent.
 */
import type { RolloutsRecord } from '../src/protocol/records';

function cell(row: HTMLTableRowElement, text: string, className?: string): HTMLTableCellElement {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function signClass(value: number): string {
  return value > 0 ? 'positive' : value < 0 ? 'negative' : 'zero';
}

/** Shows whitespace that would otherwise vanish in a cell. */
function visibleText(text: string): string {
  return text.length === 0 ? '∅ (empty)' : text.replace(/\n/g, '↵\n');
}

export class RolloutTable {
  private readonly heading = document.createElement('h2');
  private readonly table = document.createElement('table');

  constructor(container: HTMLElement) {
    const section = document.createElement('section');
    section.className = 'rollouts';
    this.heading.textContent = 'Rollouts';
    this.table.className = 'rollout-table';
    const head = this.table.createTHead().insertRow();
    for (const title of ['group', 'prompt', 'completion', 'reward', 'advantage', 'finish']) {
      const th = document.createElement('th');
      th.textContent = title;
      head.append(th);
    }
    this.table.createTBody();
    section.append(this.heading, this.table);
    container.append(section);
  }

  get rowCount(): number {
    return this.table.tBodies[0].rows.length;
  }

  show(record: RolloutsRecord | undefined): void {
    const body = this.table.tBodies[0];
    body.replaceChildren();
    if (!record) {
      this.heading.textContent = 'Rollouts (none yet)';
      return;
    }
    const total = record.groups.reduce((n, g) => n + g.rollouts.length, 0);
    this.heading.textContent = `Rollouts at step ${record.step} (${record.groups.length} group${record.groups.length === 1 ? '' : 's'}, ${total} completions)`;
    record.groups.forEach((group, g) => {
      group.rollouts.forEach((rollout, i) => {
        const row = body.insertRow();
        row.className = i === 0 ? 'group-start' : '';
        cell(row, i === 0 ? String(g + 1) : '');
        cell(row, i === 0 ? visibleText(group.prompt) : '', 'text');
        cell(row, visibleText(rollout.completion), 'text completion');
        cell(row, rollout.reward.toFixed(3), 'number');
        cell(row, rollout.advantage.toFixed(3), `number ${signClass(rollout.advantage)}`);
        cell(row, rollout.finish_reason);
      });
    });
  }
}
