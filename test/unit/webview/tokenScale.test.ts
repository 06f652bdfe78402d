/**
 * The per-token colour scale's fixes: outliers saturate instead of setting the scale, text keeps WCAG contrast on
 * every fill, the advantage legend speaks of the run's own supervision, and an on-policy run's ratio (1 everywhere)
 * is recognised.
 */
import * as assert from 'assert';
import type { RunConfig, TokenColumns, TokenDomains } from '../../../src/protocol';
import { validateRunConfig } from '../../../src/protocol';
import {
  cellColors,
  composite,
  contrastRatio,
  domainOf,
  isDegenerate,
  MIN_TEXT_CONTRAST,
  offeredQuantities,
  quantityDescription,
  ratioIsOne,
  readableTextColor,
  relativeLuminance,
  Rgb,
  runTokenFacts,
  saturates,
  tokenColor,
  tokenFill,
  TokenPalette,
} from '../../../webview/tokenColors';

/** The dark theme's chart colours (test/webview/theme-dark.css). */
const DARK: TokenPalette = { positive: [0x89, 0xd1, 0x85], negative: [0xf1, 0x4c, 0x4c], high: [0xd1, 0x86, 0x16] };
/** The light theme's. */
const LIGHT: TokenPalette = { positive: [0x38, 0x8a, 0x34], negative: [0xe5, 0x14, 0x00], high: [0xd1, 0x86, 0x16] };

function klTokens(values: number[]): TokenColumns {
  return { text: values.map(() => 't'), logprob: values.map(() => -1), kl: values };
}

/** The alpha of an `rgba(…)` colour. */
function alphaOf(color: string): number {
  return Number(/, ([\d.]+)\)$/.exec(color)?.[1]);
}

describe('token colour scale', () => {
  it('one KL outlier saturates and every other token keeps its colour (the scale spans the rest)', () => {
    // 200 tokens between 0.0002 and 0.04, and one 9.46 (issue 15's example).
    const values = Array.from({ length: 200 }, (_, i) => 0.0002 * (i + 1));
    const domain = domainOf([klTokens([...values, 9.46])], 'kl');
    assert.ok(domain);
    assert.strictEqual(domain.max, 9.46);
    assert.ok(domain.high < 0.1 && domain.high >= 0.039, `scale ends at ${domain.high}`);
    assert.ok(saturates(domain));
    // The largest ordinary token is (nearly) fully coloured; before, 0.04 / 9.46 of the scale left it blank.
    assert.ok(alphaOf(tokenColor('kl', 0.04, domain, DARK)) >= 0.79, tokenColor('kl', 0.04, domain, DARK));
    assert.ok(alphaOf(tokenColor('kl', 0.02, domain, DARK)) > 0.4);
    // The outlier takes the end colour, no more.
    assert.strictEqual(tokenColor('kl', 9.46, domain, DARK), 'rgba(209, 134, 22, 0.8)');
  });

  it('data without outliers keeps its extremes as the scale (nothing saturates)', () => {
    const values = Array.from({ length: 60 }, (_, i) => (i * 37) % 60 / 1000);
    const domain = domainOf([klTokens(values)], 'kl');
    assert.ok(domain);
    assert.deepStrictEqual([domain.low, domain.high], [domain.min, domain.max]);
    assert.ok(!saturates(domain));
    const logprobs: TokenColumns = { text: ['a', 'b', 'c', 'd'], logprob: [-0.1, -0.5, -2, -4] };
    const lp = domainOf([logprobs], 'logprob');
    assert.deepStrictEqual(lp, { min: -4, max: -0.1, low: -4, high: -0.1 });
  });

  it('a diverging quantity saturates a lone extreme of either sign', () => {
    const advantage = [...Array.from({ length: 300 }, (_, i) => ((i % 21) - 10) / 10), -40];
    const tokens: TokenColumns = { text: advantage.map(() => 'x'), logprob: advantage.map(() => -1), advantage };
    const domain = domainOf([tokens], 'advantage');
    assert.ok(domain && domain.low > -40 && domain.low <= -1 && saturates(domain));
    assert.strictEqual(tokenColor('advantage', -40, domain, DARK), 'rgba(241, 76, 76, 0.8)');
    assert.strictEqual(tokenColor('advantage', 1, domain, DARK), 'rgba(137, 209, 133, 0.8)');
  });
});

