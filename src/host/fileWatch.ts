/**
 * Change notifications for run folders, straight from the OS (inotify and its kin through `fs.watch`): VS Code's
 * workspace watcher starts lazily and, on a busy machine, reported appends seconds late or not at all, and does not
 * cover a runs directory outside the workspace. A folder that does not exist yet is waited for: its nearest
 * existing ancestor is watched until it appears.
 */
import * as fs from 'fs';
import * as path from 'path';

export interface Watch {
  dispose(): void;
}

export function watchFolder(dir: string, recursive: boolean, onChange: () => void): Watch {
  let watcher: fs.FSWatcher | undefined;
  let disposed = false;
  const start = () => {
    if (disposed) return;
    watcher?.close();
    if (fs.existsSync(dir)) {
      watcher = fs.watch(dir, { recursive, persistent: false }, onChange);
      // The folder itself was deleted (a run removed): fall back to waiting for it.
      watcher.on('error', start);
      onChange();
      return;
    }
    let ancestor = path.dirname(dir);
    while (!fs.existsSync(ancestor) && path.dirname(ancestor) !== ancestor) ancestor = path.dirname(ancestor);
    // Any change there may be a step down the path (`.grpo` before `.grpo/runs`): look again from the top.
    watcher = fs.watch(ancestor, { persistent: false }, start);
    watcher.on('error', () => undefined);
  };
  start();
  return {
    dispose: () => {
      disposed = true;
      watcher?.close();
    },
  };
}
