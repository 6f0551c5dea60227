/**
 * Compiles a MongoDB filter once into a document test. Top-level `{ field: { $in: [...] } }`
 * conditions over primitive values (strings, numbers, booleans) become a `Set` lookup instead
 * of mingo's scan of the list per document; everything else goes through one mingo `Query`.
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
function reaches(cur: unknown, segs: string[], i: number, values: Set<unknown>): boolean {
  if (i === segs.length) {
    if (Array.isArray(cur)) return cur.some((v) => values.has(v));
    return values.has(cur);
  }
  if (Array.isArray(cur))
    return cur.some((el) => isPlainObject(el) && reaches(el, segs, i, values));
  if (!isPlainObject(cur)) return false;
  const seg = segs[i] as string;
  return Object.hasOwn(cur, seg) && reaches(cur[seg], segs, i + 1, values);
}

/** Compiles `filter` (an empty filter matches everything). */
export function compileFilter(filter: Doc): DocTest {
  if (holdsBytes(filter)) {
    const exact = compileFilter(withExactBytes(filter));
    return (doc) => exact(withExactBytes(doc));
  }
  const rest: Doc = {};
  const sets: InSet[] = [];
  for (const [key, cond] of Object.entries(filter)) {
    const segs = key.split('.');
    const values =
      key.startsWith('$') || segs.some((s) => DIGITS.test(s)) ? undefined : primitiveIn(cond);
    if (values) sets.push({ segs, values });
    else rest[key] = cond;
  }
  const query = Object.keys(rest).length > 0 ? new Query(rest) : undefined;
  if (sets.length === 0) return query ? (doc) => query.test(doc) : () => true;
  return (doc) => {
    for (const { segs, values } of sets) if (!reaches(doc, segs, 0, values)) return false;
    return query ? query.test(doc) : true;
  };
}
