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
 * Numbers as people write them, in order of appearance, each in canonical form. Before matching, the spellings
 * that are not plain ASCII are rewritten: U+2212 "−" is a minus, LaTeX's `{,}` is a comma, LaTeX spaces (`\,`
 * `\!` `\;` `\ `) and `\$` `\%` are dropped, and a minus before a currency sign belongs to the number
 * ("-$5" is −5). A comma joins digits only as a thousands separator (groups of exactly three: "1,000,000" is one
 * number, "1, 2" two).
 */
export function numbersIn(text: string): string[] {
  const cleaned = text
    .replace(/\u2212/g, '-')
    .replace(/\{,\}/g, ',')
    .replace(/\\[,!; ]/g, '')
    .replace(/\\([$%])/g, '$1')
    .replace(/-\$(?=\d)/g, '-');
  const matches = cleaned.match(/-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d)|-?\d+(?:\.\d+)?/g) ?? [];
  return matches.map(canonicalNumber);
}

/** "1,234.50" → "1234.5", "007" → "7", "-0" → "0". */
function canonicalNumber(written: string): string {
  let number = written.replace(/,/g, '');
  if (number.includes('.')) number = number.replace(/\.?0+$/, '');
  number = number.replace(/^(-?)0+(?=\d)/, '$1');
  return number === '-0' ? '0' : number;
}

/**
 * Canonical form of a numeric answer (`\boxed{}` unwrapped): its first number as `numbersIn` reads it, so "$1,234.00",
 * "18.00 dollars" and "\boxed{9{,}500}" give "1234", "18" and "9500". Undefined when no number is found.
 */
export function normalizeNumber(text: string): string | undefined {
  return numbersIn(extractBoxed(text) ?? text)[0];
}

/** The text after the first `####` (GSM8K's and the `question_answer` template's answer line); undefined if none. */
export function extractHashAnswer(text: string): string | undefined {
  const marker = text.indexOf('####');
  return marker < 0 ? undefined : text.slice(marker + 4);
}

/**
 * The model's final numeric answer, by the first rule that finds one:
 *   1. the last `<answer>…</answer>` (R1-Zero), its first number;
 *   2. the last `\boxed{…}`, its first number;
 *   3. the first `####` line, its first number (a model that goes on to write another "Question: … #### 7" after
 *      its answer has still answered with the first);
 *   4. otherwise the last number in the text.
 */
export function extractFinalNumber(response: string): string | undefined {
  const explicit = extractAnswerTag(response) ?? extractBoxed(response) ?? extractHashAnswer(response);
  if (explicit !== undefined) return normalizeNumber(explicit);
  return numbersIn(response).at(-1);
}

export function numbersMatch(predicted: string | undefined, gold: string): boolean {
  const expected = normalizeNumber(gold);
  return predicted !== undefined && expected !== undefined && Number(predicted) === Number(expected);
}
