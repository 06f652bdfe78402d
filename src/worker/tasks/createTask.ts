/** The language task a run config names, built from its (absolute) paths: the worker's and the verl launcher's. */
import type { LanguageTaskConfig, RunConfig } from '../../protocol';
import { ArithmeticTask } from './arithmetic';
import { Gsm8kTask } from './gsm8k';
import { PromptsTask } from './prompts';
import type { PromptTask } from './task';

/** Paths in `task` are absolute by now (see resolveConfigPaths in train.ts). */
export async function createTask(config: RunConfig, task: LanguageTaskConfig): Promise<PromptTask> {
  switch (task.type) {
    case 'arithmetic':
      return new ArithmeticTask(task, config.seed);
    case 'gsm8k':
      return new Gsm8kTask(task, config.seed);
    case 'prompts':
      return PromptsTask.load(task, config.seed);
  }
}
