// Reward in [0, 1]: 1 for a story of TARGET words, falling linearly to 0 at 0 or 2·TARGET words (seed 003's
// length_reward). 64 tokens of TinyStories text are about 45 words, so it mostly guards against a story cut short.
const TARGET = 45;
module.exports = (prompt, completion) => {
  const words = completion.split(/\s+/).filter(Boolean).length;
  return Math.max(0, 1 - Math.abs(words - TARGET) / TARGET);
};
