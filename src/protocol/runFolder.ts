/**
 * Naming a new run folder: shared by the worker (a CLI run) and the host (which creates the folder before it forks
 * the worker, to show the run at once). Node-only (fs, path), so it is not re-exported from the protocol index that
 * the webview bundles.
 */
import * as fs from 'fs';
import * as path from 'path';
import { makeRunId } from './runFiles';

/** A new run folder under `runsDir`: `<timestamp>-<name>`, with `-2`, `-3`… if runs started in the same second. */
export function newRunDirectory(runsDir: string, name: string, now = new Date()): string {
  const base = path.join(runsDir, makeRunId(name, now));
  let candidate = base;
  for (let n = 2; fs.existsSync(candidate); n++) candidate = `${base}-${n}`;
  return candidate;
}