describe('token text contrast (WCAG 2.x)', () => {
  it('luminance and contrast ratio follow the WCAG definitions', () => {
    assert.strictEqual(relativeLuminance([0, 0, 0]), 0);
    assert.strictEqual(relativeLuminance([255, 255, 255]), 1);
    assert.strictEqual(contrastRatio([0, 0, 0], [255, 255, 255]), 21);
    assert.strictEqual(contrastRatio([255, 255, 255], [0, 0, 0]), 21);
    assert.strictEqual(contrastRatio([119, 119, 119], [119, 119, 119]), 1);
    // Known values: #767676 on white is the lightest grey that passes AA (4.54:1); #777777 fails (4.48:1).
    assert.strictEqual(contrastRatio([0x76, 0x76, 0x76], [255, 255, 255]).toFixed(2), '4.54');
    assert.strictEqual(contrastRatio([0x77, 0x77, 0x77], [255, 255, 255]).toFixed(2), '4.48');
    assert.deepStrictEqual(composite([255, 0, 0], 0.5, [0, 0, 255]), [128, 0, 128]);
  });

  it('the theme text on a strong red is below 4.5:1, and the chosen text colour is not', () => {
    const editor: Rgb = [0x1f, 0x1f, 0x1f];
    const text: Rgb = [0xcc, 0xcc, 0xcc];
    const red = composite(DARK.negative, 0.8, editor);
    assert.ok(contrastRatio(text, red) < MIN_TEXT_CONTRAST, `theme text ${contrastRatio(text, red)}`);
    const chosen = readableTextColor(red, text);
    assert.ok(contrastRatio(chosen, red) >= MIN_TEXT_CONTRAST);
    // On a faint fill the theme's own text colour is kept.
    assert.deepStrictEqual(readableTextColor(composite(DARK.negative, 0.08, editor), text), text);
  });

  it('every fill of every scale, dark and light theme, gets text of at least 4.5:1', () => {
    const themes: [TokenPalette, Rgb, Rgb][] = [
      [DARK, [0x1f, 0x1f, 0x1f], [0xcc, 0xcc, 0xcc]],
      [LIGHT, [0xff, 0xff, 0xff], [0x3b, 0x3b, 0x3b]],
    ];
    const domain = { min: -1, max: 1, low: -1, high: 1 };
    for (const [palette, canvas, text] of themes) {
      for (let v = -1; v <= 1.0001; v += 0.01) {
        for (const quantity of ['advantage', 'kl', 'logprob'] as const) {
          const fill = tokenFill(quantity, v, domain, palette);
          if (!fill) continue;
          const { color } = cellColors(fill, canvas, text);
          const shown = color.match(/\d+/g)?.map(Number) as Rgb;
          const ratio = contrastRatio(shown, composite(fill.rgb, fill.alpha, canvas));
          assert.ok(ratio >= MIN_TEXT_CONTRAST, `${quantity} ${v.toFixed(2)}: ${color} on ${fill.rgb} @ ${fill.alpha} is ${ratio.toFixed(2)}:1`);
        }
      }
    }
  });
});

