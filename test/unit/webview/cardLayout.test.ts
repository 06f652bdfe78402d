import * as assert from 'assert';
import { CARD_LAYOUT, cardPosition, groupLayout, rowOffsets, rowsInView } from '../../../webview/cardLayout';

describe('rollout card layout (pure)', () => {
  it('wraps a group onto balanced lines that fill the width: 8 cards in ~880 px go 4 + 4, none narrower than the minimum', () => {
    const layout = groupLayout(8, 880);
    assert.deepStrictEqual([layout.perLine, layout.lines], [4, 2]);
    assert.ok(layout.cardWidth >= CARD_LAYOUT.minCardWidth);
    assert.ok(4 * layout.cardWidth + 3 * CARD_LAYOUT.gap <= 880 - CARD_LAYOUT.rowInset);
    assert.deepStrictEqual(cardPosition(5, layout), { left: layout.cardWidth + CARD_LAYOUT.gap, top: CARD_LAYOUT.cardHeight + CARD_LAYOUT.gap });
    // Wide enough for all 8 on one line; a narrow panel takes one card a line.
    assert.deepStrictEqual([groupLayout(8, 1600).perLine, groupLayout(8, 1600).lines], [8, 1]);
    assert.deepStrictEqual([groupLayout(3, 200).perLine, groupLayout(3, 200).lines], [1, 3]);
    assert.strictEqual(groupLayout(8, 880).height, CARD_LAYOUT.headerHeight + 2 * (CARD_LAYOUT.cardHeight + CARD_LAYOUT.gap) + CARD_LAYOUT.rowPadding);
  });

  it('short answers: cards as narrow as their lines allow and as tall as their lines, not the full height', () => {
    const short = { texts: Array.from({ length: 8 }, () => '42'), lineChars: 19, otherLines: 3 };
    // The list beside the detail pane at a 1500 px window with the sidebar open: ~650 px.
    const layout = groupLayout(8, 650, short);
    assert.deepStrictEqual([layout.perLine, layout.lines], [4, 2]);
    assert.ok(layout.cardHeight < CARD_LAYOUT.cardHeight, `${layout.cardHeight}`);
    assert.strictEqual(layout.height, CARD_LAYOUT.headerHeight + 2 * (layout.cardHeight + CARD_LAYOUT.gap) + CARD_LAYOUT.rowPadding);
    assert.deepStrictEqual(cardPosition(5, layout).top, layout.cardHeight + CARD_LAYOUT.gap);
    // A long completion takes the full height; line breaks count as lines.
    assert.strictEqual(groupLayout(8, 650, { ...short, texts: ['x'.repeat(400)] }).cardHeight, CARD_LAYOUT.cardHeight);
    assert.ok(groupLayout(8, 650, { ...short, texts: ['a\nb'] }).cardHeight > layout.cardHeight);
    // Long one-line parts keep the wide minimum.
    assert.ok(groupLayout(8, 650, { ...short, lineChars: 40 }).cardWidth >= CARD_LAYOUT.minCardWidth);
  });

  it('finds the rows in view from their offsets, with overscan', () => {
    const offsets = rowOffsets([100, 300, 50, 50, 200]);
    assert.deepStrictEqual(offsets, [0, 100, 400, 450, 500, 700]);
    assert.deepStrictEqual(rowsInView(offsets, 0, 90, 0), [0, 1]);
    assert.deepStrictEqual(rowsInView(offsets, 150, 280, 0), [1, 3]);
    assert.deepStrictEqual(rowsInView(offsets, 150, 280, 1), [0, 4]);
    assert.deepStrictEqual(rowsInView(offsets, 690, 500, 2), [2, 5]);
    assert.deepStrictEqual(rowsInView([0], 0, 500, 2), [0, 0]);
  });
});
