/**
 * Starts, attaches to and controls training workers. A worker is started detached from the extension host (its own
 * process group, stdout and stderr in the run's worker.log), so a window reload or VS Code closing does not end it;
 * this host attaches to it through the run's control socket (workerClient.ts), as it attaches on activation to
 * runs already going (started by an earlier window). Worker messages are re-published as events for the tree, the
 * status bar and the dashboard. The worker writes the run directory itself, so nothing here is needed to read a run
 * back later.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';
import { BackendName, finiteValue, HostToWorkerMessage, RUN_FILES, RunConfig, WorkerMessage } from '../protocol';
import { newRunDirectory } from '../protocol/runFolder';
import { runLockHolder } from '../protocol/runLockFile';
import { listRunDirectories, readSnapshot } from '../protocol/runStore';
import { escalateStop, Killable, RecentStepTimes, recordRunWarning, stopGraceFor } from './stopEscalation';
import { LiveRunTable, runKey, RunLiveness, RUN_STATE_MESSAGES } from './liveRuns';
import { RunAttachment } from './workerClient';
import { spawnDetachedWorker, startupFailure, WorkerExit, workerExitNotice, WorkerProgress } from './workerLaunch';

export interface RunMessageEvent {
  /** The run's folder, resolved: what identifies it (two folders may share a name). */
  runDir: string;
  /** The folder's name, for labels. */
  runId: string;
  message: WorkerMessage;
}

export interface LiveRun {
  /** The folder's name: a label, not unique (the runs directory and a watched folder may both hold `run`). */
  runId: string;
  /** The run's folder, resolved: the key everything in this window asks by. */
  runDir: string;
  config: RunConfig | undefined;
  attachment: RunAttachment;
  /**
   * Resolves once the worker is gone: with its exit code when this host started it, null for a run it attached to
   * (another process's child).
   */
  exited: Promise<number | null>;
  /** Set by a start or resume in this window; false for a run found running. */
  startedHere: boolean;
  /** Set once a stop was sent: its escalation (signal, then kill) is under way. */
  stopping?: boolean;
  /** Set once the first reward failure of this worker raised its notification. */
  rewardFailureShown?: boolean;
  /** The last steps' `time/step`: how long a stop may wait for the next step boundary. */
  stepTimes: RecentStepTimes;
  /** What the worker recorded of its run so far: what its exit means (workerExitNotice). */
  progress: WorkerProgress;
}

export interface StartOptions {
  configPath: string;
  config: RunConfig;
  runsDir: string;
  /** From the `grpo.backend` setting: overrides the config's backend unless 'auto'. */
  backend: BackendName;
}

export class RunManager implements vscode.Disposable, RunLiveness {
  private readonly live = new LiveRunTable<LiveRun>();
  private readonly messageEmitter = new vscode.EventEmitter<RunMessageEvent>();
  private readonly changeEmitter = new vscode.EventEmitter<void>();
  private readonly stateEmitter = new vscode.EventEmitter<void>();
  /** Every worker message, tagged with its run. */
  readonly onMessage = this.messageEmitter.event;
  /** A run started, was attached to, or its worker ended. */
  readonly onDidChangeRuns = this.changeEmitter.event;
  /**
   * Some run's state may have changed: a run started, was attached to or ended, a stop was sent, or a worker said
   * so (a pause asked for, paused, continued, a stop asked for, finished, failed). Fired after onMessage's listeners
   * have the message. The tree, the status bar and the dashboards all show a run's state on this one event, each
   * read from the run's files then: none of them lags behind the others.
   */
  readonly onDidChangeRunState = this.stateEmitter.event;

  constructor(
    private readonly workerScript: string,
    private readonly output: vscode.OutputChannel,
    /** Whether `dispose` (the window's extension host deactivating) stops the live runs: `grpo.onWindowClose`. */
    private readonly stopOnDispose: () => boolean = () => false,
  ) {}

  get liveRuns(): LiveRun[] {
    return this.live.all;
  }

  /** The live run of that folder (undefined if none is): a folder, never a folder's name. */
  liveRun(runDir: string): LiveRun | undefined {
    return this.live.get(runDir);
  }

  isLive(runDir: string): boolean {
    return this.live.isLive(runDir);
  }

  /** A stop was sent to the run from this window and it has not ended yet. */
  isStopping(runDir: string): boolean {
    return this.live.isStopping(runDir);
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
    if (this.live.isLive(runDir) || runLockHolder(runDir)) throw new Error(`run ${runId} (${runDir}) is already running`);
    const args = ['--resume', runDir];
    if (backend !== 'auto') args.push('--backend', backend);
    return this.launch(runDir, config, args, `resuming ${runDir}`);
  }

