import { bytesKey, bytesOf } from './exactBytes.js';

/**
 * A string key for a document id that keeps types apart (`7` and `'7'` differ) while an
 * ObjectId and its hex string, which are the same id on the wire, share a key.
 */
export function idKey(id: unknown): string {
  switch (typeof id) {
    case 'number':
      return `n:${id}`;
    case 'string':
      return `s:${id}`;
    case 'boolean':
      return `b:${id}`;
    case 'bigint':
      return `n:${id}`;
    default:
      if (id === null || id === undefined) return 'null';
      if (id instanceof Date) return `d:${id.toISOString()}`;
      {
        const bytes = bytesOf(id);
        if (bytes) return `x:${bytesKey(bytes)}`;
      }
      // An ObjectId prints as its hex string, so the two share a key.
      return `s:${(id as { toString(): string }).toString()}`;
  }
}

/** The id as it travels (ObjectId as its hex string). */
export function wireId(id: unknown): string | number {
  if (typeof id === 'number' || typeof id === 'string') return id;
  if (id instanceof Date) return id.toISOString();
  return String(id);
}
