/**
 * Diversity of generated text, the check that a reward has not collapsed the model into repeating itself:
 * distinct-n (Li et al. 2016, "A Diversity-Promoting Objective Function for Neural Conversation Models"), the
 * number of distinct word n-grams divided by the number of word n-grams, over a whole set of completions.
 */

/** Lower-cased words: runs of letters, digits or apostrophes (punctuation is not a word: "dog." is "dog"). */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? [];
}

/**
 * Corpus-level distinct-n of a set of texts: distinct n-grams / all n-grams, n-grams taken within each text. NaN
 * when no text has n words. Compare values over sets of the same size (the held-out prompts at each evaluation):
 * the ratio falls as a set grows.
 */
export function distinctN(texts: readonly string[], n: number): number {
  const seen = new Set<string>();
  let total = 0;
  for (const text of texts) {
    const w = words(text);
    for (let i = 0; i + n <= w.length; i++) {
      seen.add(w.slice(i, i + n).join(' '));
      total++;
    }
  }
  return total === 0 ? Number.NaN : seen.size / total;
}

/**
 * seq-rep-n of one sequence (Welleck et al. 2019, "Neural Text Generation with Unlikelihood Training"): the share
 * of its n-grams that repeat an earlier n-gram of the same sequence, 1 − distinct/all. 0 for text that never
 * repeats itself, near 1 for a loop ("the the the …"). NaN when the sequence has fewer than n items. Taken over
 * token ids, so it needs no word splitting and works for any language and for text without spaces.
 */
export function repeatedNgramShare(items: readonly number[], n: number): number {
  const total = items.length - n + 1;
  if (total <= 0) return Number.NaN;
  const seen = new Set<string>();
  for (let i = 0; i < total; i++) seen.add(items.slice(i, i + n).join(','));
  return 1 - seen.size / total;
}
