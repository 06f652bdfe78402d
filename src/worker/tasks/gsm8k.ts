/**
 * GSM8K grade-school math (JSONL lines `{"question", "answer"}`, the gold number after `####`). Prompts use a
 * template: `r1_zero` (the R1-Zero format: the model thinks in <think> … </think> and answers in <answer> …
 * </answer>), `question_answer`, or any string containing `{question}`.
 */
import * as fs from 'fs';
import type { Gsm8kTaskConfig } from '../../protocol';
import { TASK_DEFAULT_REWARDS } from '../../protocol';
import { gsm8kGoldAnswer } from './answers';
import { gsm8kAnswerReward, r1ZeroReward } from './rewards';
import { DataCursor, Example, PromptTask, ShuffledCursor } from './task';

export const PROMPT_TEMPLATES: Record<string, string> = {
  r1_zero:
    'A conversation between User and Assistant. The User asks a question, and the Assistant solves it. The Assistant ' +
    'first thinks about the reasoning process in the mind and then provides the User with the answer. The reasoning ' +
    'process is enclosed within <think> </think> and answer is enclosed within <answer> </answer> tags, respectively, ' +
    'i.e., <think> reasoning process here </think> <answer> answer here </answer>.\nUser: {question}\nAssistant: <think>',
  question_answer: 'Question: {question}\nAnswer:',
};

export function renderPrompt(template: string, question: string): string {
  const text = PROMPT_TEMPLATES[template] ?? template;
  if (!text.includes('{question}')) {
    throw new Error(`task.prompt_template must be ${Object.keys(PROMPT_TEMPLATES).join(' or ')} or contain "{question}"`);
  }
  return text.split('{question}').join(question);
}

/**
 * The worked solution as a completion in the template's format, for the SFT warm start: calculator annotations
 * (`<<48/2=24>>`) removed; R1-Zero wraps it as `… </think> <answer> gold </answer>`.
 */
export function referenceCompletion(template: string, solution: string, gold: string): string {
  const reasoning = solution.slice(0, solution.lastIndexOf('####')).replace(/<<[^>]*>>/g, '').trim();
  return template === 'r1_zero' ? ` ${reasoning} </think> <answer> ${gold} </answer>` : ` ${reasoning}\n#### ${gold}`;
}

/** Reads a GSM8K JSONL file; a bad line is an error naming the file and line. */
export function readGsm8k(file: string, template: string, limit: number): Example[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read GSM8K file ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const examples: Example[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length && (limit === 0 || examples.length < limit); i++) {
    if (!lines[i].trim()) continue;
    const where = `${file}:${i + 1}`;
    let row: { question?: unknown; answer?: unknown };
    try {
      row = JSON.parse(lines[i]);
    } catch (err) {
      throw new Error(`${where}: invalid JSON: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (typeof row.question !== 'string' || typeof row.answer !== 'string') {
      throw new Error(`${where}: expected string fields "question" and "answer"`);
    }
    let gold: string;
    try {
      gold = gsm8kGoldAnswer(row.answer);
    } catch (err) {
      throw new Error(`${where}: ${err instanceof Error ? err.message : String(err)}`);
    }
    examples.push({ id: `${i + 1}`, prompt: renderPrompt(template, row.question), answer: gold, completion: referenceCompletion(template, row.answer, gold) });
  }
  if (examples.length === 0) throw new Error(`${file}: no examples`);
  return examples;
}

export class Gsm8kTask implements PromptTask {
  readonly name = 'gsm8k';
  readonly defaultRewards = TASK_DEFAULT_REWARDS.gsm8k;
  private readonly train: ShuffledCursor<Example>;
  private readonly evalExamples: Example[];

  private readonly template: string;

  constructor(config: Gsm8kTaskConfig, seed: number) {
    this.template = config.prompt_template;
    this.train = new ShuffledCursor(readGsm8k(config.train_file, config.prompt_template, config.max_train), seed);
    this.evalExamples = readGsm8k(config.eval_file, config.prompt_template, config.max_eval);
  }

  nextTrain(n: number): Example[] {
    return this.train.take(n);
  }

  /** The worked solutions of the training set, in the prompt template's format. */
  nextSft(n: number): Example[] {
    return this.train.take(n);
  }

  trainSet(): readonly Example[] {
    return this.train.items;
  }

  evalSet(): Example[] {
    return this.evalExamples;
  }

  /** R1-Zero prompts are graded as CS336 does (format and answer); other templates by the final number. */
  isCorrect(completion: string, example: Example): boolean {
    if (this.template === 'r1_zero') return r1ZeroReward(example.prompt, completion, example).answer_reward === 1;
    return gsm8kAnswerReward(example.prompt, completion, example) === 1;
  }

  cursor(): DataCursor {
    return this.train.cursor();
  }

  restoreCursor(cursor: DataCursor): void {
    this.train.restore(cursor);
  }
}
