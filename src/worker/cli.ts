#!/usr/bin/env node
/**
 * Headless runs, for servers and CI: the same worker code without VS Code.
 *   grpo-studio train <config.json> [--out <runs-dir>]
 *   grpo-studio resume <run-dir>
 *   grpo-studio doctor [--numerics] [--json]
 *   grpo-studio generate <model> --prompt TEXT [--chat] [--json] …
 *   grpo-studio export <run-dir> --out DIR [--step N] [--merge]
 *   grpo-studio summary <run-dir> [--json]   (any format: GRPO Studio, verl, TRL, prime-rl)
 * Prints one progress line per step; the run directory can later be opened in the extension. Ctrl-C (or SIGTERM)
 * stops within moments whatever the reward code does: the step in flight is abandoned, the last completed step is
 * checkpointed, and `grpo-studio resume` continues from it. A second Ctrl-C aborts without a checkpoint.
 */
import * as path from 'path';
import { StoredNumber, WorkerMessage } from '../protocol';
import { train } from './train';
import { parseArgs } from './args';
import { doctor, formatReport } from './doctor';
import { GENERATE_USAGE, runGenerate } from './generateCommand';
import { EXPORT_USAGE, runExport } from './exportCommand';
import { runSummary, SUMMARY_USAGE } from './summaryCommand';

const USAGE = `usage:
  grpo-studio train <config.json> [--out <runs-dir>] [--backend auto|tensorflow|webgpu|wasm|cpu]
  grpo-studio resume <run-dir> [--backend …]
  grpo-studio doctor [--numerics] [--json]   which backends load, the GPU they see, how to enable the rest
  ${GENERATE_USAGE}
  ${EXPORT_USAGE}
  ${SUMMARY_USAGE}`;

/** The message of the run's error event, once printed: the same error rejecting `train` is not printed again. */
let reportedError: string | undefined;
/** The warm start's last progress event: a run that ends inside it says where. */
let warmStart: { step: number; steps: number } | undefined;

function printProgress(message: WorkerMessage): void {
  switch (message.type) {
    case 'started':
      console.log(`run ${message.runId} → ${message.runDir}\nbackend: ${message.backend} (${message.device})`);
      break;
    case 'metrics': {
      const m = message.record.metrics;
      const parts = [`step ${message.record.step}`];
      for (const key of ['reward', 'reward_std', 'kl', 'loss', 'entropy', 'completions/mean_length', 'eval/accuracy', 'time/step']) {
        if (m[key] !== undefined) parts.push(`${key} ${fmt(m[key])}`);
      }
      console.log(parts.join('  '));
      break;
    }
    case 'log':
      console.log(`${message.level}: ${message.message}`);
      break;
    case 'reward_error':
      console.log(`warning: reward "${message.reward}" failed at step ${message.step}: ${message.message}`);
      break;
    case 'checkpoint':
      console.log(`checkpoint: ${message.path}`);
      break;
    case 'error':
      console.error(`error: ${message.message}`);
      reportedError = message.message;
      break;
    case 'warm_start':
      warmStart = { step: message.step, steps: message.steps };
      break;
    case 'finished':
      if (message.steps === 0 && warmStart && warmStart.step < warmStart.steps) {
        console.log(`${message.outcome} in the SFT warm start (near step ${warmStart.step} of ${warmStart.steps}), before GRPO step 1; \`grpo-studio resume\` continues it`);
      } else {
        console.log(`${message.outcome} after ${message.steps} steps`);
      }
      break;
  }
}

function fmt(x: StoredNumber | undefined): string {
  return x === undefined ? '-' : x === null ? 'NaN' : x.toFixed(4);
}

/** `doctor`: the GPU setup report; --numerics also compares each backend with wasm, --json prints the raw report. */
async function runDoctor(flags: string[]): Promise<number> {
  const unknown = flags.filter((f) => f !== '--numerics' && f !== '--json');
  if (unknown.length > 0) {
    console.error(`unknown option ${unknown[0]}\n${USAGE}`);
    return 2;
  }
  const report = await doctor({ numerics: flags.includes('--numerics') });
  console.log(flags.includes('--json') ? JSON.stringify(report, null, 2) : formatReport(report));
  return 0;
}

/** `grpo-studio --help`, `grpo-studio train --help`: the usage on stdout, as a request (exit 0), not an error. */
function asksForHelp(argv: string[]): boolean {
  const help = (arg: string | undefined) => arg === '--help' || arg === '-h';
  return help(argv[0]) || argv[0] === 'help' || help(argv[1]);
}

async function main(argv: string[]): Promise<number> {
  if (asksForHelp(argv)) {
    console.log(USAGE);
    return 0;
  }
  if (argv[0] === 'doctor') return runDoctor(argv.slice(1));
  if (argv[0] === 'generate') return runGenerate(argv.slice(1));
  if (argv[0] === 'export') return runExport(argv.slice(1));
  if (argv[0] === 'summary') return runSummary(argv.slice(1));
  const [command, target, ...rest] = argv;
  if (!['train', 'resume'].includes(command) || !target) {
    console.error(USAGE);
    return 2;
  }
  const options = parseArgs(rest, [], ['out', 'backend']);
  let stop = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop) process.exit(signal === 'SIGINT' ? 130 : 143);
    stop = true;
    console.log('stopping: the step in flight is abandoned, the last completed step is checkpointed (Ctrl-C again to abort)');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  await train({
    configPath: command === 'train' ? target : undefined,
    resumeDir: command === 'resume' ? target : undefined,
    runsDir: path.resolve(options.out ?? 'runs'),
    backend: options.backend,
    observers: [printProgress],
    control: { shouldStop: () => stop, waitWhilePaused: () => Promise.resolve() },
  });
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    // A run's failure was already printed from its error event; errors before the run started were not.
    if (reportedError === undefined || !reportedError.startsWith(message)) console.error(message);
    process.exitCode = 1;
  },
);
