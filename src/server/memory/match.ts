/**
 * Compiles a MongoDB filter once into a document test. Top-level `{ field: { $in: [...] } }`
 * conditions over primitive values (strings, numbers, booleans) become a `Set` lookup instead
 * of mingo's scan of the list per document, and `{ field: value }` (or `$eq`) with a primitive
 * value a comparison wherever the path meets no array; everything else goes through mingo,
 * whose `Query` costs tens of microseconds to build (more than a write by an indexed filter).
 */
import { Query } from 'mingo';
import type { Doc } from '../adapter.js';
import { isPlainObject } from '../clone.js';
import { holdsBytes, withExactBytes } from '../exactBytes.js';

/** A compiled filter. */
export type DocTest = (doc: Doc) => boolean;

interface InSet {
  segs: string[];
  values: Set<unknown>;
}

/** A primitive equality, answered without mingo unless the path meets an array. */
interface Equal {
  segs: string[];
  value: unknown;
  /** mingo's answer for this one condition, built the first time a path meets an array. */
  fallback: Doc;
  query?: Query;
}

const DIGITS = /^\d+$/;

const isPrimitive = (v: unknown): boolean =>
  typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && !Number.isNaN(v));

/** The values of a `{ $in: [...] }` condition when a `Set` can answer it exactly. */
function primitiveIn(cond: unknown): Set<unknown> | undefined {
  if (!isPlainObject(cond)) return undefined;
  const keys = Object.keys(cond);
  if (keys.length !== 1 || keys[0] !== '$in') return undefined;
  const list = cond.$in;
  if (!Array.isArray(list) || !list.every(isPrimitive)) return undefined;
  return new Set(list);
}

/**
 * Whether a value the path reaches is in the set, the way MongoDB reaches values: through
 * arrays of documents on the way, and into the elements of an array at the end.
 */
function reaches(cur: unknown, set: InSet, i: number): boolean {
  const { segs, values } = set;
  if (i === segs.length) {
    if (Array.isArray(cur)) return cur.some((v) => values.has(v));
    return values.has(cur);
  }
  if (Array.isArray(cur)) return cur.some((el) => isPlainObject(el) && reaches(el, set, i));
  if (!isPlainObject(cur)) return false;
  const seg = segs[i] as string;
  return Object.hasOwn(cur, seg) && reaches(cur[seg], set, i + 1);
}

/** The value of a `{ field: value }` or `{ field: { $eq: value } }` with a primitive value. */
function primitiveEq(cond: unknown): { value: unknown } | undefined {
  if (isPrimitive(cond)) return { value: cond };
  if (!isPlainObject(cond)) return undefined;
  const keys = Object.keys(cond);
  if (keys.length !== 1 || keys[0] !== '$eq' || !isPrimitive(cond.$eq)) return undefined;
  return { value: cond.$eq };
}

/**
 * Whether the path holds `value`, where it runs through plain objects only (then equality is
 * `===`, as in mingo for a primitive); `undefined` when it meets anything else.
 */
function holds(doc: Doc, segs: string[], value: unknown): boolean | undefined {
  let cur: unknown = doc;
  for (const seg of segs) {
    if (cur === undefined || cur === null) return false;
    if (!isPlainObject(cur)) return undefined;
    cur = Object.hasOwn(cur, seg) ? cur[seg] : undefined;
  }
  if (cur === value) return true;
  return typeof cur === 'object' && cur !== null ? undefined : false;
}

function equal(eq: Equal, doc: Doc): boolean {
  const fast = holds(doc, eq.segs, eq.value);
  if (fast !== undefined) return fast;
  eq.query ??= new Query(eq.fallback);
  return eq.query.test(doc);
}

/** Compiles `filter` (an empty filter matches everything). */
export function compileFilter(filter: Doc): DocTest {
  if (holdsBytes(filter)) {
    const exact = compileFilter(withExactBytes(filter));
    return (doc) => exact(withExactBytes(doc));
  }
  const rest: Doc = {};
  const sets: InSet[] = [];
  const eqs: Equal[] = [];
  for (const [key, cond] of Object.entries(filter)) {
    const segs = key.split('.');
    const plain = !key.startsWith('$') && !segs.some((s) => s === '' || DIGITS.test(s));
    const values = plain ? primitiveIn(cond) : undefined;
    const eq = plain && !values ? primitiveEq(cond) : undefined;
    if (values) sets.push({ segs, values });
    else if (eq) eqs.push({ segs, value: eq.value, fallback: { [key]: cond } });
    else rest[key] = cond;
  }
  const query = Object.keys(rest).length > 0 ? new Query(rest) : undefined;
  if (sets.length === 0 && eqs.length === 0) return query ? (doc) => query.test(doc) : () => true;
  return (doc) => {
    for (const eq of eqs) if (!equal(eq, doc)) return false;
    for (const set of sets) if (!reaches(doc, set, 0)) return false;
    return query ? query.test(doc) : true;
  };
}
