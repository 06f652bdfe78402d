/**
 * Finds the tokenizer of a model another trainer's run names, on this machine only (nothing is downloaded): the
 * model named as a folder (absolute, or relative to the run), a `tokenizer.json` in the run folder itself, or a
 * Hugging Face hub cache snapshot (`$HF_HUB_CACHE`, `$HF_HOME/hub`, `~/.cache/huggingface/hub`:
 * `models--<org>--<name>/snapshots/<revision>/`, the revision `refs/main` names first). Run readers get the result
 * as a TokenDecoderLookup (src/protocol/runReaders loads no tokenizer itself).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { TokenDecoder, TokenDecoderLookup } from '../protocol/runReaders';
import { loadTokenizer, tokenPieces } from './tokenizer';

export interface TokenizerSearch {
  /** The environment whose HF_HUB_CACHE / HF_HOME apply (process.env by default). */
  env?: NodeJS.ProcessEnv;
  home?: string;
}

/** The hub cache folders to look in, most specific first. */
export function hubCaches({ env = process.env, home = os.homedir() }: TokenizerSearch = {}): string[] {
  const caches = [env.HF_HUB_CACHE, env.HF_HOME && path.join(env.HF_HOME, 'hub'), path.join(home, '.cache', 'huggingface', 'hub')];
  return [...new Set(caches.filter((c): c is string => typeof c === 'string' && c !== ''))];
}

const hasTokenizer = (dir: string) => fs.existsSync(path.join(dir, 'tokenizer.json'));

/** A cached snapshot of `model` (org/name) with a tokenizer.json: the one refs/main names, else the newest. */
function cachedSnapshot(cache: string, model: string): string | undefined {
  const repo = path.join(cache, `models--${model.split('/').join('--')}`);
  const snapshots = path.join(repo, 'snapshots');
  let main: string | undefined;
  try {
    main = fs.readFileSync(path.join(repo, 'refs', 'main'), 'utf8').trim();
  } catch {
    main = undefined;
  }
  let revisions: string[];
  try {
    revisions = fs.readdirSync(snapshots).sort((a, b) => fs.statSync(path.join(snapshots, b)).mtimeMs - fs.statSync(path.join(snapshots, a)).mtimeMs);
  } catch {
    return undefined;
  }
  const ordered = main && revisions.includes(main) ? [main, ...revisions.filter((r) => r !== main)] : revisions;
  return ordered.map((r) => path.join(snapshots, r)).find(hasTokenizer);
}

/** Where the tokenizer of `model` is, or every place looked in. */
export function findTokenizer(model: string | undefined, runDir: string, search: TokenizerSearch = {}): { dir: string } | { lookedIn: string[] } {
  const lookedIn: string[] = [];
  const candidates: string[] = [];
  if (model) candidates.push(path.isAbsolute(model) ? model : path.resolve(runDir, model));
  candidates.push(runDir);
  for (const dir of candidates) {
    lookedIn.push(path.join(dir, 'tokenizer.json'));
    if (hasTokenizer(dir)) return { dir };
  }
  if (model && !path.isAbsolute(model)) {
    for (const cache of hubCaches(search)) {
      lookedIn.push(path.join(cache, `models--${model.split('/').join('--')}`, 'snapshots', '*', 'tokenizer.json'));
      const dir = cachedSnapshot(cache, model);
      if (dir) return { dir };
    }
  }
  return { lookedIn };
}

/** A lookup for run readers: decoders are built once per tokenizer folder; a tokenizer that fails to load says why. */
export function tokenDecoderLookup(search: TokenizerSearch = {}): TokenDecoderLookup {
  const decoders = new Map<string, TokenDecoder>();
  return (model, runDir) => {
    const found = findTokenizer(model, runDir, search);
    const name = model ?? path.basename(runDir);
    if ('lookedIn' in found) return { reason: `no tokenizer was found for ${name}; looked in ${found.lookedIn.join(', ')}` };
    let decoder = decoders.get(found.dir);
    if (!decoder) {
      try {
        const tokenizer = loadTokenizer(found.dir);
        decoder = { pieces: (ids, context) => tokenPieces(tokenizer, ids, context), description: `the tokenizer of ${name} (${found.dir})` };
      } catch (err) {
        return { reason: `the tokenizer of ${name} in ${found.dir} could not be read: ${err instanceof Error ? err.message : String(err)}` };
      }
      decoders.set(found.dir, decoder);
    }
    return { decoder };
  };
}
