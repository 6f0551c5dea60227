import {
  PROTOCOL_VERSION,
  ParticleError,
  MutationError,
  type Doc,
  type Id,
  type RegisterMessage,
  type ServerMessage,
} from '../protocol/index.js';
import { RATE_LIMITED_DELAY_MS, type LinkDown } from './connection.js';
import {
  errorFromClose,
  errorFromDone,
  errorFromLinkDown,
  errorFromMessage,
  isRefusal,
  isTerminalClose,
} from './errors.js';
import { Listeners } from './listeners.js';
import { Model, type Outcome } from './model.js';
import { PendingMutations, type PendingMutation } from './mutations.js';
import type {
  DataOf,
  DocOf,
  MutateRest,
  MutatorName,
  MutatorResult,
  SourceName,
  SubscribeRest,
} from './typed.js';
import { OptimisticLayer } from './optimisticLayer.js';
import { localView, type LocalStore, type LocalViewInfo } from './optimistic.js';
import { opsOf } from './directWrites.js';
import { LeaseBook, type Lease, type LeaseState } from './leases.js';
import { Publications, type Publication } from './publications.js';
import type { Draft } from 'immer';
import { readyTimeout, resolveOptions, type ResolvedOptions } from './options.js';
import { createLink, type Link } from './link.js';
import type { Subscription } from './subscription.js';
import { SubscriptionRegistry, warnSubscribeListener } from './subscriptions.js';
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
  readonly #options: ResolvedOptions;
  readonly #link: Link;
  readonly #listeners: Listeners;
  readonly #subscribers = new Set<NoticeListener>();
  #readyCallbacks: ReadyCallback[] = [];
  #status: CollectorStatus = 'waiting';
  #error: ParticleError | null = null;
  readonly #model: Model;
  #revision = 0;
  #session: string | null = null;
  /** The session the register under way asked to resume, if any. */
  #resuming: string | null = null;
  readonly #subscriptions: SubscriptionRegistry;
  /** An `error` message on the current link, awaiting the close that follows it. */
  #linkError: ParticleError | null = null;
  readonly #mutations: PendingMutations;
  readonly #leases: LeaseBook;
  readonly #publications: Publications;
  /** What `data` shows: the model's data, with optimistic documents where recipes changed it. */
  readonly #layer: OptimisticLayer;

  /**
   * @throws {ParticleError} with code `config` for an unknown option key (naming the closest
   * valid one).
   * @throws {TypeError} when the options break a rule: not exactly one of `url` and
   * `register`, a relative `url` without `globalThis.location`, no WebSocket class, ...
   */
  constructor(options: CollectorOptions) {
    this.#options = resolveOptions(options);
    this.#model = new Model(this.#options.limits, this.#options.onDebug);
    this.#listeners = new Listeners((error, pattern) =>
      this.#report(`a listener on ${JSON.stringify(pattern)} threw`, error),
    );
    const debug = this.#options.onDebug;
    this.#subscriptions = new SubscriptionRegistry({
      send: (msg) => this.#link.send(msg),
      isEagerRoot: (name) => this.#model.idField(name) !== undefined,
      limits: this.#options.limits,
      debug,
      report: (text, error) => this.#report(text, error),
    });
    this.#leases = new LeaseBook({
      send: (msg) => {
        this.#link.send(msg);
      },
      changed: (root, id) => this.#notify({ type: 'lease', root, id }),
    });
    this.#publications = new Publications({
      send: (msg) => {
        this.#link.send(msg);
      },
      intervalMs: this.#options.publishIntervalMs,
      changed: () => this.#notify({ type: 'publication' }),
    });
    this.#layer = new OptimisticLayer({
      model: this.#model,
      subscriptions: () => this.#subscriptions.views(),
      recipes: () => this.#mutations.recipes(),
      report: (text, error) => this.#report(text, error),
    });
    const noSend =
      "this Collector's `register` transport has no way to send mutations (its unregister function has no `send(message)`)";
    this.#mutations = new PendingMutations({
      send: (msg) => {
        if (!this.#link.send(msg)) this.#mutations.end(noSend, 'config');
      },
      changed: () => this.#refresh(),
      timeoutMs: this.#options.mutationTimeoutMs,
    });
    const invalid = (reason: string, detail: unknown): void => {
      debug(reason, detail);
      if (this.#status !== 'closed' && this.#status !== 'error') this.#restart(reason);
    };
    const message = (msg: ServerMessage): void => {
      try {
        this.#receive(msg);
      } catch (error) {
        // Whatever a frame holds, it must not take the process down: treat it as invalid.
        const why = error instanceof Error ? error.message : String(error);
        invalid(`handling a ${msg.type} message failed: ${why}`, error);
      }
    };
    this.#link = createLink(this.#options, {
      registerMessage: () => this.#registerMessage(),
      message,
      invalid,
      down: (info) => this.#linkDown(info),
      refused: (error) => this.#fail(errorFromDone(error)),
      unsendable: (messages) => {
        this.#subscriptions.unsendable(messages);
        if (messages.some((m) => m.type === 'mutate')) {
          this.#mutations.end(noSend, 'config');
        }
      },
      debug,
    });
    this.#link.start();
  }

  /** `'waiting' | 'ready' | 'reconnecting' | 'error' | 'closed'` (see {@link CollectorStatus}). */
  get status(): CollectorStatus {
    return this.#status;
  }

  /**
   * Why the collector is in `error`, or the last problem while it retries (`connection_failed`
   * when no server answers); `code` is the wire code. Cleared when a server accepts the
   * registration.
   */
  get error(): ParticleError | null {
    return this.#error;
  }

  /**
   * `{ [root]: Doc[] }`: a frozen snapshot, replaced by a new object on every applied message.
   * Unchanged documents and subtrees stay the same objects. Roots not received yet are absent.
   * Eager roots only: a subscription's documents are on its handle.
   */
  get data(): DataOf<TStream> {
    return this.#layer.data as DataOf<TStream>;
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
    return this.#mutations.mutate(name, args, options) as Promise<MutatorResult<TStream, K>>;
  }

  /**
   * Writes document `id` of writable source `root` directly: `recipe` changes a draft of it,
   * and its changes go to the server as one `$write` (shown at once, optimistically; refused
   * whole with `forbidden` or `locked`). `params` names a subscribed source's view.
   */
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
    return this.#leases.ask(root, id, params, true);
  }

  /** Like {@link lock}, but rejects at once with `locked` (and `owner`) when someone holds it. */
  request(root: string, id: Id, params?: unknown): Promise<Lease> {
    return this.#leases.ask(root, id, params, false);
  }

  /** Who holds the lease of document `id` of `root`, as far as this client was told. */
  leaseOf(root: string, id: Id, params?: unknown): LeaseState {
    return this.#leases.state(this.#view(root, params)?.wireRoot ?? root, root, id);
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
    return this.#publications.publish(source, params, value) as Publication<TValue>;
  }

  /** The mutations sent and not answered yet, oldest first (a frozen array). */
  get pending(): readonly PendingMutation[] {
    return this.#mutations.list;
  }

  /**
   * The field that names the documents of `root` (the manifest's `idField`, default `_id`), or
   * `undefined` before the manifest listed that root.
   */
  idField(root: string): string | undefined {
    return this.#model.idField(root);
  }

  /**
   * A counter raised with every notice sent to {@link Collector.onNotice} listeners. Read it
   * before subscribing and compare after to learn whether something was missed in between.
   */
  get revision(): number {
    return this.#revision;
  }

  /**
   * Calls `listener(data, event)` for each applied op whose name matches `pattern`. A name is
   * the root followed by the op's path segments (`users.address.state`); an insert, a remove
   * or a payload is just the root (`users`). In patterns `*` matches exactly one segment and
   * `**` zero or more, so `'**'` sees everything and `'users.**'` everything under `users`.
   * @returns a function that removes this listener.
   */
  on(pattern: string, listener: CollectorListener): () => void {
    return this.#listeners.on(pattern, listener);
  }

  /** Removes a listener added with `on(pattern, listener)`. */
  off(pattern: string, listener: CollectorListener): void {
    this.#listeners.off(pattern, listener);
  }

  /**
   * Calls `listener` once per applied server message (after the whole message is applied) with
   * a `data` notice per changed root, and on every status change with a `status` notice.
   * It is the primitive bindings such as `particle-sync/react` build on.
   * @returns a function that removes the listener.
   */
  onNotice(listener: NoticeListener): () => void {
    this.#subscribers.add(listener);
    return () => {
      this.#subscribers.delete(listener);
    };
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
      return this.#subscriptions.subscribe(source, params, options);
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
    return this.#subscriptions.subscribeAll(source) as Subscription<WildcardDoc>;
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
    const callback = first;
    const timeoutMs = readyTimeout(second);
    const settled = this.#settled();
    if (settled !== undefined) {
      callback(settled ?? undefined);
      return;
    }
    if (timeoutMs === undefined) {
      this.#readyCallbacks.push(callback);
      return;
    }
    const timer = setTimeout(() => {
      this.#readyCallbacks = this.#readyCallbacks.filter((waiting) => waiting !== settle);
      const last = this.#error === null ? '' : `; last problem: ${this.#error.message}`;
      const where =
        this.#options.transport.kind === 'socket' ? ` from ${this.#options.transport.url}` : '';
      const error = new ParticleError(
        'connection_failed',
        `Not ready within ${timeoutMs} ms: no complete answer${where}${last} (still retrying)`,
      );
      try {
        callback(error);
      } catch (thrown) {
        this.#report('a ready callback threw', thrown);
      }
    }, timeoutMs);
    const settle: ReadyCallback = (error) => {
      clearTimeout(timer);
      callback(error);
    };
    this.#readyCallbacks.push(settle);
  }

  /** Closes the link for good: no reconnect, timers stopped, status `closed`. Data is kept. */
  disconnect(): void {
    if (this.#status === 'closed') return;
    this.#link.stop();
    this.#subscriptions.end(null);
    this.#mutations.end('collector.disconnect() was called before the server answered');
    this.#leases.end('collector.disconnect() was called');
    this.#publications.end(new MutationError('disconnected', 'collector.disconnect() was called'));
    this.#refresh();
    this.#setStatus('closed');
  }

  // ---- messages --------------------------------------------------------------------------

  #receive(message: ServerMessage): void {
    if (this.#status === 'closed' || this.#status === 'error') return;
    const outcome: Outcome = { notices: [], events: [], quiet: this.#listeners.size === 0 };
    let settled = false;
    this.#subscriptions.hold();
    try {
      // A batch (a mutation's deltas and its answer) is applied whole before anyone is told, so
      // the optimistic document and the real one are never shown side by side.
      const messages = message.type === 'batch' ? message.messages : [message];
      for (const one of messages) {
        const step = this.#apply(one, outcome);
        if (step === 'stop') return;
        settled ||= step === 'settled';
      }
      this.#layer.update(outcome);
      const becameReady = this.#model.complete && this.#status !== 'ready';
      this.#publish(outcome);
      if (settled) this.#notify({ type: 'pending' });
      if (becameReady) this.#setStatus('ready');
    } finally {
      this.#subscriptions.flush();
    }
  }

  /** Applies one message to the model; `stop` when nothing more may be applied or told. */
  #apply(
    message: Exclude<ServerMessage, { type: 'batch' }>,
    outcome: Outcome,
  ): 'applied' | 'settled' | 'stop' {
    switch (message.type) {
      case 'mutated':
        return this.#mutations.answer(message) ? 'settled' : 'applied';
      case 'locked':
      case 'lock_error':
      case 'lease':
        this.#leases.receive(message);
        break;
      case 'publish_error':
        this.#publications.receive(message);
        break;
      case 'registered':
        this.#session = message.session;
        this.#error = null;
        this.#link.registered();
        this.#subscriptions.registered(this.#resuming !== message.session);
        this.#mutations.registered(message.limits);
        this.#leases.registered(this.#resuming !== message.session);
        this.#publications.registered();
        break;
      case 'error':
        this.#serverError(errorFromMessage(message.code, message.message));
        return 'stop';
      case 'manifest':
        this.#model.manifest(message, outcome);
        break;
      case 'subscribed':
      case 'unsubscribed':
      case 'subscription_error':
        this.#subscriptions.receive(message);
        break;
      case 'payload':
      case 'resumed':
      case 'delta': {
        if (message.type !== 'delta') this.#leases.reset(message.root);
        const refused = this.#subscriptions.owns(message.root)
          ? this.#subscriptions.apply(message)
          : message.type === 'payload'
            ? this.#model.payload(message, outcome)
            : message.type === 'resumed'
              ? this.#model.resumed(message)
              : this.#model.delta(message, outcome);
        if (refused !== null) {
          this.#restart(refused);
          return 'stop';
        }
        break;
      }
      case 'heartbeat':
        break;
    }
    return 'applied';
  }

  // ---- the optimistic layer --------------------------------------------------------------

  /** Shows a change of the pending list made outside a server message. */
  #refresh(): void {
    const outcome: Outcome = { notices: [], events: [] };
    this.#subscriptions.hold();
    try {
      this.#layer.update(outcome);
      for (const notice of outcome.notices) this.#notify(notice);
      this.#notify({ type: 'pending' });
    } finally {
      this.#subscriptions.flush();
    }
  }

  // ---- direct writes ---------------------------------------------------------------------

  #write(
    args: Record<string, unknown>,
    params: unknown,
    optimistic: (local: LocalStore) => void,
  ): Promise<unknown> {
    const withParams = params === undefined ? args : { ...args, params };
    return this.#mutations.mutate('$write', withParams, { optimistic });
  }

  /** The local view of `root` with `params`: an eager root, or the subscription with them. */
  #view(root: string, params: unknown): LocalViewInfo | undefined {
    return localView(this.#model, this.#layer.data, this.#subscriptions.views(), root, params);
  }

  // ---- link state ------------------------------------------------------------------------

  #registerMessage(): RegisterMessage {
    const message: RegisterMessage = {
      type: 'register',
      protocol: PROTOCOL_VERSION,
      identity: this.#options.identity,
    };
    this.#resuming = this.#session;
    if (this.#session !== null) {
      const roots = { ...this.#model.positions(), ...this.#subscriptions.positions() };
      message.resume = { session: this.#session, roots };
    }
    return message;
  }

  #serverError(error: ParticleError): void {
    this.#error = error;
    this.#options.onDebug(error.message);
    if (this.#options.transport.kind === 'register') {
      if (isRefusal(error)) this.#fail(error);
      // A rate-limited registration waits as a 4430 close does on a socket.
      else this.#restart(error.message, error.code === 'rate_limited' ? RATE_LIMITED_DELAY_MS : 0);
      return;
    }
    // Over a socket the close code that follows decides whether to come back (4408 does).
    this.#linkError = error;
  }

  #linkDown(info: LinkDown): boolean {
    const linkError = this.#linkError;
    this.#linkError = null;
    if (this.#status === 'closed' || this.#status === 'error') return false;
    if (info.cause === 'closed' && isTerminalClose(info.code, linkError)) {
      this.#fail(linkError ?? errorFromClose(info.code, info.reason));
      return false;
    }
    const url = this.#options.transport.kind === 'socket' ? this.#options.transport.url : '';
    const error = errorFromLinkDown(info, url, this.#options.connectTimeoutMs);
    if (error !== null) this.#error = error;
    else if (linkError !== null) this.#error = linkError;
    this.#options.onDebug(`link down (${info.code}${info.reason ? `: ${info.reason}` : ''})`);
    this.#lost();
    return true;
  }

  #restart(reason: string, minDelayMs = 0): void {
    this.#link.restart(reason, minDelayMs);
    this.#lost();
  }

  /** The link is gone but will come back: keep the data, forget this registration's progress. */
  #lost(): void {
    this.#model.restart();
    this.#subscriptions.lost();
    this.#mutations.lost();
    this.#leases.lost();
    this.#publications.lost();
    this.#linkError = null;
    this.#setStatus(this.#session === null ? 'waiting' : 'reconnecting');
  }

  #fail(error: ParticleError): void {
    if (this.#status === 'closed' || this.#status === 'error') return;
    this.#error = error;
    this.#link.stop();
    this.#subscriptions.end(error);
    this.#mutations.end(`the collector stopped: ${error.message}`);
    this.#leases.end(`the collector stopped: ${error.message}`);
    this.#publications.end(
      new MutationError('disconnected', `the collector stopped: ${error.message}`),
    );
    this.#refresh();
    this.#setStatus('error');
  }

  // ---- notifications ---------------------------------------------------------------------

  #settled(): ParticleError | null | undefined {
    switch (this.#status) {
      case 'ready':
        return null;
      case 'error':
        return this.#error ?? new ParticleError('internal', 'Registration failed');
      case 'closed':
        return new ParticleError('disconnected', 'collector.disconnect() was called before ready');
      default:
        return undefined;
    }
  }

  #setStatus(status: CollectorStatus): void {
    if (this.#status === status) return;
    this.#status = status;
    this.#notify({ type: 'status', status });
    const settled = this.#settled();
    if (settled === undefined) return;
    const callbacks = this.#readyCallbacks;
    this.#readyCallbacks = [];
    for (const callback of callbacks) {
      try {
        callback(settled ?? undefined);
      } catch (error) {
        this.#report('a ready callback threw', error);
      }
    }
  }

  #publish(outcome: Outcome): void {
    for (const notice of outcome.notices) this.#notify(notice);
    for (const { name, event } of outcome.events)
      this.#listeners.emit(name, this.#layer.data, event);
  }

  #notify(notice: Parameters<NoticeListener>[0]): void {
    this.#revision++;
    for (const subscriber of [...this.#subscribers]) {
      try {
        subscriber(notice);
      } catch (error) {
        this.#report('a notice listener threw', error);
      }
    }
  }

  // A throwing listener must not stop the others or the collector; it must not vanish either.
  #report(message: string, error: unknown): void {
    if (this.#options.debugGiven) this.#options.onDebug(message, error);
    else console.error(`particle: ${message}`, error);
  }
}
