import * as assert from 'assert';
import { extractAnswerTag, extractBoxed, extractFinalNumber, gsm8kGoldAnswer, normalizeNumber, numbersMatch } from '../../../src/worker/tasks/answers';

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

  it('compares numerically', () => {
    assert.ok(numbersMatch('72', '72'));
    assert.ok(numbersMatch('72', '72.00'));
    assert.ok(numbersMatch('1200', '1,200'));
    assert.ok(!numbersMatch('71', '72'));
    assert.ok(!numbersMatch(undefined, '72'));
  });
});
