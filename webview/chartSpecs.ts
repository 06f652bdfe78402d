/**
 * Which metrics the dashboard draws, by TRL/verl name. A chart lists fixed series and may add one series per metric
 * key matching a pattern (each reward function's `rewards/<name>/mean`). Charts whose metrics a run does not log
 * stay hidden until a record carries them.
 */
import type { RolloutSource } from '../src/protocol/records';
import { themeColor } from './theme';

export interface SeriesSpec {
  /** Metric key, e.g. `reward`. */
  key: string;
  label: string;
  /** Metric holding a ± band around this series, e.g. `reward_std`. */
  band?: string;
  /** The series is the run's reward: its band and axis stay within the reward's range when that is known. */
  bounded?: boolean;
}

export interface ChartSpec {
  id: string;
  title: string;
  series: SeriesSpec[];
  /** Every metric key this matches becomes a series, labelled by the first capture group. */
  pattern?: RegExp;
  /** The samples a click on a point opens: the step's training rollouts unless the chart plots validation. */
  opens?: RolloutSource;
  /** Drawn from the SFT warm start's `warm_start` events (x: SFT step), not from the metrics of GRPO steps. */
  warmStart?: boolean;
}

export const CHARTS: readonly ChartSpec[] = [
  { id: 'reward', title: 'Reward (mean ± std)', series: [{ key: 'reward', label: 'reward', band: 'reward_std', bounded: true }] },
  { id: 'reward-functions', title: 'Reward per function (mean)', series: [], pattern: /^rewards\/(.+)\/mean$/ },
  // What a reward module returns beside its reward ({reward, format_reward, …}): `rewards/<name>/<extra>`.
  { id: 'reward-extras', title: 'Reward extras (per function)', series: [], pattern: /^rewards\/([^/]+\/(?!mean$|std$)[^/]+)$/ },
  // Samples whose reward failed (threw, timed out, unusable value, every function abstained): a count per step.
  { id: 'reward-failed', title: 'Failed reward samples (rewards/failed, per step)', series: [{ key: 'rewards/failed', label: 'failed' }] },
  {
    id: 'kl',
    title: 'KL to reference (nats/token)',
    series: [
      { key: 'kl', label: 'training (kl_estimator)' },
      { key: 'eval/kl', label: 'held-out (exact)' },
    ],
  },
  { id: 'loss', title: 'Policy loss', series: [{ key: 'loss', label: 'loss' }] },
  { id: 'grad-norm', title: 'Gradient norm (before clipping)', series: [{ key: 'grad_norm', label: 'grad_norm' }] },
  {
    id: 'clip',
    title: 'Clip ratio',
    series: [
      { key: 'clip_ratio/low_mean', label: 'low' },
      { key: 'clip_ratio/high_mean', label: 'high' },
      { key: 'clip_ratio/region_mean', label: 'region' },
    ],
  },
  { id: 'entropy', title: 'Entropy', series: [{ key: 'entropy', label: 'entropy' }] },
  {
    id: 'diversity',
    title: 'Diversity of held-out completions (distinct-n)',
    opens: 'eval',
    series: [
      { key: 'eval/distinct_1', label: 'distinct-1' },
      { key: 'eval/distinct_2', label: 'distinct-2' },
    ],
  },
  {
    id: 'length',
    title: 'Completion length (tokens)',
    series: [
      { key: 'completions/mean_length', label: 'mean' },
      { key: 'completions/max_length', label: 'max' },
    ],
  },
  { id: 'truncated', title: 'Truncated fraction', series: [{ key: 'completions/clipped_ratio', label: 'truncated' }] },
  {
    id: 'zero-std',
    title: 'Tied groups (frac_reward_zero_std)',
    series: [
      { key: 'frac_reward_zero_std', label: 'frac_reward_zero_std (TRL)' },
      // Ours: exact ties per group under every scale_rewards (TRL's is 0 or 1 under batch scaling).
      { key: 'frac_reward_zero_std/groups', label: 'groups tied' },
    ],
  },
  // 1 on-policy; lower when μ > 1 or steps_per_generation > 1 lets the policy drift from the one that sampled.
  { id: 'ess', title: 'Effective sample size of the importance weights', series: [{ key: 'importance_weights/ess', label: 'ESS / n' }] },
  // Only runs with dynamic sampling (filter_groups) log these.
  { id: 'dynamic-sampling', title: 'Dynamic sampling: generation rounds, dropped groups', series: [], pattern: /^(num_gen_batches|dynamic_sampling\/dropped_groups)$/ },
  {
    id: 'eval',
    title: 'Validation',
    opens: 'eval',
    series: [
      { key: 'eval/accuracy', label: 'pass rate (eval/accuracy)' },
      { key: 'eval/reward', label: 'reward' },
    ],
  },
  // Each reward function's mean, and with several samples per prompt verl's mean@n / best@k of the reward: apart
  // from the pass rate, which a crowd of lines in one palette would hide.
  { id: 'eval-rewards', title: 'Validation reward per function, mean@n, best@k', opens: 'eval', series: [], pattern: /^eval\/(rewards\/.+\/mean|reward\/(?:mean|best)@\d+)$/ },
  { id: 'eval-pass', title: 'Validation pass@k', opens: 'eval', series: [], pattern: /^eval\/(pass@\d+)$/ },
  { id: 'lr', title: 'Learning rate', series: [{ key: 'learning_rate', label: 'learning rate' }] },
  {
    id: 'throughput',
    title: 'Throughput (tokens/s)',
    series: [
      { key: 'tokens_per_second/sample', label: 'sampling' },
      { key: 'tokens_per_second/train', label: 'training' },
    ],
  },
  // The SFT warm start's time is one long phase before step 1: on its own chart, never the axis of the per-step times.
  { id: 'time', title: 'Step time (s)', series: [], pattern: /^time\/(?!sft$)(.+)$/ },
  // The warm start's loss per SFT step, drawn while it runs (its duration is `time/sft`, in the metric list).
  { id: 'warm-start', title: 'SFT warm start: loss per SFT step', warmStart: true, series: [{ key: 'sft/loss', label: 'SFT loss' }] },
  { id: 'repetition', title: 'Repetition (seq-rep-4 of completions)', series: [{ key: 'completions/repetition', label: 'repeated 4-gram share' }] },
  { id: 'memory', title: 'Worker memory (RSS, MB)', series: [{ key: 'memory/rss_mb', label: 'rss' }] },
  { id: 'tensors', title: 'Live tensors', series: [{ key: 'memory/num_tensors', label: 'tensors' }] },
];

/**
 * The chart palette, in the order series take colours: the theme's six chart colours, then four fixed ones that
 * read on light and dark backgrounds (Tableau's teal, pink, brown, grey), so ten series of a chart never share one.
 */
export const SERIES_COLORS = ['--vscode-charts-blue', '--vscode-charts-orange', '--vscode-charts-green', '--vscode-charts-purple', '--vscode-charts-red', '--vscode-charts-yellow', '#17becf', '#e377c2', '#b07d5a', '#9e9e9e'];

/** A palette entry as a colour: a theme variable's value, or the fixed colour itself. */
export function paletteColor(entry: string): string {
  return entry.startsWith('--') ? themeColor(entry, '#3794ff') : entry;
}

/** Dash patterns that tell series apart when colour already tells runs apart (compare mode). */
export const SERIES_DASHES: number[][] = [[], [6, 3], [2, 2], [8, 3, 2, 3]];
