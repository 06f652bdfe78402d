/**
 * How the per-token view colours a token by one quantity. Pure functions (no DOM): the webview tests recompute the
 * expected colour of every token from the fixture's values with these and compare with what the page shows.
 *
 * Each quantity has a scale: diverging ones (advantage, log ratio) colour by sign with intensity |v| / max|v|;
 * sequential ones by how far the value is from the unremarkable end (a very unlikely token, a large KL, a high
 * entropy); the clip flags are categorical. The domain spans the whole step (the host computes it), so colours
 * compare across completions; its robust bounds let outliers saturate rather than set the scale. Text on a
 * coloured token takes whichever colour keeps WCAG's 4.5:1 contrast on it.
 */
import type { AlgorithmConfig, RunConfig, StdEstimator } from '../src/protocol/config';
import { TOKEN_QUANTITIES } from '../src/protocol/tokenQuantities';
import type { TokenDomain, TokenDomains, TokenQuantity } from '../src/protocol/webview';

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
  advantage: { label: 'advantage', description: 'A: one value per completion (outcome supervision), per token under process supervision', scale: 'diverging' },
  logprob: { label: 'log-prob', description: 'log π_θ(token): darker = less likely', scale: 'sequential-low' },
  old_logprob: { label: 'old log-prob', description: 'log π_old(token) at sampling: darker = less likely', scale: 'sequential-low' },
  ref_logprob: { label: 'ref log-prob', description: 'log π_ref(token): darker = less likely', scale: 'sequential-low' },
  ratio: { label: 'ratio', description: 'π_θ / π_old, coloured by log ratio: above 1 vs below 1', scale: 'diverging' },
  clipped: { label: 'clipped', description: 'clipped below 1 − ε_low / above 1 + ε_high', scale: 'categorical' },
  kl: { label: 'KL', description: 'per-token KL to the reference: darker = larger', scale: 'sequential-high' },
  entropy: { label: 'entropy', description: 'policy entropy at the token: darker = higher', scale: 'sequential-high' },
};

export { TOKEN_QUANTITIES as QUANTITY_ORDER, tokenValue, hasQuantity, domainOf } from '../src/protocol/tokenQuantities';

/** What the run's config says about its tokens: how advantages were assigned, and whether π_old is π_θ. */
export interface RunTokenFacts {
  supervision: AlgorithmConfig['supervision'];
  /** μ = 1 and one step per generation: every step trains on its own fresh samples, so π_θ / π_old is 1. */
  onPolicy: boolean;
  /** How the trainer took a group's reward std (the prompt history's within-group spread uses the same). */
  stdEstimator: StdEstimator;
}

/** The facts from a run's config; undefined for a run without one (its legends stay general). */
export function runTokenFacts(config: RunConfig | undefined): RunTokenFacts | undefined {
  // Optional chaining: configs of runs written by older versions may lack sections.
  const algorithm = config?.algorithm;
  if (!algorithm) return undefined;
  return {
    supervision: algorithm.supervision ?? 'outcome',
    onPolicy: (algorithm.num_iterations ?? 1) === 1 && (config.optimization?.steps_per_generation ?? 1) === 1,
    stdEstimator: algorithm.std_estimator ?? 'unbiased',
  };
}

const ADVANTAGE_BY_SUPERVISION: Record<AlgorithmConfig['supervision'], string> = {
  outcome: 'A: one value per completion (outcome supervision), shared by all its tokens',
  process: 'A per token (process supervision): the normalised rewards of the steps that end at or after the token',
  discounted_returns: 'A per token: the discounted return from the token on, normalised across the group at each position',
};

/** The legend's wording for a quantity, in the run's own terms where the run decides it (the advantage's mode). */
export function quantityDescription(quantity: TokenQuantity, facts: RunTokenFacts | undefined): string {
  if (quantity === 'advantage' && facts) return ADVANTAGE_BY_SUPERVISION[facts.supervision];
  if (quantity === 'ratio' && facts?.onPolicy) return ON_POLICY_RATIO_DESCRIPTION;
  return QUANTITIES[quantity].description;
}

/** |log ratio| up to which a stored ratio is 1: exactly (float32 storage) off-policy, or up to the float rounding
 * between the sampling and training forward passes of the same weights on-policy. */
const EXACT_LOG_RATIO = 1e-5;
const ON_POLICY_NOISE_LOG_RATIO = 1e-3;

