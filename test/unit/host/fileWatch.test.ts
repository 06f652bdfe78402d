import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { watchFolder } from '../../../src/host/fileWatch';

describe('watching run folders', () => {
  let tmp: string;
  beforeEach(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-watch-'))));
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  /** Resolves once `count` changes more have been reported, or rejects after 5 s. */
  function changes(counter: { n: number }, count: number): Promise<void> {
    const target = counter.n + count;
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const check = () => (counter.n >= target ? resolve() : Date.now() - started > 5000 ? reject(new Error(`${counter.n} of ${target} changes`)) : setTimeout(check, 20));
      check();
    });
  }

  it('waits for a folder that does not exist yet, then reports appends to files in its subfolders', async () => {
    const runs = path.join(tmp, 'a', 'runs');
    const counter = { n: 0 };
    const watch = watchFolder(runs, true, () => counter.n++);
    try {
      // One level at a time, as `mkdir -p` does, with time between for the watcher to move down the path.
      fs.mkdirSync(path.join(tmp, 'a'));
      await new Promise((resolve) => setTimeout(resolve, 100));
      fs.mkdirSync(runs);
      await changes(counter, 1);
      fs.mkdirSync(path.join(runs, 'run-1'));
      fs.writeFileSync(path.join(runs, 'run-1', 'metrics.jsonl'), '{"step":1}\n');
      await changes(counter, 1);
      const before = counter.n;
      fs.appendFileSync(path.join(runs, 'run-1', 'metrics.jsonl'), '{"step":2}\n');
      await changes(counter, 1);
      assert.ok(counter.n > before);
    } finally {
      watch.dispose();
    }
  });
});
