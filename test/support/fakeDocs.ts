/**
 * Documents and BSON values as the MongoDB wire fake (mongoWireFake.ts) keeps them: copies,
 * equality by BSON value, and dotted paths.
 */
import { BSON } from 'mongodb';

export type Doc = Record<string, unknown>;
/** Documents per collection. */
export type Store = Map<string, Doc[]>;

/** The documents of `collection`, created empty when the store has none yet. */
export function docsOf(store: Store, collection: string): Doc[] {
  let docs = store.get(collection);
  if (!docs) {
    docs = [];
    store.set(collection, docs);
  }
  return docs;
}

/** A copy of every collection of `store`. */
export function copyStore(store: Store): Store {
  return new Map([...store].map(([name, docs]) => [name, copy(docs)]));
}

/** Equality of BSON values, field order included (as the server compares documents). */
export function sameValue(a: unknown, b: unknown): boolean {
  return idKey(a) === idKey(b);
}

/** A BSON value as a string, equal for equal values (field order included). */
export function idKey(value: unknown): string {
  return BSON.EJSON.stringify({ v: value }, { relaxed: false });
}

export function sameId(a: unknown, b: unknown): boolean {
  return sameValue(a, b);
}

export function readPath(doc: Doc, path: string): { exists: boolean; value?: unknown } {
  let node: unknown = doc;
  for (const segment of path.split('.')) {
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, segment)) {
      return { exists: false };
    }
    node = (node as Doc)[segment];
  }
  return { exists: true, value: node };
}

export function setPath(doc: Doc, path: string, value: unknown): void {
  const segments = path.split('.');
  let node: Doc = doc;
  for (const segment of segments.slice(0, -1)) {
    const next = node[segment];
    if (typeof next !== 'object' || next === null) node[segment] = {};
    node = node[segment] as Doc;
  }
  node[segments[segments.length - 1] as string] = value;
}

/** Removes the field at `path`; whether it was there. */
export function unsetPath(doc: Doc, path: string): boolean {
  const segments = path.split('.');
  let node: unknown = doc;
  for (const segment of segments.slice(0, -1)) {
    if (typeof node !== 'object' || node === null) return false;
    node = (node as Doc)[segment];
  }
  const last = segments[segments.length - 1] as string;
  if (typeof node !== 'object' || node === null || !Object.hasOwn(node, last)) return false;
  delete (node as Doc)[last];
  return true;
}

/** Deep-copies plain objects and arrays; BSON values (ObjectId, Binary, ...) are shared. */
export function copy<T>(value: T): T {
  if (Array.isArray(value)) return value.map(copy) as T;
  if (
    typeof value === 'object' &&
    value !== null &&
    Object.getPrototypeOf(value) === Object.prototype
  ) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, copy(v)])) as T;
  }
  return value;
}
