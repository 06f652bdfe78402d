/**
 * A token-level diff of two completions: the longest common subsequence of their token texts (no diff library is
 * in node_modules; completions are at most a few thousand tokens, so the O(n·m) table is a few MB at worst). Pure:
 * the unit tests check it, the diff view draws it.
 */

export type DiffOp =
  | { kind: 'same'; a: number; b: number }
  | { kind: 'removed'; a: number }
  | { kind: 'added'; b: number };

/** The most table cells the LCS may use (n·m); past it the common prefix and suffix are kept and the middle replaced. */
const MAX_CELLS = 16_000_000;

/** Edits that turn `a` into `b`, in order: unchanged tokens (with both positions), removed ones of a, added ones of b. */
export function diffTokens(a: readonly string[], b: readonly string[]): DiffOp[] {
  // The common prefix and suffix need no table (and are most of two samples of one prompt that agree).
  let prefix = 0;
  while (prefix < a.length && prefix < b.length && a[prefix] === b[prefix]) prefix++;
  let suffix = 0;
  while (suffix < a.length - prefix && suffix < b.length - prefix && a[a.length - 1 - suffix] === b[b.length - 1 - suffix]) suffix++;
  const ops: DiffOp[] = [];
  for (let i = 0; i < prefix; i++) ops.push({ kind: 'same', a: i, b: i });
  ops.push(...middle(a, b, prefix, a.length - suffix, b.length - suffix));
  for (let k = suffix; k > 0; k--) ops.push({ kind: 'same', a: a.length - k, b: b.length - k });
  return ops;
}

/** The LCS diff of a[start, aEnd) and b[start, bEnd). */
function middle(a: readonly string[], b: readonly string[], start: number, aEnd: number, bEnd: number): DiffOp[] {
  const n = aEnd - start;
  const m = bEnd - start;
  if (n * m > MAX_CELLS) return replaced(start, aEnd, bEnd);
  // lcs[i][j]: length of the LCS of a[start + i …] and b[start + j …], row-major in one array.
  const width = m + 1;
  const lcs = new Uint32Array((n + 1) * width);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * width + j] = a[start + i] === b[start + j] ? lcs[(i + 1) * width + j + 1] + 1 : Math.max(lcs[(i + 1) * width + j], lcs[i * width + j + 1]);
    }
  }
  const ops: DiffOp[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[start + i] === b[start + j]) {
      ops.push({ kind: 'same', a: start + i, b: start + j });
      i++;
      j++;
    } else if (lcs[(i + 1) * width + j] >= lcs[i * width + j + 1]) {
      ops.push({ kind: 'removed', a: start + i++ });
    } else {
      ops.push({ kind: 'added', b: start + j++ });
    }
  }
  for (; i < n; i++) ops.push({ kind: 'removed', a: start + i });
  for (; j < m; j++) ops.push({ kind: 'added', b: start + j });
  return ops;
}

function replaced(start: number, aEnd: number, bEnd: number): DiffOp[] {
  const ops: DiffOp[] = [];
  for (let i = start; i < aEnd; i++) ops.push({ kind: 'removed', a: i });
  for (let j = start; j < bEnd; j++) ops.push({ kind: 'added', b: j });
  return ops;
}

/** Counts of each kind, for the diff's summary line. */
export function diffCounts(ops: readonly DiffOp[]): Record<DiffOp['kind'], number> {
  const counts = { same: 0, removed: 0, added: 0 };
  for (const op of ops) counts[op.kind]++;
  return counts;
}