/** The largest |log π_θ / π_old| of a step. */
export function maxLogRatio(ratioDomain: Domain): number {
  return Math.max(Math.abs(ratioDomain.min), Math.abs(ratioDomain.max));
}

/**
 * True when π_θ / π_old carries no information in this step: every stored ratio is 1, or the run is on-policy by
 * construction and the ratios differ from 1 by float rounding only. Then the ratio and the clip flags are not
 * offered as colours (all swatches would read ×1). An on-policy run whose ratios stray further keeps them: they
 * measure the mismatch between the sampling and the training forward pass.
 */
export function ratioIsOne(ratioDomain: Domain | undefined, facts: RunTokenFacts | undefined): boolean {
  if (!ratioDomain) return facts?.onPolicy ?? false;
  return maxLogRatio(ratioDomain) <= (facts?.onPolicy ? ON_POLICY_NOISE_LOG_RATIO : EXACT_LOG_RATIO);
}

/** Quantities that say nothing when π_θ / π_old is 1 at every token. */
export const RATIO_QUANTITIES: readonly TokenQuantity[] = ['ratio', 'clipped'];

/**
 * The quantities worth offering as colours, in the usual order: those the completions recorded (a domain: KL and
 * ref log-prob only where the run had a reference model, β > 0, or logged them anyway), without the ratio and clip
 * flags when the ratio is 1 (ratioIsOne), and without the advantage for validation samples (no update follows
 * them, so the trainer stores no advantage, or 0). The rollout browser and the prompt × step view share this rule.
 */
export function offeredQuantities(domains: TokenDomains, facts: RunTokenFacts | undefined, validation = false): TokenQuantity[] {
  const ratioOne = ratioIsOne(domains.ratio, facts);
  return TOKEN_QUANTITIES.filter((q) => domains[q] !== undefined && !(ratioOne && RATIO_QUANTITIES.includes(q)) && !(validation && q === 'advantage'));
}

/** The legend's wording for the ratio of an on-policy run, where π_old is the same weights' sampling pass. */
export const ON_POLICY_RATIO_DESCRIPTION = 'π_θ / π_old with μ = 1: the same weights, so a ratio ≠ 1 is the mismatch between the sampling and the training forward pass';

/** Bounds of a quantity's colour scale: extremes, and the robust bounds the colours use. */
export type Domain = TokenDomain;

/** Outliers lie beyond the colour scale's bounds and saturate (the legend says so). */
export function saturates(domain: Domain): boolean {
  return domain.high < domain.max || domain.low > domain.min;
}

/** Relative span under which two bounds are one value up to float32 storage and rounding (≈ 6e-8 per op). */
const DEGENERATE_SPAN = 1e-5;

function sameValue(a: number, b: number): boolean {
  return Math.abs(b - a) <= DEGENERATE_SPAN * Math.max(1, Math.abs(a), Math.abs(b));
}

/**
 * True when every value of a domain is the same up to float rounding (a ratio ≡ 1 stored as 0.99999994 … 1.0000001).
 * Such a scale has no extremes: every token takes the neutral colour (none), never the end colour that a span of
 * 1e-7 would otherwise give it, and the legend shows the one value instead of five identical swatches.
 */
export function isDegenerate(domain: Domain): boolean {
  return sameValue(domain.min, domain.max);
}

/**
 * The bounds the colours span: the robust ones, or the extremes when the robust ones coincide (nearly every token
 * has one value and a few stray from it: those are coloured, the rest stay neutral); undefined when degenerate.
 */
function scaleBounds(domain: Domain): { low: number; high: number } | undefined {
  if (isDegenerate(domain)) return undefined;
  return sameValue(domain.low, domain.high) ? { low: domain.min, high: domain.max } : domain;
}

const MIN_ALPHA = 0.08;
const MAX_ALPHA = 0.8;

