import {
  ParticleError,
  canonicalJson,
  subscriptionKey,
  type DeltaMessage,
  type PayloadMessage,
  type ResumedMessage,
  type RootPosition,
  type SubscribedMessage,
  type SubscribeMessage,
  type SubscriptionErrorMessage,
  type UnsubscribedMessage,
} from '../protocol/index.js';
import { checkKeys } from '../protocol/config.js';
import type { FrameLimits } from './docPaths.js';
import { jsonCopy } from './jsonCopy.js';
import type { LinkMessage } from './link.js';
import { Subscription, checkLimit, type SubscriptionRequest } from './subscription.js';
import type { SubscribeOptions } from './types.js';
import { WireSubscription, type Deferral } from './wireSubscription.js';

let warnedListener = false;

/** Warns once, in development, that `collector.subscribe(listener)` became `onNotice`. */
export function warnSubscribeListener(): void {
  if (warnedListener || process.env.NODE_ENV === 'production') return;
  warnedListener = true;
  console.warn(
    'particle: collector.subscribe(listener) is deprecated; use collector.onNotice(listener). ' +
      'collector.subscribe(source, params) subscribes to a data source.',
  );
}

/** What the registry needs from its collector. */
export interface RegistryHost {
  /** Sends on the current registration; `false` when the link can never carry it. */
  send(message: LinkMessage): boolean;
  /** Whether `name` is one of the manifest's (eager) roots. */
  isEagerRoot(name: string): boolean;
  readonly limits: FrameLimits;
  debug(message: string, detail?: unknown): void;
  report(message: string, error: unknown): void;
}

/** The messages that concern subscriptions only. */
export type SubscriptionMessage =
  SubscribedMessage | UnsubscribedMessage | SubscriptionErrorMessage;

/** Sub ids this registry hands out: `s` and a counter, never reused. */
const SUB_ID = /^s([0-9]+)$/;

/**
 * The collector's subscriptions: handles by key, the wire subscriptions they share by sub id,
 * what is queued until `registered`, and what to send again after a reconnect (a fresh
 * session subscribes everything again; a resumed one names what the server may still hold).
 * Their data never enters `collector.data`.
 */
export class SubscriptionRegistry {
  readonly #host: RegistryHost;
  readonly #byKey = new Map<string, WireSubscription>();
  readonly #bySub = new Map<string, WireSubscription>();
  /** Named in the resume under way, then released: unsubscribe once it is accepted. */
  readonly #releasedNamed = new Set<string>();
  #nextId = 1;
  #registered = false;
  readonly #deferral: Deferral = { active: false, queue: [] };
  #ended: ParticleError | 'closed' | null = null;

  constructor(host: RegistryHost) {
    this.#host = host;
  }

