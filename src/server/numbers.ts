import { isPlainObject } from './clone.js';

// MongoDB compares numbers by value whatever their BSON type: `{ n: 5 }` matches a Decimal128
// `5`, and `1.5` equals Decimal128 `1.50`. mingo compares a Decimal128 (or a Long the driver did
// not promote) as an object, so the live matcher would drop a document the server's find put in
// the view. Matching sees them as numbers; the documents themselves keep their types.

const NUMERIC = new Set(['Decimal128', 'Long', 'Int32', 'Double']);

/** Whether `value` is a BSON number object (Decimal128, Long, Int32, Double). */
export function isBsonNumber(value: unknown): boolean {
  const bson = (value as { _bsontype?: unknown } | null)?._bsontype;
  return typeof bson === 'string' && NUMERIC.has(bson);
}

/** `value` with every BSON number as a JS number (a copy where needed). */
export function withPlainNumbers<T>(value: T): T {
  if (isBsonNumber(value)) return Number(String(value)) as T;
  if (Array.isArray(value)) return value.map(withPlainNumbers) as T;
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) out[key] = withPlainNumbers(value[key]);
    return out as T;
  }
  return value;
}

/** Whether `value` holds a BSON number anywhere (in plain objects and arrays). */
export function holdsBsonNumber(value: unknown): boolean {
  if (isBsonNumber(value)) return true;
  if (Array.isArray(value)) return value.some(holdsBsonNumber);
  if (isPlainObject(value)) return Object.values(value).some(holdsBsonNumber);
  return false;
}

/**
 * The field paths a query reads (through `$and`, `$or`, `$nor`), or `null` when an operator such
 * as `$expr` may read any field.
 */
export function queryPaths(query: Record<string, unknown>): string[][] | null {
  const out: string[][] = [];
  const visit = (q: unknown): boolean => {
    if (!isPlainObject(q)) return true;
    for (const [key, cond] of Object.entries(q)) {
      if (key === '$and' || key === '$or' || key === '$nor') {
        if (!Array.isArray(cond) || !cond.every(visit)) return false;
      } else if (key.startsWith('$')) {
        if (key !== '$comment') return false;
      } else out.push(key.split('.'));
    }
    return true;
  };
  return visit(query) ? out : null;
}

/** Whether a value the path reaches in `doc` (through arrays) holds a BSON number. */
export function pathHoldsBsonNumber(doc: unknown, segs: readonly string[], i = 0): boolean {
  if (i === segs.length) return holdsBsonNumber(doc);
  if (Array.isArray(doc)) return doc.some((el) => pathHoldsBsonNumber(el, segs, i));
  if (!isPlainObject(doc)) return false;
  const seg = segs[i] as string;
  return Object.hasOwn(doc, seg) && pathHoldsBsonNumber(doc[seg], segs, i + 1);
}
