/**
 * Seed 000, the toy bandit: the policy is a vector of logits θ over a few words; each step samples a group of G
 * words, rewards vowel-initial ones, turns rewards into group-normalised advantages and takes one policy-gradient
 * step on −Σᵢ Aᵢ·log π_θ(aᵢ) (a sum over the group, as in the seed). With seed 42, G = 20, SGD at lr 0.01 and the
 * population std, it reproduces the seed's printed table draw for draw (NumPy-compatible random stream).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { RunConfig, BanditTaskConfig, GroupRecord, RolloutRecord } from '../../protocol';
import { Random } from '../../model/random';
import { TrainingJob, StepResult } from '../job';
import { computeGroupAdvantages } from '../../grpo';

const PROMPT = 'Pick a word.';

export function startsWithVowel(word: string): boolean {
  return 'aeiou'.includes(word[0]?.toLowerCase() ?? '');
}

export function softmax(logits: ArrayLike<number>): Float64Array {
  const max = Math.max(...Array.from(logits));
  const exps = Float64Array.from(logits, (x) => Math.exp(x - max));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / total);
}

/** KL(p ‖ q) = Σ p log(p/q), as scipy's Σ kl_div(p, q) for normalised p, q. */
export function klDivergence(p: ArrayLike<number>, q: ArrayLike<number>): number {
  let kl = 0;
  for (let i = 0; i < p.length; i++) if (p[i] > 0) kl += p[i] * Math.log(p[i] / q[i]);
  return kl;
}

export function entropy(p: ArrayLike<number>): number {
  let h = 0;
  for (let i = 0; i < p.length; i++) if (p[i] > 0) h -= p[i] * Math.log(p[i]);
  return h;
}

/**
 * One gradient step on L(θ) = −Σᵢ Aᵢ log softmax(θ)[aᵢ], whose gradient is −Σᵢ Aᵢ (e_{aᵢ} − softmax(θ)). The sum
 * over samples is folded into one weight per action, w_k = Σ_{i: aᵢ = k} Aᵢ, so L = −w·log softmax(θ): no gather,
 * whose gradient the wasm backend lacks. Returns the loss before the step and the gradient's L2 norm.
 */
export async function policyGradientStep(
  theta: tf.Variable<tf.Rank.R1>,
  optimizer: tf.Optimizer,
  actions: number[],
  advantages: number[],
): Promise<{ loss: number; gradNorm: number }> {
  const weights = new Float32Array(theta.shape[0]);
  actions.forEach((a, i) => (weights[a] += advantages[i]));
  const scalars = tf.tidy(() => {
    const w = tf.tensor1d(weights);
    const lossFn = () => tf.neg(tf.sum(tf.mul(w, tf.logSoftmax(theta)))) as tf.Scalar;
    const { value, grads } = tf.variableGrads(lossFn, [theta]);
    const grad = grads[theta.name];
    const gradNorm = tf.norm(grad);
    optimizer.applyGradients({ [theta.name]: grad });
    return [value, gradNorm];
  });
  try {
    const [loss, gradNorm] = await Promise.all(scalars.map((t) => t.data()));
    return { loss: loss[0], gradNorm: gradNorm[0] };
  } finally {
    tf.dispose(scalars);
  }
}

export class BanditJob implements TrainingJob {
  private readonly words: string[];
  private readonly theta: tf.Variable<tf.Rank.R1>;
  private readonly initialProbs: Float64Array;
  private readonly optimizer: tf.Optimizer;

  constructor(
    private readonly config: RunConfig,
    task: BanditTaskConfig,
    private readonly rng: Random,
  ) {
    this.words = task.words;
    // θ ~ N(0, 1) from the run's stream, as `np.random.randn(vocab_size)` right after seeding.
    const init = Float32Array.from(this.words, () => rng.normal());
    this.theta = tf.variable(tf.tensor1d(init), true);
    this.initialProbs = softmax(init);
    const { optimizer, learning_rate, adam_beta1, adam_beta2 } = config.optimization;
    this.optimizer = optimizer === 'sgd' ? tf.train.sgd(learning_rate) : tf.train.adam(learning_rate, adam_beta1, adam_beta2);
  }

