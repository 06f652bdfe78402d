/** The width of a card's one-line text from its measured characters and pairs (webview/textWidths.ts). */
import * as assert from 'assert';
import { GlyphWidths, missingGlyphs, summable, summedWidth } from '../../../webview/textWidths';

describe('one-line text widths from measured characters and pairs (pure)', () => {
  const widths = (): GlyphWidths => ({
    chars: new Map([
      ['T', 8],
      ['j', 3],
      ['r', 4],
      [' ', 3],
      ['0', 7],
      ['.', 3],
    ]),
    // "Tj" is wider together than apart (DejaVu Sans keeps j's hook off the T); "r." closer.
    pairs: new Map([
      ['Tj', 1.8],
      ['r ', 0],
      [' 0', 0],
      ['0.', 0],
      ['.0', 0],
      ['r.', -0.5],
    ]),
  });

  it("a text is as wide as its characters together, each pair's kerning added", () => {
    assert.strictEqual(summedWidth('r 0.0', widths()), 4 + 3 + 7 + 3 + 7);
    assert.strictEqual(summedWidth('Tj', widths()), 8 + 3 + 1.8);
    assert.strictEqual(summedWidth('r.', widths()), 4 + 3 - 0.5);
    assert.strictEqual(summedWidth('T', widths()), 8);
    assert.strictEqual(summedWidth('', widths()), 0);
  });

  it('names the characters and pairs not measured yet, once each; a text with one of them has no sum', () => {
    assert.deepStrictEqual(missingGlyphs(['r 1.5', 'r 15', 'r 0'], widths()), { chars: ['1', '5'], pairs: [' 1', '1.', '.5', '15'] });
    assert.strictEqual(summedWidth('r 1', widths()), undefined, 'a character missing');
    assert.strictEqual(summedWidth('0 r', widths()), undefined, 'every character measured, a pair not');
    assert.deepStrictEqual(missingGlyphs([], widths()), { chars: [], pairs: [] });
  });

  it('characters that combine or steer the layout are not summed (the page measures such a text whole)', () => {
    for (const text of ['correct 1', 'länge 0.5', 'стиль 1', '正确 1', 'format · 0.25', 'r −1']) assert.ok(summable(text), text);
    const combining = ['e\u0301', 'a\u200db', 'x\u200fy', 'tab\there', 'نعم', '👍', '👩‍💻', 'soft\u00adhyphen'];
    for (const text of combining) {
      assert.ok(!summable(text), JSON.stringify(text));
      const chars = [...text];
      const all: GlyphWidths = { chars: new Map(chars.map((c) => [c, 5])), pairs: new Map(chars.slice(1).map((c, i) => [chars[i] + c, 0])) };
      assert.strictEqual(summedWidth(text, all), undefined, JSON.stringify(text));
    }
    // They are not asked for character by character either.
    assert.deepStrictEqual(missingGlyphs(['é'.normalize('NFD')], { chars: new Map(), pairs: new Map() }), { chars: [], pairs: [] });
  });
});
