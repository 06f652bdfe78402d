/** The compare view's config table: the fields in which the compared runs' configs differ. */
import type { Comparison } from '../src/protocol/webview';

/**
 * Writes `text` into `cell` with a line-break opportunity (<wbr>) wherever `breakAfter` matches: a JSON value
 * (`[{"name":"a","weight":1},…]`) or a dotted field path has no spaces, and would otherwise wrap nowhere (or, with
 * `overflow-wrap: anywhere` alone, in the middle of a name). The cell's text stays the value, whole.
 */
function textWithBreaks(cell: HTMLElement, text: string, breakAfter: RegExp): void {
  const parts = text.split(breakAfter);
  cell.replaceChildren();
  parts.forEach((part, i) => {
    if (i > 0) cell.append(document.createElement('wbr'));
    cell.append(part);
  });
}

/** After each comma (between a JSON list's items and an object's fields) and slash (in a path), kept with the text before it. */
const JSON_BREAKS = /(?<=[,/])/;
/** After each dot of a field path (`optimization.` `learning_rate`). */
const PATH_BREAKS = /(?<=\.)/;

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
    textWithBreaks(row.insertCell(), difference.path, PATH_BREAKS);
    for (const value of difference.values) {
      const td = row.insertCell();
      td.className = value === undefined ? 'missing' : 'value';
      textWithBreaks(td, value ?? '—', JSON_BREAKS);
    }
  }
  section.append(table);
  return section;
}
