import * as assert from 'assert';
import { extractAnswerTag, extractBoxed, extractFinalNumber, extractHashAnswer, gsm8kGoldAnswer, normalizeNumber, numbersIn, numbersMatch } from '../../../src/worker/tasks/answers';

describe('GSM8K answer extraction', () => {
  it('reads the gold answer after the last ####', () => {
    assert.strictEqual(gsm8kGoldAnswer('She has 3 + 4 = <<3+4=7>>7 apples.\n#### 7'), '7');
    assert.strictEqual(gsm8kGoldAnswer('x #### 1\ny\n#### 1,200 '), '1,200');
    assert.throws(() => gsm8kGoldAnswer('no marker'), /no "####"/);
  });

  it('normalises numbers: commas, $, %, trailing zeros, leading zeros, signs', () => {
    const cases: [string, string | undefined][] = [
      ['1,234', '1234'],
      ['$1,234.00', '1234'],
      ['18.0', '18'],
      ['-0.50', '-0.5'],
      ['007', '7'],
      ['50%', '50'],
      ['\\boxed{42}', '42'],
      ['\\$5', '5'],
      [' 3 dollars', '3'],
      ['-0', '0'],
      ['no number', undefined],
    ];
    for (const [input, expected] of cases) assert.strictEqual(normalizeNumber(input), expected, input);
  });

  it('unwraps nested \\boxed{} and answer tags', () => {
    assert.strictEqual(extractBoxed('so \\boxed{\\frac{1}{2}} done'), '\\frac{1}{2}');
    assert.strictEqual(extractBoxed('\\boxed{unclosed'), undefined);
    assert.strictEqual(extractBoxed('none'), undefined);
    assert.strictEqual(extractAnswerTag('<answer> 1 </answer> <answer> 2 </answer>'), ' 2 ');
    assert.strictEqual(extractAnswerTag('<answer> 7'), ' 7');
  });

  it('finds the final number: tags first, then boxed, then the last number', () => {
    assert.strictEqual(extractFinalNumber('<think>2+2=4, 5</think> <answer> $1,000 </answer>'), '1000');
    assert.strictEqual(extractFinalNumber('so the answer is \\boxed{12.0}.'), '12');
    assert.strictEqual(extractFinalNumber('First 3, then 4,500 and finally 72.'), '72');
    assert.strictEqual(extractFinalNumber('It costs 4,500 dollars'), '4500');
    assert.strictEqual(extractFinalNumber('nothing'), undefined);
  });

  it('reads numbers as people write them (issue 12 item 7)', () => {
    // Before: "1,000,000" → 0 and "Total = 1,234,567" → 567 (the comma-joining pass skipped every second group).
    const cases: [string, string][] = [
      ['1,000,000', '1000000'],
      ['Total = 1,234,567', '1234567'],
      ['\\boxed{9{,}500}', '9500'],
      ['$9{,}500', '9500'],
      ['-$5', '-5'],
      ['\u22125', '-5'],
      ['It is 9\\,500 m', '9500'],
      ['a loss of \u2212$12.50', '-12.5'],
    ];
    for (const [response, expected] of cases) assert.strictEqual(extractFinalNumber(response), expected, response);
  });

  it('joins digits across a comma only as a thousands separator', () => {
    assert.deepStrictEqual(numbersIn('1, 2 and 3,4567 and 12,345.5'), ['1', '2', '3', '4567', '12345.5']);
    assert.deepStrictEqual(numbersIn('10 - $5 = $5'), ['10', '5', '5']);
  });

  it('takes the first #### line over any later number (issue 12 item 8)', () => {
    // Before: 7 (the last number of the text).
    assert.strictEqual(extractFinalNumber('2+40=42\n#### 42\n\nQuestion: What is 3+4?\nAnswer: 3+4=7\n#### 7'), '42');
    assert.strictEqual(extractFinalNumber('6*7=42\n#### 42 apples, because 6 bags hold 7 each.'), '42');
    assert.strictEqual(extractHashAnswer('no marker'), undefined);
    // Tags and \boxed{} are explicit answers and come first; a #### with no number after it answers nothing.
    assert.strictEqual(extractFinalNumber('#### 3 <answer> 4 </answer>'), '4');
    assert.strictEqual(extractFinalNumber('so 5\n#### none'), undefined);
  });

  it('compares numerically', () => {
    assert.ok(numbersMatch('72', '72'));
    assert.ok(numbersMatch('72', '72.00'));
    assert.ok(numbersMatch('1200', '1,200'));
    assert.ok(!numbersMatch('71', '72'));
    assert.ok(!numbersMatch(undefined, '72'));
  });
});
