/**
 * Run-config validation with Ajv (JSON Schema draft-07), worded for a user who has to act on it: each problem names
 * the field by its dotted path (`task.words[1]`) and says what was expected and what was found; unknown fields get
 * a "did you mean"; every problem is reported at once, in the order the fields appear in the file. Defaults are
 * filled in. The schema is the one VS Code's completion reads (RUN_CONFIG_SCHEMA in config.ts), unchanged: what
 * Ajv needs beyond it (a discriminator for tagged unions, `{}` defaults for optional sections) is derived here.
 */

import Ajv, { ErrorObject, ValidateFunction } from 'ajv';
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
  exclusiveMaximum?: number;
  minLength?: number;
  pattern?: string;
  default?: unknown;
  /** Alternatives told apart by the `const` of their `type` property (a tagged union). */
  oneOf?: JsonSchema[];
  /** Ajv's (and OpenAPI's) tagged-union keyword; added for Ajv where `oneOf` alternatives are tagged by `type`. */
  discriminator?: { propertyName: string };
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

/** Keywords of VS Code's JSON language service: documentation only, which Ajv's strict mode must know to allow. */
const EDITOR_KEYWORDS = ['markdownDescription', 'enumDescriptions', 'markdownEnumDescriptions', 'deprecationMessage', 'errorMessage', 'defaultSnippets', 'doNotSuggest', 'suggestSortText', 'allowComments', 'allowTrailingCommas'];

const ajv = new Ajv({
  allErrors: true,
  useDefaults: true,
  discriminator: true,
  // parentSchema on each error: the known fields for "did you mean", the tags of a union.
  verbose: true,
  // Strict: a misspelt keyword in the schema is an error at compile time, not a silently ignored rule.
  strict: true,
  // `{ const: 'bandit' }` and `{ enum: [...] }` carry no `type`: the value itself says it.
  strictTypes: false,
});
ajv.addVocabulary(EDITOR_KEYWORDS);

const compiled = new WeakMap<JsonSchema, ValidateFunction>();

function compile(schema: JsonSchema): ValidateFunction {
  let validateFn = compiled.get(schema);
  if (!validateFn) {
    validateFn = ajv.compile(forAjv(schema));
    compiled.set(schema, validateFn);
  }
  return validateFn;
}

/**
 * The schema as Ajv validates it. A tagged union (`oneOf` whose alternatives each fix `type` by `const`) gets a
 * `discriminator`: Ajv then checks only the alternative the tag names (one set of errors, not four) and fills the
 * defaults inside it. An optional section (an object without required fields, without a default) defaults to `{}`,
 * so that its own defaults are filled when the file leaves the section out — when it has defaults to fill: a section
 * without any (`model.lora`) is a switch, and its absence must stay absence.
 */
function forAjv(schema: JsonSchema): JsonSchema {
  const copy: JsonSchema = { ...schema };
  if (copy.oneOf) {
    copy.oneOf = copy.oneOf.map(forAjv);
    if (copy.oneOf.every((alt) => alt.properties?.type?.const !== undefined)) {
      copy.discriminator = { propertyName: 'type' };
      // The discriminator looks only at objects: anything else must fail here, not pass unchecked.
      copy.type = 'object';
    }
  }
  if (copy.items) copy.items = forAjv(copy.items);
  if (copy.properties) {
    copy.properties = Object.fromEntries(
      Object.entries(copy.properties).map(([key, prop]) => {
        const child = forAjv(prop);
        if (child.type === 'object' && child.properties && !child.required?.length && child.default === undefined && fillsDefaults(child)) child.default = {};
        return [key, child];
      }),
    );
    // A config may name its schema for editors; the hand-off to Ajv must not call it an unknown field.
    if (copy.additionalProperties === false && !('$schema' in copy.properties)) copy.properties.$schema = { type: 'string' };
  }
  return copy;
}

/** Whether a section's properties (or sections inside it) have defaults for Ajv to fill. */
function fillsDefaults(section: JsonSchema): boolean {
  return Object.values(section.properties ?? {}).some((p) => p.default !== undefined || (p.type === 'object' && fillsDefaults(p)));
}

/** Validates `value` against `schema`, returning a copy with defaults filled in, or throws a SchemaError. */
export function validate<T>(value: unknown, schema: JsonSchema, source: string): T {
  const data = structuredClone(value) as Json;
  const validateFn = compile(schema);
  if (validateFn(data)) return stripSchemaKey(data) as T;
  throw new SchemaError(problemsOf(validateFn.errors ?? [], value as Json), source);
}

/** `$schema` is for editors, allowed in any object of the file and kept out of the validated config. */
function stripSchemaKey(data: Json): Json {
  if (Array.isArray(data)) data.forEach(stripSchemaKey);
  else if (typeof data === 'object' && data !== null) {
    delete data.$schema;
    Object.values(data).forEach(stripSchemaKey);
  }
  return data;
}

