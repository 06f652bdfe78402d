/**
 * A reward thread of the pool (rewardPool.ts): loads the run's reward modules once, then scores one sample at a
 * time. User code runs here, never on the training thread, so an endless loop or a crash in it costs this thread
 * only: the pool times it out or sees it exit, and starts a new one.
 */
import { parentPort, workerData } from 'worker_threads';
import { checkRewardOutput, loadRewardModule, RewardFunction } from './tasks/rewards';
import type { RewardTask, RewardThreadData, RewardThreadMessage } from './rewardPool';

const port = parentPort;
if (!port) throw new Error('rewardWorker.ts runs as a worker thread of the reward pool');
const { modules } = workerData as RewardThreadData;

function post(message: RewardThreadMessage): void {
  port?.postMessage(message);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function score(fn: RewardFunction, name: string, task: RewardTask): Promise<RewardThreadMessage> {
  try {
    const output: unknown = await fn(task.prompt, task.completion, task.example);
    return { type: 'result', id: task.id, score: checkRewardOutput(name, output) };
  } catch (err) {
    return { type: 'result', id: task.id, error: messageOf(err) };
  }
}

async function main(): Promise<void> {
  let functions: RewardFunction[];
  try {
    // Paths are absolute by now (resolveConfigPaths), so the base folder does not matter.
    functions = await Promise.all(modules.map((m) => loadRewardModule(m.file, '/')));
  } catch (err) {
    post({ type: 'load_error', message: messageOf(err) });
    return;
  }
  port?.on('message', (task: RewardTask) => {
    void score(functions[task.module], modules[task.module].name, task).then(post);
  });
  post({ type: 'ready' });
}

void main();
