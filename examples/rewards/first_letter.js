// A reward function of your own, for the prompts task (examples/templates/prompts-custom-reward.json).
// `example` carries the dataset row: `id`, `prompt`, `answer`, and every other column, here `letter` and
// `min_length` of examples/data/prompts/first-letter.csv (min_length arrives as a number: a CSV column of numbers
// is read as numbers, as pandas reads it). The extras next to `reward` are logged as rewards/first_letter/<name>.
module.exports = (prompt, completion, example) => {
  const word = completion.trim().split(/\s+/)[0] ?? '';
  const starts = word.toLowerCase().startsWith(example.letter) ? 1 : 0;
  const longEnough = word.length >= example.min_length ? 1 : 0;
  return { reward: starts * (0.5 + 0.5 * longEnough), starts, long_enough: longEnough };
};
