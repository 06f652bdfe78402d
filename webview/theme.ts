/** Colours from the VS Code theme (CSS variables on <body>), so everything follows light, dark and high contrast. */

export function themeColor(variable: string, fallback: string): string {
  return getComputedStyle(document.body).getPropertyValue(variable).trim() || fallback;
}

/** `#rrggbb` or `#rrggbbaa` as [r, g, b]; other forms as undefined. */
export function parseHex(color: string): [number, number, number] | undefined {
  const hex = /^#([0-9a-f]{6})([0-9a-f]{2})?$/i.exec(color.trim());
  if (!hex) return undefined;
  const n = parseInt(hex[1], 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

export function withAlpha(color: string, alpha: number): string {
  const rgb = parseHex(color);
  return rgb ? `rgba(${rgb[0]}, ${rgb[1]}, ${rgb[2]}, ${alpha})` : color;
}

/** Calls `onChange` when VS Code switches theme (it swaps the body's `vscode-light`/`vscode-dark` class). */
export function onThemeChange(onChange: () => void): void {
  new MutationObserver(onChange).observe(document.body, { attributes: true, attributeFilter: ['class'] });
}
