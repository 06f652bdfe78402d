/**
 * Starts and stops training workers. Each run is a `child_process.fork` of dist/worker.js with an IPC channel;
 * its messages are re-published as events for the tree, the status bar and the dashboard. The worker writes the
 * run directory itself, so nothing here is needed to read a run back later.
 */
import { ChildProcess, fork } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { BackendName, HostToWorkerMessage, isWorkerMessage, RunConfig, WorkerMessage } from '../protocol';
import { newRunDirectory } from '../protocol/runFolder';
import { escalateStop, recordRunWarning } from './stopEscalation';

export interface RunMessageEvent {
  runId: string;
  message: WorkerMessage;
}

export interface LiveRun {
  runId: string;
  runDir: string;
  config: RunConfig;
  process: ChildProcess;
  /** Resolves with the worker's exit code once it has exited. */
  exited: Promise<number | null>;
  /** Set once a stop was sent: its escalation (signal, then kill) is under way. */
  stopping?: boolean;
  /** Set once the first reward failure of this worker raised its notification. */
  rewardFailureShown?: boolean;
}

export interface StartOptions {
  configPath: string;
  config: RunConfig;
  runsDir: string;
  /** From the `grpo.backend` setting: overrides the config's backend unless 'auto'. */
  backend: BackendName;
}

export class RunManager implements vscode.Disposable {
  private readonly live = new Map<string, LiveRun>();
  private readonly messageEmitter = new vscode.EventEmitter<RunMessageEvent>();
  private readonly changeEmitter = new vscode.EventEmitter<void>();
  /** Every worker message, tagged with its run. */
  readonly onMessage = this.messageEmitter.event;
  /** A run started or its worker exited. */
  readonly onDidChangeRuns = this.changeEmitter.event;

  constructor(
    private readonly workerScript: string,
    private readonly output: vscode.OutputChannel,
  ) {}

  get liveRuns(): LiveRun[] {
    return [...this.live.values()];
  }

  isLive(runId: string): boolean {
    return this.live.has(runId);
  }

  start(options: StartOptions): LiveRun {
    const runDir = newRunDirectory(options.runsDir, options.config.name);
    // Claimed now, not when the worker gets to it: a second start in the same second picks the next name.
    fs.mkdirSync(runDir, { recursive: true });
    const args = ['--config', options.configPath, '--run-dir', runDir];
    if (options.backend !== 'auto') args.push('--backend', options.backend);
    return this.launch(runDir, options.config, args, `${options.configPath} → ${runDir}`);
  }

  /** Continues a stopped, interrupted or failed run from its newest checkpoint, appending to its directory. */
  resume(runDir: string, config: RunConfig, backend: BackendName): LiveRun {
    const runId = path.basename(runDir);
    if (this.live.has(runId)) throw new Error(`run ${runId} is already running`);
    const args = ['--resume', runDir];
    if (backend !== 'auto') args.push('--backend', backend);
    return this.launch(runDir, config, args, `resuming ${runDir}`);
  }

  /** Holds a live run at its next step boundary; `proceed` lets it go on. */
  pause(runId: string): boolean {
    return this.sendTo(runId, { type: 'pause' });
  }

  proceed(runId: string): boolean {
    return this.sendTo(runId, { type: 'resume' });
  }

  private launch(runDir: string, config: RunConfig, args: string[], what: string): LiveRun {
    const runId = path.basename(runDir);
    const child = fork(this.workerScript, args, {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      // Inside Electron the extension host's execPath is the editor binary: make it behave as plain Node.
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
      execArgv: [],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const run: LiveRun = { runId, runDir, config, process: child, exited };
    this.live.set(runId, run);

    child.stdout?.on('data', (data: Buffer) => this.output.append(`[${runId}] ${data.toString()}`));
    child.stderr?.on('data', (data: Buffer) => this.output.append(`[${runId}] ${data.toString()}`));
    child.on('message', (message: unknown) => {
      if (!isWorkerMessage(message)) {
        this.output.appendLine(`[${runId}] ignored a malformed worker message: ${JSON.stringify(message)}`);
        return;
      }
      this.logMessage(runId, message);
      if (message.type === 'reward_error') this.notifyRewardFailure(run, message);
      this.messageEmitter.fire({ runId, message });
    });
    child.on('error', (err) => this.output.appendLine(`[${runId}] worker process error: ${err.message}`));
    void exited.then((code) => {
      this.live.delete(runId);
      this.output.appendLine(`[${runId}] worker exited with code ${code}`);
      this.changeEmitter.fire();
    });
    this.output.appendLine(`[${runId}] started worker pid ${child.pid}: ${what}`);
    this.changeEmitter.fire();
    return run;
  }

  /**
   * Asks the worker to stop (it abandons the step in flight and checkpoints the last completed one); false if the
   * run is not live. A worker still running after a grace period gets SIGTERM, then SIGKILL (escalateStop).
   */
  stop(runId: string): boolean {
    const run = this.live.get(runId);
    if (!this.sendTo(runId, { type: 'stop' }) || !run) return false;
    if (!run.stopping) {
      run.stopping = true;
      escalateStop(run.process, run.exited, (message) => this.recordWarning(run, message));
    }
    return true;
  }

  /** A host-side warning in the run's history (events.jsonl), the output channel, and the dashboard. */
  private recordWarning(run: LiveRun, message: string): void {
    this.output.appendLine(`[${run.runId}] warning: ${message}`);
    try {
      const event = recordRunWarning(run.runDir, message);
      this.messageEmitter.fire({ runId: run.runId, message: event });
    } catch (err) {
      this.output.appendLine(`[${run.runId}] could not record it in events.jsonl: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** The first failed reward of a run's worker raises one notification; the rest are in the run's events. */
  private notifyRewardFailure(run: LiveRun, failure: Extract<WorkerMessage, { type: 'reward_error' }>): void {
    this.output.appendLine(`[${run.runId}] reward "${failure.reward}" failed at step ${failure.step}: ${failure.message}`);
    if (run.rewardFailureShown) return;
    run.rewardFailureShown = true;
    void vscode.window.showWarningMessage(
      `GRPO run ${run.runId}: reward "${failure.reward}" failed on a sample at step ${failure.step}: ${failure.message}. Such samples are marked failed (no reward, advantage 0) and the run goes on; the count is charted as rewards/failed.`,
    );
  }

  private sendTo(runId: string, message: HostToWorkerMessage): boolean {
    const run = this.live.get(runId);
    if (!run || !run.process.connected) return false;
    run.process.send(message);
    return true;
  }

  dispose(): void {
    for (const run of this.live.values()) this.stop(run.runId);
    this.messageEmitter.dispose();
    this.changeEmitter.dispose();
  }

  private logMessage(runId: string, message: WorkerMessage): void {
    switch (message.type) {
      case 'started':
        this.output.appendLine(`[${runId}] backend ${message.backend} (${message.device})`);
        break;
      case 'log':
        this.output.appendLine(`[${runId}] ${message.level}: ${message.message}`);
        break;
      case 'error':
        this.output.appendLine(`[${runId}] error: ${message.message}`);
        break;
      case 'finished':
        this.output.appendLine(`[${runId}] ${message.outcome} after ${message.steps} steps`);
        break;
    }
  }
}
