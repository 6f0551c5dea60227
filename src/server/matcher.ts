import { Query } from 'mingo';
import type { Doc } from './adapter.js';
import { holdsBytes, withExactBytes } from './exactBytes.js';
import { holdsBsonNumber, pathHoldsBsonNumber, queryPaths, withPlainNumbers } from './numbers.js';

/** Tests documents against one MongoDB query. The only place that knows the query engine. */
export type Matcher = (doc: Doc) => boolean;

const matchAll: Matcher = () => true;

/**
 * Compiles a MongoDB query. mingo compares ObjectId, Date and other BSON values by value and
 * type, so an ObjectId never equals its hex string (a lenient matcher would leak documents).
 */
export function compileMatcher(query: Doc | undefined): Matcher {
  if (query === undefined || Object.keys(query).length === 0) return matchAll;
  const test = bytesExact(withPlainNumbers(query));
  // Numbers compare by value (see numbers.ts): a document whose queried fields hold a BSON
  // number is matched as plain numbers; the others, nearly all, are tested as they are.
  const paths = queryPaths(query);
  return (doc) => {
    const numeric =
      paths === null ? holdsBsonNumber(doc) : paths.some((segs) => pathHoldsBsonNumber(doc, segs));
    return test(numeric ? withPlainNumbers(doc) : doc);
  };
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
