import {
  canonicalJson,
  type DeltaMessage,
  type Doc,
  type ParticleError,
  type PayloadMessage,
  type ResumedMessage,
  type RootOptions,
  type RootPosition,
} from '../protocol/index.js';
import { RootDocs, firstTooDeep, type ApplyContext, type RootLayout } from './rootDocs.js';
import { eventFor, isoTime, type Outcome } from './model.js';
import { compileSort } from './sort.js';
import { paramsKeyOf } from './optimistic.js';
import type { SharedState, Subscription, SubscriptionRequest } from './subscription.js';
import type { SubscriptionNotice } from './types.js';

/** Shared by a registry's subscriptions: while `active`, what they tell handles waits in `queue`. */
export interface Deferral {
  active: boolean;
  queue: (() => void)[];
}

/** What a subscription on the wire is made of: what it asks for, its key and its id. */
export interface WireRequest extends SubscriptionRequest {
  /** The registry's key for it (source, canonical params and limit). */
  readonly key: string;
  /** Its id on the wire (`''` while it is never sent). */
  readonly sub: string;
}

const DEFAULT_LAYOUT: RootLayout = { idField: '_id', compare: null };

/**
 * One subscription on the wire, shared by every handle with its key: its documents and where
 * they stand (epoch, version), changed only by whole server messages. A method that cannot
 * apply its message returns why and changes nothing; after a change every handle is told.
 */
export class WireSubscription implements SharedState {
  status: 'waiting' | 'ready' | 'error' = 'waiting';
  error: ParticleError | undefined = undefined;
  more: boolean | undefined = undefined;
  position: RootPosition | null = null;
  /** False once the server's idea of this root's history disagreed with ours. */
  resumable = true;
  /** The server answered `subscribed` and may hold it still (across a dropped link). */
  held = false;
  /** Named in the `resume` of the registration under way. */
  named = false;
  /** The limit last sent to the server (`undefined` also for "the default"). */
  sentLimit: number | undefined = undefined;
  readonly handles = new Set<Subscription>();
  /** A wildcard consumer (`subscribeAll`): one document per live instance of the source. */
  all = false;
  /** The optimistic documents, while a pending mutation's recipe changes this view. */
  overlay: readonly Doc[] | null = null;
  #docs: RootDocs | null = null;
  #layout: RootLayout = DEFAULT_LAYOUT;
  #sort: unknown = undefined;
  #paramsKey: string | undefined;
  key: string;
  sub: string;
  readonly source: string;
  readonly params: unknown;
  limit: number | undefined;

  constructor(
    request: WireRequest,
    private readonly deferral: Deferral = { active: false, queue: [] },
  ) {
    this.key = request.key;
    this.sub = request.sub;
    this.source = request.source;
    this.params = request.params;
    this.limit = request.limit;
  }

  /** What handles show: the optimistic documents when there are some, else the confirmed. */
  get docs(): readonly Doc[] | undefined {
    return this.overlay ?? this.#docs?.docs;
  }

  /** The params as the optimistic layer matches them (`local.update(source, params, ...)`). */
  get paramsKey(): string {
    return (this.#paramsKey ??= paramsKeyOf(this.params));
  }

  /** The documents as the server sent them. */
  get confirmed(): readonly Doc[] | undefined {
    return this.#docs?.docs;
  }

  get compare(): RootLayout['compare'] {
    return this.#layout.compare;
  }

  get idField(): string {
    return this.#layout.idField;
  }

  /** Ends it in `error` (the handles are told by {@link WireSubscription.deliver}). */
  fail(error: ParticleError): void {
    this.status = 'error';
    this.error = error;
  }

  /** `subscribed`'s options: a new sort or id field re-lays the documents held. */
  layout(options: RootOptions | undefined, context: ApplyContext): void {
    const idField = options?.idField ?? DEFAULT_LAYOUT.idField;
    const sort = options?.sort;
    if (idField === this.#layout.idField && canonicalJson(sort) === canonicalJson(this.#sort)) {
      return;
    }
    this.#layout = { idField, compare: sort === undefined ? null : compileSort(sort, idField) };
    this.#sort = sort;
    const current = this.#docs;
    if (current === null) return;
    this.#docs = new RootDocs(this.#layout, current.docs, context);
    this.deliver({ type: 'data', ids: null }, []);
  }

  payload(message: PayloadMessage, context: ApplyContext): string | null {
    const { maxDepth } = context.limits;
    const tooDeep = firstTooDeep(message.data, maxDepth);
    if (tooDeep >= 0) {
      return `payload for ${message.root}: document ${tooDeep} is nested deeper than maxDepth (${maxDepth})`;
    }
    const debug = (line: string) => context.debug(`${this.source} (${this.sub}): ${line}`);
    this.#docs = new RootDocs(this.#layout, message.data, { limits: context.limits, debug });
    this.position = { epoch: message.epoch, version: message.version };
    this.resumable = true;
    this.more = message.more;
    this.status = 'ready';
    this.error = undefined;
    const event = {
      root: this.source,
      timestamp: new Date().toISOString(),
      operation: 'payload',
      id: null,
      path: '',
      data: this.#docs.docs,
    } as const;
    this.deliver({ type: 'data', ids: null }, [{ name: [this.source], event }]);
    return null;
  }

  resumed(message: ResumedMessage): string | null {
    const at = this.position;
    if (at === null || at.epoch !== message.epoch || at.version !== message.version) {
      // Never build on a history this client does not hold: ask for a fresh payload instead.
      this.resumable = false;
      return `resumed ${message.root} at a point this collector does not hold`;
    }
    return null;
  }

  /** The ops apply first and the version advances only after, as for eager roots. */
  delta(message: DeltaMessage, context: ApplyContext): string | null {
    const { root } = message;
    const at = this.position;
    if (this.#docs === null || at === null) return `delta for ${root} before its payload`;
    if (at.epoch !== message.epoch || message.version !== at.version + 1) {
      return (
        `version gap on ${root}: holds ${at.epoch}/${at.version}, ` +
        `got ${message.epoch}/${message.version}`
      );
    }
    const result = this.#docs.apply(message.ops, (line) => context.debug(line));
    if (!result.ok) {
      return `invalid delta for ${root} at version ${message.version}: ${result.reason}`;
    }
    at.version = message.version;
    const moreChanged = message.more !== undefined && message.more !== this.more;
    if (message.more !== undefined) this.more = message.more;
    const hadError = this.error !== undefined;
    // A retried production that works again clears its error.
    this.error = undefined;
    if (result.applied.length === 0 && !moreChanged) {
      if (hadError) this.deliver(null, []);
      return null;
    }
    const timestamp = isoTime(message.timestamp);
    const events: Outcome['events'] = result.applied.map((op) => ({
      name:
        op.operation === 'insert' || op.operation === 'remove'
          ? [this.source]
          : [this.source, ...op.path.split('.')],
      event: eventFor(this.source, timestamp, op),
    }));
    this.deliver({ type: 'data', ids: result.ids }, events);
    return null;
  }

  /** Tells every handle what one message changed (and any change of status or error). */
  deliver(notice: SubscriptionNotice | null, events: Outcome['events']): void {
    if (this.deferral.active) {
      this.deferral.queue.push(() => this.deliver(notice, events));
      return;
    }
    for (const handle of [...this.handles]) handle.deliver(notice, events);
  }
}
