import { randomBytes } from 'node:crypto';
import { Query } from 'mingo';
import type { Adapter, Change, Db, Doc, FindOptions, StopWatching, WritesDone } from './adapter.js';
import { cloneDeep, deepEqual, getPath, hasPath } from './clone.js';
import { idKey } from './ids.js';
import { Collection, type Entry } from './memory/collection.js';
import { compileFilter } from './memory/match.js';
import { applyUpdate, type UpdateDocument } from './memory/update.js';
import { ParticleError } from '../protocol/errors.js';

export type { UpdateDocument } from './memory/update.js';

/** Options of {@link MemoryAdapter}. */
export interface MemoryAdapterOptions<TCollections extends object = Record<string, Doc>> {
  /** Initial documents per collection. Each needs an `_id` (one is generated when missing). */
  collections?: NoInfer<{ [K in keyof TCollections]?: readonly TCollections[K][] }>;
  /**
   * Field paths to index per collection from the start (`{ users: ['accountId'] }`), so even
   * the first filter on them is a lookup. A filter's equality on a field indexes it anyway
   * unless `autoIndex` is off.
   */
  indexes?: NoInfer<{ [K in keyof TCollections]?: readonly string[] }>;
  /**
   * Whether a filter with an equality (a value, `$eq` or `$in`) on a field not yet indexed
   * indexes that field, at the cost of one pass over the collection and upkeep on each write.
   * @default true
   */
  autoIndex?: boolean;
}

interface Watcher {
  collections: Set<string>;
  onChange: (change: Change) => void;
  onError: ((error: Error) => void) | undefined;
}

/**
 * The embedded in-memory store. Writes apply at once, return how many documents changed, and
 * emit their changes synchronously, in order, to every open feed.
 */
export class MemoryAdapter<TCollections extends object = Record<string, Doc>> implements Adapter {
  /**
   * Type-level only (never set): the collection models (`new MemoryAdapter<{ tasks: Task }>()`)
   * that `new Stream` checks manifests against and typed clients read documents from.
   */
  declare readonly '~collections'?: TCollections;
  private readonly store = new Map<string, Collection>();
  private readonly watchers = new Set<Watcher>();
  private readonly autoIndex: boolean;

  constructor(options: MemoryAdapterOptions<TCollections> = {}) {
    this.autoIndex = options.autoIndex ?? true;
    const indexes = (options.indexes ?? {}) as Record<string, readonly string[]>;
    for (const [name, paths] of Object.entries(indexes)) {
      if (!Array.isArray(paths)) {
        throw new ParticleError('config', `indexes.${name} must be an array of field paths`);
      }
      for (const path of paths as unknown[]) {
        if (typeof path !== 'string' || path.split('.').some((s) => s === '' || s[0] === '$')) {
          throw new ParticleError(
            'config',
            `cannot index ${String(path)} of ${name}: not a field path`,
          );
        }
        this.collection(name).index(path);
      }
    }
    const seeds = (options.collections ?? {}) as Record<string, readonly Doc[]>;
    for (const [name, docs] of Object.entries(seeds)) {
      const coll = this.collection(name);
      for (const doc of docs) {
        const stored = withId(cloneDeep(doc));
        const key = idKey(stored._id);
        const seen = coll.get(key);
        if (seen) coll.set(seen, stored);
        else coll.add(key, stored);
      }
    }
  }

  /** The field paths of a collection that are indexed now (`_id` always is). */
  indexedFields(collection: string): string[] {
    return this.store.get(collection)?.indexed() ?? [];
  }

  /** Inserts one or many documents; an `_id` that exists already is a duplicate-key error. */
  insert(collection: string, docs: Doc | Doc[]): number {
    const list = Array.isArray(docs) ? docs : [docs];
    const coll = this.collection(collection);
    for (const doc of list) {
      const stored = withId(cloneDeep(doc));
      const key = idKey(stored._id);
      if (coll.get(key)) {
        throw new ParticleError('config', `duplicate _id ${String(stored._id)} in ${collection}`);
      }
      coll.add(key, stored);
      this.emit({ type: 'insert', collection, id: stored._id, doc: stored });
    }
    return list.length;
  }

  /** Applies a MongoDB update document to every match (like `updateMany`). */
  update(collection: string, filter: Doc, update: UpdateDocument): number {
    let changed = 0;
    const coll = this.collection(collection);
    for (const entry of this.matching(coll, filter)) {
      if (!coll.holds(entry)) continue;
      const doc = entry.doc;
      const next = cloneDeep(doc);
      const paths = applyUpdate(next, update);
      if (paths.length === 0 || deepEqual(next, doc)) continue;
      if (!deepEqual(next._id, doc._id)) {
        throw new ParticleError('config', `an update may not change _id (${collection})`);
      }
      const updatedFields: Record<string, unknown> = {};
      const removedFields: string[] = [];
      for (const path of paths) {
        if (hasPath(next, path)) updatedFields[path] = getPath(next, path);
        else removedFields.push(path);
      }
      coll.set(entry, next, paths);
      this.emit({
        type: 'update',
        collection,
        id: next._id,
        doc: next,
        updatedFields,
        removedFields,
      });
      changed++;
    }
    return changed;
  }