  subscribe(source: string, params: unknown, options: SubscribeOptions | undefined): Subscription {
    if (typeof source !== 'string' || source === '') {
      throw new TypeError(
        'collector.subscribe: source must be a data source name such as "messages"',
      );
    }
    if (options !== undefined) {
      if (typeof options !== 'object' || options === null) {
        throw new TypeError('collector.subscribe: options must be an object such as { limit: 50 }');
      }
      checkKeys('collector.subscribe', options, ['limit']);
    }
    const limit = checkLimit('collector.subscribe', options?.limit);
    const request = { source, params: jsonCopy(params, 'collector.subscribe: params'), limit };
    const ended = this.#ended;
    if (ended !== null) {
      const entry = new WireSubscription({ ...request, key: '', sub: '' }, this.#deferral);
      if (ended !== 'closed') entry.fail(ended);
      const handle = new Subscription(this, entry, request);
      if (ended === 'closed') handle.close();
      return handle;
    }
    return this.#acquire(request);
  }

  /** A wildcard consumer of a `wildcard: true` produced source. */
  subscribeAll(source: string): Subscription {
    if (typeof source !== 'string' || source === '') {
      throw new TypeError('collector.subscribeAll: source must be a data source name');
    }
    const ended = this.#ended;
    if (ended !== null) return this.subscribe(source, undefined, undefined);
    const request = { source, params: undefined, limit: undefined };
    const { entry, created } = this.#entryFor(request, true);
    const handle = new Subscription(this, entry, request);
    entry.handles.add(handle);
    if (created && this.#registered) this.#send(entry);
    return handle;
  }

  /** From now until {@link flush}, what subscriptions tell their handles waits. */
  hold(): void {
    this.#deferral.active = true;
  }

  /** Tells handles, in order, everything held since {@link hold}. */
  flush(): void {
    const deferral = this.#deferral;
    deferral.active = false;
    while (deferral.queue.length > 0) {
      const queued = deferral.queue;
      deferral.queue = [];
      for (const deliver of queued) deliver();
    }
  }

  /** The live subscriptions, as views the optimistic layer may change. */
  views(): WireSubscription[] {
    return [...this.#bySub.values()];
  }

  /** Whether a payload, `resumed` or delta for `root` is this registry's to handle. */
  owns(root: string): boolean {
    if (this.#bySub.has(root)) return true;
    // A sub released or ended here: what still arrives for it is dropped, never taken for a root.
    const issued = SUB_ID.exec(root);
    return issued !== null && Number(issued[1]) < this.#nextId && !this.#host.isEagerRoot(root);
  }

  /** The positions to name in a `resume`; what it names the server may give back as it was. */
  positions(): Record<string, RootPosition> {
    const roots: Record<string, RootPosition> = {};
    for (const entry of this.#bySub.values()) {
      entry.named = entry.held && entry.resumable && entry.position !== null;
      if (entry.named) roots[entry.sub] = { ...(entry.position as RootPosition) };
    }
    return roots;
  }

  /**
   * A registration was accepted. On a fresh session every live subscription is sent again;
   * on a resumed one, those the resume named wait for the server's answer and the others are
   * sent under a new sub id (the server may still hold the old one).
   */
  registered(fresh: boolean): void {
    this.#registered = true;
    const released = [...this.#releasedNamed];
    this.#releasedNamed.clear();
    if (!fresh) for (const sub of released) this.#host.send({ type: 'unsubscribe', sub });
    for (const entry of [...this.#bySub.values()]) {
      const named = entry.named && !fresh;
      entry.named = false;
      if (named) {
        if (entry.sentLimit !== entry.limit) this.#send(entry);
        continue;
      }
      entry.held = false;
      if (!fresh) this.#reissue(entry);
      this.#send(entry);
    }
  }

  /** The link went down: nothing sent from now on until the next `registered`. */
  lost(): void {
    this.#registered = false;
  }

  /** The collector ended: closed (`disconnect()`) or refused (`error`). */
  end(error: ParticleError | null): void {
    if (this.#ended !== null) return;
    this.#ended = error ?? 'closed';
    const entries = [...this.#bySub.values()];
    this.#bySub.clear();
    this.#byKey.clear();
    for (const entry of entries) {
      if (error !== null) {
        entry.fail(error);
        entry.deliver(null, []);
      } else {
        for (const handle of [...entry.handles]) handle.close();
      }
    }
  }

  /** `subscribed`, `unsubscribed` or `subscription_error`. */
  receive(message: SubscriptionMessage): void {
    const entry = this.#bySub.get(message.sub);
    if (entry === undefined) {
      this.#host.debug(`${message.type} for ${message.sub}, which is not subscribed`);
      return;
    }
    switch (message.type) {
      case 'subscribed':
        entry.held = true;
        entry.layout(message.options, this.#host);
        return;
      case 'unsubscribed':
        // The server no longer holds it (a resume after it expired): ask again.
        entry.held = false;
        entry.position = null;
        if (this.#registered) this.#send(entry);
        return;
      case 'subscription_error': {
        const error = new ParticleError(
          message.code,
          `Subscription to ${entry.source} with params ${canonicalJson(entry.params ?? {})} ` +
            `failed (${message.code}): ${message.message}`,
        );
        this.#host.debug(error.message);
        if (message.retrying === true) {
          entry.error = error;
        } else {
          this.#forget(entry);
          entry.fail(error);
        }
        entry.deliver(null, []);
        return;
      }
    }
  }

  /** A payload, `resumed` or delta for a subscription. Returns null, or why it cannot apply. */
  apply(message: PayloadMessage | ResumedMessage | DeltaMessage): string | null {
    const entry = this.#bySub.get(message.root);
    if (entry === undefined) return null;
    switch (message.type) {
      case 'payload':
        return entry.payload(message, this.#host);
      case 'resumed':
        return entry.resumed(message);
      case 'delta':
        return entry.delta(message, this.#host);
    }
  }

  /** Subscribe messages sent before the transport said it cannot carry them. */
  unsendable(messages: readonly LinkMessage[]): void {
    for (const message of messages) {
      const entry = message.type === 'subscribe' ? this.#bySub.get(message.sub) : undefined;
      if (entry !== undefined) this.#cannotSend(entry);
    }
  }

  // ---- asked by handles ----------------------------------------------------------------------

  release(handle: Subscription): void {
    const entry = handle.shared;
    if (!(entry instanceof WireSubscription) || !entry.handles.delete(handle)) return;
    if (entry.handles.size > 0 || this.#bySub.get(entry.sub) !== entry) return;
    this.#forget(entry);
    if (this.#registered) this.#host.send({ type: 'unsubscribe', sub: entry.sub });
    else if (entry.named) this.#releasedNamed.add(entry.sub);
  }

  setLimit(handle: Subscription, limit: number): void {
    const entry = handle.shared;
    if (!(entry instanceof WireSubscription) || this.#ended !== null) return;
    const key = subscriptionKey(entry.source, entry.params, limit);
    const live = this.#bySub.get(entry.sub) === entry;
    if (live && entry.handles.size === 1 && !this.#byKey.has(key)) {
      this.#byKey.delete(entry.key);
      entry.key = key;
      entry.limit = limit;
      this.#byKey.set(key, entry);
      handle.relimit(limit);
      if (this.#registered) this.#send(entry);
      return;
    }
    const next = this.#entryFor({ source: entry.source, params: entry.params, limit });
    this.release(handle);
    handle.moveTo(next.entry, limit);
    next.entry.handles.add(handle);
    if (next.created && this.#registered) this.#send(next.entry);
    handle.deliver({ type: 'data', ids: null }, []);
  }

  report(message: string, error: unknown): void {
    this.#host.report(message, error);
  }

  // ---- internals -------------------------------------------------------------------------------

  #acquire(request: SubscriptionRequest): Subscription {
    const { entry, created } = this.#entryFor(request);
    const handle = new Subscription(this, entry, request);
    entry.handles.add(handle);
    // After the handle joined: the transport may answer within `send`.
    if (created && this.#registered) this.#send(entry);
    return handle;
  }

  #entryFor(request: SubscriptionRequest, all = false) {
    const { source, params, limit } = request;
    const key = all ? `${source}?*` : subscriptionKey(source, params, limit);
    const existing = this.#byKey.get(key);
    if (existing !== undefined) return { entry: existing, created: false };
    const entry = new WireSubscription(
      { source, params, limit, key, sub: this.#allocate() },
      this.#deferral,
    );
    entry.all = all;
    this.#byKey.set(key, entry);
    this.#bySub.set(entry.sub, entry);
    return { entry, created: true };
  }

  #allocate(): string {
    let sub: string;
    do sub = `s${this.#nextId++}`;
    while (this.#host.isEagerRoot(sub));
    return sub;
  }

  #reissue(entry: WireSubscription): void {
    this.#bySub.delete(entry.sub);
    entry.sub = this.#allocate();
    this.#bySub.set(entry.sub, entry);
  }

  #forget(entry: WireSubscription): void {
    if (this.#bySub.get(entry.sub) === entry) this.#bySub.delete(entry.sub);
    if (this.#byKey.get(entry.key) === entry) this.#byKey.delete(entry.key);
  }

  #send(entry: WireSubscription): void {
    const message: SubscribeMessage = { type: 'subscribe', sub: entry.sub, source: entry.source };
    if (entry.params !== undefined) message.params = entry.params;
    if (entry.limit !== undefined) message.limit = entry.limit;
    if (entry.all) message.all = true;
    entry.sentLimit = entry.limit;
    if (!this.#host.send(message)) this.#cannotSend(entry);
  }

  #cannotSend(entry: WireSubscription): void {
    if (this.#bySub.get(entry.sub) !== entry) return;
    this.#forget(entry);
    entry.fail(
      new ParticleError(
        'config',
        `Cannot subscribe to ${entry.source}: this Collector's \`register\` transport has no ` +
          'way to send (the function it returns has no `send(message)`); use `url`, or a ' +
          'transport whose unregister function carries `send`, such as `stream.register`',
      ),
    );
    entry.deliver(null, []);
  }
}
