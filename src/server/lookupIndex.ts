import type { Change, Doc } from './adapter.js';
import {
  addTo,
  equalityKey,
  findEqualities,
  removeFrom,
  valuesAt,
  type Equality,
} from './groupIndex.js';
import { idKey } from './ids.js';
import type { Matcher } from './matcher.js';

/** One lookup a pipe made while resolving: what it asked and which documents it got. */
export interface TracedLookup {
  readonly collection: string;
  readonly query: Doc;
  readonly matcher: Matcher;
  readonly ids: Set<string>;
}

interface Entry<T> {
  readonly owner: T;
  readonly lookup: TracedLookup;
  readonly equalities: Equality[] | undefined;
}

/** The traced lookups on one collection, indexed like its groups. */
class CollectionLookups<T> {
  readonly byId = new Map<string, Set<Entry<T>>>();
  readonly byField = new Map<string, { path: string[]; values: Map<string, Set<Entry<T>>> }>();
  readonly scan = new Set<Entry<T>>();
  size = 0;
}

/**
 * The lookups behind live resolutions, indexed by the documents they selected and by the
 * equality values they asked for, so a change visits only the owners whose lookups it can alter.
 */
export class LookupIndex<T> {
  private readonly byCollection = new Map<string, CollectionLookups<T>>();
  private readonly entries = new Map<T, Entry<T>[]>();

  /** Indexes `trace` as `owner`'s (replacing what it had). */
  set(owner: T, trace: readonly TracedLookup[]): void {
    this.delete(owner);
    const list: Entry<T>[] = [];
    for (const lookup of trace) {
      const entry: Entry<T> = { owner, lookup, equalities: findEqualities(lookup.query) };
      list.push(entry);
      const index = this.collection(lookup.collection);
      index.size++;
      for (const key of lookup.ids) addTo(index.byId, key, entry);
      if (!entry.equalities) {
        index.scan.add(entry);
        continue;
      }
      for (const eq of entry.equalities) {
        let field = index.byField.get(eq.field);
        if (!field) {
          index.byField.set(eq.field, (field = { path: eq.field.split('.'), values: new Map() }));
        }
        for (const value of eq.values) addTo(field.values, equalityKey(value), entry);
      }
    }
    if (list.length > 0) this.entries.set(owner, list);
  }

  /** Forgets `owner`'s lookups. */
  delete(owner: T): void {
    const list = this.entries.get(owner);
    if (!list) return;
    this.entries.delete(owner);
    for (const entry of list) {
      const index = this.byCollection.get(entry.lookup.collection);
      if (!index) continue;
      index.size--;
      for (const key of entry.lookup.ids) removeFrom(index.byId, key, entry);
      if (!entry.equalities) index.scan.delete(entry);
      else {
        for (const eq of entry.equalities) {
          const field = index.byField.get(eq.field);
          if (!field) continue;
          for (const value of eq.values) removeFrom(field.values, equalityKey(value), entry);
          if (field.values.size === 0) index.byField.delete(eq.field);
        }
      }
      if (index.size === 0) this.byCollection.delete(entry.lookup.collection);
    }
  }

  /** Forgets every owner. */
  clear(): void {
    this.byCollection.clear();
    this.entries.clear();
  }

  /** The owners with a lookup this change may alter: one that selected it, or could now. */
  touched(change: Exclude<Change, { type: 'reset' }>): Set<T> {
    const out = new Set<T>();
    const index = this.byCollection.get(change.collection);
    if (!index) return out;
    const key = idKey(change.id);
    for (const entry of index.byId.get(key) ?? []) out.add(entry.owner);
    const doc = change.type === 'delete' ? null : change.doc;
    if (doc === null) return out;
    const test = (entry: Entry<T>): void => {
      if (!out.has(entry.owner) && entry.lookup.matcher(doc)) out.add(entry.owner);
    };
    for (const entry of index.scan) test(entry);
    for (const { path, values } of index.byField.values()) {
      for (const value of valuesAt(doc, path)) {
        for (const entry of values.get(equalityKey(value)) ?? []) test(entry);
      }
    }
    return out;
  }

  private collection(name: string): CollectionLookups<T> {
    let index = this.byCollection.get(name);
    if (!index) this.byCollection.set(name, (index = new CollectionLookups()));
    return index;
  }
}
