// Reward: 1 when the story mentions the prompt's keyword as a word ("dog", "dogs", "Dog"), else 0.
// The keyword is the dataset's `keyword` column: every column besides `prompt` reaches a reward as a field of
// `example`. On its own this reward is easy to hack ("the big dog the dog dog…"): the run pairs it with a
// repetition penalty, a length target and a KL term that keep the stories stories.
module.exports = (prompt, completion, example) => {
  const keyword = String(example.keyword ?? 'dog').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`\\b${keyword}s?\\b`, 'i').test(completion) ? 1 : 0;
};
