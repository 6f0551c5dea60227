import { Query } from 'mingo';
import type { Doc } from './adapter.js';
import { holdsBytes, withExactBytes } from './exactBytes.js';
import { withExactNumbers } from './exactNumbers.js';
import {
  comparesNumbersOnly,
  exactQuery,
  holdsSpecialNumber,
  pathHoldsSpecialNumber,
  queryPaths,
  withPlainNumbers,
} from './numbers.js';

/** Tests documents against one MongoDB query. The only place that knows the query engine. */
export type Matcher = (doc: Doc) => boolean;

const matchAll: Matcher = () => true;

/**
 * Compiles a MongoDB query. mingo compares ObjectId, Date and other BSON values by value and
 * type, so an ObjectId never equals its hex string (a lenient matcher would leak documents).
 */
export function compileMatcher(query: Doc | undefined): Matcher {
  if (query === undefined || Object.keys(query).length === 0) return matchAll;
  const full = compileFull(query);
  return equalityOnly(query) ? withEqualityFastPath(query, full) : full;
}

type Scalar = string | number | boolean;

/** `{ field: scalar, ... }` on top-level fields: most criteria once identity is filled in. */
function equalityOnly(query: Doc): query is Record<string, Scalar> {
  return Object.entries(query).every(
    ([key, value]) =>
      !key.startsWith('$') &&
      !key.includes('.') &&
      (typeof value === 'string' ||
        typeof value === 'boolean' ||
        (typeof value === 'number' && !Number.isNaN(value))),
  );
}

/**
 * Equality on scalars tested directly: a field equals the value or is an array holding it.
 * A document whose field holds anything else (a BSON number, an array of objects) goes to the
 * full matcher, which knows its semantics.
 */
function withEqualityFastPath(query: Record<string, Scalar>, full: Matcher): Matcher {
  const fields = Object.entries(query);
  return (doc) => {
    for (const [key, value] of fields) {
      const held = doc[key];
      if (held === value) continue;
      if (typeof held === 'object' && held !== null) {
        if (!Array.isArray(held) || held.some((e) => typeof e === 'object' && e !== null)) {
          return full(doc);
        }
        if (held.includes(value)) continue;
      }
      return false;
    }
    return true;
  };
}

function compileFull(query: Doc): Matcher {
  // Numbers compare by exact value whatever their BSON type (see exactNumbers.ts). Where neither a
  // BSON number nor NaN takes part, nearly always, JS numbers already do, and documents are tested
  // as they are; else the query and the document are compared in the exact form.
  const paths = queryPaths(query);
  const holdsNumber = (doc: Doc): boolean =>
    paths === null
      ? holdsSpecialNumber(doc)
      : paths.some((segs) => pathHoldsSpecialNumber(doc, segs));
  if (!comparesNumbersOnly(query)) {
    // `$mod`, `$type`, `$expr` and the like take numbers that are not compared values: BSON
    // numbers are seen as doubles (exact for integers up to 2^53 and for binary fractions).
    const test = bytesExact(withPlainNumbers(query));
    return (doc) => test(holdsNumber(doc) ? withPlainNumbers(doc) : doc);
  }
  const exact = bytesExact(exactQuery(query));
  if (holdsSpecialNumber(query)) return (doc) => exact(withExactNumbers(doc));
  const plain = bytesExact(query);
  return (doc) => (holdsNumber(doc) ? exact(withExactNumbers(doc)) : plain(doc));
}

function bytesExact(query: Doc): Matcher {
  if (holdsBytes(query)) {
    // Bytes compare exactly (see exactBytes.ts); only queries that hold some pay for it.
    const exact = new Query(withExactBytes(query));
    return (doc) => exact.test(withExactBytes(doc));
  }
  const compiled = new Query(query);
  return (doc) => compiled.test(doc);
}
