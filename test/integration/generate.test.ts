/**
 * `grpo-studio generate` on the shipped stories260K checkpoint, through the built CLI as a user runs it: greedy
 * decoding reproduces the sample llama2.c publishes for this model, and --json has the documented shape.
 */
import * as assert from 'assert';
import { execFile } from 'child_process';
import * as path from 'path';
import { promisify } from 'util';
import type { GenerateOutput } from '../../src/worker/generateCommand';
import { parseGenerateArgs } from '../../src/worker/generateCommand';

const ROOT = path.resolve(__dirname, '../..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const STORIES = path.join(ROOT, 'examples', 'models', 'stories260K');

/**
 * What `./run stories260K/stories260K.bin -z stories260K/tok512.bin -t 0.0` prints, as published in llama2.c's
 * README and https://huggingface.co/karpathy/tinyllamas/blob/main/stories260K/readme.md (256 tokens after BOS).
 */
const LLAMA2_C_SAMPLE = [
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.',
  'Lily\'s mom said, "Lily, let\'s go to the park." Lily was sad and didn\'t know what to do. She said, "I want to play with your ball, but I can\'t find it."',
  'Lily was sad and didn\'t know what to do. She said, "I\'m sorry, Lily. I didn\'t know what to do."',
  'Lily didn\'t want to help her mom, so she said, "I\'m sorry, mom. I didn\'t know what to do." Her mom said, "Don\'t worry, Lily. We can help you.',
].join('\n');

const run = promisify(execFile);

async function generateJson(args: string[]): Promise<GenerateOutput> {
  const { stdout } = await run(process.execPath, [CLI, 'generate', STORIES, '--backend', 'wasm', '--json', ...args], { cwd: ROOT });
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as GenerateOutput;
}

describe('grpo-studio generate', function () {
  this.timeout(120000);

  it('stories260K, temperature 0, from BOS alone: llama2.c\'s published sample, token for token', async () => {
    const out = await generateJson(['--max-new-tokens', '256']);
    assert.deepStrictEqual(out.prompt_ids, [1]);
    assert.strictEqual(out.completion, LLAMA2_C_SAMPLE);
    assert.strictEqual(out.completion_ids.length, 256);
    assert.strictEqual(out.logprobs.length, 256);
    assert.strictEqual(out.finish_reason, 'length');
  });

  it('from "Once upon a time" it continues the same story, and --top-logprobs lists the candidates it chose from', async () => {
    const out = await generateJson(['--prompt', 'Once upon a time', '--max-new-tokens', '40', '--top-logprobs', '3']);
    assert.deepStrictEqual(out.prompt_ids, [1, 403, 407, 261, 378]);
    assert.ok(LLAMA2_C_SAMPLE.startsWith(`Once upon a time${out.completion}`), out.completion);
    assert.ok(out.completion.length > 100);
    const top = out.top_logprobs ?? [];
    assert.strictEqual(top.length, out.completion_ids.length);
    top.forEach((candidates, i) => {
      assert.strictEqual(candidates.length, 3);
      // Greedy: the chosen token is the most likely one, with the same log-prob.
      assert.strictEqual(candidates[0].id, out.completion_ids[i]);
      assert.ok(Math.abs(candidates[0].logprob - out.logprobs[i]) < 1e-9);
      assert.ok(candidates[0].logprob >= candidates[1].logprob && candidates[1].logprob >= candidates[2].logprob);
      const total = candidates.reduce((p, c) => p + Math.exp(c.logprob), 0);
      assert.ok(total <= 1 + 1e-9);
    });
    // Token texts carry their leading space ("▁there" → " there"), as the completion does.
    assert.strictEqual(top[1][0].token, ' there');
  });

  it('stop tokens: stories end with <s> (id 1), which --stop-token-ids adds to the EOS of generation_config.json', async () => {
    // The whole context (512 positions): a sampled story runs 300–400 tokens before its <s>.
    const sampled = ['--prompt', 'Once upon a time', '--max-new-tokens', '507', '--temperature', '1', '--seed', '1'];
    const free = await generateJson(sampled);
    const firstBos = free.completion_ids.indexOf(1);
    assert.ok(firstBos > 0, 'the sample should reach the end of a story within the context');
    const stopped = await generateJson([...sampled, '--stop-token-ids', '1']);
    assert.strictEqual(stopped.finish_reason, 'stop');
    assert.deepStrictEqual(stopped.completion_ids, free.completion_ids.slice(0, firstBos + 1));
    assert.ok(!stopped.completion.includes('<s>'));
  });

  it('bad input: the option, the model folder or the missing chat template is named', async () => {
    const fail = async (args: string[]) => {
      try {
        await run(process.execPath, [CLI, 'generate', ...args], { cwd: ROOT });
      } catch (err) {
        return err as { code: number; stderr: string };
      }
      throw new Error(`${args.join(' ')} did not fail`);
    };
    const chat = await fail([STORIES, '--chat', '--prompt', 'hi', '--backend', 'wasm']);
    assert.strictEqual(chat.code, 1);
    assert.match(chat.stderr, /stories260K\/tokenizer_config\.json has no chat_template/);
    const empty = await fail(['tiny', '--backend', 'wasm']);
    assert.match(empty.stderr, /the prompt is empty and this tokenizer adds no BOS token: give a --prompt/);
    const missing = await fail(['/nonexistent/model', '--backend', 'wasm']);
    assert.match(missing.stderr, /'\/nonexistent\/model' is neither a preset \(tiny, small, base\) nor a checkpoint folder/);
    const badTemperature = await fail([STORIES, '--temperature', 'hot']);
    assert.strictEqual(badTemperature.code, 2);
    assert.match(badTemperature.stderr, /--temperature must be a number, got "hot"/);
    assert.throws(() => parseGenerateArgs([STORIES, '--top-k', '1.5']), /--top-k must be an integer, got 1.5/);
    assert.throws(() => parseGenerateArgs([STORIES, '--frobnicate']), /Unknown option '--frobnicate'/);
    assert.throws(() => parseGenerateArgs([]), /expected one model/);
    assert.throws(() => parseGenerateArgs([STORIES, '--temperature', '-1']), /--temperature must be ≥ 0, got -1/);
    assert.deepStrictEqual(parseGenerateArgs([STORIES, '--chat', '--prompt', 'hi']).prompt, [{ role: 'user', content: 'hi' }]);
  });
});
