/**
 * `grpo-studio generate <model> --prompt TEXT`: the check users run on a checkpoint before training. The prompt is
 * encoded as the trainer encodes it (the tokenizer's special-token rules, or the chat template with --chat) and
 * sampled by the trainer's sampler (KV cache, temperature, top-p, top-k, the model's EOS tokens).
 */
import { parseArgs } from 'util';
import { BACKEND_NAMES, BackendName } from '../protocol';
import { generate, loadPolicy, Policy } from '../model';
import { adapterBase } from '../model/checkpoint';
import { checkContextLength, SampleResult } from '../model/sampling';
import { encodePrompt, PromptSource, renderPrompt, tokenPieces } from '../model/tokenizer';
import { selectBackend } from './backend';

export const GENERATE_USAGE = `grpo-studio generate <model> [--prompt TEXT] [options]
  <model>                 a checkpoint folder (config.json, safetensors, tokenizer), a preset (tiny, small, base),
                          or a PEFT adapter folder (a LoRA run's checkpoints/step-N/policy): its base with the adapter
  --base DIR              an adapter's base model (default: adapter_config.json's base_model_name_or_path)
  --prompt TEXT           the prompt (default: empty — a Llama model then starts from BOS alone)
  --chat                  treat the prompt as a user message and render it through the chat template
  --max-new-tokens N      default 64
  --temperature T         default 0 (greedy)
  --top-p P, --top-k K    nucleus and top-k filtering (default off)
  --seed N                default 0
  --stop-token-ids A,B    more token ids that end the completion (besides the model's EOS tokens)
  --top-logprobs K        the K most likely tokens at every position
  --backend NAME          auto (default), tensorflow, webgpu, wasm, cpu
  --json                  print one JSON object on the last line: prompt_ids, completion_ids, completion,
                          finish_reason, logprobs, top_logprobs ({id, token, logprob}, most likely first).
                          Log-probs are of the distribution sampled from: softmax(logits / T), T = 1 when greedy.`;

export interface GenerateRequest {
  model: string;
  prompt: PromptSource;
  maxNewTokens: number;
  temperature: number;
  topP: number;
  topK: number;
  seed: number;
  stopTokenIds: number[];
  topLogprobs: number;
  backend: BackendName;
  json: boolean;
  /** An adapter folder's base model, instead of its adapter_config.json's. */
  base?: string;
}

export interface GenerateOutput {
  prompt_ids: number[];
  completion_ids: number[];
  completion: string;
  finish_reason: 'stop' | 'length';
  logprobs: number[];
  top_logprobs?: { id: number; token: string; logprob: number }[][];
  /** Set when <model> was a PEFT adapter folder: the adapter that was applied, and the base it was applied to. */
  adapter?: AdapterInfo;
}

export interface AdapterInfo {
  path: string;
  base: string;
  r: number;
  lora_alpha: number;
  /** Modules the adapter wraps. */
  modules: number;
}

/** Parses the command line after `generate`; errors name the option. */
export function parseGenerateArgs(argv: string[]): GenerateRequest {
  const { values, positionals } = parseArgs({
    args: joinNegativeValues(argv),
    allowPositionals: true,
    strict: true,
    options: {
      prompt: { type: 'string', default: '' },
      chat: { type: 'boolean', default: false },
      'max-new-tokens': { type: 'string', default: '64' },
      temperature: { type: 'string', default: '0' },
      'top-p': { type: 'string', default: '1' },
      'top-k': { type: 'string', default: '0' },
      seed: { type: 'string', default: '0' },
      'stop-token-ids': { type: 'string', default: '' },
      'top-logprobs': { type: 'string', default: '0' },
      backend: { type: 'string', default: 'auto' },
      json: { type: 'boolean', default: false },
      base: { type: 'string' },
    },
  });
  if (positionals.length !== 1) throw new Error(`expected one model (a checkpoint folder or a preset), got ${positionals.length}`);
  const backend = values.backend as BackendName;
  if (!BACKEND_NAMES.includes(backend)) throw new Error(`--backend must be one of ${BACKEND_NAMES.join(', ')}, got "${values.backend}"`);
  const temperature = numberOption('temperature', values.temperature, { min: 0 });
  const topP = numberOption('top-p', values['top-p'], { min: 0, max: 1 });
  if (topP === 0) throw new Error('--top-p must be > 0');
  return {
    model: positionals[0],
    prompt: values.chat ? [{ role: 'user', content: values.prompt }] : values.prompt,
    maxNewTokens: integerOption('max-new-tokens', values['max-new-tokens'], 1),
    temperature,
    topP,
    topK: integerOption('top-k', values['top-k'], 0),
    seed: integerOption('seed', values.seed, 0),
    stopTokenIds: values['stop-token-ids'] === '' ? [] : values['stop-token-ids'].split(',').map((id) => integerOption('stop-token-ids', id.trim(), 0)),
    topLogprobs: integerOption('top-logprobs', values['top-logprobs'], 0),
    backend,
    json: values.json,
    base: values.base,
  };
}

