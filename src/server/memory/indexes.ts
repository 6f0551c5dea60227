/**
 * Hash indexes of the embedded store: per field path, the documents that hold each value there.
 * An index only narrows the candidates of a filter; the compiled filter still decides, so an
 * index may hold a document under a value the matcher would not match it by, never the reverse.
 */
import type { Doc } from '../adapter.js';
import { equalityKey } from '../groupIndex.js';
import { bytesOf } from '../exactBytes.js';
import { isBsonNumber } from '../numbers.js';

/** One stored document and its place in the collection's order. */
export interface Entry {
  readonly key: string;
  doc: Doc;
  /** Grows with each insert: iterating the collection visits entries by rising `seq`. */
  readonly seq: number;
}

/** Most values are held by one document: keep the entry itself, a Set only when shared. */
type Bucket = Entry | Set<Entry>;

const DIGITS = /^\d+$/;

/**
 * Whether every value the matcher finds equal to `value` has its key (`equalityKey`): values of
 * the same kind compared by value or by exact text. Anything else is answered by a scan.
 */
export function keyable(value: unknown): boolean {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'bigint':
      return true;
    case 'object': {
      if (value === null) return false;
      if (value instanceof Date) return !Number.isNaN(value.getTime());
      if (bytesOf(value) || isBsonNumber(value)) return true;
      const bson = (value as { _bsontype?: unknown })._bsontype;
      return bson === 'ObjectId' || bson === 'ObjectID';
    }
    default:
      return false;
  }
}

/** The key of a string, number or boolean: `equalityKey` without its type tests. */
function primitiveKey(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return `s:${value}`;
    case 'number':
      return `n:${value}`;
    case 'boolean':
      return `b:${value}`;
    default:
      return undefined;
  }
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((k, i) => k === b[i]);
}

/** The index of one field path of one collection. */
export class FieldIndex {
  /** The path's first segment: a write that changes no path under it leaves the index alone. */
  readonly top: string;
  private readonly segs: readonly string[];
  private readonly buckets = new Map<string, Bucket>();

  constructor(readonly path: string) {
    this.segs = path.split('.');
    this.top = this.segs[0] as string;
  }

  add(entry: Entry): void {
    for (const key of this.keysOf(entry.doc)) this.put(key, entry);
  }

  remove(entry: Entry, doc: Doc = entry.doc): void {
    for (const key of this.keysOf(doc)) this.drop(key, entry);
  }

  /** Moves `entry` from the keys of its former document to those of its current one. */
  move(entry: Entry, before: Doc): void {
    const old = this.keysOf(before);
    const now = this.keysOf(entry.doc);
    if (sameKeys(old, now)) return;
    for (const key of old) if (!now.includes(key)) this.drop(key, entry);
    for (const key of now) if (!old.includes(key)) this.put(key, entry);
  }

  /** How many documents hold a value with this key. */
  count(key: string): number {
    const bucket = this.buckets.get(key);
    return bucket === undefined ? 0 : bucket instanceof Set ? bucket.size : 1;
  }

  /** Appends the documents that hold a value with this key. */
  collect(key: string, out: Entry[]): void {
    const bucket = this.buckets.get(key);
    if (bucket instanceof Set) for (const entry of bucket) out.push(entry);
    else if (bucket !== undefined) out.push(bucket);
  }

  /** The distinct index keys of `doc` at the path. */
  private keysOf(doc: Doc): string[] {
    const segs = this.segs;
    // Most paths run through plain fields to a primitive or to nothing.
    let cur: unknown = doc;
    for (let i = 0; i < segs.length && cur !== undefined; i++) {
      if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) break;
      const seg = segs[i] as string;
      cur = Object.hasOwn(cur, seg) ? (cur as Record<string, unknown>)[seg] : undefined;
      if (i === segs.length - 1) {
        if (cur === undefined || cur === null) return [];
        const key = primitiveKey(cur);
        if (key !== undefined) return [key];
      }
    }
    const values: unknown[] = [];
    this.reach(doc, 0, values);
    if (values.length <= 1) return values.length === 0 ? [] : [equalityKey(values[0])];
    return [...new Set(values.map(equalityKey))];
  }

  /**
   * Every keyable value the path can reach in `cur` from segment `i`, more generously than the
   * matcher: through every array on the way (a numeric segment both as an index and as a field
   * of the elements) and into nested arrays at the end, which mingo's equality flattens.
   */
  private reach(cur: unknown, i: number, out: unknown[]): void {
    const segs = this.segs;
    if (Array.isArray(cur)) {
      for (const element of cur) this.reach(element, i, out);
      if (i < segs.length && DIGITS.test(segs[i] as string)) {
        this.reach(cur[Number(segs[i])], i + 1, out);
      }
      return;
    }
    if (i === segs.length) {
      if (keyable(cur)) out.push(cur);
      return;
    }
    if (cur !== null && typeof cur === 'object') {
      const seg = segs[i] as string;
      if (Object.hasOwn(cur, seg)) this.reach((cur as Record<string, unknown>)[seg], i + 1, out);
    }
  }

  private put(key: string, entry: Entry): void {
    const bucket = this.buckets.get(key);
    if (bucket === undefined) this.buckets.set(key, entry);
    else if (bucket instanceof Set) bucket.add(entry);
    else if (bucket !== entry) this.buckets.set(key, new Set([bucket, entry]));
  }

  private drop(key: string, entry: Entry): void {
    const bucket = this.buckets.get(key);
    if (bucket === entry) this.buckets.delete(key);
    else if (bucket instanceof Set) {
      bucket.delete(entry);
      if (bucket.size === 1) this.buckets.set(key, bucket.values().next().value as Entry);
    }
  }
}
