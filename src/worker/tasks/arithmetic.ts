/**
 * Generated arithmetic problems with verifiable answers — the built-in demo task, small enough for a tiny
 * character-level model on a CPU: "37+45=" → "82". Difficulty is set by the operand range and the operations.
 * Problems are generated from the run's seed; the validation set is a fixed, disjoint-by-seed list.
 */
import type { ArithmeticOperation, ArithmeticTaskConfig } from '../../protocol';
import { TASK_DEFAULT_REWARDS } from '../../protocol';
import { Random } from '../../model/random';
import { arithmeticAnswerReward } from './rewards';
import { DataCursor, Example, PromptTask, ShuffledCursor } from './task';

function solve(a: number, op: ArithmeticOperation, b: number): number {
  return op === '+' ? a + b : op === '-' ? a - b : a * b;
}

/** All problems in the configured range, in a seeded order; the first `num_eval` are held out. */
function generateProblems(config: ArithmeticTaskConfig, seed: number): Example[] {
  const rng = new Random(seed);
  const seen = new Set<string>();
  const problems: Example[] = [];
  const span = config.max_operand - config.min_operand + 1;
  const capacity = span * span * config.operations.length;
  const wanted = Math.min(config.num_train + config.num_eval, capacity);
  while (problems.length < wanted) {
    const a = config.min_operand + rng.int(span);
    const b = config.min_operand + rng.int(span);
    const op = config.operations[rng.int(config.operations.length)];
    const prompt = `${a}${op}${b}=`;
    if (seen.has(prompt)) continue;
    seen.add(prompt);
    const answer = String(solve(a, op, b));
    problems.push({ id: prompt, prompt, answer, completion: `${answer}\n` });
  }
  return problems;
}

/**
 * What a teacher that forgets to carry writes: each column's digits added mod 10, no carry ("17+25=" → "32").
 * Only meaningful for addition; other operations get the right answer.
 */
export function withoutCarry(prompt: string): string | undefined {
  const match = /^(\d+)\+(\d+)=$/.exec(prompt);
  if (!match) return undefined;
  const [a, b] = [match[1], match[2]];
  const width = Math.max(a.length, b.length);
  const digits: number[] = [];
  for (let i = 1; i <= width; i++) digits.unshift((Number(a[a.length - i] ?? 0) + Number(b[b.length - i] ?? 0)) % 10);
  return String(Number(digits.join('')));
}

export class ArithmeticTask implements PromptTask {
  readonly name = 'arithmetic';
  readonly defaultRewards = TASK_DEFAULT_REWARDS.arithmetic;
  private readonly evalProblems: Example[];
  private readonly train: ShuffledCursor<Example>;
  private readonly sft: ShuffledCursor<Example>;
  /** The imperfect teacher's own draws: separate from the run's stream, so SFT never shifts GRPO's samples. */
  private readonly teacher: Random;
  private readonly teacherErrorRate: number;

  constructor(config: ArithmeticTaskConfig, seed: number) {
    this.teacher = new Random((seed + 2) >>> 0);
    this.teacherErrorRate = config.teacher_error_rate;
    if (config.min_operand > config.max_operand) {
      throw new Error(`task.min_operand (${config.min_operand}) is larger than task.max_operand (${config.max_operand})`);
    }
    const problems = generateProblems(config, seed);
    const numEval = Math.min(config.num_eval, Math.floor(problems.length / 2));
    this.evalProblems = problems.slice(0, numEval);
    this.train = new ShuffledCursor(problems.slice(numEval), seed + 1);
    this.sft = new ShuffledCursor(problems.slice(numEval), seed + 3);
  }

  /** Reference completions; with `teacher_error_rate` > 0 some carrying sums come back without their carry. */
  nextSft(n: number): Example[] {
    return this.sft.take(n).map((example) => {
      const sloppy = withoutCarry(example.prompt);
      if (sloppy === undefined || sloppy === example.answer || this.teacher.random() >= this.teacherErrorRate) return example;
      return { ...example, completion: `${sloppy}\n` };
    });
  }

  nextTrain(n: number): Example[] {
    return this.train.take(n);
  }

  trainSet(): readonly Example[] {
    return this.train.items;
  }

  evalSet(): Example[] {
    return this.evalProblems;
  }

  isCorrect(completion: string, example: Example): boolean {
    return arithmeticAnswerReward(example.prompt, completion, example) === 1;
  }

  cursor(): DataCursor {
    return this.train.cursor();
  }

  restoreCursor(cursor: DataCursor): void {
    this.train.restore(cursor);
  }
}
