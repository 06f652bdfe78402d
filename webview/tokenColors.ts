/**
 * How the per-token view colours a token by one quantity. Pure functions (no DOM): the webview tests recompute the
 * expected colour of every token from the fixture's values with these and compare with what the page shows.
 *
 * Each quantity has a scale: diverging ones (advantage, log ratio) colour by sign with intensity |v| / max|v|;
 * sequential ones by how far the value is from the unremarkable end (a very unlikely token, a large KL, a high
 * entropy); the clip flags are categorical. The domain spans the whole step (the host computes it), so colours
 * compare across completions.
 */
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
  advantage: { label: 'advantage', description: 'A: one value per completion (outcome), per token under step supervision', scale: 'diverging' },
  logprob: { label: 'log-prob', description: 'log π_θ(token): darker = less likely', scale: 'sequential-low' },
  old_logprob: { label: 'old log-prob', description: 'log π_old(token) at sampling: darker = less likely', scale: 'sequential-low' },
  ref_logprob: { label: 'ref log-prob', description: 'log π_ref(token): darker = less likely', scale: 'sequential-low' },
  ratio: { label: 'ratio', description: 'π_θ / π_old, coloured by log ratio: above 1 vs below 1', scale: 'diverging' },
  clipped: { label: 'clipped', description: 'clipped below 1 − ε_low / above 1 + ε_high', scale: 'categorical' },
  kl: { label: 'KL', description: 'per-token KL to the reference: darker = larger', scale: 'sequential-high' },
  entropy: { label: 'entropy', description: 'policy entropy at the token: darker = higher', scale: 'sequential-high' },
};

export { TOKEN_QUANTITIES as QUANTITY_ORDER, tokenValue, hasQuantity, domainOf } from '../src/protocol/tokenQuantities';

/** Bounds of a quantity's colour scale. */
export interface Domain {
  min: number;
  max: number;
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
