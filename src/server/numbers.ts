import { isPlainObject } from './clone.js';
import { withExactNumbers } from './exactNumbers.js';

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

/** `value` with every BSON number as a JS number (a copy where needed): lossy, see exactNumbers.ts. */
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

/**
 * Whether `value` holds, in plain objects and arrays, a number that mingo would compare unlike the
 * server: a BSON number, or NaN (mingo finds it equal to every number in `$gte` and `$lte`).
 */
export function holdsSpecialNumber(value: unknown): boolean {
  if (isBsonNumber(value) || Number.isNaN(value)) return true;
  if (Array.isArray(value)) return value.some(holdsSpecialNumber);
  if (isPlainObject(value)) return Object.values(value).some(holdsSpecialNumber);
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

/** Whether a value the path reaches in `doc` (through arrays) {@link holdsSpecialNumber}. */
export function pathHoldsSpecialNumber(doc: unknown, segs: readonly string[], i = 0): boolean {
  if (i === segs.length) return holdsSpecialNumber(doc);
  if (Array.isArray(doc)) {
    // `a.0` names an element as well as a field of every element.
    const index = /^\d+$/.test(segs[i] as string) ? Number(segs[i]) : -1;
    if (index >= 0 && index < doc.length && pathHoldsSpecialNumber(doc[index], segs, i + 1))
      return true;
    return doc.some((el) => pathHoldsSpecialNumber(el, segs, i));
  }
  if (!isPlainObject(doc)) return false;
  const seg = segs[i] as string;
  return Object.hasOwn(doc, seg) && pathHoldsSpecialNumber(doc[seg], segs, i + 1);
}

// Operators whose operands are not values compared with the document's (`$mod: [4, 0]`, `$type`,
// bit masks, expressions): a query using one compares BSON numbers as doubles.
const NOT_COMPARISONS = new Set([
  '$type',
  '$mod',
  '$bitsAllSet',
  '$bitsAllClear',
  '$bitsAnySet',
  '$bitsAnyClear',
  '$expr',
  '$where',
  '$jsonSchema',
  '$text',
]);

/** Whether every number in `query` is a value compared with the document's. */
export function comparesNumbersOnly(query: unknown): boolean {
  if (Array.isArray(query)) return query.every(comparesNumbersOnly);
  if (!isPlainObject(query)) return true;
  return Object.entries(query).every(
    ([key, value]) => !NOT_COMPARISONS.has(key) && comparesNumbersOnly(value),
  );
}

/**
 * `query` with the values it compares in the exact form of exactNumbers.ts; operator arguments
 * (`$size`, `$exists`, `$options`) stay as they are. For queries {@link comparesNumbersOnly}.
 */
export function exactQuery(query: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(query)) {
    if (key === '$and' || key === '$or' || key === '$nor') {
      out[key] = Array.isArray(value) ? value.map((q) => exactCondition(q, false)) : value;
    } else if (key.startsWith('$')) out[key] = value;
    else out[key] = exactCondition(value, true);
  }
  return out;
}

function isOperators(value: unknown): value is Record<string, unknown> {
  return isPlainObject(value) && Object.keys(value).some((key) => key.startsWith('$'));
}

/** A field's condition (`field` true) or a nested query. */
function exactCondition(value: unknown, field: boolean): unknown {
  if (!field) return isPlainObject(value) ? exactQuery(value) : value;
  if (!isOperators(value)) return withExactNumbers(value);
  const out: Record<string, unknown> = {};
  for (const [op, operand] of Object.entries(value)) {
    if (op === '$not') out[op] = isOperators(operand) ? exactCondition(operand, true) : operand;
    else if (op === '$elemMatch') {
      out[op] = isOperators(operand)
        ? exactCondition(operand, true)
        : isPlainObject(operand)
          ? exactQuery(operand)
          : operand;
    } else if (op === '$size' || op === '$exists' || op === '$options' || op === '$regex') {
      out[op] = operand;
    } else out[op] = withExactNumbers(operand);
  }
  return out;
}
