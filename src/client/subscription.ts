import { ParticleError, type Doc } from '../protocol/index.js';
import { describeValue } from '../protocol/config.js';
import { Listeners } from './listeners.js';
import type {
  CollectorEvent,
  SubscriptionListener,
  SubscriptionNotice,
  SubscriptionStatus,
} from './types.js';

/** What a handle reads from the wire subscription it shares with other handles. */
export interface SharedState {
  readonly status: 'waiting' | 'ready' | 'error';
  readonly docs: readonly Doc[] | undefined;
  readonly more: boolean | undefined;
  readonly error: ParticleError | undefined;
  readonly idField: string;
}

/** What a handle asks of the registry that made it. */
export interface SubscriptionOwner {
  release(handle: Subscription): void;
  setLimit(handle: Subscription, limit: number): void;
  report(message: string, error: unknown): void;
}

/** What a subscription asks for: a source, its params and the window's limit. */
export interface SubscriptionRequest {
  readonly source: string;
  /** A JSON copy of the params given, or `undefined`. */
  readonly params: unknown;
  readonly limit: number | undefined;
}

type View = {
  docs: readonly Doc[] | undefined;
  more: boolean | undefined;
  error: ParticleError | undefined;
};

type Waiter = { resolve(docs: readonly Doc[]): void; reject(error: ParticleError): void };

/** Checks a `limit` argument: a whole number of at least 1, or `undefined`. */
export function checkLimit(caller: string, limit: unknown): number | undefined {
  if (limit === undefined) return undefined;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1) {
    throw new TypeError(`${caller}: limit must be an integer >= 1, got ${describeValue(limit)}`);
  }
  return limit;
}

/**
 * One caller's hold on a live query: `collector.subscribe(source, params, { limit })`. Handles
 * with the same source, params (compared as canonical JSON) and limit share one subscription
 * on the wire; it ends when the last of them calls `unsubscribe()`.
 *
 * Notification order, for every applied server message: the whole message is applied first;
 * then `onNotice` listeners get one `data` notice, then `on` listeners get one event per op,
 * then (if the status or error changed) `onNotice` listeners get a `status` notice and
 * `ready()` settles.
 *
 * @typeParam TDoc - The documents' type (not checked at run time).
 */
export class Subscription<TDoc extends Doc = Doc> {
  /** The data source's name. */
  readonly source: string;
  /** The params as sent (a JSON copy of what was given), or `undefined`. */
  readonly params: unknown;
  readonly #owner: SubscriptionOwner;
  #shared: SharedState;
  #limit: number | undefined;
  /** What the handle showed before `setLimit` moved it, until the new window arrives. */
  #stale: View | null = null;
  /** Set by `unsubscribe()`: what the handle keeps showing from then on. */
  #final: View | null = null;
  #listeners: Listeners<readonly Doc[]> | null = null;
  readonly #noticeListeners = new Set<(notice: SubscriptionNotice) => void>();
  #waiters: Waiter[] = [];
  #seenStatus: SubscriptionStatus;
  #seenError: ParticleError | undefined;

  /** @internal Made by `collector.subscribe`. */
  constructor(owner: SubscriptionOwner, shared: SharedState, request: SubscriptionRequest) {
    this.#owner = owner;
    this.#shared = shared;
    this.source = request.source;
    this.params = request.params;
    this.#limit = request.limit;
    this.#seenStatus = this.status;
    this.#seenError = this.error;
  }

