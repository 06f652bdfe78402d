/**
 * The second built-in demo, on the real stories260K checkpoint (examples/stories.json), shortened: the prompts are
 * encoded with BOS, the three reward modules score every sample, validation reports the pass rate, distinct-n and
 * the exact KL to the starting model, and each token of a record carries the text it adds (spaces included).
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { EvalRolloutsRecord, MetricsRecord, RolloutsRecord, WorkerMessage } from '../../src/protocol';
import { train } from '../../src/worker/train';
import { numericMetrics } from './metrics';
import { readRecords as read } from './runFiles';

const ROOT = path.resolve(__dirname, '../..');
const DEMO = path.join(ROOT, 'examples', 'stories.json');

describe('stories demo (stories260K)', function () {
  this.timeout(180000);

  it('runs as shipped, shortened: rewards, validation with KL and distinct-n, per-token text in context', async () => {
    const demo = JSON.parse(fs.readFileSync(DEMO, 'utf8')) as Record<string, Record<string, unknown>>;
    const config = {
      ...demo,
      backend: 'wasm',
      task: { ...demo.task, max_eval: 6 },
      optimization: { ...demo.optimization, max_steps: 2, prompts_per_step: 2, warmup_steps: 0 },
      sampling: { ...demo.sampling, max_completion_length: 24 },
      evaluation: { ...demo.evaluation, eval_steps: 2 },
    };
    // Next to the demo, so its relative paths (model, data, reward modules) resolve as they do for a user.
    const configPath = path.join(path.dirname(DEMO), `.it-stories-${process.pid}.json`);
    fs.writeFileSync(configPath, JSON.stringify(config));
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-stories-'));
    const messages: WorkerMessage[] = [];
    try {
      const result = await train({ configPath, runsDir: tmp, observers: [(m) => messages.push(m)], control: { shouldStop: () => false, waitWhilePaused: async () => undefined } });
      assert.strictEqual(result.outcome, 'completed');
      assert.deepStrictEqual(messages.filter((m) => m.type === 'reward_error'), []);
      const metrics = read<MetricsRecord>(path.join(result.runDir, 'metrics.jsonl'));
      assert.deepStrictEqual(metrics.map((m) => m.step), [0, 1, 2]);
      const step1 = numericMetrics(metrics[1]);
      for (const name of ['mentions_dog', 'repetition', 'length']) assert.ok(Number.isFinite(step1[`rewards/${name}/mean`]), name);
      assert.ok(step1.kl >= 0 && Number.isFinite(step1.kl));
      const start = numericMetrics(metrics[0]);
      const end = numericMetrics(metrics[2]);
      // Before any update the policy is its reference: the exact KL is 0 up to float rounding.
      assert.ok(Math.abs(start['eval/kl']) < 1e-5, `eval/kl at step 0: ${start['eval/kl']}`);
      assert.ok(end['eval/kl'] > 0, `eval/kl at step 2: ${end['eval/kl']}`);
      for (const key of ['eval/accuracy', 'eval/distinct_1', 'eval/distinct_2', 'eval/rewards/mentions_dog/mean']) {
        assert.ok(Number.isFinite(start[key]) && Number.isFinite(end[key]), key);
      }

      const [group] = read<RolloutsRecord>(path.join(result.runDir, 'rollouts.jsonl'))[0].groups;
      assert.ok(!group.prompt.includes('<s>'), 'the record holds the prompt text, not its special tokens');
      for (const rollout of group.rollouts) {
        const text = rollout.tokens.text.join('');
        // The pieces join to the completion (a stop token, <s>, adds its own text at the end).
        assert.strictEqual(text.replace(/<s>$/, '').trim(), rollout.completion.trim());
        assert.ok(rollout.tokens.text.some((piece) => piece.startsWith(' ')), 'SentencePiece tokens keep their leading space');
      }
      const evals = read<EvalRolloutsRecord>(path.join(result.runDir, 'eval_rollouts.jsonl'));
      const evalRollout = evals[1].groups[0].rollouts[0];
      assert.strictEqual(evalRollout.tokens.kl?.length, evalRollout.tokens.text.length, 'held-out completions carry the per-token KL');
    } finally {
      fs.rmSync(configPath, { force: true });
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