/** Ajv's errors as problem lines, in the order of the fields in the file, without repeats. */
function problemsOf(errors: ErrorObject[], original: Json): string[] {
  const order = fieldOrder(original);
  const rank = (field: string): number => {
    // A missing field sorts after everything its nearest present ancestor holds.
    for (let candidate = field; ; candidate = parentOf(candidate)) {
      const span = order.get(candidate);
      if (span !== undefined) return candidate === field ? span.start : span.end + 0.5;
      if (candidate === '') return Number.MAX_SAFE_INTEGER;
    }
  };
  const problems = errors
    .filter((error) => !(error.keyword === 'oneOf' && errors.length > 1))
    .map((error, i) => ({ ...problemOf(error, original), i }));
  const seen = new Set<string>();
  return problems
    .sort((a, b) => rank(a.field) - rank(b.field) || a.i - b.i)
    .map((p) => p.text)
    .filter((text) => !seen.has(text) && seen.add(text) !== undefined);
}

/** Every field path of `value`, numbered in document order (depth first, keys as written), with its last descendant's number. */
function fieldOrder(value: Json): Map<string, { start: number; end: number }> {
  const order = new Map<string, { start: number; end: number }>();
  const visit = (node: Json, field: string): void => {
    const span = { start: order.size, end: order.size };
    order.set(field, span);
    if (Array.isArray(node)) node.forEach((item, i) => visit(item, `${field}[${i}]`));
    else if (typeof node === 'object' && node !== null) for (const key of Object.keys(node)) visit(node[key], field ? `${field}.${key}` : key);
    span.end = order.size - 1;
  };
  visit(value, '');
  return order;
}

function parentOf(field: string): string {
  const cut = Math.max(field.lastIndexOf('.'), field.lastIndexOf('['));
  return cut < 0 ? '' : field.slice(0, cut);
}

/** `/task/words/1` → `task.words[1]`, for the value `root` (an index only where the parent is an array). */
function dottedPath(pointer: string, root: Json): string {
  if (pointer === '') return '';
  let field = '';
  let node: Json | undefined = root;
  for (const raw of pointer.slice(1).split('/')) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) {
      field += `[${segment}]`;
      node = node[Number(segment)];
    } else {
      field = field ? `${field}.${segment}` : segment;
      node = typeof node === 'object' && node !== null ? node[segment] : undefined;
    }
  }
  return field;
}

function valueAt(pointer: string, root: Json): Json | undefined {
  let node: Json | undefined = root;
  if (pointer === '') return node;
  for (const raw of pointer.slice(1).split('/')) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) node = node[Number(segment)];
    else if (typeof node === 'object' && node !== null) node = node[segment];
    else return undefined;
  }
  return node;
}

function child(field: string, key: string): string {
  return field ? `${field}.${key}` : key;
}

function describe(value: Json | undefined): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  // NaN and ±Infinity (from a caller, never from JSON text) would print as null.
  if (typeof value === 'number' && !Number.isFinite(value)) return `number ${value}`;
  return `${typeof value} ${JSON.stringify(value)}`;
}

function fieldName(path: string): string {
  return path === '' ? '(top level)' : path;
}

/** One of Ajv's errors in our wording; `field` is what it is sorted by. */
function problemOf(error: ErrorObject, original: Json): { field: string; text: string } {
  const field = dottedPath(error.instancePath, original);
  const value = valueAt(error.instancePath, original);
  const params = error.params as Record<string, unknown>;
  const at = (text: string, where = field) => ({ field: where, text: `${fieldName(where)}: ${text}` });
  const schema = error.parentSchema as JsonSchema | undefined;
  switch (error.keyword) {
    case 'type': {
      const type = String(params.type);
      return at(`expected ${type === 'integer' ? 'an integer' : `a ${type}`}, got ${describe(value)}`);
    }
    case 'const':
      return at(`must be ${JSON.stringify(params.allowedValue)}, got ${describe(value)}`);
    case 'enum':
      return at(`must be one of ${(params.allowedValues as Json[]).map((e) => JSON.stringify(e)).join(', ')}, got ${describe(value)}`);
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum': {
      const sign = { minimum: '≥', maximum: '≤', exclusiveMinimum: '>', exclusiveMaximum: '<' }[error.keyword];
      return at(`must be ${sign} ${String(params.limit)}, got ${String(value)}`);
    }
    case 'minLength':
      return at(`must have at least ${String(params.limit)} character(s)`);
    case 'pattern':
      return at(`${JSON.stringify(value)} does not match ${String(params.pattern)}`);
    case 'minItems':
      return at(`needs at least ${String(params.limit)} item(s), got ${Array.isArray(value) ? value.length : 0}`);
    case 'uniqueItems':
      return at(`${JSON.stringify(Array.isArray(value) ? value[Number(params.j)] : undefined)} is listed more than once`);
    case 'required':
      return at('required field is missing', child(field, String(params.missingProperty)));
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const known = Object.keys(schema?.properties ?? {}).filter((k) => k !== '$schema');
      return at(`unknown field${suggestion(key, known)}`, child(field, key));
    }
    case 'discriminator': {
      const tags = (schema?.oneOf ?? []).map((alt) => alt.properties?.type?.const);
      const tag = typeof value === 'object' && value !== null && !Array.isArray(value) ? value.type : undefined;
      return at(`must be one of ${tags.map((t) => JSON.stringify(t)).join(', ')}, got ${describe(tag)}`, child(field, 'type'));
    }
    default:
      return at(error.message ?? error.keyword);
  }
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
