/** The fields in which run configs differ, for the compare view: flattened to dotted paths, values as JSON text. */
import type { ConfigDifference } from '../protocol';

function flatten(value: unknown, prefix: string, into: Map<string, string>): void {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, child] of Object.entries(value)) flatten(child, prefix ? `${prefix}.${key}` : key, into);
    return;
  }
  // Arrays compare as a whole: their elements rarely mean anything apart (e.g. a word list).
  into.set(prefix, JSON.stringify(value));
}

/** Rows for every path whose value is not the same in all configs (a field one config lacks counts as differing). */
export function diffConfigs(configs: readonly unknown[]): ConfigDifference[] {
  const flat = configs.map((config) => {
    const fields = new Map<string, string>();
    if (config !== undefined) flatten(config, '', fields);
    return fields;
  });
  const paths = [...new Set(flat.flatMap((fields) => [...fields.keys()]))].sort();
  return paths
    .map((path) => ({ path, values: flat.map((fields) => fields.get(path)) }))
    .filter((row) => row.values.some((v) => v !== row.values[0]));
}