/** Colour intensity in [0, 1] and which hue, for one value. */
export function intensity(quantity: TokenQuantity, value: number, domain: Domain): { t: number; hue: keyof TokenPalette } {
  const scale = QUANTITIES[quantity].scale;
  if (scale === 'categorical') return { t: value === 0 ? 0 : 1, hue: value < 0 ? 'negative' : 'positive' };
  const bounds = scaleBounds(domain);
  if (!bounds) return { t: 0, hue: 'high' };
  if (scale === 'diverging') {
    const extent = Math.max(Math.abs(bounds.low), Math.abs(bounds.high));
    // Within float rounding of 0 (a log ratio of 1e-8) is 0, not a faint colour.
    const v = sameValue(value, 0) && extent > DEGENERATE_SPAN ? 0 : value;
    return { t: extent > 0 ? Math.min(1, Math.abs(v) / extent) : 0, hue: v < 0 ? 'negative' : 'positive' };
  }
  const span = bounds.high - bounds.low;
  const fromQuiet = scale === 'sequential-low' ? bounds.high - value : value - bounds.low;
  return { t: span > 0 ? Math.min(1, Math.max(0, fromQuiet / span)) : 0, hue: 'high' };
}

/** A token's fill: the hue and its opacity; undefined when the token stays uncoloured. */
export function tokenFill(quantity: TokenQuantity, value: number | undefined, domain: Domain | undefined, palette: TokenPalette): { rgb: Rgb; alpha: number } | undefined {
  if (value === undefined || !Number.isFinite(value) || !domain) return undefined;
  const { t, hue } = intensity(quantity, value, domain);
  if (t === 0) return undefined;
  return { rgb: palette[hue], alpha: Math.round((MIN_ALPHA + (MAX_ALPHA - MIN_ALPHA) * t) * 1000) / 1000 };
}

/** The token's background as CSS `rgba(…)`, or '' (no colour) when it has no value. */
export function tokenColor(quantity: TokenQuantity, value: number | undefined, domain: Domain | undefined, palette: TokenPalette): string {
  const fill = tokenFill(quantity, value, domain, palette);
  return fill ? `rgba(${fill.rgb.join(', ')}, ${fill.alpha})` : '';
}

/** WCAG 2.x's minimum contrast for normal-size text (success criterion 1.4.3, level AA). */
export const MIN_TEXT_CONTRAST = 4.5;

/** WCAG relative luminance of an sRGB colour (channels 0–255). */
export function relativeLuminance([r, g, b]: Rgb): number {
  const linear = (channel: number) => {
    const c = channel / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
}

/** WCAG contrast ratio of two colours, from 1 (same) to 21 (black on white). */
export function contrastRatio(a: Rgb, b: Rgb): number {
  const [light, dark] = [relativeLuminance(a), relativeLuminance(b)].sort((x, y) => y - x);
  return (light + 0.05) / (dark + 0.05);
}

/** What the eye sees: `top` at opacity `alpha` over the opaque `bottom` (rounded to whole channel values). */
export function composite(top: Rgb, alpha: number, bottom: Rgb): Rgb {
  return [0, 1, 2].map((i) => Math.round(alpha * top[i] + (1 - alpha) * bottom[i])) as Rgb;
}

const BLACK: Rgb = [0, 0, 0];
const WHITE: Rgb = [255, 255, 255];

/**
 * The text colour for a cell: the theme's own when it keeps 4.5:1 on `background`, else black or white, whichever
 * contrasts more (one of them always reaches 4.5:1 on an opaque colour).
 */
export function readableTextColor(background: Rgb, preferred: Rgb): Rgb {
  if (contrastRatio(preferred, background) >= MIN_TEXT_CONTRAST) return preferred;
  return contrastRatio(BLACK, background) >= contrastRatio(WHITE, background) ? BLACK : WHITE;
}

/** Background and text colour (CSS) of a token or legend cell painted over the page's `canvas` colour. */
export function cellColors(
  fill: { rgb: Rgb; alpha: number } | undefined,
  canvas: Rgb,
  text: Rgb,
): { background: string; color: string } {
  if (!fill) return { background: '', color: '' };
  const shown = readableTextColor(composite(fill.rgb, fill.alpha, canvas), text);
  return { background: `rgba(${fill.rgb.join(', ')}, ${fill.alpha})`, color: `rgb(${shown.join(', ')})` };
}

/** How a token's text is shown: whitespace made visible, special tokens marked. */
export function displayToken(text: string): { shown: string; special: boolean; lineBreak: boolean } {
  const special = /^<\|[^|]*\|>$|^<\/?s>$|^\[[A-Z_]+\]$/.test(text);
  const lineBreak = text.includes('\n');
  const shown = text.length === 0 ? '∅' : text.replace(/ /g, '·').replace(/\t/g, '→').replace(/\r/g, '␍').replace(/\n/g, '↵');
  return { shown, special, lineBreak };
}
