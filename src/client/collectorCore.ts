import {
  PROTOCOL_VERSION,
  ParticleError,
  MutationError,
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
import { LeaseBook } from './leases.js';
import { createLink, type Link } from './link.js';
import { Listeners } from './listeners.js';
import { Model, type Outcome } from './model.js';
import { PendingMutations } from './mutations.js';
import { OptimisticLayer } from './optimisticLayer.js';
import { resolveOptions, type ResolvedOptions } from './options.js';
import { Publications } from './publications.js';
import { ReadyWaiters, settledBy } from './readyWaiters.js';
import { SubscriptionRegistry } from './subscriptions.js';
import type { CollectorOptions, CollectorStatus, NoticeListener, ReadyCallback } from './types.js';

/**
 * What a {@link Collector} is made of, and the state machine that drives it: the link, the
 * model and its optimistic layer, the parts per concept (subscriptions, mutations, leases,
 * publications), the status and the registration's session. The Collector is its public face.
 */
export class CollectorCore {
  readonly options: ResolvedOptions;
  readonly link: Link;
  readonly listeners: Listeners;
  readonly model: Model;
  readonly subscriptions: SubscriptionRegistry;
  readonly mutations: PendingMutations;
  readonly leases: LeaseBook;
  readonly publications: Publications;
  /** What `data` shows: the model's data, with optimistic documents where recipes changed it. */
  readonly layer: OptimisticLayer;
  readonly #subscribers = new Set<NoticeListener>();
  readonly #waiters: ReadyWaiters;
  #status: CollectorStatus = 'waiting';
  #error: ParticleError | null = null;
  #revision = 0;
  #session: string | null = null;
  /** The session the register under way asked to resume, if any. */
  #resuming: string | null = null;
  /** An `error` message on the current link, awaiting the close that follows it. */
  #linkError: ParticleError | null = null;

  constructor(options: CollectorOptions) {
    this.options = resolveOptions(options);
    const debug = this.options.onDebug;
    const report = (text: string, error: unknown): void => this.report(text, error);
    this.#waiters = new ReadyWaiters(report);
    this.model = new Model(this.options.limits, debug);
    this.listeners = new Listeners((error, pattern) =>
      this.report(`a listener on ${JSON.stringify(pattern)} threw`, error),
    );
    this.subscriptions = new SubscriptionRegistry({
      send: (msg) => this.link.send(msg),
      isEagerRoot: (name) => this.model.idField(name) !== undefined,
      limits: this.options.limits,
      debug,
      report,
    });
    this.leases = new LeaseBook({
      send: (msg) => {
        this.link.send(msg);
      },
      changed: (root, id) => this.notify({ type: 'lease', root, id }),
    });
    this.publications = new Publications({
      send: (msg) => {
        this.link.send(msg);
      },
      intervalMs: this.options.publishIntervalMs,
      changed: () => this.notify({ type: 'publication' }),
    });
    this.layer = new OptimisticLayer({
      model: this.model,
      subscriptions: () => this.subscriptions.views(),
      recipes: () => this.mutations.recipes(),
      report,
    });
    const noSend =
      "this Collector's `register` transport has no way to send mutations (its unregister function has no `send(message)`)";
    this.mutations = new PendingMutations({
      send: (msg) => {
        if (!this.link.send(msg)) this.mutations.end(noSend, 'config');
      },
      changed: () => this.#refresh(),
      timeoutMs: this.options.mutationTimeoutMs,
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
    this.link = createLink(this.options, {
      registerMessage: () => this.#registerMessage(),
      message,
      invalid,
      down: (info) => this.#linkDown(info),
      refused: (error) => this.#fail(errorFromDone(error)),
      unsendable: (messages) => {
        this.subscriptions.unsendable(messages);
        if (messages.some((m) => m.type === 'mutate')) {
          this.mutations.end(noSend, 'config');
        }
      },
      debug,
    });
    this.link.start();
  }

  get status(): CollectorStatus {
    return this.#status;
  }

  get error(): ParticleError | null {
    return this.#error;
  }

  get revision(): number {
    return this.#revision;
  }

  onNotice(listener: NoticeListener): () => void {
    this.#subscribers.add(listener);
    return () => {
      this.#subscribers.delete(listener);
    };
  }

  ready(callback: ReadyCallback, timeoutMs: number | undefined): void {
    const settled = settledBy(this.#status, this.#error);
    if (settled !== undefined) {
      callback(settled ?? undefined);
      return;
    }
    this.#waiters.wait(callback, timeoutMs, (ms) => {
      const last = this.#error === null ? '' : `; last problem: ${this.#error.message}`;
      const where =
        this.options.transport.kind === 'socket' ? ` from ${this.options.transport.url}` : '';
      return new ParticleError(
        'connection_failed',
        `Not ready within ${ms} ms: no complete answer${where}${last} (still retrying)`,
      );
    });
  }

  disconnect(): void {
    if (this.#status === 'closed') return;
    this.link.stop();
    this.subscriptions.end(null);
    this.mutations.end('collector.disconnect() was called before the server answered');
    this.leases.end('collector.disconnect() was called');
    this.publications.end(new MutationError('disconnected', 'collector.disconnect() was called'));
    this.#refresh();
    this.#setStatus('closed');
  }

  // ---- messages --------------------------------------------------------------------------

  #receive(message: ServerMessage): void {
    if (this.#status === 'closed' || this.#status === 'error') return;
    const outcome: Outcome = { notices: [], events: [], quiet: this.listeners.size === 0 };
    let settled = false;
    this.subscriptions.hold();
    try {
      // A batch (a mutation's deltas and its answer) is applied whole before anyone is told, so
      // the optimistic document and the real one are never shown side by side.
      const messages = message.type === 'batch' ? message.messages : [message];
      for (const one of messages) {
        const step = this.#apply(one, outcome);
        if (step === 'stop') return;
        settled ||= step === 'settled';
      }
      this.layer.update(outcome);
      const becameReady = this.model.complete && this.#status !== 'ready';
      for (const notice of outcome.notices) this.notify(notice);
      for (const { name, event } of outcome.events) {
        this.listeners.emit(name, this.layer.data, event);
      }
      if (settled) this.notify({ type: 'pending' });
      if (becameReady) this.#setStatus('ready');
    } finally {
      this.subscriptions.flush();
    }
  }

  /** Applies one message to the model; `stop` when nothing more may be applied or told. */
  #apply(
    message: Exclude<ServerMessage, { type: 'batch' }>,
    outcome: Outcome,
  ): 'applied' | 'settled' | 'stop' {
    switch (message.type) {
      case 'mutated':
        return this.mutations.answer(message) ? 'settled' : 'applied';
      case 'locked':
      case 'lock_error':
      case 'lease':
        this.leases.receive(message);
        break;
      case 'publish_error':
        this.publications.receive(message);
        break;
      case 'registered':
        this.#session = message.session;
        this.#error = null;
        this.link.registered();
        this.subscriptions.registered(this.#resuming !== message.session);
        this.mutations.registered(message.limits);
        this.leases.registered(this.#resuming !== message.session);
        this.publications.registered();
        break;
      case 'error':
        this.#serverError(errorFromMessage(message.code, message.message));
        return 'stop';
      case 'manifest':
        this.model.manifest(message, outcome);
        break;
      case 'subscribed':
      case 'unsubscribed':
      case 'subscription_error':
        this.subscriptions.receive(message);
        break;
      case 'payload':
      case 'resumed':
      case 'delta': {
        if (message.type !== 'delta') this.leases.reset(message.root);
        const refused = this.subscriptions.owns(message.root)
          ? this.subscriptions.apply(message)
          : message.type === 'payload'
            ? this.model.payload(message, outcome)
            : message.type === 'resumed'
              ? this.model.resumed(message)
              : this.model.delta(message, outcome);
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

  /** Shows a change of the pending list made outside a server message. */
  #refresh(): void {
    const outcome: Outcome = { notices: [], events: [] };
    this.subscriptions.hold();
    try {
      this.layer.update(outcome);
      for (const notice of outcome.notices) this.notify(notice);
      this.notify({ type: 'pending' });
    } finally {
      this.subscriptions.flush();
    }
  }

  // ---- link state ------------------------------------------------------------------------

  #registerMessage(): RegisterMessage {
    const message: RegisterMessage = {
      type: 'register',
      protocol: PROTOCOL_VERSION,
      identity: this.options.identity,
    };
    this.#resuming = this.#session;
    if (this.#session !== null) {
      const roots = { ...this.model.positions(), ...this.subscriptions.positions() };
      message.resume = { session: this.#session, roots };
    }
    return message;
  }

  #serverError(error: ParticleError): void {
    this.#error = error;
    this.options.onDebug(error.message);
    if (this.options.transport.kind === 'register') {
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
    const url = this.options.transport.kind === 'socket' ? this.options.transport.url : '';
    const error = errorFromLinkDown(info, url, this.options.connectTimeoutMs);
    if (error !== null) this.#error = error;
    else if (linkError !== null) this.#error = linkError;
    this.options.onDebug(`link down (${info.code}${info.reason ? `: ${info.reason}` : ''})`);
    this.#lost();
    return true;
  }

  #restart(reason: string, minDelayMs = 0): void {
    this.link.restart(reason, minDelayMs);
    this.#lost();
  }

  /** The link is gone but will come back: keep the data, forget this registration's progress. */
  #lost(): void {
    this.model.restart();
    this.subscriptions.lost();
    this.mutations.lost();
    this.leases.lost();
    this.publications.lost();
    this.#linkError = null;
    this.#setStatus(this.#session === null ? 'waiting' : 'reconnecting');
  }

  #fail(error: ParticleError): void {
    if (this.#status === 'closed' || this.#status === 'error') return;
    this.#error = error;
    this.link.stop();
    this.subscriptions.end(error);
    this.mutations.end(`the collector stopped: ${error.message}`);
    this.leases.end(`the collector stopped: ${error.message}`);
    this.publications.end(
      new MutationError('disconnected', `the collector stopped: ${error.message}`),
    );
    this.#refresh();
    this.#setStatus('error');
  }

  // ---- notifications ---------------------------------------------------------------------

  #setStatus(status: CollectorStatus): void {
    if (this.#status === status) return;
    this.#status = status;
    this.notify({ type: 'status', status });
    const settled = settledBy(status, this.#error);
    if (settled !== undefined) this.#waiters.settle(settled);
  }

  notify(notice: Parameters<NoticeListener>[0]): void {
    this.#revision++;
    for (const subscriber of [...this.#subscribers]) {
      try {
        subscriber(notice);
      } catch (error) {
        this.report('a notice listener threw', error);
      }
    }
  }

  // A throwing listener must not stop the others or the collector; it must not vanish either.
  report(message: string, error: unknown): void {
    if (this.options.debugGiven) this.options.onDebug(message, error);
    else console.error(`particle: ${message}`, error);
  }
}
