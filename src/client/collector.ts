import {
  PROTOCOL_VERSION,
  ParticleError,
  type DeltaMessage,
  type Doc,
  type ManifestMessage,
  type PayloadMessage,
  type RegisterMessage,
  type ResumedMessage,
  type RootPosition,
  type ServerMessage,
} from '../protocol/index.js';
import { RootDocs, type RootLayout } from './apply.js';
import { Connection, type LinkDown } from './connection.js';
import {
  errorFromClose,
  errorFromDone,
  errorFromMessage,
  isRefusal,
  isTerminalClose,
} from './errors.js';
import { Listeners } from './listeners.js';
import { resolveOptions, type ResolvedOptions } from './options.js';
import { RegisterLink, type Link } from './registerLink.js';
import { compileSort } from './sort.js';
import type {
  CollectorData,
  CollectorEvent,
  CollectorListener,
  CollectorNotice,
  CollectorOptions,
  CollectorStatus,
  NoticeListener,
  ReadyCallback,
} from './types.js';

type RootState = {
  docs: RootDocs;
  /** The manifest's sort spec the docs are laid out by, to notice when it changes. */
  sort: unknown;
  epoch: string;
  version: number;
  /** False once the server's idea of this root's history disagreed with ours: ask afresh. */
  resumable: boolean;
};

/** What one applied message changes, gathered before anyone is told. */
type Outcome = {
  notices: CollectorNotice[];
  events: { name: readonly string[]; event: CollectorEvent }[];
};

const DEFAULT_LAYOUT: RootLayout = { idField: '_id', compare: null };

function sameLayout(state: RootState, entry: { layout: RootLayout; sort: unknown }): boolean {
  return (
    state.docs.layout.idField === entry.layout.idField &&
    JSON.stringify(state.sort) === JSON.stringify(entry.sort)
  );
}

/**
 * The client end of Particle: registers with a Stream under an identity, holds the data it is
 * sent (`collector.data`), keeps it current from deltas, and tells listeners what changed.
 * It connects when constructed and reconnects (resuming where it stopped) until
 * `disconnect()` or a refusal.
 *
 * Notification order, for every applied server message: the whole message is applied first;
 * then `subscribe` listeners get one `data` notice per root it changed, then `on` listeners get
 * one event per op, then (if the status changed) `subscribe` listeners get a `status` notice
 * and `ready` callbacks run.
 */
export class Collector {
  readonly #options: ResolvedOptions;
  readonly #link: Link;
  readonly #listeners: Listeners;
  readonly #subscribers = new Set<NoticeListener>();
  #readyCallbacks: ReadyCallback[] = [];
  #status: CollectorStatus = 'waiting';
  #error: ParticleError | null = null;
  #data: CollectorData = Object.freeze({});
  #revision = 0;
  readonly #roots = new Map<string, RootState>();
  readonly #layouts = new Map<string, { layout: RootLayout; sort: unknown }>();
  /** Roots still owed a payload or `resumed` on this registration; `null` until the manifest. */
  #pending: Set<string> | null = null;
  #session: string | null = null;
  /** An `error` message on the current link, awaiting the close that follows it. */
  #linkError: ParticleError | null = null;

