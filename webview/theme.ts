/** Colours from the VS Code theme (CSS variables on <body>), so everything follows light, dark and high contrast. */

/**
 * Theme variables read so far. Charts ask for their colours on every draw, and getComputedStyle may first have to
 * recompute styles the draw just invalidated: the values are kept until VS Code changes the theme (it sets the
 * variables on <html>'s style and swaps <body>'s theme class).
 */
const themeColors = new Map<string, string>();
let watchingTheme = false;

export function themeColor(variable: string, fallback: string): string {
  if (!watchingTheme) {
    watchingTheme = true;
    const forget = new MutationObserver(() => themeColors.clear());
    forget.observe(document.documentElement, { attributes: true, attributeFilter: ['style', 'class'] });
    forget.observe(document.body, { attributes: true, attributeFilter: ['style', 'class'] });
  }
  let value = themeColors.get(variable);
  if (value === undefined) {
    value = getComputedStyle(document.body).getPropertyValue(variable).trim();
    themeColors.set(variable, value);
  }
  return value || fallback;
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
  new MutationObserver(() => {
    // Before the listener reads any colour (the cache's own observer may be called after this one).
    themeColors.clear();
    onChange();
  }).observe(document.body, { attributes: true, attributeFilter: ['class'] });
}
