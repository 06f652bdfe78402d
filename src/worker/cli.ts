#!/usr/bin/env node
/**
 * Headless runs, for servers and CI: the same worker code without VS Code.
 *   grpo-studio train <config.json> [--out <runs-dir>]
 * Prints one progress line per step; the run directory can later be opened in the extension.
 */
import * as path from 'path';
import { WorkerMessage } from '../protocol';
import { train } from './train';
import { parseArgs } from './args';

const USAGE = 'usage: grpo-studio train <config.json> [--out <runs-dir>]';

function printProgress(message: WorkerMessage): void {
  switch (message.type) {
    case 'started':
      console.log(`run ${message.runId} → ${message.runDir}\nbackend: ${message.backend} (${message.device})`);
      break;
    case 'metrics': {
      const m = message.record.metrics;
      const parts = [`step ${message.record.step}`, `reward ${fmt(m.reward)}`, `reward_std ${fmt(m.reward_std)}`, `kl ${fmt(m.kl)}`, `loss ${fmt(m.loss)}`];
      console.log(parts.join('  '));
      break;
    }
    case 'log':
      console.log(`${message.level}: ${message.message}`);
      break;
    case 'error':
      console.error(`error: ${message.message}`);
      break;
    case 'finished':
      console.log(`${message.outcome} after ${message.steps} steps`);
      break;
  }
}

function fmt(x: number | undefined): string {
  return x === undefined ? '-' : x.toFixed(4);
}

async function main(argv: string[]): Promise<number> {
  const [command, configPath, ...rest] = argv;
  if (command !== 'train' || !configPath) {
    console.error(USAGE);
    return 2;
  }
  const options = parseArgs(rest, [], ['out']);
  let stop = false;
  process.on('SIGINT', () => {
    if (stop) process.exit(130);
    stop = true;
    console.log('stopping after this step (Ctrl-C again to abort)');
  });
  await train({
    configPath,
    runsDir: path.resolve(options.out ?? 'runs'),
    observers: [printProgress],
    shouldStop: () => stop,
  });
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  },
);
