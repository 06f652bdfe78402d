/**
 * A small validator for the subset of JSON Schema that the run-config schema uses. It exists (instead of a general
 * library) to produce errors a user can act on: each names the field by its dotted path and says what was expected
 * and what was found, and every problem is reported at once. It also fills in `default` values.
 */

import { parse as parseJsonc, ParseError, printParseErrorCode } from 'jsonc-parser';

export interface JsonSchema {
  type?: 'object' | 'array' | 'string' | 'number' | 'integer' | 'boolean';
  description?: string;
  markdownDescription?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean;
  items?: JsonSchema;
  minItems?: number;
  uniqueItems?: boolean;
  enum?: readonly (string | number | boolean)[];
  const?: string | number | boolean;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minLength?: number;
  pattern?: string;
  default?: unknown;
  /** Alternatives told apart by the `const` of their `type` property (a tagged union). */
  oneOf?: JsonSchema[];
  $schema?: string;
  $id?: string;
  title?: string;
}

export class SchemaError extends Error {
  constructor(readonly problems: string[], source: string) {
    super(`${source}: invalid run config:\n  - ${problems.join('\n  - ')}`);
    this.name = 'SchemaError';
  }
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Validates `value` against `schema`, returning a copy with defaults filled in, or throws a SchemaError. */
export function validate<T>(value: unknown, schema: JsonSchema, source: string): T {
  const problems: string[] = [];
  const result = check(value as Json, schema, '', problems);
  if (problems.length > 0) throw new SchemaError(problems, source);
  return result as T;
}

function describe(value: Json | undefined): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function fieldName(path: string): string {
  return path === '' ? '(top level)' : path;
}

function typeMatches(value: Json, type: NonNullable<JsonSchema['type']>): boolean {
  switch (type) {
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'array':
      return Array.isArray(value);
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    default:
      return typeof value === type;
  }
}

function check(value: Json, schema: JsonSchema, path: string, problems: string[]): Json {
  if (schema.oneOf) return checkTaggedUnion(value, schema.oneOf, path, problems);
  if (schema.type && !typeMatches(value, schema.type)) {
    problems.push(`${fieldName(path)}: expected ${schema.type === 'integer' ? 'an integer' : `a ${schema.type}`}, got ${describe(value)}`);
    return value;
  }
  if (schema.const !== undefined && value !== schema.const) {
    problems.push(`${fieldName(path)}: must be ${JSON.stringify(schema.const)}, got ${describe(value)}`);
  }
  if (schema.enum && !schema.enum.includes(value as string | number | boolean)) {
    problems.push(`${fieldName(path)}: must be one of ${schema.enum.map((e) => JSON.stringify(e)).join(', ')}, got ${describe(value)}`);
  }
  if (typeof value === 'number') checkNumber(value, schema, path, problems);
  if (typeof value === 'string') checkString(value, schema, path, problems);
  if (Array.isArray(value)) return checkArray(value, schema, path, problems);
  if (typeof value === 'object' && value !== null) return checkObject(value, schema, path, problems);
  return value;
}

function checkNumber(value: number, schema: JsonSchema, path: string, problems: string[]): void {
  if (schema.minimum !== undefined && value < schema.minimum) problems.push(`${fieldName(path)}: must be ≥ ${schema.minimum}, got ${value}`);
  if (schema.maximum !== undefined && value > schema.maximum) problems.push(`${fieldName(path)}: must be ≤ ${schema.maximum}, got ${value}`);
  if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) {
    problems.push(`${fieldName(path)}: must be > ${schema.exclusiveMinimum}, got ${value}`);
  }
}

function checkString(value: string, schema: JsonSchema, path: string, problems: string[]): void {
  if (schema.minLength !== undefined && value.length < schema.minLength) {
    problems.push(`${fieldName(path)}: must have at least ${schema.minLength} character(s)`);
  }
  if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value)) {
    problems.push(`${fieldName(path)}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
  }
}

function checkArray(value: Json[], schema: JsonSchema, path: string, problems: string[]): Json[] {
  if (schema.minItems !== undefined && value.length < schema.minItems) {
    problems.push(`${fieldName(path)}: needs at least ${schema.minItems} item(s), got ${value.length}`);
  }
  if (schema.uniqueItems) {
    const seen = value.map((item) => JSON.stringify(item));
    const repeated = seen.find((item, i) => seen.indexOf(item) !== i);
    if (repeated !== undefined) problems.push(`${fieldName(path)}: ${repeated} is listed more than once`);
  }
  return schema.items ? value.map((item, i) => check(item, schema.items as JsonSchema, `${path}[${i}]`, problems)) : value;
}

function checkObject(value: { [key: string]: Json }, schema: JsonSchema, path: string, problems: string[]): Json {
  const out: { [key: string]: Json } = {};
  const properties = schema.properties ?? {};
  for (const key of Object.keys(value)) {
    const child = path ? `${path}.${key}` : key;
    if (key === '$schema') continue;
    if (!(key in properties)) {
      if (schema.additionalProperties === false) {
        problems.push(`${child}: unknown field${suggestion(key, Object.keys(properties))}`);
      } else {
        out[key] = value[key];
      }
      continue;
    }
    out[key] = check(value[key], properties[key], child, problems);
  }
  for (const [key, prop] of Object.entries(properties)) {
    if (key in value) continue;
    if (schema.required?.includes(key)) problems.push(`${path ? `${path}.${key}` : key}: required field is missing`);
    else if (prop.default !== undefined) out[key] = structuredClone(prop.default) as Json;
    else if (prop.type === 'object' && prop.properties && !prop.required?.length) out[key] = check({}, prop, key, problems);
  }
  return out;
}

function checkTaggedUnion(value: Json, alternatives: JsonSchema[], path: string, problems: string[]): Json {
  const tags = alternatives.map((alt) => alt.properties?.type?.const);
  const tag = typeof value === 'object' && value !== null && !Array.isArray(value) ? value.type : undefined;
  const index = tags.indexOf(tag as string);
  if (index < 0) {
    problems.push(`${fieldName(path ? `${path}.type` : 'type')}: must be one of ${tags.map((t) => JSON.stringify(t)).join(', ')}, got ${describe(tag)}`);
    return value;
  }
  return check(value, alternatives[index], path, problems);
}

/** "did you mean …?" for a misspelt field, when one known name is close. */
function suggestion(key: string, known: string[]): string {
  const close = known.find((k) => editDistance(k, key) <= Math.max(1, Math.floor(k.length / 4)));
  return close ? ` (did you mean "${close}"?)` : ` (known fields: ${known.join(', ')})`;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

/**
 * Parses the text of a JSON config file (comments allowed, as in VS Code's own settings files); a syntax error
 * names the file, line and column.
 */
export function parseJsonText(text: string, source: string): unknown {
  // Some Windows editors save JSON with a byte-order mark; it is not part of the document.
  if (text.startsWith('\uFEFF')) text = text.slice(1);
  const errors: ParseError[] = [];
  const value: unknown = parseJsonc(text, errors, { allowTrailingComma: false, disallowComments: false });
  if (errors.length > 0) {
    const { error, offset } = errors[0];
    const before = text.slice(0, offset).split('\n');
    throw new Error(`${source}:${before.length}:${before[before.length - 1].length + 1}: invalid JSON: ${printParseErrorCode(error)}`);
  }
  return value;
}
