/**
 * The one module that knows which web-component library draws our controls. It is `@vscode/webview-ui-toolkit`
 * today (deprecated upstream since January 2025); moving to `@vscode-elements/elements` means rewriting this file
 * only. The rest of the webview creates controls through these functions.
 */
import { provideVSCodeDesignSystem, vsCodeButton } from '@vscode/webview-ui-toolkit';

// FAST reads the CSP nonce for the <style> elements it creates from <meta property="csp-nonce"> (set by the host).
provideVSCodeDesignSystem().register(vsCodeButton());

export function button(label: string, onClick: () => void, appearance: 'primary' | 'secondary' = 'secondary'): HTMLElement {
  const el = document.createElement('vscode-button');
  el.setAttribute('appearance', appearance);
  el.textContent = label;
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
