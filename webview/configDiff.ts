/** The compare view's config table: the fields in which the compared runs' configs differ. */
import type { Comparison } from '../src/protocol/webview';

export function configDiffTable(comparison: Comparison, runColors: string[]): HTMLElement {
  const section = document.createElement('section');
  section.className = 'config-diff';
  const heading = document.createElement('h2');
  heading.textContent = 'Config differences';
  section.append(heading);
  if (comparison.differences.length === 0) {
    const same = document.createElement('p');
    same.textContent = 'The configs are identical.';
    section.append(same);
    return section;
  }
  const table = document.createElement('table');
  const head = table.createTHead().insertRow();
  const field = document.createElement('th');
  field.textContent = 'field';
  head.append(field);
  comparison.runs.forEach((run, i) => {
    const th = document.createElement('th');
    const swatch = document.createElement('span');
    swatch.className = 'run-swatch';
    swatch.style.backgroundColor = runColors[i] ?? '';
    th.append(swatch, run.label);
    th.title = run.runId;
    head.append(th);
  });
  const body = table.createTBody();
  for (const difference of comparison.differences) {
    const row = body.insertRow();
    row.insertCell().textContent = difference.path;
    for (const value of difference.values) {
      const td = row.insertCell();
      td.className = value === undefined ? 'missing' : 'value';
      td.textContent = value ?? '—';
    }
  }
  section.append(table);
  return section;
}
