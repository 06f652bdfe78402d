/** The width of a card's one-line text as its measured characters add up (webview/textWidths.ts). */
import * as assert from 'assert';
import { missingChars, summable, summedWidth } from '../../../webview/textWidths';

describe('one-line text widths from measured characters (pure)', () => {
  const widths = new Map([
    ['r', 4],
    [' ', 3],
    ['0', 7],
    ['.', 3],
    ['A', 8],
    ['+', 7],
  ]);

  it('a text is as wide as its characters together', () => {
    assert.strictEqual(summedWidth('r 0.0', widths), 4 + 3 + 7 + 3 + 7);
    assert.strictEqual(summedWidth('', widths), 0);
    assert.strictEqual(summedWidth('A +0', widths), 8 + 3 + 7 + 7);
  });

  it('names the characters not measured yet, once each; a text with one of them has no sum', () => {
    assert.deepStrictEqual(missingChars(['r 1.5', 'A +15', 'r 0'], widths), ['1', '5']);
    assert.strictEqual(summedWidth('r 1', widths), undefined);
    assert.deepStrictEqual(missingChars([], widths), []);
  });

  it('characters that combine or steer the layout are not summed (the page measures such a text whole)', () => {
    for (const text of ['correct 1', 'länge 0.5', 'стиль 1', '正确 1', 'format · 0.25', 'r −1']) assert.ok(summable(text), text);
    const combining = ['e\u0301', 'a\u200db', 'x\u200fy', 'tab\there', 'نعم', '👍', '👩‍💻', 'soft\u00adhyphen'];
    for (const text of combining) {
      assert.ok(!summable(text), JSON.stringify(text));
      assert.strictEqual(summedWidth(text, new Map([...text].map((c) => [c, 5]))), undefined, JSON.stringify(text));
    }
    // They are not asked for character by character either.
    assert.deepStrictEqual(missingChars(['é'.normalize('NFD')], new Map()), []);
  });
});
