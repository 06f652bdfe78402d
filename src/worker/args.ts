/** Minimal `--name value` parsing; a missing required option is an error naming it. */
export function parseArgs<K extends string>(argv: string[], required: K[], optional: string[] = []): Record<K, string> & Record<string, string | undefined> {
  const known = new Set<string>([...required, ...optional]);
  const values: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new Error(`unexpected argument "${arg}"`);
    const name = arg.slice(2);
    if (!known.has(name)) throw new Error(`unknown option --${name} (known: ${[...known].map((k) => `--${k}`).join(', ')})`);
    const value = argv[++i];
    if (value === undefined) throw new Error(`option --${name} needs a value`);
    values[name] = value;
  }
  for (const name of required) if (values[name] === undefined) throw new Error(`missing required option --${name}`);
  return values as Record<K, string> & Record<string, string | undefined>;
}
