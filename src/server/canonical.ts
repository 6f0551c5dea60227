import { isPlainObject } from './clone.js';
import { bytesKey, bytesOf } from './exactBytes.js';

/**
 * A string that is equal for two queries exactly when they are the same query, types included:
 * an ObjectId and its hex string differ here, where `JSON.stringify` would make them collide.
 */
export function canonicalKey(value: unknown): string {
  if (value === undefined) return 'undefined';
  // JSON writes non-finite numbers as null: give them their own form so they never collide.
  if (typeof value === 'number' && !Number.isFinite(value)) return `{"$number":"${value}"}`;
  if (
    value === null ||
    typeof value === 'number' ||
    typeof value === 'boolean' ||
    typeof value === 'string'
  ) {
    return JSON.stringify(value);
  }
  if (typeof value === 'bigint') return `{"$bigint":"${value}"}`;
  if (Array.isArray(value)) return `[${value.map(canonicalKey).join(',')}]`;
  if (isPlainObject(value)) {
    return `{${Object.keys(value)
      .map((k) => `${JSON.stringify(k)}:${canonicalKey(value[k])}`)
      .join(',')}}`;
  }
  if (value instanceof Date) return `{"$date":${JSON.stringify(value.toISOString())}}`;
  if (value instanceof RegExp)
    return `{"$regex":${JSON.stringify(value.source)},"$options":${JSON.stringify(value.flags)}}`;
  const bytes = bytesOf(value);
  if (bytes) return `{"$bytes":"${bytesKey(bytes)}"}`;
  const bson = (value as { _bsontype?: unknown })._bsontype;
  if (typeof bson === 'string' && EXACT_TEXT.has(bson)) {
    // These BSON types print their exact value (a Decimal128's digits, a Long's integer).
    return `{"$${bson}":${JSON.stringify((value as { toString(): string }).toString())}}`;
  }
  // Anything else may print alike for different values ('[object Object]'): refuse it.
  const name = value.constructor?.name ?? 'Object';
  throw new TypeError(
    `a ${name} cannot be compared exactly; use JSON values, Dates or BSON values`,
  );
}

/** BSON types whose `toString()` is exact. */
const EXACT_TEXT = new Set([
  'ObjectId',
  'Decimal128',
  'Long',
  'Int32',
  'Double',
  'Timestamp',
  'MinKey',
  'MaxKey',
  'BSONSymbol',
]);
