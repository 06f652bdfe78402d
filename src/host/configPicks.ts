/**
 * What "GRPO: Start Run" offers: the workspace's own run configs (`*.grpo.json`), the built-in examples and the
 * templates. Pure file reading (no vscode): unit-tested in Node. A config that does not validate is still listed,
 * with the problem (file and field) in its detail; picking it shows the same error and starts nothing.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parseRunConfig } from '../protocol';

/** The file suffix that marks a run config anywhere in a workspace (also what the JSON schema applies to). */
export const RUN_CONFIG_GLOB = '**/*.grpo.json';

export type ConfigOrigin = 'workspace' | 'example' | 'template';

export interface ConfigChoice {
  origin: ConfigOrigin;
  configPath: string;
  /** The config's name, or the file's name when it does not validate. */
  name: string;
  /** Where it is (a workspace-relative path) or what it is. */
  description: string;
  /** The config's description, or why it cannot run. */
  detail: string | undefined;
  valid: boolean;
}

const ORIGIN_WORDS: Record<ConfigOrigin, string> = { workspace: '', example: 'built-in example', template: 'template' };

/** One config file as a choice; `shownPath` is how its place is shown (the workspace-relative path). */
export function describeConfigFile(configPath: string, origin: ConfigOrigin, shownPath = ''): ConfigChoice {
  const description = [shownPath, ORIGIN_WORDS[origin]].filter(Boolean).join(' · ');
  try {
    const config = parseRunConfig(fs.readFileSync(configPath, 'utf8'), configPath);
    return { origin, configPath, name: config.name, description, detail: config.description, valid: true };
  } catch (err) {
    // One line: a quick pick's detail shows no line breaks.
    const message = (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' ');
    return { origin, configPath, name: path.basename(configPath), description, detail: `cannot run: ${message}`, valid: false };
  }
}

/** The JSON files directly in `dir`, sorted; none when it is missing. */
function jsonFiles(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir)
      // Hidden files are no one's pick (an editor's backup, a test's scratch config).
      .filter((f) => f.endsWith('.json') && !f.startsWith('.'))
      .sort()
      .map((f) => path.join(dir, f));
  } catch {
    return [];
  }
}

/** The extension's examples (`examples/*.json`) and templates (`examples/templates/*.json`). */
export function builtInConfigs(extensionPath: string): ConfigChoice[] {
  const examples = path.join(extensionPath, 'examples');
  return [
    ...jsonFiles(examples).map((file) => describeConfigFile(file, 'example')),
    ...jsonFiles(path.join(examples, 'templates')).map((file) => describeConfigFile(file, 'template')),
  ];
}

/** The workspace's `*.grpo.json` files (found by the caller, `workspace.findFiles`), sorted by their shown path. */
export function workspaceConfigs(files: readonly { fsPath: string; shownPath: string }[]): ConfigChoice[] {
  return [...files].sort((a, b) => a.shownPath.localeCompare(b.shownPath)).map((f) => describeConfigFile(f.fsPath, 'workspace', f.shownPath));
}

/**
 * The config Start Run highlights once the workspace's own configs join the list (they come first, above the
 * built-ins shown meanwhile): a highlight the user chose (moved to, or filtered toward: `filtering`) stays; one on
 * the first item only because it was first moves to the new first item, so Enter starts what is listed first.
 */
export function highlightAfterUpdate(active: string | undefined, firstBefore: string | undefined, firstNow: string | undefined, filtering: boolean): string | undefined {
  if (filtering && active !== undefined) return active;
  return active === undefined || active === firstBefore ? firstNow : active;
}
