/**
 * "GRPO: Launch on Ray…": a run config → verl's command line in an editable document (the dataset and reward file
 * already written to the shared folder) → on "Submit", a Ray job at `grpo.ray.address`, recorded in the job's
 * folder and followed in the Ray Jobs view, its logs in an output channel. "GRPO: Set Ray Token" keeps the token of
 * a cluster with token authentication in VS Code's SecretStorage. The work itself is in src/worker/verl and
 * src/worker/rayJobs.ts (no vscode there).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { RayJobRecord } from '../protocol';
import { RayJobsClient } from '../worker/rayJobs';
import { entrypointFromDocument } from '../worker/verl/commandLine';
import { jobRecord, prepareVerlLaunch, submitRequest, VerlLaunchPlan, writeJobRecord } from '../worker/verl/launch';
import { pickConfigPath, readConfigOrExplain } from './commands';
import { RayJobItem, RayJobsTreeProvider } from './rayJobsTree';
import { rayAddress, raySharedDirectory } from './settings';

const TOKEN_KEY = 'grpo.ray.token';

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The launch documents not yet submitted, by document URI, with what they were prepared from. Each document is a
 * file in the extension's storage (not an untitled editor, which asks "Save changes?" when closed): edited freely
 * before Submit, saved and closed by Submit and Cancel, so neither asks anything, and deleted with its launch.
 */
class PendingLaunches {
  private readonly plans = new Map<string, VerlLaunchPlan>();

  constructor(private readonly reviewFolder: vscode.Uri) {}

  /** Writes the review document of a plan; its editor shows it as a shell script. */
  async write(plan: VerlLaunchPlan): Promise<vscode.Uri> {
    await vscode.workspace.fs.createDirectory(this.reviewFolder);
    const file = vscode.Uri.joinPath(this.reviewFolder, `${plan.submissionId}.sh`);
    await vscode.workspace.fs.writeFile(file, Buffer.from(plan.document, 'utf8'));
    return file;
  }

  add(uri: vscode.Uri, plan: VerlLaunchPlan): void {
    this.plans.set(uri.toString(), plan);
    this.publish();
  }

  get(uri: vscode.Uri): VerlLaunchPlan | undefined {
    return this.plans.get(uri.toString());
  }

  /** Forgets a launch; with `discard`, removes the folder it prepared (nothing was submitted from it). */
  remove(uri: vscode.Uri, discard: boolean): void {
    const plan = this.plans.get(uri.toString());
    this.plans.delete(uri.toString());
    if (plan && discard) fs.rmSync(plan.jobDir, { recursive: true, force: true });
    this.publish();
  }

  /**
   * Submitted or cancelled: the document is saved (nothing left to ask about) and its editors closed. Its file goes
   * when VS Code lets go of the document (onDidCloseTextDocument): deleted while still loaded, the document would
   * turn "deleted on disk", which counts as unsaved.
   */
  async close(uri: vscode.Uri): Promise<void> {
    const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
    if (document?.isDirty) await document.save();
    const tabs = vscode.window.tabGroups.all.flatMap((group) => group.tabs).filter((tab) => tab.input instanceof vscode.TabInputText && tab.input.uri.toString() === uri.toString());
    await vscode.window.tabGroups.close(tabs);
  }

  /** A review file, once no document holds it. */
  forget(uri: vscode.Uri): void {
    if (uri.scheme === 'file' && path.dirname(uri.fsPath) === this.reviewFolder.fsPath) fs.rmSync(uri.fsPath, { force: true });
  }

  discardAll(): void {
    for (const plan of this.plans.values()) fs.rmSync(plan.jobDir, { recursive: true, force: true });
    this.plans.clear();
    // Review files of launches never submitted (a reload restores no pending launch; its editor would submit nothing).
    fs.rmSync(this.reviewFolder.fsPath, { recursive: true, force: true });
  }

  /**
   * The editor title's Submit and Cancel buttons show on these documents (`resourcePath in grpo.rayLaunchDocuments`):
   * by path, since a remote window (code-server, SSH) sees the file as a vscode-remote: URI, not our file: one.
   */
  private publish(): void {
    void vscode.commands.executeCommand('setContext', 'grpo.rayLaunchDocuments', [...this.plans.keys()].map((key) => vscode.Uri.parse(key).path));
  }
}

/** One output channel per job, following its logs until the job ends. */
class JobLogs implements vscode.Disposable {
  private readonly channels = new Map<string, { channel: vscode.OutputChannel; following: boolean }>();
  private readonly abort = new AbortController();

