/**
 * Reading per-token quantities out of TokenColumns, shared by the host (which computes each step's colour domains
 * once, so the webview need not receive every token of a step) and the webview (which colours tokens by them).
 */
import type { GroupRecord, TokenColumns } from './records';
import type { TokenDomains, TokenQuantity } from './webview';

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

/** Min and max of the finite values of `quantity` over many completions; undefined when none has it. */
export function domainOf(completions: readonly TokenColumns[], quantity: TokenQuantity): { min: number; max: number } | undefined {
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
