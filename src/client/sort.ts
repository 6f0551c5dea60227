import type { Doc, Sort } from '../protocol/index.js';

/** Orders two documents; negative when `a` comes first. */
export type DocComparator = (a: Doc, b: Doc) => number;

// MongoDB's order across types, narrowed to what travels as JSON
// (ObjectIds and Dates arrive as strings and compare as strings, which keeps ISO dates in order).
function typeRank(value: unknown): number {
  if (value === undefined || value === null) return 0;
  if (typeof value === 'number') return 1;
  if (typeof value === 'string') return 2;
  if (Array.isArray(value)) return 4;
  if (typeof value === 'object') return 3;
  if (typeof value === 'boolean') return 5;
  return 6;
}

function compareValues(a: unknown, b: unknown): number {
  const ra = typeRank(a);
  const rb = typeRank(b);
  if (ra !== rb) return ra - rb;
  if (ra === 1 || ra === 2) return a! < b! ? -1 : a! > b! ? 1 : 0;
  if (ra === 5) return Number(a) - Number(b);
  if (ra === 3 || ra === 4) {
    // Field by field, as MongoDB compares embedded documents (arrays reach here only when
    // compared whole, which `sortKey` avoids).
    const ea = Object.entries(a as Record<string, unknown>);
    const eb = Object.entries(b as Record<string, unknown>);
    for (let i = 0; i < Math.min(ea.length, eb.length); i++) {
      const [ka, va] = ea[i]!;
      const [kb, vb] = eb[i]!;
      const byValue = compareValues(va, vb);
      if (byValue !== 0) return byValue;
      if (ka !== kb) return ka < kb ? -1 : 1;
    }
    return ea.length - eb.length;
  }
  return 0;
}

function readPath(doc: unknown, segments: readonly string[]): unknown {
  let value = doc;
  for (const segment of segments) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[segment];
  }
  return value;
}

// MongoDB sorts an array field by its smallest element ascending and its largest descending;
// an empty array sorts like a missing field.
function sortKey(value: unknown, direction: 1 | -1): unknown {
  if (!Array.isArray(value)) return value;
  let best: unknown = undefined;
  for (const element of value) {
    if (best === undefined || compareValues(element, best) * direction < 0) best = element;
  }
  return best;
}

/**
 * Builds a comparator from a MongoDB sort spec (`{ name: 1, 'address.zip': -1 }`): keys in
 * order, dotted paths into sub-documents, missing fields and `null` first when ascending.
 * With `tieBreakField`, documents equal on every key are ordered by that field ascending.
 */
export function compileSort(sort: Sort, tieBreakField?: string): DocComparator {
  const keys = Object.entries(sort).map(([path, direction]) => ({
    segments: path.split('.'),
    direction,
  }));
  return (a, b) => {
    for (const { segments, direction } of keys) {
      const order = compareValues(
        sortKey(readPath(a, segments), direction),
        sortKey(readPath(b, segments), direction),
      );
      if (order !== 0) return order * direction;
    }
    // A live window breaks ties by id ascending, as the server chose its documents.
    return tieBreakField === undefined ? 0 : compareValues(a[tieBreakField], b[tieBreakField]);
  };
}

/**
 * Where `doc` goes in `docs` (sorted by `compare`): after every document that does not come
 * after it, so documents with equal keys keep their arrival order.
 */
export function insertionIndex(docs: readonly Doc[], doc: Doc, compare: DocComparator): number {
  let low = 0;
  let high = docs.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (compare(docs[mid]!, doc) > 0) high = mid;
    else low = mid + 1;
  }
  return low;
}