  /** Replaces every match with `doc` (keeping each match's `_id`). */
  replace(collection: string, filter: Doc, doc: Doc): number {
    let changed = 0;
    const coll = this.collection(collection);
    for (const entry of this.matching(coll, filter)) {
      if (!coll.holds(entry)) continue;
      const next = { ...cloneDeep(doc), _id: entry.doc._id };
      coll.set(entry, next);
      this.emit({ type: 'replace', collection, id: next._id, doc: next });
      changed++;
    }
    return changed;
  }

  /** Removes every match. */
  remove(collection: string, filter: Doc): number {
    let changed = 0;
    const coll = this.collection(collection);
    for (const entry of this.matching(coll, filter)) {
      if (!coll.holds(entry)) continue;
      coll.delete(entry);
      this.emit({ type: 'delete', collection, id: entry.doc._id });
      changed++;
    }
    return changed;
  }

  find(collection: string, query: Doc, options: FindOptions = {}): Promise<Doc[]> {
    return Promise.resolve(this.findNow(collection, query, options));
  }

  /** The synchronous form of {@link find}. */
  findNow(collection: string, query: Doc = {}, options: FindOptions = {}): Doc[] {
    const matched = this.matching(this.collection(collection), query).map((entry) => entry.doc);
    if (!options.sort && !options.projection && options.limit === undefined) return matched;
    const cursor = new Query({}).find(matched, options.projection);
    const sorted = options.sort ? cursor.sort(options.sort) : cursor;
    return (options.limit === undefined ? sorted : sorted.limit(options.limit)).all() as Doc[];
  }

  /**
   * Runs a mutator's writes. Each write applies at once and emits its changes before it
   * resolves, so `settled` has nothing to wait for. `transaction` is accepted for the shared
   * contract; a throw part-way leaves the writes made before it (as MongoDB without one).
   */
  async runWrites<T>(fn: (db: Db) => Promise<T>): Promise<WritesDone<T>> {
    const db: Db = {
      insert: (c, docs) => Promise.resolve().then(() => this.insert(c, docs)),
      update: (c, filter, update) => Promise.resolve().then(() => this.update(c, filter, update)),
      replace: (c, filter, doc) => Promise.resolve().then(() => this.replace(c, filter, doc)),
      remove: (c, filter) => Promise.resolve().then(() => this.remove(c, filter)),
      find: (c, query, options) => this.find(c, query, options).then((docs) => docs.map(cloneDeep)),
    };
    return { value: await fn(db), written: undefined };
  }

  /** Every write has been emitted by the time it returned. */
  settled(): Promise<void> {
    return Promise.resolve();
  }

  watch(
    collections: string[],
    onChange: (change: Change) => void,
    onError?: (error: Error) => void,
  ): Promise<StopWatching> {
    const watcher: Watcher = { collections: new Set(collections), onChange, onError };
    this.watchers.add(watcher);
    return Promise.resolve(() => {
      this.watchers.delete(watcher);
      return Promise.resolve();
    });
  }

  /**
   * Breaks every open feed as a lost database connection would: each gets `onError` and
   * receives nothing more. Meant for fault-injection tests of what sits on top.
   */
  breakFeeds(error: Error = new Error('change feed lost')): void {
    const broken = [...this.watchers];
    this.watchers.clear();
    for (const w of broken) w.onError?.(error);
  }

  close(): Promise<void> {
    this.watchers.clear();
    return Promise.resolve();
  }

  private collection(name: string): Collection {
    let coll = this.store.get(name);
    if (!coll) this.store.set(name, (coll = new Collection(this.autoIndex)));
    return coll;
  }

  /** The entries matching `filter`, in collection order (a snapshot: writes may follow). */
  private matching(coll: Collection, filter: Doc): Entry[] {
    const keys = Object.keys(filter);
    if (keys.length === 0) return [...coll.values()];
    const id = filter._id;
    if (keys.length === 1 && (typeof id === 'string' || typeof id === 'number') && coll.exactIds) {
      // The common write by id: one lookup and a comparison, no compiled filter.
      const entry = coll.get(idKey(id));
      return entry && entry.doc._id === id ? [entry] : [];
    }
    const test = compileFilter(filter);
    return (coll.candidates(filter) ?? [...coll.values()]).filter((entry) => test(entry.doc));
  }

  private emit(change: Change): void {
    for (const w of this.watchers) {
      if (w.collections.has(change.collection)) w.onChange(change);
    }
  }
}

function withId(doc: Doc): Doc {
  if (doc._id === undefined) return { _id: randomBytes(12).toString('hex'), ...doc };
  return doc;
}
