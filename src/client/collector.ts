import { MutationError, type Doc, type Id, type ParticleError } from '../protocol/index.js';
import type { Draft } from 'immer';
import { CollectorCore } from './collectorCore.js';
import { opsOf } from './directWrites.js';
import type { Lease, LeaseState } from './leases.js';
import type { PendingMutation } from './mutations.js';
import { localView, type LocalStore, type LocalViewInfo } from './optimistic.js';
import { readyTimeout } from './options.js';
import type { Publication } from './publications.js';
import type { Subscription } from './subscription.js';
import { warnSubscribeListener } from './subscriptions.js';
import type {
  DataOf,
  DocOf,
  MutateRest,
  MutatorName,
  MutatorResult,
  SourceName,
  SubscribeRest,
} from './typed.js';
import type {
  CollectorListener,
  CollectorOptions,
  CollectorStatus,
  NoticeListener,
  ReadyCallback,
  ReadyOptions,
  SubscribeOptions,
  WildcardDoc,
} from './types.js';

/**
 * The client end of Particle: registers with a Stream under an identity, holds the data it is
 * sent (`collector.data`), keeps it current from deltas, and tells listeners what changed.
 * It connects when constructed and reconnects (resuming where it stopped) until
 * `disconnect()` or a refusal.
 *
 * Notification order, for every applied server message: the whole message is applied first;
 * then `onNotice` listeners get one `data` notice per root it changed, then `on` listeners get
 * one event per op, then (if the status changed) `onNotice` listeners get a `status` notice
 * and `ready` callbacks run. Subscriptions (`subscribe(source, params)`) notify on their handles.
 */
export class Collector<TStream = unknown> {
  readonly #core: CollectorCore;

  /**
   * @throws {ParticleError} with code `config` for an unknown option key (naming the closest
   * valid one).
   * @throws {TypeError} when the options break a rule: not exactly one of `url` and
   * `register`, a relative `url` without `globalThis.location`, no WebSocket class, ...
   */
  constructor(options: CollectorOptions) {
    this.#core = new CollectorCore(options);
  }

  /** `'waiting' | 'ready' | 'reconnecting' | 'error' | 'closed'` (see {@link CollectorStatus}). */
  get status(): CollectorStatus {
    return this.#core.status;
  }

  /**
   * Why the collector is in `error`, or the last problem while it retries (`connection_failed`
   * when no server answers); `code` is the wire code. Cleared when a server accepts the
   * registration.
   */
  get error(): ParticleError | null {
    return this.#core.error;
  }

  /**
   * `{ [root]: Doc[] }`: a frozen snapshot, replaced by a new object on every applied message.
   * Unchanged documents and subtrees stay the same objects. Roots not received yet are absent.
   * Eager roots only: a subscription's documents are on its handle.
   */
  get data(): DataOf<TStream> {
    return this.#core.layer.data as DataOf<TStream>;
  }

  /**
   * Calls mutator `name` on the server with `args` (JSON). Resolves with what `run` returned
   * once the server answered, by which time every change the mutation made that this client
   * may see is in `data`; rejects with a `MutationError` carrying the server's code
   * (`forbidden`, `bad_args`, the app's own), `mutation_timeout` or `disconnected`.
   * `optimistic` shows the expected effect at once (see {@link MutateOptions}). Mutations are
   * sent in order, and sent again after a reconnect; the server runs each id at most once.
   * @throws {TypeError} for an empty name, args that are not JSON, or a bad option.
   */
  mutate<K extends MutatorName<TStream>>(
    name: K,
    ...[args, options]: MutateRest<TStream, K>
  ): Promise<MutatorResult<TStream, K>> {
    return this.#core.mutations.mutate(name, args, options) as Promise<MutatorResult<TStream, K>>;
  }