  /** Current action probabilities (float32 logits, softmax in float64). */
  async probabilities(): Promise<Float64Array> {
    return softmax(await this.theta.data());
  }

  async warmStart(): Promise<undefined> {
    return undefined;
  }

  warmStartPending(): boolean {
    return false;
  }

  /** The bandit has no held-out prompts: its policy is the whole distribution, already in the metrics. */
  async evaluate(): Promise<undefined> {
    return undefined;
  }

  async step(): Promise<StepResult> {
    const { num_generations: G } = this.config.algorithm;
    const oldProbs = await this.probabilities();
    const actions = Array.from({ length: G }, () => this.rng.choice(oldProbs));
    const rewards = actions.map((a) => (startsWithVowel(this.words[a]) ? 1 : 0));
    const { advantages, groupMetrics } = await this.advantagesOf(rewards, G);

    const { loss, gradNorm } = await policyGradientStep(this.theta, this.optimizer, actions, advantages);
    const newProbs = await this.probabilities();

    const metrics: Record<string, number> = {
      ...groupMetrics,
      'rewards/vowel/mean': groupMetrics.reward,
      loss,
      grad_norm: gradNorm,
      learning_rate: this.config.optimization.learning_rate,
      kl: klDivergence(newProbs, this.initialProbs),
      'policy/kl_step': klDivergence(oldProbs, newProbs),
      entropy: entropy(newProbs),
      'completions/mean_length': 1,
    };
    this.words.forEach((word, i) => (metrics[`policy/p_${word}`] = newProbs[i]));
    return { metrics, groups: [this.groupRecord(actions, rewards, advantages, oldProbs)] };
  }

  async saveCheckpoint(dir: string): Promise<void> {
    const optimizer = await this.optimizer.getWeights();
    const state = {
      theta: Array.from(await this.theta.data()),
      optimizer: await Promise.all(optimizer.map(async ({ name, tensor }) => ({ name, shape: tensor.shape, values: Array.from(await tensor.data()) }))),
    };
    fs.writeFileSync(path.join(dir, 'bandit.json'), JSON.stringify(state));
  }

  async loadCheckpoint(dir: string): Promise<void> {
    const file = path.join(dir, 'bandit.json');
    const state = JSON.parse(fs.readFileSync(file, 'utf8')) as { theta: number[]; optimizer: { name: string; shape: number[]; values: number[] }[] };
    if (state.theta.length !== this.words.length) throw new Error(`${file}: theta has ${state.theta.length} entries, the task has ${this.words.length} words`);
    this.theta.assign(tf.tensor1d(state.theta));
    await this.optimizer.setWeights(state.optimizer.map(({ name, shape, values }) => ({ name, tensor: tf.tensor(values, shape) })));
  }

  dispose(): void {
    this.theta.dispose();
    this.optimizer.dispose();
  }

  private async advantagesOf(rewards: number[], groupSize: number): Promise<{ advantages: number[]; groupMetrics: Record<string, number> }> {
    const { advantage_eps, scale_rewards, std_estimator } = this.config.algorithm;
    const result = computeGroupAdvantages(rewards, groupSize, { advantageEps: advantage_eps, scaleRewards: scale_rewards, stdKind: std_estimator });
    try {
      return { advantages: Array.from(await result.advantages.data()), groupMetrics: result.metrics };
    } finally {
      result.advantages.dispose();
    }
  }

  private groupRecord(actions: number[], rewards: number[], advantages: number[], oldProbs: Float64Array): GroupRecord {
    const rollouts: RolloutRecord[] = actions.map((a, i) => ({
      completion: this.words[a],
      reward: rewards[i],
      rewards: { vowel: rewards[i] },
      advantage: advantages[i],
      finish_reason: 'stop',
      tokens: { text: [this.words[a]], logprob: [Math.log(oldProbs[a])], advantage: [advantages[i]] },
    }));
    return { prompt: PROMPT, ground_truth: 'a word starting with a vowel', rollouts };
  }
}