  /**
   * Attaches to the runs under `runsDir` whose worker is alive (a lock held by a live pid with its start time):
   * started by an earlier window, or from before a reload. Returns those newly attached.
   */
  attachRunning(runsDir: string): LiveRun[] {
    const attached: LiveRun[] = [];
    for (const runDir of listRunDirectories(runsDir)) {
      const runId = path.basename(runDir);
      if (this.live.isLive(runDir) || !runLockHolder(runDir)) continue;
      const snapshot = readSnapshot(runDir, false);
      // A CLI run holds a lock but serves no socket: it is followed from its files (the dashboard's RunFollower).
      if (!fs.existsSync(path.join(runDir, RUN_FILES.socket))) continue;
      const run = this.track(runDir, snapshot.config, false, 'latest', undefined);
      this.output.appendLine(`[${runId}] attached to the running worker (${snapshot.status})`);
      attached.push(run);
    }
    if (attached.length) this.runsChanged();
    return attached;
  }

  /** This window's connection to the run's worker is up (not still attaching, as after a reload mid-step). */
  isAttached(runDir: string): boolean {
    return this.live.get(runDir)?.attachment.isConnected ?? false;
  }

  /**
   * Holds a live run at its next step boundary; `proceed` lets it go on. Both need the worker's socket: while this
   * window is still attaching, the user is told why nothing happened (never silence).
   */
  pause(runDir: string): boolean {
    return this.sendOrExplain(runDir, { type: 'pause' }, 'pause');
  }

  proceed(runDir: string): boolean {
    return this.sendOrExplain(runDir, { type: 'resume' }, 'continue');
  }

  private sendOrExplain(runDir: string, message: HostToWorkerMessage, action: string): boolean {
    if (this.sendTo(runDir, message)) return true;
    const run = this.live.get(runDir);
    if (run) void vscode.window.showWarningMessage(`GRPO: cannot ${action} run ${run.runId} yet: ${notAttachedReason(run)} Try again once its dashboard shows new steps; Stop works meanwhile.`);
    return false;
  }

  private launch(runDir: string, config: RunConfig, args: string[], what: string): LiveRun {
    const runId = path.basename(runDir);
    const launched = Date.now();
    const child = spawnDetachedWorker(this.workerScript, args, runDir);
    let childExited = false;
    const exit = new Promise<WorkerExit>((resolve) => child.once('exit', (code, signal) => {
      childExited = true;
      resolve({ code, signal });
    }));
    child.on('error', (err) => this.output.appendLine(`[${runId}] worker process error: ${err.message}`));
    const run = this.track(runDir, config, true, 'all', () => !childExited, launched);
    run.exited = Promise.all([exit, run.attachment.ended]).then(([{ code }]) => code);
    // Once its exit is known and its last records are read (the attachment catches up from disk as it ends).
    void Promise.all([exit, run.attachment.ended]).then(([how]) => {
      // A startup failure's reason is in worker.log (a config or model the worker refused).
      const notice = workerExitNotice(runId, how, run.progress, run.progress.started ? undefined : startupFailure(runDir), path.join(runDir, RUN_FILES.workerLog));
      if (!notice) return;
      this.output.appendLine(`[${runId}] ${notice}`);
      void vscode.window.showErrorMessage(`GRPO: ${notice}`);
      // This window claimed the folder; with no config in it, the run never began and leaves nothing behind.
      if (!run.progress.started && !fs.existsSync(path.join(runDir, RUN_FILES.config))) fs.rmSync(runDir, { recursive: true, force: true });
    });
    this.output.appendLine(`[${runId}] started worker pid ${child.pid} (detached; log ${RUN_FILES.workerLog}): ${what}`);
    this.runsChanged();
    return run;
  }

  /** `launched`: when this window started the worker; records older than that are an earlier process's (a resume). */
  private track(folder: string, config: RunConfig | undefined, startedHere: boolean, catchUp: 'all' | 'latest', starting: (() => boolean) | undefined, launched = 0): LiveRun {
    const runDir = runKey(folder);
    const runId = path.basename(runDir);
    const progress: WorkerProgress = { started: false, ended: false, step: undefined };
    const run = { runId, runDir, config, startedHere, stepTimes: new RecentStepTimes(), progress } as LiveRun;
    run.attachment = new RunAttachment(runDir, {
      catchUp,
      starting,
      log: (message) => this.output.appendLine(`[${runId}] ${message}`),
      onMessage: (message) => {
        if (message.type === 'started') run.config = message.config;
        if (message.type === 'metrics') {
          run.stepTimes.add(finiteValue(message.record.metrics['time/step']));
          progress.step = message.record.step;
        }
        noteProgress(progress, message, launched);
        this.logMessage(runId, message);
        if (message.type === 'reward_error') this.notifyRewardFailure(run, message);
        this.messageEmitter.fire({ runDir, runId, message });
        if (RUN_STATE_MESSAGES.has(message.type)) this.stateEmitter.fire();
      },
      onEnded: () => undefined,
      // The status bar says "attaching" until then.
      onAttached: () => this.runsChanged(),
    });
    run.exited = run.attachment.ended.then(() => null);
    this.live.add(run);
    void run.attachment.ended.then(() => {
      if (!this.live.remove(run)) return;
      this.output.appendLine(`[${runId}] worker ended`);
      this.runsChanged();
    });
    return run;
  }

