/**
 * The one module that knows which web-component library draws our controls. It is `@vscode/webview-ui-toolkit`
 * today (deprecated upstream since January 2025); moving to `@vscode-elements/elements` means rewriting this file
 * only. The rest of the webview creates controls through these functions. Inputs the toolkit draws with inline
 * styles (which our CSP blocks) or that need no web component are native elements styled in dashboard.css.
 */
import { provideVSCodeDesignSystem, vsCodeButton } from '@vscode/webview-ui-toolkit';

// FAST reads the CSP nonce for the <style> elements it creates from <meta property="csp-nonce"> (set by the host).
provideVSCodeDesignSystem().register(vsCodeButton());

export function button(label: string, onClick: () => void, appearance: 'primary' | 'secondary' = 'secondary'): HTMLElement {
  const el = document.createElement('vscode-button');
  // Styled through this class: the stylesheet must not name the library's tags either.
  el.className = 'toolkit-button';
  el.setAttribute('appearance', appearance);
  el.textContent = label;
  el.addEventListener('click', onClick);
  return el;
}

/** A compact text button for toolbars and figure captions (e.g. "PNG", "CSV", "◀"). */
export function smallButton(label: string, title: string, onClick: () => void): HTMLButtonElement {
  const el = document.createElement('button');
  el.type = 'button';
  el.className = 'small-button';
  el.textContent = label;
  el.title = title;
  el.addEventListener('click', onClick);
  return el;
}

export function setDisabled(control: HTMLElement, disabled: boolean): void {
  control.toggleAttribute('disabled', disabled);
}

/**
 * A small label, e.g. a run's status. Plain markup styled like the toolkit's tag: `vscode-tag`'s template sets an
 * inline style attribute, which our CSP (no 'unsafe-inline') rightly blocks.
 */
export function tag(text: string): HTMLElement {
  const el = document.createElement('span');
  el.className = 'tag';
  el.textContent = text;
  return el;
}

/** A labelled control: `<label>text <control></label>`. */
export function labelled(text: string, control: HTMLElement): HTMLLabelElement {
  const label = document.createElement('label');
  label.className = 'field';
  label.append(text, control);
  return label;
}

export function select<T extends string>(options: readonly { value: T; label: string }[], value: T, onChange: (value: T) => void): HTMLSelectElement {
  const el = document.createElement('select');
  setOptions(el, options, value);
  el.addEventListener('change', () => onChange(el.value as T));
  return el;
}

export function setOptions(el: HTMLSelectElement, options: readonly { value: string; label: string }[], value: string): void {
  el.replaceChildren(...options.map((o) => new Option(o.label, o.value, false, o.value === value)));
}

export function checkbox(checked: boolean, onChange: (checked: boolean) => void): HTMLInputElement {
  const el = document.createElement('input');
  el.type = 'checkbox';
  el.checked = checked;
  el.addEventListener('change', () => onChange(el.checked));
  return el;
}

export function slider(min: number, max: number, step: number, value: number, onInput: (value: number) => void): HTMLInputElement {
  const el = document.createElement('input');
  el.type = 'range';
  el.min = String(min);
  el.max = String(max);
  el.step = String(step);
  el.value = String(value);
  el.addEventListener('input', () => onInput(Number(el.value)));
  return el;
}

export function textField(placeholder: string, value: string, onInput: (value: string) => void, type: 'search' | 'number' = 'search'): HTMLInputElement {
  const el = document.createElement('input');
  el.type = type;
  el.placeholder = placeholder;
  el.value = value;
  if (type === 'number') el.step = 'any';
  el.addEventListener('input', () => onInput(el.value));
  return el;
}

/** Tab buttons; the active one is marked with aria-selected (styled in dashboard.css). */
export function tabs<T extends string>(items: readonly { value: T; label: string }[], onSelect: (value: T) => void): { element: HTMLElement; select(value: T): void; show(value: T, visible: boolean): void } {
  const bar = document.createElement('div');
  bar.className = 'tabs';
  bar.setAttribute('role', 'tablist');
  const buttons = new Map<T, HTMLButtonElement>();
  for (const item of items) {
    const b = document.createElement('button');
    b.type = 'button';
    b.setAttribute('role', 'tab');
    b.dataset.tab = item.value;
    b.textContent = item.label;
    b.addEventListener('click', () => onSelect(item.value));
    buttons.set(item.value, b);
    bar.append(b);
  }
  return {
    element: bar,
    select: (value) => buttons.forEach((b, v) => b.setAttribute('aria-selected', String(v === value))),
    show: (value, visible) => {
      const b = buttons.get(value);
      if (b) b.hidden = !visible;
    },
  };
}
