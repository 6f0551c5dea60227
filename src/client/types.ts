import type { ClientMessage, Doc, Id, ParticleError } from '../protocol/index.js';

/**
 * Where a collector stands.
 * - `waiting`: connecting or registering; no complete data yet.
 * - `ready`: the manifest and a payload (or a resume) for every root arrived.
 * - `reconnecting`: the link went down after a registration; data is kept, a retry is scheduled.
 * - `error`: registration was refused (`collector.error` says why); no retry.
 * - `closed`: `disconnect()` was called.
 */
export type CollectorStatus = 'waiting' | 'ready' | 'reconnecting' | 'error' | 'closed';

/** One live instance as a wildcard consumer (`collector.subscribeAll`) sees it. */
export type WildcardDoc = {
  /** The instance's `subscriptionKey(source, params)`. */
  _id: string;
  params: Record<string, unknown>;
  /** What the instance holds now. */
  docs: Doc[];
};

/** The collector's data: one frozen array of documents per root received so far. */
export type CollectorData = { readonly [root: string]: readonly Doc[] };

/**
 * What {@link Collector.onNotice} listeners are told, once per applied server message (after the
 * whole message is applied) and once per status change.
 * - `{ type: 'data', root, ids }`: documents of `root` changed; `ids` lists the ids the message
 *   touched (inserted, removed or updated), or is `null` when the whole root was replaced
 *   (a payload) or dropped (no longer in the manifest).
 * - `{ type: 'status', status }`: `collector.status` changed to `status`.
 * - `{ type: 'pending' }`: `collector.pending` (the unanswered mutations) changed.
 * - `{ type: 'lease', root, id }`: who holds the lease of that document changed
 *   (`collector.leaseOf(root, id)`); `root` is the source name or, for a subscription, its id.
 * - `{ type: 'publication' }`: the `error` of one of this collector's publications changed.
 */
export type CollectorNotice =
  | { type: 'status'; status: CollectorStatus }
  | { type: 'pending' }
  | { type: 'publication' }
  | { type: 'lease'; root: string; id: Id }
  | { type: 'data'; root: string; ids: readonly Id[] | null };

/**
 * One event per applied op, passed to `collector.on` listeners as their second argument.
 * `timestamp` is the delta's timestamp (for a payload: when it was applied, ISO 8601).
 * `path` is the op's path relative to the document (`''` for insert, remove and payload).
 * `data` is the inserted document, the value set, or for a payload the new array of the root.
 */
export type CollectorEvent =
  | {
      root: string;
      timestamp: string;
      operation: 'insert';
      id: Id;
      path: '';
      data: Doc;
    }
  | { root: string; timestamp: string; operation: 'remove'; id: Id; path: ''; data: undefined }
  | { root: string; timestamp: string; operation: 'set'; id: Id; path: string; data: unknown }
  | { root: string; timestamp: string; operation: 'unset'; id: Id; path: string; data: undefined }
  | {
      root: string;
      timestamp: string;
      operation: 'payload';
      id: null;
      path: '';
      data: readonly Doc[];
    };

/** A `collector.on` listener: `data` is the whole new `collector.data`. */
export type CollectorListener = (data: CollectorData, event: CollectorEvent) => void;

/** A listener for {@link Collector.onNotice}. */
export type NoticeListener = (notice: CollectorNotice) => void;

/**
 * Where a subscription stands.
 * - `waiting`: subscribed (or queued until the collector is registered); no data yet.
 * - `ready`: its documents arrived; they stay current, and are kept while the link is down.
 * - `error`: the server ended it (`subscription.error.code` says why); nothing more arrives.
 * - `closed`: `unsubscribe()` or `collector.disconnect()` was called. Data is kept.
 */
export type SubscriptionStatus = 'waiting' | 'ready' | 'error' | 'closed';

/**
 * What `subscription.onNotice` listeners are told, once per applied server message (after the
 * whole message is applied) and once per change of status or error.
 * - `{ type: 'data', ids }`: the documents (or `more`) changed; `ids` lists the ids touched, or
 *   is `null` when the whole window was replaced (a payload).
 * - `{ type: 'status', status }`: `status` or `error` changed.
 */
export type SubscriptionNotice =
  { type: 'data'; ids: readonly Id[] | null } | { type: 'status'; status: SubscriptionStatus };

/**
 * A `subscription.on` listener: `docs` is the subscription's whole new array. Event names and
 * `event.root` use the source name (`'messages'`, `'messages.text'`).
 */
export type SubscriptionListener<TDoc extends Doc = Doc> = (
  docs: readonly TDoc[],
  event: CollectorEvent,
) => void;

