import type { Doc } from '../protocol/index.js';
import type { CollectorNotice, CollectorStatus } from './client.js';
import { createDocLookup, type DocLookup } from './docIndex.js';
import { walk, type ParsedPath } from './path.js';

/** A collector's connection state, as `collector.status` reports it. */
export type ParticleStatus = CollectorStatus;

/** What a collector tells its listeners: after each applied server message, and on status changes. */
export type ParticleNotice = CollectorNotice;

/** The part of a Collector the store reads. */
export interface ParticleSource {
  readonly data: Readonly<Record<string, readonly Doc[]>>;
  readonly status: ParticleStatus;
  onNotice(listener: (notice: ParticleNotice) => void): () => void;
}

/** Data rendered before the live payload of a root arrives: `stream.snapshot(identity)`'s result. */
export type InitialData = Readonly<Record<string, readonly Doc[]>>;

type Listener = () => void;

interface RootListeners {
  /** Subscribers of the whole root: woken by every change to it. */
  readonly whole: Set<Listener>;
  /** Subscribers of one document (and paths below it), by `String(id)`. */
  readonly byId: Map<string, Set<Listener>>;
}

/** Per-provider state: the current collector, `initialData`, and subscribers indexed by path. */
export interface ParticleStore<TCollector extends ParticleSource = ParticleSource> {
  /** The attached collector, or `undefined` before the provider's effect made one. */
  getCollector(this: void): TCollector | undefined;
  /** The collector given to the provider, for server rendering and hydration; else `undefined`. */
  getServerCollector(this: void): TCollector | undefined;
  /** Switches to another collector (or none); every subscriber is woken once. */
  attach(collector: TCollector | undefined): void;
  /** The value at `path`: live data once that root's payload arrived, else `initialData`. */
  read(path: ParsedPath): unknown;
  /** The value at `path` in `initialData` only (server render and hydration). */
  readInitial(path: ParsedPath): unknown;
  /** The collector's status; `'waiting'` while there is no collector. */
  getStatus(this: void): ParticleStatus;
  /** Wakes `listener` when data at `path`'s root or document may have changed. */
  subscribePath(path: ParsedPath, listener: Listener): () => void;
  /** Wakes `listener` on status changes. */
  subscribeStatus(this: void, listener: Listener): () => void;
  /** Wakes `listener` when another collector is attached. */
  subscribeCollector(this: void, listener: Listener): () => void;
  /** How long a hook's subscription outlives its component (see `ParticleProvider`). */
  readonly unsubscribeDelayMs: number;
  /** `initialData`'s documents for a subscription, by its `subscriptionKey`. */
  readInitialSubscription(key: string): readonly Doc[] | undefined;
  /** `console.warn`s `message` once per `key` and store, in development only. */
  warnOnce(key: string, message: string): void;
}

/** Reads a root's id field (`_id` unless the manifest said otherwise). */
export type IdFieldOf<TCollector> = (collector: TCollector | undefined, root: string) => string;

/** How a store starts. */
export interface ParticleStoreOptions<TCollector> {
  /** Rendered for each root until its live payload arrives. */
  initialData?: InitialData | undefined;
  /** A collector owned by the caller, attached from the start (and visible to server rendering). */
  collector?: TCollector | undefined;
  /** The id field of a root. */
  idFieldOf?: IdFieldOf<TCollector> | undefined;
  /**
   * How long a hook's subscription outlives its component, in milliseconds.
   * @default 2000
   */
  unsubscribeDelayMs?: number | undefined;
}

/** The default `unsubscribeDelayMs`: longer than a StrictMode remount or a quick navigation. */
export const DEFAULT_UNSUBSCRIBE_DELAY_MS = 2000;

const development = (): boolean => process.env.NODE_ENV !== 'production';

const defaultIdField = (): string => '_id';

function addTo<K>(map: Map<K, Set<Listener>>, key: K, listener: Listener): Set<Listener> {
  let set = map.get(key);
  if (set === undefined) map.set(key, (set = new Set()));
  set.add(listener);
  return set;
}

function callAll(set: Set<Listener> | undefined): void {
  if (set !== undefined) for (const listener of set) listener();
}

/**
 * Creates the store behind one `<ParticleProvider>`. It listens to the collector only while it
 * has subscribers, and routes each data notice to the subscribers of that root and those ids.
 */