  /**
   * @throws {TypeError} when the options break a rule: not exactly one of `url` and
   * `register`, a relative `url` without `globalThis.location`, no WebSocket class, ...
   */
  constructor(options: CollectorOptions) {
    this.#options = resolveOptions(options);
    this.#listeners = new Listeners((error, pattern) =>
      this.#report(`a listener on ${JSON.stringify(pattern)} threw`, error),
    );
    const { transport } = this.#options;
    const debug = this.#options.onDebug;
    const message = (msg: ServerMessage): void => this.#receive(msg);
    const invalid = (reason: string, detail: unknown): void => {
      debug(reason, detail);
      if (this.#status !== 'closed' && this.#status !== 'error') this.#restart(reason);
    };
    this.#link =
      transport.kind === 'socket'
        ? new Connection(
            {
              url: transport.url,
              WebSocket: transport.WebSocket,
              reconnect: this.#options.reconnect,
              heartbeatTimeoutMs: this.#options.heartbeatTimeoutMs,
            },
            {
              registerMessage: () => this.#registerMessage(),
              message,
              invalid,
              down: (info) => this.#linkDown(info),
              debug,
            },
          )
        : new RegisterLink(transport.register, this.#options.identity, {
            message,
            invalid,
            refused: (error) => this.#fail(errorFromDone(error)),
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
   */
  get data(): CollectorData {
    return this.#data;
  }

  /**
   * A counter raised with every notice sent to {@link Collector.subscribe} listeners. Read it
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
   * It is the primitive bindings such as `particle/react` build on.
   * @returns a function that removes the listener.
   */
  subscribe(listener: (notice: CollectorNotice) => void): () => void {
    this.#subscribers.add(listener);
    return () => {
      this.#subscribers.delete(listener);
    };
  }

  /**
   * `ready(callback)` calls `callback()` once the collector is ready (at once if it already
   * is), or `callback(error)` if it never will be (refused, or disconnected first).
   * `await ready()` resolves, or rejects with that `ParticleError`.
   */
  ready(): Promise<void>;
  ready(callback: ReadyCallback): void;
  ready(callback?: ReadyCallback): Promise<void> | void {
    if (callback === undefined) {
      return new Promise((resolve, reject) =>
        this.ready((error) => (error ? reject(error) : resolve())),
      );
    }
    const settled = this.#settled();
    if (settled === undefined) this.#readyCallbacks.push(callback);
    else callback(settled ?? undefined);
  }

  /** Closes the link for good: no reconnect, timers stopped, status `closed`. Data is kept. */
  disconnect(): void {
    if (this.#status === 'closed') return;
    this.#link.stop();
    this.#setStatus('closed');
  }

  // ---- messages --------------------------------------------------------------------------

  #receive(message: ServerMessage): void {
    if (this.#status === 'closed' || this.#status === 'error') return;
    const outcome: Outcome = { notices: [], events: [] };
    switch (message.type) {
      case 'registered':
        this.#session = message.session;
        this.#error = null;
        this.#link.registered();
        break;
      case 'error':
        this.#serverError(errorFromMessage(message.code, message.message));
        return;
      case 'manifest':
        this.#manifest(message, outcome);
        break;
      case 'payload':
        this.#payload(message, outcome);
        break;
      case 'resumed':
        if (!this.#resumed(message)) return;
        break;
      case 'delta':
        if (!this.#delta(message, outcome)) return;
        break;
      case 'heartbeat':
        return;
    }
    const becameReady =
      this.#pending !== null && this.#pending.size === 0 && this.#status !== 'ready';
    this.#publish(outcome);
    if (becameReady) this.#setStatus('ready');
  }

  #manifest(message: ManifestMessage, outcome: Outcome): void {
    this.#layouts.clear();
    for (const root of Object.keys(message.sources)) {
      const options = message.options?.[root];
      const sort = options?.sort;
      const layout: RootLayout = {
        idField: options?.idField ?? DEFAULT_LAYOUT.idField,
        compare: sort === undefined ? null : compileSort(sort),
      };
      this.#layouts.set(root, { layout, sort });
    }
    let data: Record<string, readonly Doc[]> | null = null;
    for (const [root, state] of this.#roots) {
      const entry = this.#layouts.get(root);
      if (entry === undefined) {
        // No longer one of this identity's roots: it must not linger in the data.
        this.#roots.delete(root);
        data ??= { ...this.#data };
        delete data[root];
        outcome.notices.push({ type: 'data', root, ids: null });
      } else if (!sameLayout(state, entry)) {
        state.sort = entry.sort;
        state.docs = new RootDocs(entry.layout, [...state.docs.docs], this.#options.onDebug);
        data ??= { ...this.#data };
        data[root] = state.docs.docs;
        outcome.notices.push({ type: 'data', root, ids: null });
      }
    }
    if (data !== null) this.#data = Object.freeze(data);
    this.#pending = new Set(this.#layouts.keys());
  }

  #payload(message: PayloadMessage, outcome: Outcome): void {
    const { root } = message;
    const entry = this.#layouts.get(root);
    if (entry === undefined) this.#options.onDebug(`payload for ${root}, which the manifest lacks`);
    const docs = new RootDocs(entry?.layout ?? DEFAULT_LAYOUT, message.data, this.#options.onDebug);
    this.#roots.set(root, {
      docs,
      sort: entry?.sort,
      epoch: message.epoch,
      version: message.version,
      resumable: true,
    });
    this.#pending?.delete(root);
    this.#data = Object.freeze({ ...this.#data, [root]: docs.docs });
    outcome.notices.push({ type: 'data', root, ids: null });
    outcome.events.push({
      name: [root],
      event: {
        root,
        timestamp: new Date().toISOString(),
        operation: 'payload',
        id: null,
        path: '',
        data: docs.docs,
      },
    });
  }

  #resumed(message: ResumedMessage): boolean {
    const state = this.#roots.get(message.root);
    if (state === undefined || state.epoch !== message.epoch || state.version !== message.version) {
      // Never build on a history this client does not hold: ask for a fresh payload instead.
      if (state !== undefined) state.resumable = false;
      this.#restart(`resumed ${message.root} at a point this collector does not hold`);
      return false;
    }
    this.#pending?.delete(message.root);
    return true;
  }

  #delta(message: DeltaMessage, outcome: Outcome): boolean {
    const { root } = message;
    const state = this.#roots.get(root);
    if (state === undefined) {
      this.#restart(`delta for ${root} before its payload`);
      return false;
    }
    if (state.epoch !== message.epoch || message.version !== state.version + 1) {
      this.#restart(
        `version gap on ${root}: holds ${state.epoch}/${state.version}, ` +
          `got ${message.epoch}/${message.version}`,
      );
      return false;
    }
    state.version = message.version;
    const { docs, applied, ids } = state.docs.apply(message.ops, this.#options.onDebug);
    if (applied.length === 0) return true;
    this.#data = Object.freeze({ ...this.#data, [root]: docs });
    outcome.notices.push({ type: 'data', root, ids });
    for (const op of applied) {
      const base = { root, timestamp: message.timestamp, id: op.id };
      const event: CollectorEvent =
        op.operation === 'insert'
          ? { ...base, operation: 'insert', path: '', data: op.data }
          : op.operation === 'remove'
            ? { ...base, operation: 'remove', path: '', data: undefined }
            : op.operation === 'set'
              ? { ...base, operation: 'set', path: op.path, data: op.data }
              : { ...base, operation: 'unset', path: op.path, data: undefined };
      const name =
        op.operation === 'insert' || op.operation === 'remove'
          ? [root]
          : [root, ...op.path.split('.')];
      outcome.events.push({ name, event });
    }
    return true;
  }

  // ---- link state ------------------------------------------------------------------------

  #registerMessage(): RegisterMessage {
    const message: RegisterMessage = {
      type: 'register',
      protocol: PROTOCOL_VERSION,
      identity: this.#options.identity,
    };
    if (this.#session !== null) {
      const roots: Record<string, RootPosition> = {};
      for (const [root, state] of this.#roots) {
        if (state.resumable) roots[root] = { epoch: state.epoch, version: state.version };
      }
      message.resume = { session: this.#session, roots };
    }
    return message;
  }

  #serverError(error: ParticleError): void {
    this.#error = error;
    this.#options.onDebug(error.message);
    if (this.#options.transport.kind === 'register') {
      if (isRefusal(error)) this.#fail(error);
      else this.#restart(error.message);
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
    if (info.cause === 'silence') {
      this.#error = new ParticleError(
        'connection_failed',
        `Link to ${url} went silent: ${info.reason}`,
      );
    } else if (!info.opened) {
      this.#error = new ParticleError(
        'connection_failed',
        `Could not connect to ${url} (close code ${info.code}); retrying`,
      );
    } else if (linkError !== null) {
      this.#error = linkError;
    }
    this.#options.onDebug(`link down (${info.code}${info.reason ? `: ${info.reason}` : ''})`);
    this.#lost();
    return true;
  }

  #restart(reason: string): void {
    this.#link.restart(reason);
    this.#lost();
  }

  /** The link is gone but will come back: keep the data, forget this registration's progress. */
  #lost(): void {
    this.#pending = null;
    this.#linkError = null;
    this.#setStatus(this.#session === null ? 'waiting' : 'reconnecting');
  }

  #fail(error: ParticleError): void {
    if (this.#status === 'closed' || this.#status === 'error') return;
    this.#error = error;
    this.#link.stop();
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
    for (const { name, event } of outcome.events) this.#listeners.emit(name, this.#data, event);
  }

  #notify(notice: CollectorNotice): void {
    this.#revision++;
    for (const subscriber of [...this.#subscribers]) {
      try {
        subscriber(notice);
      } catch (error) {
        this.#report('a subscribe listener threw', error);
      }
    }
  }

  // A throwing listener must not stop the others or the collector; it must not vanish either.
  #report(message: string, error: unknown): void {
    if (this.#options.debugGiven) this.#options.onDebug(message, error);
    else console.error(`particle: ${message}`, error);
  }
}
