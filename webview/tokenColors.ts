/**
 * How the per-token view colours a token by one quantity. Pure functions (no DOM): the webview tests recompute the
 * expected colour of every token from the fixture's values with these and compare with what the page shows.
 *
 * Each quantity has a scale: diverging ones (advantage, log ratio) colour by sign with intensity |v| / max|v|;
 * sequential ones by how far the value is from the unremarkable end (a very unlikely token, a large KL, a high
 * entropy); the clip flags are categorical. The domain is computed over the whole step, so colours compare across
 * completions.
 */
import type { TokenColumns } from '../src/protocol/records';
import type { TokenQuantity } from '../src/protocol/webview';

export type Rgb = [number, number, number];

/** The colours the scales use, read from the theme by the view (tests pass fixed ones). */
export interface TokenPalette {
  positive: Rgb;
  negative: Rgb;
  high: Rgb;
}

export interface QuantitySpec {
  label: string;
  description: string;
  scale: 'diverging' | 'sequential-low' | 'sequential-high' | 'categorical';
}

export const QUANTITIES: Record<TokenQuantity, QuantitySpec> = {
  advantage: { label: 'advantage', description: 'A (per token under process supervision)', scale: 'diverging' },
  logprob: { label: 'log-prob', description: 'log π_θ(token): darker = less likely', scale: 'sequential-low' },
  old_logprob: { label: 'old log-prob', description: 'log π_old(token) at sampling: darker = less likely', scale: 'sequential-low' },
  ref_logprob: { label: 'ref log-prob', description: 'log π_ref(token): darker = less likely', scale: 'sequential-low' },
  ratio: { label: 'ratio', description: 'π_θ / π_old, coloured by log ratio: above 1 vs below 1', scale: 'diverging' },
  clipped: { label: 'clipped', description: 'clipped below 1 − ε_low / above 1 + ε_high', scale: 'categorical' },
  kl: { label: 'KL', description: 'per-token KL to the reference: darker = larger', scale: 'sequential-high' },
  entropy: { label: 'entropy', description: 'policy entropy at the token: darker = higher', scale: 'sequential-high' },
};

export const QUANTITY_ORDER: readonly TokenQuantity[] = ['advantage', 'logprob', 'old_logprob', 'ref_logprob', 'ratio', 'clipped', 'kl', 'entropy'];

/** The value a token is coloured by: the ratio as log ratio; clip flags as −1 (low), +1 (high), 0. */
export function tokenValue(tokens: TokenColumns, quantity: TokenQuantity, i: number): number | undefined {
  switch (quantity) {
    case 'ratio': {
      const r = tokens.ratio?.[i];
      return r === undefined ? undefined : Math.log(r);
    }
    case 'clipped': {
      if (!tokens.clipped_low && !tokens.clipped_high) return undefined;
      return tokens.clipped_low?.[i] ? -1 : tokens.clipped_high?.[i] ? 1 : 0;
    }
    default:
      return tokens[quantity]?.[i];
  }
}

export function hasQuantity(tokens: TokenColumns, quantity: TokenQuantity): boolean {
  return quantity === 'clipped' ? Boolean(tokens.clipped_low || tokens.clipped_high) : tokens[quantity] !== undefined;
}

export interface Domain {
  min: number;
  max: number;
}

/** Min and max of the finite values of `quantity` over many completions. */
export function domainOf(completions: readonly TokenColumns[], quantity: TokenQuantity): Domain | undefined {
  let min = Infinity;
  let max = -Infinity;
  for (const tokens of completions) {
    for (let i = 0; i < tokens.text.length; i++) {
      const v = tokenValue(tokens, quantity, i);
      if (v === undefined || !Number.isFinite(v)) continue;
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  return min <= max ? { min, max } : undefined;
}

const MIN_ALPHA = 0.08;
const MAX_ALPHA = 0.8;

/** Colour intensity in [0, 1] and which hue, for one value. */
export function intensity(quantity: TokenQuantity, value: number, domain: Domain): { t: number; hue: keyof TokenPalette } {
  const scale = QUANTITIES[quantity].scale;
  if (scale === 'categorical') return { t: value === 0 ? 0 : 1, hue: value < 0 ? 'negative' : 'positive' };
  if (scale === 'diverging') {
    const extent = Math.max(Math.abs(domain.min), Math.abs(domain.max));
    return { t: extent > 0 ? Math.abs(value) / extent : 0, hue: value < 0 ? 'negative' : 'positive' };
  }
  const span = domain.max - domain.min;
  const fromQuiet = scale === 'sequential-low' ? domain.max - value : value - domain.min;
  return { t: span > 0 ? fromQuiet / span : 0, hue: 'high' };
}

/** The token's background as CSS `rgba(…)`, or '' (no colour) when it has no value. */
export function tokenColor(quantity: TokenQuantity, value: number | undefined, domain: Domain | undefined, palette: TokenPalette): string {
  if (value === undefined || !Number.isFinite(value) || !domain) return '';
  const { t, hue } = intensity(quantity, value, domain);
  if (t === 0) return '';
  const [r, g, b] = palette[hue];
  const alpha = Math.round((MIN_ALPHA + (MAX_ALPHA - MIN_ALPHA) * Math.min(1, t)) * 1000) / 1000;
  return `rgba(${r}, ${g}, ${b}, ${alpha})`;
}

/** How a token's text is shown: whitespace made visible, special tokens marked. */
export function displayToken(text: string): { shown: string; special: boolean; lineBreak: boolean } {
  const special = /^<\|[^|]*\|>$|^<\/?s>$|^\[[A-Z_]+\]$/.test(text);
  const lineBreak = text.includes('\n');
  const shown = text.length === 0 ? '∅' : text.replace(/ /g, '·').replace(/\t/g, '→').replace(/\r/g, '␍').replace(/\n/g, '↵');
  return { shown, special, lineBreak };
}
