/**
 * Numeric answers in free text, as GSM8K-style graders compare them: "$1,234.00", "\boxed{1234}" and
 * "<answer> 1234 </answer>" all mean 1234. Used by the gsm8k and arithmetic rewards.
 */

/** The gold answer of a GSM8K solution: the text after the last `####`. */
export function gsm8kGoldAnswer(solution: string): string {
  const marker = solution.lastIndexOf('####');
  if (marker < 0) throw new Error('GSM8K answer has no "####" line');
  return solution.slice(marker + 4).trim();
}

/** The content of the last `\boxed{…}`, with nested braces balanced; undefined if there is none. */
export function extractBoxed(text: string): string | undefined {
  const start = text.lastIndexOf('\\boxed');
  if (start < 0) return undefined;
  const open = text.indexOf('{', start);
  if (open < 0) return undefined;
  let depth = 0;
  for (let j = open; j < text.length; j++) {
    if (text[j] === '{') depth++;
    else if (text[j] === '}' && --depth === 0) return text.slice(open + 1, j);
  }
  return undefined;
}

/** The content of the last `<answer>…</answer>` (an unclosed last tag runs to the end); undefined if none. */
export function extractAnswerTag(text: string): string | undefined {
  const open = text.lastIndexOf('<answer>');
  if (open < 0) return undefined;
  const close = text.indexOf('</answer>', open);
  return text.slice(open + '<answer>'.length, close < 0 ? undefined : close);
}

/**
 * Canonical form of a numeric answer: commas, `$`, `%`, spaces and trailing units dropped, `\boxed{}` unwrapped,
 * trailing zeros after a decimal point removed ("18.00" → "18", "-0.50" → "-0.5"). Undefined when no number is found.
 */
export function normalizeNumber(text: string): string | undefined {
  const unboxed = extractBoxed(text) ?? text;
  const cleaned = unboxed.replace(/\\[$%]|[$,%]|\\!|\s+/g, '');
  const match = /-?\d+(?:\.\d+)?/.exec(cleaned);
  if (!match) return undefined;
  let number = match[0];
  if (number.includes('.')) number = number.replace(/\.?0+$/, '');
  number = number.replace(/^(-?)0+(?=\d)/, '$1');
  return number === '-0' ? '0' : number;
}

/** The model's final numeric answer: from `<answer>` tags or `\boxed{}` if present, else the last number in the text. */
export function extractFinalNumber(response: string): string | undefined {
  const tagged = extractAnswerTag(response) ?? extractBoxed(response);
  if (tagged !== undefined) return normalizeNumber(tagged);
  const numbers = response.replace(/(\d),(\d{3})/g, '$1$2').match(/-?\d+(?:\.\d+)?/g);
  return numbers ? normalizeNumber(numbers[numbers.length - 1]) : undefined;
}

export function numbersMatch(predicted: string | undefined, gold: string): boolean {
  const expected = normalizeNumber(gold);
  return predicted !== undefined && expected !== undefined && Number(predicted) === Number(expected);
}