/** `--temperature -1` as `--temperature=-1`: util.parseArgs takes a value that starts with '-' for an option. */
function joinNegativeValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith('--') && !argv[i].includes('=') && /^-\d/.test(argv[i + 1] ?? '')) out.push(`${argv[i]}=${argv[++i]}`);
    else out.push(argv[i]);
  }
  return out;
}

function numberOption(name: string, text: string, range: { min?: number; max?: number }): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) throw new Error(`--${name} must be a number, got "${text}"`);
  if (range.min !== undefined && value < range.min) throw new Error(`--${name} must be ≥ ${range.min}, got ${value}`);
  if (range.max !== undefined && value > range.max) throw new Error(`--${name} must be ≤ ${range.max}, got ${value}`);
  return value;
}

function integerOption(name: string, text: string, min: number): number {
  const value = numberOption(name, text, { min });
  if (!Number.isInteger(value)) throw new Error(`--${name} must be an integer, got ${text}`);
  return value;
}

/** Samples one completion of the request's prompt from a loaded policy. */
export async function generateCompletion(policy: Policy, request: GenerateRequest): Promise<GenerateOutput> {
  const promptIds = encodePrompt(policy.tokenizer, request.prompt);
  if (promptIds.length === 0) throw new Error('the prompt is empty and this tokenizer adds no BOS token: give a --prompt');
  checkContextLength(policy.config.maxPositions, promptIds.length, request.maxNewTokens);
  const outside = request.stopTokenIds.find((id) => id >= policy.config.vocabSize);
  if (outside !== undefined) throw new Error(`--stop-token-ids: ${outside} is not a token id of this model (vocabulary size ${policy.config.vocabSize})`);
  const stopTokenIds = [...new Set([...policy.stopTokenIds, ...request.stopTokenIds])];
  const out: SampleResult = await generate(policy, [promptIds], {
    maxNewTokens: request.maxNewTokens,
    temperature: request.temperature,
    topP: request.topP,
    topK: request.topK,
    seed: request.seed,
    stopTokenIds,
    topLogprobs: request.topLogprobs,
  });
  const ids = out.tokens[0];
  const stopped = out.finishReasons[0] === 'stop';
  const output: GenerateOutput = {
    prompt_ids: promptIds,
    completion_ids: ids,
    // As the trainer's rewards see it: without the token that stopped it.
    completion: policy.tokenizer.decode(stopped ? ids.slice(0, -1) : ids, { skipSpecialTokens: true }),
    finish_reason: out.finishReasons[0],
    logprobs: out.logProbs[0],
  };
  if (out.topLogprobs) {
    const context = [...promptIds];
    output.top_logprobs = out.topLogprobs[0].map((candidates, position) => {
      const before = [...context, ...ids.slice(0, position)];
      return candidates.map(({ id, logprob }) => ({ id, token: tokenPieces(policy.tokenizer, [id], before)[0], logprob }));
    });
  }
  return output;
}

/** The command: loads the model on the requested backend, samples, prints. Returns the exit code. */
export async function runGenerate(argv: string[]): Promise<number> {
  let request: GenerateRequest;
  try {
    request = parseGenerateArgs(argv);
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : String(err)}\nusage: ${GENERATE_USAGE}`);
    return 2;
  }
  const backend = await selectBackend(request.backend);
  const policy = loadPolicy(request.model, { base: request.base });
  try {
    const output = await generateCompletion(policy, request);
    const adapter = adapterInfo(policy, request);
    if (adapter) output.adapter = adapter;
    if (request.json) {
      console.log(`backend: ${backend.name} (${backend.device})`);
      console.log(JSON.stringify(output));
    } else {
      printReadable(policy, request, output);
    }
  } finally {
    policy.dispose();
  }
  return 0;
}

/** What was applied when <model> is an adapter folder (so that a user sees the adapter, not the bare base, answered). */
function adapterInfo(policy: Policy, request: GenerateRequest): AdapterInfo | undefined {
  const lora = policy.lora;
  if (!lora) return undefined;
  return { path: request.model, base: adapterBase(request.model, request.base), r: lora.settings.r, lora_alpha: lora.settings.lora_alpha, modules: lora.modules.size };
}

function printReadable(policy: Policy, request: GenerateRequest, output: GenerateOutput): void {
  const { adapter } = output;
  if (adapter) console.log(`adapter: ${adapter.path} (LoRA r=${adapter.r}, alpha=${adapter.lora_alpha}, on ${adapter.modules} modules) applied to ${adapter.base}`);
  console.log(`prompt (${output.prompt_ids.length} tokens): ${JSON.stringify(renderPrompt(policy.tokenizer, request.prompt))}`);
  console.log(output.completion);
  console.log(`[${output.finish_reason}, ${output.completion_ids.length} tokens, mean log-prob ${mean(output.logprobs).toFixed(4)}]`);
  for (const [position, candidates] of (output.top_logprobs ?? []).entries()) {
    console.log(`${String(position).padStart(4)}  ${candidates.map((c) => `${JSON.stringify(c.token)} ${c.logprob.toFixed(3)}`).join('  ')}`);
  }
}

function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN;
}
