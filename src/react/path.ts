import type { Id } from '../protocol/index.js';

/**
 * Where a value lives in a collector's data.
 *
 * - `'users'`: the whole root (an array of documents).
 * - `'users.7.name'`: the second segment is a document **id** (compared with each document's id
 *   by its string form, so `'7'` finds `_id: 7`); later segments walk fields and array indexes.
 * - `['users', 7, 'address']`: the same with typed segments, for ids that hold dots. The id is
 *   compared as it is (`7` finds `_id: 7`, not `_id: '7'`).
 */
export type ParticlePath = string | readonly [root: string, ...rest: (string | number)[]];

/** A path split once per hook, ready for reads and for routing notices. */
export interface ParsedPath {
  /** The data source (root) name. */
  readonly root: string;
  /** Whether the path addresses one document (it has a second segment). */
  readonly hasId: boolean;
  /** The id as written: a string for string paths, typed for array paths. */
  readonly id: Id | undefined;
  /** Compare ids by string form (string paths) or as they are (array paths). */
  readonly byString: boolean;
  /** The routing key of the document: `String(id)`. */
  readonly idKey: string;
  /** Field and array-index segments below the document. */
  readonly rest: readonly string[];
}

/** A string that is equal for two paths exactly when they address the same value. */
export function pathKey(path: ParticlePath): string {
  return typeof path === 'string' ? `s${path}` : `a${JSON.stringify(path)}`;
}

/** Splits a path into root, document id and the segments below the document. */
export function parsePath(path: ParticlePath): ParsedPath {
  const byString = typeof path === 'string';
  const segments: readonly (string | number)[] = byString ? path.split('.') : path;
  const id = segments[1];
  return {
    root: String(segments[0] ?? ''),
    hasId: segments.length > 1,
    id,
    byString,
    idKey: id === undefined ? '' : String(id),
    rest: segments.slice(2).map(String),
  };
}

/** Walks own fields and array indexes; anything missing or not an object on the way gives `undefined`. */
export function walk(value: unknown, segments: readonly string[]): unknown {
  let current = value;
  for (const segment of segments) {
    if (typeof current !== 'object' || current === null) return undefined;
    // Own properties only: `users.7.constructor` must not reach Object.prototype.
    if (!Object.hasOwn(current, segment)) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}