  show(client: RayJobsClient, submissionId: string): void {
    let entry = this.channels.get(submissionId);
    if (!entry) {
      entry = { channel: vscode.window.createOutputChannel(`GRPO Ray: ${submissionId}`), following: false };
      this.channels.set(submissionId, entry);
    }
    entry.channel.show(true);
    if (!entry.following) void this.follow(client, submissionId, entry);
  }

  private async follow(client: RayJobsClient, submissionId: string, entry: { channel: vscode.OutputChannel; following: boolean }): Promise<void> {
    entry.following = true;
    entry.channel.clear();
    try {
      for await (const text of client.tailLogs(submissionId, { signal: this.abort.signal })) entry.channel.append(text);
      const details = await client.status(submissionId);
      entry.channel.appendLine(`\n[job ${submissionId} ${details.status.toLowerCase()}${details.message ? `: ${details.message}` : ''}]`);
    } catch (err) {
      entry.channel.appendLine(`\n[stopped following the logs: ${message(err)}]`);
    } finally {
      entry.following = false;
    }
  }

  dispose(): void {
    this.abort.abort();
    for (const { channel } of this.channels.values()) channel.dispose();
  }
}

export interface RayLaunchApi {
  tree: RayJobsTreeProvider;
}

export function registerRayCommands(context: vscode.ExtensionContext): RayLaunchApi {
  const pending = new PendingLaunches(vscode.Uri.joinPath(context.globalStorageUri, 'ray-launch'));
  const logs = new JobLogs();
  const clientFor = async (address: string): Promise<RayJobsClient> => new RayJobsClient({ address, token: (await context.secrets.get(TOKEN_KEY)) || undefined });
  const tree = new RayJobsTreeProvider(raySharedDirectory, clientFor);
  const view = vscode.window.createTreeView('grpo.rayJobs', { treeDataProvider: tree });

  /** The settings a launch needs, or an error offering to open them. */
  const launchSettings = (): { address: string; sharedDir: string } | undefined => {
    const address = rayAddress();
    const sharedDir = raySharedDirectory();
    const missing = [!address && 'grpo.ray.address', !sharedDir && 'grpo.ray.sharedDirectory'].filter(Boolean);
    if (missing.length === 0) return { address, sharedDir };
    const detail = !vscode.workspace.isTrusted ? ' (in an untrusted workspace only your user settings count)' : '';
    void vscode.window.showErrorMessage(`GRPO: set ${missing.join(' and ')} to launch on Ray${detail}.`, 'Open Settings').then((choice) => {
      if (choice) void vscode.commands.executeCommand('workbench.action.openSettings', 'grpo.ray');
    });
    return undefined;
  };

  const submit = async (arg?: unknown): Promise<RayJobRecord | undefined> => {
    const uri = arg instanceof vscode.Uri ? arg : vscode.window.activeTextEditor?.document.uri;
    const plan = uri ? pending.get(uri) : undefined;
    if (!uri || !plan) {
      void vscode.window.showErrorMessage('GRPO: the active editor is not a verl command from "GRPO: Launch on Ray…".');
      return undefined;
    }
    const settings = launchSettings();
    if (!settings) return undefined;
    const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
    // On either failure the document and the prepared folder stay: fix the command or the settings and submit again.
    let entrypoint: string;
    let client: RayJobsClient;
    try {
      entrypoint = entrypointFromDocument(document?.getText() ?? plan.document);
      client = await clientFor(settings.address);
    } catch (err) {
      void vscode.window.showErrorMessage(`GRPO: the job was not submitted: ${message(err)}`);
      return undefined;
    }
    let submissionId: string;
    try {
      submissionId = await client.submit(submitRequest(plan, entrypoint));
    } catch (err) {
      // The client's submit errors say so themselves ("cannot submit the job: no answer from Ray at …").
      void vscode.window.showErrorMessage(`GRPO: ${message(err)}`);
      return undefined;
    }
    pending.remove(uri, false);
    await pending.close(uri);
    const record = jobRecord(plan, client.address, submissionId, entrypoint, new Date());
    try {
      writeJobRecord(record);
    } catch (err) {
      // Ray runs the job anyway: say so, with what the Ray Jobs view would have needed.
      void vscode.window.showErrorMessage(`GRPO: ${submissionId} was submitted to Ray at ${client.address}, but its record could not be written, so the Ray Jobs view will not list it: ${message(err)}`);
      return record;
    }
    await tree.refresh();
    logs.show(client, submissionId);
    void vscode.window.showInformationMessage(`GRPO: submitted ${submissionId} to Ray at ${client.address}.`);
    return record;
  };

  const launch = async (arg?: unknown): Promise<vscode.TextDocument | undefined> => {
    const settings = launchSettings();
    if (!settings) return undefined;
    const configPath = typeof arg === 'string' ? arg : await pickConfigPath(context.extensionUri, 'GRPO: Launch on Ray');
    if (!configPath) return undefined;
    const config = readConfigOrExplain(configPath);
    if (!config) return undefined;
    let plan: VerlLaunchPlan;
    try {
      plan = await prepareVerlLaunch(configPath, config, settings.sharedDir);
    } catch (err) {
      void vscode.window.showErrorMessage(`GRPO: not launched on Ray. ${message(err)}`);
      return undefined;
    }
    const document = await vscode.workspace.openTextDocument(await pending.write(plan));
    pending.add(document.uri, plan);
    await vscode.window.showTextDocument(document, { preview: false });
    // Not awaited: the user edits the document while the notification waits for the choice.
    void vscode.window.showInformationMessage(`GRPO: review the verl command for ${config.name}, then submit it to Ray at ${settings.address} (Submit, or ☁ above the editor).`, 'Submit', 'Cancel').then((choice) => {
      if (choice === 'Submit' && pending.get(document.uri)) void submit(document.uri);
      else if (choice === 'Cancel') void cancel(document.uri);
    });
    return document;
  };

  /** Drops a launch not submitted: its prepared folder and its review document, closed without a question. */
  const cancel = async (arg?: unknown): Promise<boolean> => {
    const uri = arg instanceof vscode.Uri ? arg : vscode.window.activeTextEditor?.document.uri;
    if (!uri || !pending.get(uri)) return false;
    pending.remove(uri, true);
    await pending.close(uri);
    return true;
  };

  const jobOf = (arg: unknown): RayJobRecord | undefined => (arg instanceof RayJobItem ? arg.record : typeof arg === 'string' ? tree.record(arg) : undefined);

  context.subscriptions.push(
    view,
    tree,
    logs,
    { dispose: () => pending.discardAll() },
    // A language change closes and reopens the same document: only a document still closed a moment later is gone.
    vscode.workspace.onDidCloseTextDocument((closed) => {
      setTimeout(() => {
        const reopened = vscode.workspace.textDocuments.some((d) => d.uri.toString() === closed.uri.toString());
        if (reopened) return;
        if (pending.get(closed.uri)) pending.remove(closed.uri, true);
        pending.forget(closed.uri);
      }, 1000);
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('grpo.ray')) void tree.refresh();
    }),
    vscode.commands.registerCommand('grpo.launchOnRay', launch),
    vscode.commands.registerCommand('grpo.submitRayJob', submit),
    vscode.commands.registerCommand('grpo.cancelRayLaunch', cancel),
    vscode.commands.registerCommand('grpo.setRayToken', async (arg?: unknown) => {
      const token = typeof arg === 'string' ? arg : await vscode.window.showInputBox({ title: 'GRPO: Set Ray Token', prompt: 'The token of a Ray cluster with RAY_AUTH_MODE=token (`ray get-auth-token`). Empty: remove it.', password: true, ignoreFocusOut: true });
      if (token === undefined) return;
      if (token) await context.secrets.store(TOKEN_KEY, token.trim());
      else await context.secrets.delete(TOKEN_KEY);
      void vscode.window.showInformationMessage(token ? 'GRPO: Ray token saved in VS Code\'s secret storage.' : 'GRPO: Ray token removed.');
      void tree.refresh();
    }),
    vscode.commands.registerCommand('grpo.stopRayJob', async (arg?: unknown) => {
      const record = jobOf(arg);
      if (!record) return false;
      try {
        const stopped = await (await clientFor(record.address)).stop(record.submission_id);
        if (!stopped) void vscode.window.showInformationMessage(`GRPO: ${record.submission_id} had already ended.`);
        await tree.refresh();
        return stopped;
      } catch (err) {
        void vscode.window.showErrorMessage(`GRPO: could not stop ${record.submission_id}. ${message(err)}`);
        return false;
      }
    }),
    vscode.commands.registerCommand('grpo.showRayJobLogs', async (arg?: unknown) => {
      const record = jobOf(arg);
      if (record) logs.show(await clientFor(record.address), record.submission_id);
    }),
    vscode.commands.registerCommand('grpo.refreshRayJobs', () => tree.refresh()),
  );
  return { tree };
}
