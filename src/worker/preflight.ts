/**
 * Everything about a new run that can be wrong in the user's inputs, checked before the run folder is written: a
 * reward that does not exist, a reward module, model folder or data file that is missing, a prompt template
 * without its placeholder, a dataset row without a prompt. A mistake found later would leave a failed run folder
 * behind for a run that never started.
 */
import * as fs from 'fs';
import { LoraSpec, RunConfig, SchemaError } from '../protocol';
import { readModelConfig } from '../model/checkpoint';
import { ModelConfig } from '../model/config';
import { resolveLora } from '../model/lora';
import { createTask } from './tasks/createTask';
import { BUILT_IN_REWARDS, PARAMETERISED_REWARDS } from './tasks/rewards';

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Reward names and modules. Modules are only looked for: their code runs where rewards run, never here. */
function rewardProblems(config: RunConfig): string[] {
  const problems: string[] = [];
  config.rewards.forEach((reward, i) => {
    if (reward.module !== undefined) {
      if (!fs.existsSync(reward.module)) problems.push(`rewards[${i}].module: ${reward.module} does not exist`);
      else if (!fs.statSync(reward.module).isFile()) problems.push(`rewards[${i}].module: ${reward.module} is not a file`);
      // The same config launches on verl with a Python reward; here rewards run in JavaScript threads.
      else if (reward.module.toLowerCase().endsWith('.py')) problems.push(`rewards[${i}].module: ${reward.module} is a Python reward, which only a verl job runs ("GRPO: Launch on Ray…"); a local run takes a JavaScript module`);
    } else if (reward.name in PARAMETERISED_REWARDS) {
      // Building the function checks its params (e.g. soft_punish_cache ≤ max_completion_len) without scoring anything.
      try {
        PARAMETERISED_REWARDS[reward.name](reward.params ?? {}, { maxCompletionLength: config.sampling.max_completion_length });
      } catch (err) {
        problems.push(`rewards[${i}].params: ${message(err)}`);
      }
    } else if (!(reward.name in BUILT_IN_REWARDS)) {
      const names = [...Object.keys(BUILT_IN_REWARDS), ...Object.keys(PARAMETERISED_REWARDS)];
      problems.push(`rewards[${i}].name: unknown built-in reward "${reward.name}" (built-in: ${names.join(', ')}; or give a "module")`);
    } else if (reward.params !== undefined && Object.keys(reward.params).length > 0) {
      problems.push(`rewards[${i}].params: "${reward.name}" takes no params`);
    }
  });
  return problems;
}

/** Data files named by the task that are not there: named by their field, before any is read. */
function dataFileProblems(config: RunConfig): string[] {
  const task = config.task;
  if (task.type !== 'gsm8k' && task.type !== 'prompts') return [];
  const files = { train_file: task.train_file, eval_file: task.eval_file };
  return Object.entries(files).flatMap(([field, file]) => (file !== undefined && !fs.existsSync(file) ? [`task.${field}: ${file} does not exist`] : []));
}

/** The LoRA targets must exist in the model, and an adapter folder must be one (its weights are read at start). */
function loraProblem(model: ModelConfig, lora: LoraSpec, problems: string[]): void {
  if (lora.adapter_path !== undefined && !fs.existsSync(lora.adapter_path)) {
    problems.push(`model.lora.adapter_path: ${lora.adapter_path} does not exist`);
    return;
  }
  try {
    resolveLora(model, lora);
  } catch (err) {
    const text = message(err);
    problems.push(text.startsWith('model.lora') ? text : `model.lora.adapter_path: ${text}`);
  }
}

/**
 * Checks a validated config whose paths are absolute (resolveConfigPaths); throws a SchemaError listing every
 * problem. The task's data is read in full, as the run will read it: a bad row anywhere is found now.
 */
export async function preflight(config: RunConfig, source: string): Promise<void> {
  const problems = rewardProblems(config);
  if (config.model) {
    try {
      const model = readModelConfig(config.model.name_or_path);
      if (config.model.lora) loraProblem(model, config.model.lora, problems);
    } catch (err) {
      problems.push(`model.name_or_path: ${message(err)}`);
    }
  }
  const missingData = dataFileProblems(config);
  problems.push(...missingData);
  if (config.task.type !== 'bandit' && missingData.length === 0) {
    try {
      await createTask(config, config.task);
    } catch (err) {
      const text = message(err);
      problems.push(text.startsWith('task.') ? text : `task: ${text}`);
    }
  }
  if (problems.length > 0) throw new SchemaError(problems, source);
}
