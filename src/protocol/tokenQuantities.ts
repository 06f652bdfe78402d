/**
 * Reading per-token quantities out of TokenColumns, shared by the host (which computes each step's colour domains
 * once, so the webview need not receive every token of a step) and the webview (which colours tokens by them).
 */
import type { GroupRecord, TokenColumns } from './records';
import type { TokenDomain, TokenDomains, TokenQuantity } from './webview';

export const TOKEN_QUANTITIES: readonly TokenQuantity[] = ['advantage', 'logprob', 'old_logprob', 'ref_logprob', 'ratio', 'clipped', 'kl', 'entropy'];

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

/** Tukey's far-out fence: a value more than 3 interquartile ranges beyond the quartiles is an outlier. */
const FENCE_IQRS = 3;
/** The share of values at each end the colour scale may leave out (saturated) however the quartiles lie. */
const TAIL_SHARE = 0.01;

/**
 * The colour scale's bounds over sorted values: the box plot's whisker ends (the most extreme values within
 * Tukey's far-out fences, 3 interquartile ranges beyond the quartiles), so that one outlier (a KL of 9.46 among
 * tokens of 0.01) saturates instead of washing out every other token. A bound never leaves out more than the outer
 * 1 % of values (a step whose quartiles coincide, most tokens at 0, keeps its tail); on data without outliers the
 * bounds are the extremes themselves.
 */
function robustBounds(sorted: Float64Array): { low: number; high: number } {
  const n = sorted.length;
  const at = (q: number) => sorted[Math.round(q * (n - 1))];
  const q1 = at(0.25);
  const q3 = at(0.75);
  const spread = FENCE_IQRS * (q3 - q1);
  let top = n - 1;
  while (sorted[top] > q3 + spread) top--;
  let bottom = 0;
  while (sorted[bottom] < q1 - spread) bottom++;
  return {
    low: Math.min(sorted[bottom], sorted[Math.ceil(TAIL_SHARE * (n - 1))]),
    high: Math.max(sorted[top], sorted[Math.floor((1 - TAIL_SHARE) * (n - 1))]),
  };
}

/**
 * The colour domain of `quantity` over many completions: min and max of the finite values, and the robust bounds
 * the colours use (low ≤ high; values beyond them saturate). Undefined when no completion has the quantity.
 */
export function domainOf(completions: readonly TokenColumns[], quantity: TokenQuantity): TokenDomain | undefined {
  const values: number[] = [];
  for (const tokens of completions) {
    for (let i = 0; i < tokens.text.length; i++) {
      const v = tokenValue(tokens, quantity, i);
      if (v !== undefined && Number.isFinite(v)) values.push(v);
    }
  }
  if (values.length === 0) return undefined;
  const sorted = Float64Array.from(values).sort();
  return { min: sorted[0], max: sorted[sorted.length - 1], ...robustBounds(sorted) };
}

/** The domain of every quantity present in a step, so colours compare across all of its completions. */
export function stepDomains(groups: readonly GroupRecord[]): TokenDomains {
  const completions = groups.flatMap((g) => g.rollouts.map((r) => r.tokens));
  const domains: TokenDomains = {};
  for (const quantity of TOKEN_QUANTITIES) {
    const domain = domainOf(completions, quantity);
    if (domain) domains[quantity] = domain;
  }
  return domains;
}