  /**
   * Writes document `id` of writable source `root` directly: `recipe` changes a draft of it,
   * and its changes go to the server as one `$write` (shown at once, optimistically; refused
   * whole with `forbidden` or `locked`). `params` names a subscribed source's view.
   */
  // eslint-disable-next-line @typescript-eslint/max-params -- public API (DESIGN.md: collector.update)
  update<TDoc extends Doc = Doc>(
    root: string,
    id: Id,
    recipe: (draft: Draft<TDoc>) => void,
    params?: unknown,
  ): Promise<void> {
    const view = this.#view(root, params);
    const idField = view?.idField ?? '_id';
    const doc = view?.docs?.find((d) => d[idField] === id);
    if (doc === undefined) {
      return Promise.reject(
        new MutationError(
          'forbidden',
          `no document ${String(id)} in this client's view of ${root}`,
        ),
      );
    }
    const { ops } = opsOf(doc, recipe as (draft: Draft<Doc>) => void);
    if (ops.length === 0) return Promise.resolve();
    return this.#write({ root, id, ops }, params, (local) =>
      local.update(root, params, (docs) => {
        const draft = docs.find((d) => d[idField] === id);
        if (draft) recipe(draft as Draft<TDoc>);
      }),
    ).then(() => undefined);
  }

  /** Inserts `doc` into writable source `root` (one that takes inserts); resolves with its id. */
  insert(root: string, doc: Doc, params?: unknown): Promise<Id> {
    return this.#write({ root, insert: doc }, params, (local) =>
      local.insert(root, params, doc),
    ).then((result) => (result as { id: Id }).id);
  }

  /** Removes document `id` from writable source `root` (one that takes removes). */
  remove(root: string, id: Id, params?: unknown): Promise<void> {
    return this.#write({ root, remove: id }, params, (local) =>
      local.remove(root, params, id),
    ).then(() => undefined);
  }

  /**
   * Waits for the lease of document `id` of writable source `root` (served in arrival order):
   * while this client holds it, every other writer of that document is refused with `locked`.
   * The lease lives while this client is connected, and `lockTtlMs` after it went away.
   */
  lock(root: string, id: Id, params?: unknown): Promise<Lease> {
    return this.#core.leases.ask({ root, id, params }, true);
  }

  /** Like {@link lock}, but rejects at once with `locked` (and `owner`) when someone holds it. */
  request(root: string, id: Id, params?: unknown): Promise<Lease> {
    return this.#core.leases.ask({ root, id, params }, false);
  }

  /** Who holds the lease of document `id` of `root`, as far as this client was told. */
  leaseOf(root: string, id: Id, params?: unknown): LeaseState {
    return this.#core.leases.state(this.#view(root, params)?.wireRoot ?? root, root, id);
  }

  /**
   * Publishes `value` into the published source `source` (an instance per `params`): the server
   * stores what its `accept` makes of it as one document that every subscriber sees, until
   * `stop()` or until this client is gone. After a reconnect it is sent again.
   * @throws {TypeError} for an empty source, or params or a value that are not JSON objects.
   */
  publish<TValue extends Record<string, unknown> = Record<string, unknown>>(
    source: string,
    params: unknown,
    value: TValue,
  ): Publication<TValue> {
    return this.#core.publications.publish(source, params, value);
  }

  /** The mutations sent and not answered yet, oldest first (a frozen array). */
  get pending(): readonly PendingMutation[] {
    return this.#core.mutations.list;
  }

  /**
   * The field that names the documents of `root` (the manifest's `idField`, default `_id`), or
   * `undefined` before the manifest listed that root.
   */
  idField(root: string): string | undefined {
    return this.#core.model.idField(root);
  }

  /**
   * A counter raised with every notice sent to {@link Collector.onNotice} listeners. Read it
   * before subscribing and compare after to learn whether something was missed in between.
   */
  get revision(): number {
    return this.#core.revision;
  }

  /**
   * Calls `listener(data, event)` for each applied op whose name matches `pattern`. A name is
   * the root followed by the op's path segments (`users.address.state`); an insert, a remove
   * or a payload is just the root (`users`). In patterns `*` matches exactly one segment and
   * `**` zero or more, so `'**'` sees everything and `'users.**'` everything under `users`.
   * @returns a function that removes this listener.
   */
  on(pattern: string, listener: CollectorListener): () => void {
    return this.#core.listeners.on(pattern, listener);
  }

  /** Removes a listener added with `on(pattern, listener)`. */
  off(pattern: string, listener: CollectorListener): void {
    this.#core.listeners.off(pattern, listener);
  }

  /**
   * Calls `listener` once per applied server message (after the whole message is applied) with
   * a `data` notice per changed root, and on every status change with a `status` notice.
   * It is the primitive bindings such as `particle-sync/react` build on.
   * @returns a function that removes the listener.
   */
  onNotice(listener: NoticeListener): () => void {
    return this.#core.onNotice(listener);
  }

  /**
   * Subscribes on demand to `source` with `params` (checked by the server), optionally a window
   * of `limit` documents. Handles with the same source, canonical params and limit share one
   * wire subscription, ended when the last handle calls `unsubscribe()`. Before the collector
   * is registered the subscribe is queued; after a reconnect it is resumed or sent again.
   * @throws {TypeError} for an empty source, params that are not JSON, or a bad limit.
   */
  subscribe<K extends SourceName<TStream>>(
    source: K,
    ...rest: SubscribeRest<TStream, K>
  ): Subscription<DocOf<TStream, K>>;
  /** Untyped: `TDoc` says what the documents are (not checked at run time). */
  subscribe<TDoc extends Doc = Doc>(
    source: unknown extends TStream ? string : never,
    params?: unknown,
    options?: SubscribeOptions,
  ): Subscription<TDoc>;
  /** @deprecated Use {@link Collector.onNotice}; a function argument still works for now. */
  subscribe(listener: NoticeListener): () => void;
  subscribe(
    source: string | NoticeListener,
    params?: unknown,
    options?: SubscribeOptions,
  ): Subscription | (() => void) {
    if (typeof source !== 'function') {
      return this.#core.subscriptions.subscribe(source, params, options);
    }
    warnSubscribeListener();
    return this.onNotice(source);
  }

  /**
   * Follows every live instance of a produced source marked `wildcard: true`: one document per
   * instance (`{ _id: subscriptionKey, params, docs }`), those `authorize` lets this identity
   * see, appearing and disappearing as instances are made and destroyed on the server.
   */
  subscribeAll(source: string): Subscription<WildcardDoc> {
    return this.#core.subscriptions.subscribeAll(source) as Subscription<WildcardDoc>;
  }

  /**
   * `ready(callback)` calls `callback()` once the collector is ready (at once if it already
   * is), or `callback(error)` if it never will be (refused, or disconnected first).
   * `await ready()` resolves, or rejects with that `ParticleError`.
   * With `{ timeoutMs }` it also gives up after that long with a `connection_failed` error
   * (a refusal still rejects at once); the collector itself keeps retrying.
   */
  ready(options?: ReadyOptions): Promise<void>;
  ready(callback: ReadyCallback, options?: ReadyOptions): void;
  ready(first?: ReadyCallback | ReadyOptions, second?: ReadyOptions): Promise<void> | void {
    if (typeof first !== 'function') {
      const options = first;
      readyTimeout(options);
      return new Promise((resolve, reject) =>
        this.ready((error) => (error ? reject(error) : resolve()), options),
      );
    }
    this.#core.ready(first, readyTimeout(second));
  }

  /** Closes the link for good: no reconnect, timers stopped, status `closed`. Data is kept. */
  disconnect(): void {
    this.#core.disconnect();
  }

  // ---- direct writes ---------------------------------------------------------------------

  #write(
    args: Record<string, unknown>,
    params: unknown,
    optimistic: (local: LocalStore) => void,
  ): Promise<unknown> {
    const withParams = params === undefined ? args : { ...args, params };
    return this.#core.mutations.mutate('$write', withParams, { optimistic });
  }

  /** The local view of `root` with `params`: an eager root, or the subscription with them. */
  #view(root: string, params: unknown): LocalViewInfo | undefined {
    const core = this.#core;
    const views = { eager: core.model, shown: core.layer.data, subs: core.subscriptions.views() };
    return localView(views, root, params);
  }
}
