import { isPlainObject } from './clone.js';

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
  const name = (value as object).constructor?.name ?? 'Object';
  return `{"$${name}":${JSON.stringify(String(value))}}`;
}
