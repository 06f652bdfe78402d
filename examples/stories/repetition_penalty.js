// Reward ≤ 0: minus the share of the story's word pairs (bigrams) that it already used. An ordinary story of 40–50
// words repeats a few ("she was", "the park"): about −0.05; "the dog the dog dog dog" scores about −0.5.
module.exports = (prompt, completion) => {
  const words = completion.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? [];
  if (words.length < 3) return 0;
  const seen = new Set();
  let repeated = 0;
  for (let i = 0; i + 1 < words.length; i++) {
    const bigram = `${words[i]} ${words[i + 1]}`;
    if (seen.has(bigram)) repeated++;
    seen.add(bigram);
  }
  return { reward: -repeated / (words.length - 1), words: words.length };
};