describe('token legends in the run\'s terms', () => {
  const config = (algorithm: Record<string, unknown>, optimization: Record<string, unknown> = {}): RunConfig =>
    validateRunConfig({ name: 't', task: { type: 'bandit' }, algorithm, optimization: { optimizer: 'adam', learning_rate: 1e-3, max_steps: 2, ...optimization } });

  it('the advantage legend names the run\'s supervision; without a config it stays general', () => {
    const outcome = quantityDescription('advantage', runTokenFacts(config({})));
    assert.match(outcome, /one value per completion \(outcome supervision\)/);
    assert.doesNotMatch(outcome, /process/);
    assert.match(quantityDescription('advantage', runTokenFacts(config({ supervision: 'process' }))), /per token \(process supervision\)/);
    assert.match(quantityDescription('advantage', runTokenFacts(config({ supervision: 'discounted_returns' }))), /discounted return/);
    assert.match(quantityDescription('advantage', undefined), /outcome supervision.*process supervision/);
    assert.strictEqual(quantityDescription('kl', runTokenFacts(config({}))), 'per-token KL to the reference: darker = larger');
  });

  it('μ = 1 with one step per generation is on-policy: the ratio is 1 whatever the stored rounding', () => {
    assert.strictEqual(runTokenFacts(config({}))?.onPolicy, true);
    assert.strictEqual(runTokenFacts(config({ num_iterations: 2 }))?.onPolicy, false);
    assert.strictEqual(runTokenFacts(config({}, { prompts_per_step: 4, steps_per_generation: 2 }))?.onPolicy, false);
    const offPolicy = runTokenFacts(config({ num_iterations: 2 }));
    const onPolicy = runTokenFacts(config({}));
    const logRatios = (extent: number) => ({ min: -extent, max: extent, low: -extent, high: extent });
    assert.ok(ratioIsOne(logRatios(0), offPolicy), 'every stored ratio 1: nothing to colour');
    assert.ok(!ratioIsOne(logRatios(1e-4), offPolicy), 'off-policy, a ratio of 1.0001 is a policy change');
    assert.ok(ratioIsOne(logRatios(1e-4), onPolicy), 'on-policy, 1.0001 is float rounding between two forward passes');
    // On-policy ratios far from 1 are a sampling/training mismatch worth seeing: offered, and worded as such.
    assert.ok(!ratioIsOne(logRatios(0.03), onPolicy));
    assert.match(quantityDescription('ratio', onPolicy), /mismatch between the sampling and the training forward pass/);
    assert.strictEqual(quantityDescription('ratio', offPolicy), 'π_θ / π_old, coloured by log ratio: above 1 vs below 1');
    assert.ok(ratioIsOne(undefined, onPolicy));
    assert.ok(!ratioIsOne(undefined, undefined));
  });

  it('a constant quantity (ratio ≡ 1 up to float32 rounding) takes the neutral colour, never an extreme', () => {
    // What an on-policy run stores: 0.99999994 and 1.0000001 around 1 (log ratios of ±1e-7).
    const ratios = [0.99999994, 1, 1.0000001, 0.99999994];
    const domain = domainOf([{ text: ratios.map(() => 't'), logprob: ratios.map(() => -1), ratio: ratios }], 'ratio');
    assert.ok(domain && isDegenerate(domain), JSON.stringify(domain));
    for (const r of ratios) assert.strictEqual(tokenColor('ratio', Math.log(r), domain, DARK), '', `ratio ${r} is not an extreme`);
    // A constant KL of 0.02 or entropy of 3: one value, nothing to colour either.
    const flat = { min: 0.02, max: 0.02, low: 0.02, high: 0.02 };
    assert.strictEqual(tokenColor('kl', 0.02, flat, DARK), '');
    assert.ok(isDegenerate(flat));
    // A real spread, however small in absolute terms, still colours and gets its five swatches.
    const spread = { min: 0, max: 1e-3, low: 0, high: 1e-3 };
    assert.ok(!isDegenerate(spread));
    assert.notStrictEqual(tokenColor('kl', 1e-3, spread, DARK), '');
    // Nearly every token at 1 and one stray ratio: the stray one is coloured, the rest stay neutral.
    const stray = { min: -1e-7, max: 0.05, low: -1e-7, high: 1e-7 };
    assert.strictEqual(tokenColor('ratio', 1e-7, stray, DARK), '');
    assert.strictEqual(alphaOf(tokenColor('ratio', 0.05, stray, DARK)), 0.8);
  });

  it('offers only what the completions recorded and what means something for the run', () => {
    const d = { min: -1, max: 1, low: -1, high: 1 };
    const one = { min: -1e-7, max: 1e-7, low: -1e-7, high: 1e-7 };
    const onPolicy = runTokenFacts(config({}));
    const offPolicy = runTokenFacts(config({ num_iterations: 2 }));
    // β = 0, μ = 1: no KL or ref log-prob recorded, the ratio 1 at every token.
    const betaZero: TokenDomains = { advantage: d, logprob: d, old_logprob: d, ratio: one, clipped: { min: 0, max: 0, low: 0, high: 0 }, entropy: d };
    assert.deepStrictEqual(offeredQuantities(betaZero, onPolicy), ['advantage', 'logprob', 'old_logprob', 'entropy']);
    // μ = 2, β > 0: everything recorded is offered.
    const full: TokenDomains = { ...betaZero, ratio: d, ref_logprob: d, kl: d };
    assert.deepStrictEqual(offeredQuantities(full, offPolicy), ['advantage', 'logprob', 'old_logprob', 'ref_logprob', 'ratio', 'clipped', 'kl', 'entropy']);
    // Validation completions: no update, so no advantage (the trainer stores 0).
    assert.deepStrictEqual(offeredQuantities(full, offPolicy, true), ['logprob', 'old_logprob', 'ref_logprob', 'ratio', 'clipped', 'kl', 'entropy']);
    assert.deepStrictEqual(offeredQuantities({}, onPolicy), []);
  });
});