  /** `'waiting' | 'ready' | 'error' | 'closed'` (see {@link SubscriptionStatus}). */
  get status(): SubscriptionStatus {
    if (this.#final !== null) return 'closed';
    const { status } = this.#shared;
    return status === 'waiting' && this.#stale !== null ? 'ready' : status;
  }

  /**
   * The documents, frozen, in the source's sort order (ties by id), or `undefined` before the
   * first payload. Replaced by a new array on every change; unchanged documents stay the same
   * objects.
   */
  get data(): readonly TDoc[] | undefined {
    return this.#view().docs as readonly TDoc[] | undefined;
  }

  /**
   * For a windowed source: whether matching documents exist beyond the window (raise the limit
   * to see them); `undefined` when the server has not said.
   */
  get more(): boolean | undefined {
    return this.#view().more;
  }

  /**
   * Why the server ended the subscription (`code`: `unknown_source`, `bad_params`, `forbidden`,
   * `too_many_subscriptions`, `produce_failed`, `bad_message`), or the collector's own error
   * when it was refused. With `produce_failed` the subscription may stay live (the server
   * retries): the error is then set while `status` stays as it was.
   */
  get error(): ParticleError | undefined {
    return this.#view().error;
  }

  /** The field that names the documents (the source's `idField`, `_id` until the server says). */
  get idField(): string {
    return this.#shared.idField;
  }

  /** The window size asked for (`undefined`: the source's default). */
  get limit(): number | undefined {
    return this.#limit;
  }

  /**
   * Resolves with the documents once they arrived (at once if they have); rejects with the
   * `ParticleError` when the subscription ends in `error`, or with `disconnected` when it is
   * closed before any data arrived.
   */
  ready(): Promise<readonly TDoc[]> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { resolve: resolve as (docs: readonly Doc[]) => void, reject };
      if (!this.#settle(waiter)) this.#waiters.push(waiter);
    });
  }

  /**
   * Calls `listener(docs, event)` for each applied op whose name matches `pattern`, as
   * `collector.on` does; names start with the source (`'messages'`, `'messages.text'`).
   * @returns a function that removes this listener.
   */
  on(pattern: string, listener: SubscriptionListener<TDoc>): () => void {
    this.#listeners ??= new Listeners<readonly Doc[]>(
      (error, pattern) =>
        this.#owner.report(`a listener on ${JSON.stringify(pattern)} threw`, error),
      'subscription.on',
    );
    return this.#listeners.on(pattern, listener as SubscriptionListener);
  }

  /**
   * Calls `listener` once per applied server message that changed this subscription, and on
   * every change of `status` or `error` (see {@link SubscriptionNotice}). Bindings such as
   * `particle-sync/react` build on it.
   * @returns a function that removes the listener.
   */
  onNotice(listener: (notice: SubscriptionNotice) => void): () => void {
    if (typeof listener !== 'function') {
      throw new TypeError('subscription.onNotice: listener must be a function (notice) => void');
    }
    this.#noticeListeners.add(listener);
    return () => {
      this.#noticeListeners.delete(listener);
    };
  }

  /**
   * Changes the window size. Alone on its wire subscription, the handle changes that
   * subscription's limit (the server sends the documents that slide in or out); shared, it
   * moves to a subscription with the new limit and shows its previous documents until that
   * one's arrive. Does nothing once closed.
   * @throws {TypeError} unless `limit` is an integer >= 1.
   */
  setLimit(limit: number): void {
    const checked = checkLimit('subscription.setLimit', limit) as number;
    if (this.#final !== null || checked === this.#limit) return;
    this.#owner.setLimit(this, checked);
  }

  /**
   * Releases this handle: status `closed`, no more notices, data kept. The wire subscription
   * ends once no handle holds it. Calling it again does nothing.
   */
  unsubscribe(): void {
    if (this.#final !== null) return;
    this.#owner.release(this);
    this.close();
  }

  // ---- driven by the registry ---------------------------------------------------------------

  /** @internal The state this handle reads now. */
  get shared(): SharedState {
    return this.#shared;
  }

  /** @internal Moves the handle to another wire subscription (a new limit). */
  moveTo(shared: SharedState, limit: number | undefined): void {
    const view = this.#view();
    if (view.docs !== undefined) this.#stale = view;
    this.#shared = shared;
    this.#limit = limit;
    if (shared.docs !== undefined) this.#stale = null;
  }

  /** @internal Changes the limit in place (the wire subscription keeps its id). */
  relimit(limit: number): void {
    this.#limit = limit;
  }

  /** @internal Tells listeners what one applied message changed, then any status change. */
  deliver(
    notice: SubscriptionNotice | null,
    events: readonly { name: readonly string[]; event: CollectorEvent }[],
  ): void {
    if (this.#final !== null) return;
    if (this.#shared.docs !== undefined) this.#stale = null;
    if (notice !== null) this.#notify(notice);
    const listeners = this.#listeners;
    if (listeners !== null) {
      for (const { name, event } of events) listeners.emit(name, this.data ?? [], event);
    }
    this.#statusChanged();
  }

  /** @internal Ends the handle without releasing anything (the collector is gone). */
  close(): void {
    if (this.#final !== null) return;
    this.#final = this.#view();
    this.#statusChanged();
    this.#noticeListeners.clear();
    this.#listeners = null;
  }

  /** A copy of what the handle shows now. */
  #view(): View {
    if (this.#final !== null) return this.#final;
    const { docs, more, error } = this.#shared;
    const stale = this.#stale;
    if (docs === undefined && stale !== null) return { docs: stale.docs, more: stale.more, error };
    return { docs, more, error };
  }

  #statusChanged(): void {
    const status = this.status;
    const error = this.error;
    if (status === this.#seenStatus && error === this.#seenError) return;
    this.#seenStatus = status;
    this.#seenError = error;
    this.#notify({ type: 'status', status });
    this.#waiters = this.#waiters.filter((waiter) => !this.#settle(waiter));
  }

  /** Settles `waiter` if the handle's state allows; returns whether it did. */
  #settle(waiter: Waiter): boolean {
    const { status, data } = this;
    if ((status === 'ready' || status === 'closed') && data !== undefined) waiter.resolve(data);
    else if (status === 'error') {
      waiter.reject(this.error ?? new ParticleError('internal', 'The subscription failed'));
    } else if (status === 'closed') {
      waiter.reject(
        new ParticleError(
          'disconnected',
          `The subscription to ${this.source} was closed before its data arrived`,
        ),
      );
    } else return false;
    return true;
  }

  #notify(notice: SubscriptionNotice): void {
    for (const listener of [...this.#noticeListeners]) {
      try {
        listener(notice);
      } catch (error) {
        this.#owner.report('a subscription notice listener threw', error);
      }
    }
  }
}
