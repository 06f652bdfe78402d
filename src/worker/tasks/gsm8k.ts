/**
 * GSM8K grade-school math (JSONL lines `{"question", "answer"}`, the gold number after `####`). Prompts use a
 * template: `r1_zero` (the R1-Zero format: the model thinks in <think> … </think> and answers in <answer> …
 * </answer>), `question_answer`, or any string containing `{question}`.
 */
import * as fs from 'fs';
import { gsm8kGoldAnswer } from './answers';
import { DataCursor, Example, PromptTask, ShuffledCursor } from './task';

export interface Gsm8kTaskConfig {
  type: 'gsm8k';
  /** JSONL files; relative paths resolve against the run config's folder. */
  train_file: string;
  eval_file: string;
  prompt_template: string;
  /** Use at most this many lines of each file (0: all). */
  max_train: number;
  max_eval: number;
}

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
    examples.push({ id: `${i + 1}`, prompt: renderPrompt(template, row.question), answer: gold });
  }
  if (examples.length === 0) throw new Error(`${file}: no examples`);
  return examples;
}

export class Gsm8kTask implements PromptTask {
  readonly name = 'gsm8k';
  readonly defaultRewards = ['r1_zero'] as const;
  private readonly train: ShuffledCursor<Example>;
  private readonly evalExamples: Example[];

  constructor(config: Gsm8kTaskConfig, seed: number) {
    this.train = new ShuffledCursor(readGsm8k(config.train_file, config.prompt_template, config.max_train), seed);
    this.evalExamples = readGsm8k(config.eval_file, config.prompt_template, config.max_eval);
  }

  nextTrain(n: number): Example[] {
    return this.train.take(n);
  }

  evalSet(): Example[] {
    return this.evalExamples;
  }

  cursor(): DataCursor {
    return this.train.cursor();
  }

  restoreCursor(cursor: DataCursor): void {
    this.train.restore(cursor);
  }
}