  /**
   * Asks the worker to stop (it abandons the step in flight and checkpoints the last completed one); false if the
   * run is not live. A worker still running after a grace period gets SIGTERM, then SIGKILL (escalateStop).
   */
  stop(runDir: string): boolean {
    const run = this.live.get(runDir);
    if (!run) return false;
    const runId = run.runId;
    if (!this.sendTo(runDir, { type: 'stop' })) {
      // Not attached (yet): the worker the run's lock names gets SIGTERM, which it treats as the same clean stop.
      if (!workerProcess(run).kill('SIGTERM')) {
        void vscode.window.showWarningMessage(`GRPO: cannot stop run ${runId} yet: ${notAttachedReason(run)} Try again in a moment.`);
        return false;
      }
      this.output.appendLine(`[${runId}] not attached to its worker yet: sent it SIGTERM (a clean stop at its next step boundary)`);
    }
    if (!run.stopping) {
      run.stopping = true;
      this.runsChanged();
      escalateStop(workerProcess(run), run.attachment.ended, (message) => this.recordWarning(run, message), stopGraceFor(run.stepTimes.slowest()));
    }
    return true;
  }

  /** The set of live runs changed (or how this window is attached to one): so may their states. */
  private runsChanged(): void {
    this.changeEmitter.fire();
    this.stateEmitter.fire();
  }

  /** A host-side warning in the run's history (events.jsonl), the output channel, and the dashboard. */
  private recordWarning(run: LiveRun, message: string): void {
    this.output.appendLine(`[${run.runId}] warning: ${message}`);
    try {
      const event = recordRunWarning(run.runDir, message);
      this.messageEmitter.fire({ runDir: run.runDir, runId: run.runId, message: event });
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

  private sendTo(runDir: string, message: HostToWorkerMessage): boolean {
    return this.live.get(runDir)?.attachment.send(message) ?? false;
  }

  /** The window goes away: its runs keep going (`grpo.onWindowClose`: keepRunning), or are asked to stop. */
  dispose(): void {
    const stop = this.stopOnDispose();
    for (const run of this.live.all) {
      if (stop) run.attachment.send({ type: 'stop' });
      run.attachment.detach();
    }
    this.live.clear();
    this.messageEmitter.dispose();
    this.changeEmitter.dispose();
    this.stateEmitter.dispose();
  }

  private logMessage(runId: string, message: WorkerMessage): void {
    switch (message.type) {
      case 'started':
        this.output.appendLine(`[${runId}] backend ${message.backend} (${message.device})`);
        break;
      case 'log':
        this.output.appendLine(`[${runId}] ${message.level}: ${message.message}`);
        break;
      case 'pause_requested':
        this.output.appendLine(`[${runId}] pausing at the next step boundary`);
        break;
      case 'paused':
      case 'continued':
        this.output.appendLine(`[${runId}] ${message.type} ${message.sftStep === undefined ? `after step ${message.step}` : `in the SFT warm start after SFT step ${message.sftStep}`}`);
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

/** What a worker's record says of its run: started, ended. Records from before `launched` are an earlier process's. */
function noteProgress(progress: WorkerProgress, message: WorkerMessage, launched: number): void {
  if (message.type !== 'started' && message.type !== 'finished' && message.type !== 'error') return;
  if (message.time < launched) return;
  if (message.type === 'started') progress.started = true;
  else progress.ended = true;
}

/** Why a live run's worker cannot take a message from this window now, for a notification. */
function notAttachedReason(run: LiveRun): string {
  const holder = runLockHolder(run.runDir);
  if (!holder) return 'its worker is still starting (or has just ended).';
  return `this window is still attaching to its worker (pid ${holder.pid}), which answers only between training steps.`;
}

/**
 * The worker as something to signal: the pid the run's lock names, and only while the lock still names it with its
 * start time (a pid reused by another program is never signalled). Not the attachment's pid: a window still
 * attaching (a reload during a long step) must be able to stop the run too.
 */
function workerProcess(run: LiveRun): Killable {
  return {
    get pid() {
      return run.attachment.pid ?? runLockHolder(run.runDir)?.pid;
    },
    kill(signal: NodeJS.Signals): boolean {
      const holder = runLockHolder(run.runDir);
      // A lock taken on another machine (a shared drive) names a pid that means nothing here.
      if (!holder || (holder.hostname && holder.hostname !== os.hostname())) return false;
      const pid = holder.pid;
      try {
        process.kill(pid, signal);
        return true;
      } catch {
        return false;
      }
    },
  };
}
