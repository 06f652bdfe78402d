/**
 * verl's overrides as a shell command line, the document the user reviews and edits, and the way back: the edited
 * document as the Ray job's entrypoint (Ray runs it with a shell), and an override's value read out of it, so the
 * job's record holds the paths the job will really write even when the user changed them.
 *
 * No shell-words package is in node_modules; the splitter below handles what the writer emits and what a user
 * types (single and double quotes, backslash escapes) and refuses an unterminated quote with its position.
 */
import { HydraValue, VERL_ENTRYPOINT, VerlOverride } from './overrides';

/** Characters Hydra's grammar and the shell both take unquoted. */
const PLAIN = /^[A-Za-z0-9_\-+./:~@%]+$/;
/** Unquoted, Hydra would read these as a number, bool or null, not as the string they are. */
const HYDRA_LITERAL = /^([-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?|true|false|null|nan|inf|[-+]inf)$/i;

function hydraString(value: string): string {
  if (PLAIN.test(value) && !HYDRA_LITERAL.test(value)) return value;
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** An override value in Hydra's override grammar (a list as `[a,b]`). */
export function hydraValue(value: HydraValue): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean' || typeof value === 'number') return String(value);
  if (typeof value === 'string') return hydraString(value);
  return `[${value.map((v) => (typeof v === 'number' ? String(v) : hydraString(v))).join(',')}]`;
}

/** One shell word: as is when safe, else single-quoted (a `'` inside becomes `'\''`). */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_\-+./:~@%=,]+$/.test(word)) return word;
  return `'${word.replace(/'/g, "'\\''")}'`;
}

export function overrideWord(override: VerlOverride): string {
  return shellQuote(`${override.key}=${hydraValue(override.value)}`);
}

/** The command, one override per line, for the review document. */
export function verlCommandLine(overrides: readonly VerlOverride[]): string {
  return [VERL_ENTRYPOINT, ...overrides.map((o) => `    ${overrideWord(o)}`)].join(' \\\n');
}

/** The review document: notes as `#` comments above the command. */
export function reviewDocument(header: readonly string[], notes: readonly string[], overrides: readonly VerlOverride[]): string {
  const comments = [...header, ...(notes.length > 0 ? ['', 'Where verl differs from the run config:', ...notes.map((n) => `  - ${n}`)] : [])];
  return `${comments.map((line) => (line ? `# ${line}` : '#')).join('\n')}\n${verlCommandLine(overrides)}\n`;
}

/**
 * The entrypoint a reviewed document stands for: comment lines dropped, backslash-continued lines joined into one.
 * Throws when nothing but comments is left, or when a quote is left open.
 */
export function entrypointFromDocument(text: string): string {
  const lines = text.split(/\r?\n/).filter((line) => !/^\s*#/.test(line));
  // Lines not continued with a backslash are separate commands, as in a script.
  const entrypoint = lines.join('\n').replace(/\\\n\s*/g, ' ').split('\n').map((l) => l.trim()).filter(Boolean).join(' ; ');
  if (!entrypoint) throw new Error('the command document is empty: nothing to submit');
  // A quote left open would only fail on the cluster, after submission: refuse it here, with its position.
  shellWords(entrypoint);
  return entrypoint;
}

/** Splits a command into shell words (quotes removed, escapes applied), as POSIX sh does for these cases. */
export function shellWords(command: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let i = 0;
  const append = (text: string): void => {
    word = (word ?? '') + text;
  };
  while (i < command.length) {
    const c = command[i];
    if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
      i++;
    } else if (c === "'") {
      const end = command.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated ' quote at character ${i + 1} of the command`);
      append(command.slice(i + 1, end));
      i = end + 1;
    } else if (c === '"') {
      let j = i + 1;
      let text = '';
      while (j < command.length && command[j] !== '"') {
        if (command[j] === '\\' && j + 1 < command.length && '"\\$`'.includes(command[j + 1])) j++;
        text += command[j++];
      }
      if (j >= command.length) throw new Error(`unterminated " quote at character ${i + 1} of the command`);
      append(text);
      i = j + 1;
    } else if (c === '\\' && i + 1 < command.length) {
      append(command[i + 1]);
      i += 2;
    } else {
      append(c);
      i++;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** The value an override is given in a command (its last occurrence, Hydra quotes removed), or undefined. */
export function overrideValue(command: string, key: string): string | undefined {
  let found: string | undefined;
  for (const word of shellWords(command)) {
    const match = /^\+{0,2}([^=]+)=(.*)$/s.exec(word);
    if (match && match[1] === key) found = unquoteHydra(match[2]);
  }
  return found;
}

function unquoteHydra(value: string): string {
  const quoted = /^'(.*)'$/s.exec(value) ?? /^"(.*)"$/s.exec(value);
  return quoted ? quoted[1].replace(/\\(['"\\])/g, '$1') : value;
}
