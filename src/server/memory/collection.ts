/**
 * One collection of the embedded store: its documents in insertion order, keyed by id, and the
 * hash indexes that narrow a filter's candidates to the documents holding its equality values.
 */
import type { Doc } from '../adapter.js';
import { isPlainObject } from '../clone.js';
import { idKey } from '../ids.js';
import { equalityKey } from '../groupIndex.js';
import { FieldIndex, keyable, type Entry } from './indexes.js';

export type { Entry } from './indexes.js';

/** A field every match holds one of `values` at (a plain value, `$eq` or `$in`). */
interface Equality {
  field: string;
  values: readonly unknown[];
}

/** The values of an equality condition when each can be looked up by key. */
function equalityValues(cond: unknown): readonly unknown[] | undefined {
  if (keyable(cond)) return [cond];
  if (!isPlainObject(cond)) return undefined;
  // An object with a non-operator key is a whole-document equality, not a condition.
  if (!Object.keys(cond).every((k) => k.startsWith('$'))) return undefined;
  if (Object.hasOwn(cond, '$eq')) return keyable(cond.$eq) ? [cond.$eq] : undefined;
  const list = cond.$in;
  return Array.isArray(list) && list.every(keyable) ? list : undefined;
}

const plainField = (field: string): boolean =>
  field.split('.').every((seg) => seg !== '' && !seg.startsWith('$'));

/** The equalities every match satisfies (top level and inside `$and`), and its `$or` lists. */
function requirements(filter: Doc, eqs: Equality[], ors: Doc[][]): void {
  for (const [field, cond] of Object.entries(filter)) {
    if (field === '$and' || field === '$or') {
      if (!Array.isArray(cond) || cond.length === 0 || !cond.every(isPlainObject)) continue;
      if (field === '$or') ors.push(cond);
      else for (const sub of cond) requirements(sub, eqs, ors);
      continue;
    }
    if (!plainField(field)) continue;
    const values = equalityValues(cond);
    if (values) eqs.push({ field, values });
  }
}

const bySeq = (a: Entry, b: Entry): number => a.seq - b.seq;

export class Collection {
  private readonly entries = new Map<string, Entry>();
  private readonly indexes = new Map<string, FieldIndex>();
  private seq = 0;
  /** Documents whose `_id` is an array: an `_id` equality may match them by an element. */
  private arrayIds = 0;

  /** @param autoIndex Whether a filter's equality on a field not yet indexed indexes it. */
  constructor(private readonly autoIndex: boolean) {}

  get(key: string): Entry | undefined {
    return this.entries.get(key);
  }

  values(): IterableIterator<Entry> {
    return this.entries.values();
  }

  /** Whether `entry` is still stored (a write made while iterating may have removed it). */
  holds(entry: Entry): boolean {
    return this.entries.get(entry.key) === entry;
  }

  /** Whether an `_id` is found by its key alone: no document has an array `_id`. */
  get exactIds(): boolean {
    return this.arrayIds === 0;
  }

  /** Adds a document under a key that is not taken. */
  add(key: string, doc: Doc): Entry {
    const entry: Entry = { key, doc, seq: this.seq++ };
    this.entries.set(key, entry);
    if (Array.isArray(doc._id)) this.arrayIds++;
    for (const index of this.indexes.values()) index.add(entry);
    return entry;
  }

  /**
   * Gives `entry` its next document, keeping its place. `changed` (the paths a write changed)
   * spares the indexes of fields it left alone; without it every index is brought up to date.
   */
  set(entry: Entry, next: Doc, changed?: readonly string[]): void {
    if (!this.holds(entry)) return;
    const before = entry.doc;
    entry.doc = next;
    for (const index of this.indexes.values()) {
      if (changed && !changed.some((path) => topOf(path) === index.top)) continue;
      index.move(entry, before);
    }
  }

  delete(entry: Entry): void {
    if (!this.holds(entry)) return;
    this.entries.delete(entry.key);
    if (Array.isArray(entry.doc._id)) this.arrayIds--;
    for (const index of this.indexes.values()) index.remove(entry);
  }

  /** Indexes a field path (a no-op when it is indexed already). */
  index(path: string): FieldIndex {
    let index = this.indexes.get(path);
    if (!index) {
      index = new FieldIndex(path);
      for (const entry of this.entries.values()) index.add(entry);
      this.indexes.set(path, index);
    }
    return index;
  }

  /** The indexed field paths. */
  indexed(): string[] {
    return [...this.indexes.keys()];
  }

  /**
   * The documents that can match `filter`, in collection order, or `undefined` when no equality
   * of it can be looked up (the caller scans). A superset: the caller still tests each one.
   */
  candidates(filter: Doc): Entry[] | undefined {
    const found = this.narrow(filter);
    if (!found || found.length < 2) return found;
    let sorted = true;
    for (let i = 1; i < found.length && sorted; i++) {
      sorted = (found[i - 1] as Entry).seq < (found[i] as Entry).seq;
    }
    if (sorted) return found;
    found.sort(bySeq);
    // A document holding several of the values (an array, an $in) was collected more than once.
    return found.filter((entry, i) => i === 0 || found[i - 1] !== entry);
  }

  private narrow(filter: Doc): Entry[] | undefined {
    const eqs: Equality[] = [];
    const ors: Doc[][] = [];
    requirements(filter, eqs, ors);
    // An id equality is answered at once; otherwise each equality's field is worth indexing.
    const create = this.autoIndex && !eqs.some((eq) => eq.field === '_id' && this.arrayIds === 0);
    const options: { eq: Equality; index: FieldIndex | undefined }[] = [];
    for (const eq of eqs) {
      // A lookup costs a few document tests: with a value for most documents, scan instead.
      const lookups = eq.values.length;
      if (lookups > 8 && lookups * 2 > this.entries.size) continue;
      if (eq.field === '_id' && this.arrayIds === 0) options.push({ eq, index: undefined });
      else {
        const index = this.indexes.get(eq.field) ?? (create ? this.index(eq.field) : undefined);
        if (index) options.push({ eq, index });
      }
    }
    let best = options[0];
    if (options.length > 1) {
      let least = Infinity;
      for (const option of options) {
        const cost = costOf(option.eq, option.index);
        if (cost < least) [best, least] = [option, cost];
      }
    }
    if (best) {
      const out: Entry[] = [];
      const { eq, index } = best;
      for (const value of eq.values) {
        if (index) index.collect(equalityKey(value), out);
        else {
          const entry = this.entries.get(idKey(value));
          if (entry) out.push(entry);
        }
      }
      return out;
    }
    // No equality that every match holds: an $or whose every branch has one is a union.
    for (const branches of ors) {
      const parts = branches.map((branch) => this.narrow(branch));
      if (parts.every((part) => part !== undefined)) return parts.flat();
    }
    return undefined;
  }
}

/** How many candidates an equality gives through an index (none: the id keys). */
function costOf(eq: Equality, index: FieldIndex | undefined): number {
  if (!index) return eq.values.length;
  let cost = 0;
  for (const value of eq.values) cost += index.count(equalityKey(value));
  return cost;
}

function topOf(path: string): string {
  const dot = path.indexOf('.');
  return dot < 0 ? path : path.slice(0, dot);
}
