import * as assert from 'assert';
import { CARD_LAYOUT, cardPosition, groupLayout, rowOffsets, rowsInView, wrappedLines } from '../../../webview/cardLayout';

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

  it('cards hold whole lines: exact heights, and a long text clamped at the lines that fit the tallest card', () => {
    const { cardChrome, lineGap, lineHeight } = CARD_LAYOUT;
    const content = { texts: ['a\nb'], lineChars: 19, otherLines: 3 };
    const two = groupLayout(8, 650, content);
    assert.strictEqual(two.textLines, 2);
    assert.strictEqual(two.cardHeight, cardChrome + 3 * (lineHeight + lineGap) + 2 * lineHeight);
    const long = groupLayout(8, 650, { ...content, texts: ['word '.repeat(200)] });
    assert.strictEqual((long.cardHeight - cardChrome - 3 * (lineHeight + lineGap)) % lineHeight, 0, 'no part of a line');
    assert.strictEqual(long.cardHeight, cardChrome + 3 * (lineHeight + lineGap) + long.textLines * lineHeight);
    assert.ok(long.cardHeight <= CARD_LAYOUT.cardHeight);
  });

  it('sizes cards by the measured fonts: a wider font makes wider cards and more text lines', () => {
    const bandit = { texts: Array.from({ length: 20 }, () => 'elderberry'), lineChars: '20 r 1 A +0.4201'.length, otherLines: 3 };
    const narrow = groupLayout(20, 590, bandit, { charWidth: 7, labelCharWidth: 6 });
    const wide = groupLayout(20, 590, bandit, { charWidth: 11, labelCharWidth: 9.5 });
    assert.ok(wide.cardWidth >= Math.ceil(bandit.lineChars * 9.5) + CARD_LAYOUT.headGaps + CARD_LAYOUT.cardInset, `${wide.cardWidth} px for the head`);
    assert.ok(wide.perLine < narrow.perLine, `${wide.perLine} vs ${narrow.perLine} per line`);
    // A measured width of the widest one-line part (the page's fonts) is preferred to the character estimate.
    assert.strictEqual(groupLayout(20, 590, { ...bandit, lineWidth: 150 }).cardWidth >= 150 + CARD_LAYOUT.cardInset, true);
    assert.ok(groupLayout(20, 590, { ...bandit, lineWidth: 80 }).perLine > groupLayout(20, 590, { ...bandit, lineWidth: 150 }).perLine);
    // A long completion wraps onto more lines in a wider monospace font.
    const text = { ...bandit, texts: ['The dog ran to the park and the dog was happy.'] };
    assert.ok(groupLayout(8, 650, text, { charWidth: 11, labelCharWidth: 6 }).textLines > groupLayout(8, 650, text, { charWidth: 6, labelCharWidth: 6 }).textLines);
  });

  it('counts wrapped lines as pre-wrap does: at spaces, mid-word only for a word longer than a line, every newline', () => {
    assert.strictEqual(wrappedLines('apple', 10), 1);
    assert.strictEqual(wrappedLines('elderberry', 10), 1);
    assert.strictEqual(wrappedLines('elderberry!', 10), 2);
    // "The dog ran" fits 11; "to the park." moves whole to the next line rather than breaking "to".
    assert.strictEqual(wrappedLines('The dog ran to the park.', 11), 3);
    assert.strictEqual(wrappedLines('aaaa bbbb cccc', 9), 2, 'spaces hang at the end of a line');
    assert.strictEqual(wrappedLines('a\nb\n', 10), 2, 'a trailing newline adds no line');
    assert.strictEqual(wrappedLines('a\n\nb', 10), 3, 'an empty line is a line');
    assert.strictEqual(wrappedLines('x'.repeat(25) + ' y', 10), 3, 'a 25-character word takes 3 lines, "y" fits after it');
    assert.strictEqual(wrappedLines('x'.repeat(20) + ' y', 10), 3, 'a word filling its last line pushes "y" onto the next');
    assert.strictEqual(wrappedLines('', 10), 1);
  });

  it('stops counting at the lines a card can show: the same answer below the limit, the limit above it', () => {
    const texts = ['The dog ran to the park.', 'x'.repeat(25) + ' y', 'a\n\nb', 'word '.repeat(200), 'a\nb\nc\nd\ne', 'x'.repeat(95)];
    for (const text of texts) {
      for (const limit of [1, 2, 3, 5, 100]) {
        assert.strictEqual(wrappedLines(text, 10, limit), Math.min(limit, wrappedLines(text, 10)), `${JSON.stringify(text.slice(0, 20))} limit ${limit}`);
      }
    }
    // A long completion among short ones still makes the group's cards full height.
    const group = { texts: ['42', 'word '.repeat(200), '7'], lineChars: 19, otherLines: 3 };
    assert.strictEqual(groupLayout(3, 650, group).cardHeight, CARD_LAYOUT.cardHeight - ((CARD_LAYOUT.cardHeight - CARD_LAYOUT.cardChrome - 3 * (CARD_LAYOUT.lineHeight + CARD_LAYOUT.lineGap)) % CARD_LAYOUT.lineHeight));
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
