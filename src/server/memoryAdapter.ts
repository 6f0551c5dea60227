import { randomBytes } from 'node:crypto';
import { Query } from 'mingo';
import type { Adapter, Change, Db, Doc, FindOptions, StopWatching, WritesDone } from './adapter.js';
import { cloneDeep, deepEqual, getPath, hasPath } from './clone.js';
import { idKey } from './ids.js';
import { compileFilter } from './memory/match.js';
import { applyUpdate, type UpdateDocument } from './memory/update.js';
import { ParticleError } from '../protocol/errors.js';

export type { UpdateDocument } from './memory/update.js';

/** Options of {@link MemoryAdapter}. */
export interface MemoryAdapterOptions<TCollections extends object = Record<string, Doc>> {
  /** Initial documents per collection. Each needs an `_id` (one is generated when missing). */
  collections?: NoInfer<{ [K in keyof TCollections]?: readonly TCollections[K][] }>;
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
  private readonly store = new Map<string, Map<string, Doc>>();
  private readonly watchers = new Set<Watcher>();

  constructor(options: MemoryAdapterOptions<TCollections> = {}) {
    const seeds = (options.collections ?? {}) as Record<string, readonly Doc[]>;
    for (const [name, docs] of Object.entries(seeds)) {
      const coll = this.collection(name);
      for (const doc of docs) {
        const stored = withId(cloneDeep(doc));
        coll.set(idKey(stored._id), stored);
      }
    }
  }

  /** Inserts one or many documents; an `_id` that exists already is a duplicate-key error. */
  insert(collection: string, docs: Doc | Doc[]): number {
    const list = Array.isArray(docs) ? docs : [docs];
    const coll = this.collection(collection);
    for (const doc of list) {
      const stored = withId(cloneDeep(doc));
      const key = idKey(stored._id);
      if (coll.has(key)) {
        throw new ParticleError('config', `duplicate _id ${String(stored._id)} in ${collection}`);
      }
      coll.set(key, stored);
      this.emit({ type: 'insert', collection, id: stored._id, doc: stored });
    }
    return list.length;
  }

  /** Applies a MongoDB update document to every match (like `updateMany`). */
  update(collection: string, filter: Doc, update: UpdateDocument): number {
    let changed = 0;
    for (const [key, doc] of this.matching(collection, filter)) {
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
      this.collection(collection).set(key, next);
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
    for (const [key, old] of this.matching(collection, filter)) {
      const next = { ...cloneDeep(doc), _id: old._id };
      this.collection(collection).set(key, next);
      this.emit({ type: 'replace', collection, id: next._id, doc: next });
      changed++;
    }
    return changed;
  }

  /** Removes every match. */
  remove(collection: string, filter: Doc): number {
    let changed = 0;
    for (const [key, old] of this.matching(collection, filter)) {
      this.collection(collection).delete(key);
      this.emit({ type: 'delete', collection, id: old._id });
      changed++;
    }
    return changed;
  }

  find(collection: string, query: Doc, options: FindOptions = {}): Promise<Doc[]> {
    return Promise.resolve(this.findNow(collection, query, options));
  }

  /** The synchronous form of {@link find}. */
  findNow(collection: string, query: Doc = {}, options: FindOptions = {}): Doc[] {
    const docs = [...this.collection(collection).values()];
    const matched = Object.keys(query).length === 0 ? docs : docs.filter(compileFilter(query));
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
    return Promise.resolve(async () => {
      this.watchers.delete(watcher);
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

  private collection(name: string): Map<string, Doc> {
    let coll = this.store.get(name);
    if (!coll) this.store.set(name, (coll = new Map()));
    return coll;
  }

  private matching(collection: string, filter: Doc): [string, Doc][] {
    const keys = Object.keys(filter);
    const id = filter._id;
    if (keys.length === 1 && (typeof id === 'string' || typeof id === 'number')) {
      // The common write by id: a lookup instead of a scan.
      const doc = this.collection(collection).get(idKey(id));
      return doc && doc._id === id ? [[idKey(id), doc]] : [];
    }
    const test = compileFilter(filter);
    return [...this.collection(collection)].filter(([, doc]) => test(doc));
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