export function createParticleStore<TCollector extends ParticleSource>(
  options: ParticleStoreOptions<TCollector> = {},
): ParticleStore<TCollector> {
  const { initialData, collector: given, idFieldOf = defaultIdField } = options;
  const unsubscribeDelayMs = options.unsubscribeDelayMs ?? DEFAULT_UNSUBSCRIBE_DELAY_MS;
  if (!Number.isFinite(unsubscribeDelayMs) || unsubscribeDelayMs < 0) {
    throw new TypeError(
      `ParticleProvider: unsubscribeDelayMs must be a number >= 0, got ${String(unsubscribeDelayMs)}`,
    );
  }
  const warned = new Set<string>();
  const warnOnce = (key: string, message: string): void => {
    if (warned.has(key) || !development()) return;
    warned.add(key);
    console.warn(`particle: ${message}`);
  };
  // A name read as an eager root that the ready collector does not have (nor initialData).
  const checkRoot = (root: string): void => {
    if (collector?.status !== 'ready' || Object.hasOwn(collector.data, root)) return;
    if (initialData !== undefined && Object.hasOwn(initialData, root)) return;
    warnOnce(
      `root:${root}`,
      `useParticle(${JSON.stringify(root)}): there is no eager root of that name. To subscribe ` +
        `to a data source on demand, pass its params: useParticle(${JSON.stringify(root)}, {}) ` +
        'or useSubscription(...).',
    );
  };
  let collector = given;
  let unlisten: (() => void) | undefined;
  let subscriberCount = 0;
  const roots = new Map<string, RootListeners>();
  const statusListeners = new Set<Listener>();
  const collectorListeners = new Set<Listener>();
  // One id lookup per root of the live data, and one per root of initialData.
  const liveLookups = new Map<string, DocLookup>();
  const initialLookups = new Map<string, DocLookup>();

  const onNotice = (notice: ParticleNotice): void => {
    if (notice.type === 'status') {
      if (notice.status === 'ready') for (const root of roots.keys()) checkRoot(root);
      return callAll(statusListeners);
    }
    if (notice.type !== 'data') return;
    const listeners = roots.get(notice.root);
    if (listeners === undefined) return;
    callAll(listeners.whole);
    if (notice.ids === null) {
      for (const set of listeners.byId.values()) callAll(set);
    } else {
      for (const id of notice.ids) callAll(listeners.byId.get(String(id)));
    }
  };

  const listen = (): void => {
    if (unlisten === undefined && collector !== undefined) unlisten = collector.onNotice(onNotice);
  };
  const unlistenNow = (): void => {
    unlisten?.();
    unlisten = undefined;
  };

  // First subscriber starts listening to the collector, the last one stops.
  const track = (off: () => void): (() => void) => {
    if (subscriberCount++ === 0) listen();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      off();
      if (--subscriberCount === 0) unlistenNow();
    };
  };

  const lookup = (docs: readonly Doc[], path: ParsedPath, live: boolean) => {
    const lookups = live ? liveLookups : initialLookups;
    const { root } = path;
    let find = lookups.get(root);
    if (find === undefined) lookups.set(root, (find = createDocLookup()));
    return find(docs, idFieldOf(collector, root), path);
  };

  const readFrom = (path: ParsedPath, live: boolean): unknown => {
    const data = live ? collector?.data : undefined;
    const fromLive = data !== undefined && Object.hasOwn(data, path.root);
    const docs = fromLive
      ? data[path.root]
      : initialData !== undefined && Object.hasOwn(initialData, path.root)
        ? initialData[path.root]
        : undefined;
    if (!path.hasId || docs === undefined) return docs;
    if (!Array.isArray(docs)) return undefined;
    const doc = lookup(docs, path, fromLive);
    return doc === undefined ? undefined : walk(doc, path.rest);
  };

  return {
    getCollector: () => collector,
    getServerCollector: () => given,
    attach(next) {
      if (next === collector) return;
      unlistenNow();
      collector = next;
      liveLookups.clear();
      if (subscriberCount > 0) listen();
      callAll(collectorListeners);
      callAll(statusListeners);
      for (const listeners of roots.values()) {
        callAll(listeners.whole);
        for (const set of listeners.byId.values()) callAll(set);
      }
    },
    read: (path) => readFrom(path, true),
    readInitial: (path) => readFrom(path, false),
    getStatus: () => collector?.status ?? 'waiting',
    subscribePath(path, listener) {
      let listeners = roots.get(path.root);
      if (listeners === undefined) {
        roots.set(path.root, (listeners = { whole: new Set(), byId: new Map() }));
      }
      const entry = listeners;
      checkRoot(path.root);
      if (!path.hasId) {
        entry.whole.add(listener);
        return track(() => entry.whole.delete(listener));
      }
      const set = addTo(entry.byId, path.idKey, listener);
      return track(() => {
        set.delete(listener);
        if (set.size === 0 && entry.byId.get(path.idKey) === set) entry.byId.delete(path.idKey);
      });
    },
    subscribeStatus(listener) {
      statusListeners.add(listener);
      return track(() => statusListeners.delete(listener));
    },
    subscribeCollector(listener) {
      collectorListeners.add(listener);
      return track(() => collectorListeners.delete(listener));
    },
    unsubscribeDelayMs,
    readInitialSubscription: (key) =>
      initialData !== undefined && Object.hasOwn(initialData, key) ? initialData[key] : undefined,
    warnOnce,
  };
}