/** Options of `collector.subscribe(source, params, options)`. */
export interface SubscribeOptions {
  /**
   * The window size of a windowed source (one with `sort` and `limit`): the first `limit`
   * documents in sort order. The server clamps it to the source's `max`.
   * @default the source's default limit
   */
  limit?: number | undefined;
}

/** The few members of a WebSocket the collector uses (the browser's class and `ws` both fit). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: never) => void) | null;
  onmessage: ((event: never) => void) | null;
  onclose: ((event: never) => void) | null;
  onerror: ((event: never) => void) | null;
}

/** A WebSocket class: `globalThis.WebSocket` in browsers, `WebSocket` from `ws` in Node. */
export type WebSocketClass = new (url: string) => WebSocketLike;

/**
 * A transport without a socket (the server's `stream.register`, or a mock): it registers
 * `identity`, hands every server message whole to `receive(type, message)`, and calls
 * `done(error?)` once registration completed (no argument) or failed. It returns a function
 * that unregisters; its `send(message)` property, when present, carries the client's other
 * messages (`subscribe`, `unsubscribe`). Without it, subscriptions end with a `config` error.
 */
export type RegisterTransport = (
  identity: Record<string, unknown>,
  receive: (type: string, message: unknown) => void,
  done: (error?: unknown) => void,
) => ((() => void) & { send?(message: ClientMessage): void }) | void;

/** Reconnect backoff bounds: capped exponential with jitter. */
export interface ReconnectOptions {
  /**
   * Smallest wait before a retry, in milliseconds.
   * @default 250
   */
  minDelayMs: number;
  /**
   * Largest wait before a retry, in milliseconds.
   * @default 10000
   */
  maxDelayMs: number;
}

/** Options of `new Collector(...)`. Exactly one of `url` and `register` is required. */
export interface CollectorOptions {
  /**
   * The Stream's WebSocket endpoint: `ws://…`/`wss://…`, `http(s)://…` (mapped to ws/wss), or a
   * path such as `'/particle'` resolved against `globalThis.location`.
   */
  url?: string;
  /** Who this client claims to be; sent with `register`. */
  identity: Record<string, unknown>;
  /**
   * The WebSocket class to use where there is no global one (Node 20: `WebSocket` from `ws`).
   * @default globalThis.WebSocket
   */
  WebSocket?: WebSocketClass;
  /** A socketless transport instead of `url` (see {@link RegisterTransport}). */
  register?: RegisterTransport;
  /**
   * Receives diagnostics: refused frames, version gaps, reconnects, and errors thrown by
   * listeners (which otherwise go to `console.error`).
   */
  onDebug?: (message: string, detail?: unknown) => void;
  /**
   * Backoff between reconnect attempts.
   * @default { minDelayMs: 250, maxDelayMs: 10000 }
   */
  reconnect?: Partial<ReconnectOptions>;
  /**
   * Silence (no frame at all) after which the link counts as dead and is replaced; `0` turns
   * the check off. Keep it above the server's `heartbeatMs` (default 15 000).
   * @default 45000
   */
  heartbeatTimeoutMs?: number;
  /**
   * How long a socket may take to have its registration accepted (`registered`) before it is
   * replaced and retried with backoff; `collector.error` is then a `connection_failed` naming
   * the url (a wrong path is the usual cause). `0` turns the check off. Socket links only.
   * @default 10000
   */
  connectTimeoutMs?: number;
  /**
   * The deepest nesting a document may have (the document itself is depth 1, each nested object
   * or array adds one). A payload or delta that would hold a deeper document is an invalid
   * frame: the link is dropped and resumed, nothing is applied.
   * @default 100
   */
  maxDepth?: number;
  /**
   * The most `null`s a `set` may pad an array with to reach an index past its end. A delta
   * reaching further is an invalid frame: the link is dropped and resumed, nothing is applied.
   * @default 1000
   */
  maxArrayGap?: number;
  /**
   * How long `collector.mutate` waits for the server's answer before it rejects with
   * `mutation_timeout` (outcome unknown: the optimistic change is dropped, the mutation is not
   * sent again, and a later delta may still show its effect).
   * @default 30000
   */
  mutationTimeoutMs?: number;
  /**
   * A publication (`collector.publish`) sends at most one value per this many milliseconds:
   * updates in between are coalesced, and the latest one is sent.
   * @default 100
   */
  publishIntervalMs?: number;
}

/** Options of `collector.ready(...)`. */
export interface ReadyOptions {
  /**
   * Give up waiting after this many milliseconds: the promise rejects (or the callback gets) a
   * `ParticleError` with code `connection_failed`. The collector itself keeps retrying.
   * @default no limit
   */
  timeoutMs?: number;
}

/** What `collector.ready(callback)` calls: with no argument when ready, or with why it never will be. */
export type ReadyCallback = (error?: ParticleError) => void;
