import { encodeRegistered } from '../protocol/encode.js';
import { ParticleError, CLOSE_CODES } from '../protocol/errors.js';
import {
  PROTOCOL_VERSION,
  type ClientMessage,
  type RegisterMessage,
  type ServerMessage,
} from '../protocol/messages.js';
import { subscriptionKey } from '../protocol/subscriptionKey.js';
import { registerInProcess } from './inProcess.js';
import { Subscriptions } from './subscriptions.js';
import type { Adapter, Doc } from './adapter.js';
import { checkKeys, checkPositiveInteger } from '../protocol/config.js';
import { JobQueue } from './jobQueue.js';
import { flushDeltas } from './coalesce.js';
import { ChangeFeed } from './changeFeed.js';
import { SessionLifecycle } from './sessionLifecycle.js';
import type { BacklogLimits, Session, Sink } from './session.js';
import { IdentityCheck } from './identity.js';
import { Views, type DataSource } from './views.js';
import type { Mutator } from './mutators.js';
import { Writes } from './writes.js';
import {
  STREAM_OPTION_KEYS,
  type AttachResult,
  type IdentityRequest,
  type SnapshotOptions,
  type StreamOptions,
  type StreamStats,
  type Unregister,
} from './streamOptions.js';
import { SessionTable } from './sessionTable.js';
import type { CollectionsOfAdapter } from './typedSources.js';

export type { DataSource } from './views.js';
export type {
  AttachResult,
  IdentityLookup,
  IdentityRequest,
  SnapshotOptions,
  StreamOptions,
  StreamStats,
  Unregister,
} from './streamOptions.js';

/**
 * The server side of Particle: decides per identity which records and fields each client may
 * see, sends them once and then every change to them.
 */
export class Stream<
  const TMutators extends Record<string, Mutator> = Record<string, Mutator>,
  const TSources extends Record<string, DataSource> = Record<string, DataSource>,
  TAdapter extends Adapter = Adapter,
> {
  /**
   * Type-level only (never set): what `Collector<typeof stream>` and
   * `createParticleReact<typeof stream>()` read to type `mutate` by name, args and result, and
   * every source's documents (its manifest over the collection's model) and params.
   */
  declare readonly '~particle'?: {
    readonly mutators: TMutators;
    readonly sources: TSources;
    readonly collections: CollectionsOfAdapter<TAdapter>;
  };

  private readonly adapter: Adapter;
  private readonly debugLog: ((message: string, details?: unknown) => void) | undefined;
  private readonly graceMs: number;
  private readonly limits: BacklogLimits;
  private readonly identities: IdentityCheck;
  private readonly hasLookup: boolean;
  private readonly views: Views;
  private readonly subscriptions: Subscriptions;
  private readonly writes: Writes;
  /** @internal Live subscriptions a client may hold. */
  readonly maxSubscriptions: number;
  /** @internal Publications a client may hold. */
  readonly maxPublications: number;
  /** @internal Leases and waiting locks a client may hold. */
  get maxLeases(): number {
    return this.writes.maxLeases;
  }
  private readonly queue: JobQueue;
  private readonly sessions: SessionTable;
  private readonly transports = new Set<{ close(): void }>();
  private readonly startedAt = Date.now();
  private readonly feed: ChangeFeed;
  private readonly lifecycle: SessionLifecycle;
  private closed = false;

  constructor(options: StreamOptions<TMutators, TSources, TAdapter>) {
    checkKeys('new Stream', options, STREAM_OPTION_KEYS);
    if (options.backlog !== undefined) {
      checkKeys('new Stream: backlog', options.backlog, ['deltas', 'bytes']);
    }
    checkPositiveInteger('new Stream: maxIdentityBytes', options.maxIdentityBytes);
    checkPositiveInteger('new Stream: maxReferenceValues', options.maxReferenceValues);
    checkPositiveInteger('new Stream: maxSubscriptions', options.maxSubscriptions);
    checkPositiveInteger('new Stream: maxPublications', options.maxPublications);
    checkPositiveInteger('new Stream: maxSessions', options.maxSessions);
    this.sessions = new SessionTable(options.maxSessions ?? 50_000);
    this.maxSubscriptions = options.maxSubscriptions ?? 100;
    this.maxPublications = options.maxPublications ?? 16;
    this.adapter = options.adapter;
    this.debugLog = options.onDebug;
    this.graceMs = options.sessionGraceMs ?? 30_000;
    this.limits = { deltas: 1000, bytes: 1024 * 1024, ...options.backlog };
    const maxReferenceValues = options.maxReferenceValues ?? 1000;
    this.views = new Views(options.adapter, options.dataSources, {
      cacheConfig: options.cacheConfig,
      debug: (message, details) => this.debug(message, details),
      maxReferenceValues,
      maxPublications: this.maxPublications,
      defer: (job, delayMs) => {
        const timer = setTimeout(
          () => this.queue.push(() => (this.closed ? undefined : job())),
          delayMs,
        );
        timer.unref?.();
      },
    });
    this.subscriptions = new Subscriptions(
      this.views,
      { backlog: this.limits, maxSubscriptions: this.maxSubscriptions },
      (root, sink) => this.writes.payloadSent(root, sink),
    );
    this.hasLookup = options.identityLookup !== undefined;
    this.identities = new IdentityCheck(
      options.identityLookup,
      { maxIdentityBytes: options.maxIdentityBytes ?? 16 * 1024, maxReferenceValues },
      () => this.views.identityFields,
    );
    this.queue = new JobQueue((error) => this.debug('job failed', error));
    this.writes = new Writes(options, {
      sources: this.views.sources,
      sessions: () => this.sessions.values(),
      // A write is answered after the deltas of its changes: those of this tick go out first.
      drain: () => this.queue.run(flushDeltas),
      debug: (message, details) => this.debug(message, details),
    });
    this.feed = new ChangeFeed(options.adapter, this.views, {
      queue: this.queue,
      closed: () => this.closed,
      debug: (message, details) => this.debug(message, details),
    });
    this.lifecycle = new SessionLifecycle({
      views: this.views,
      subscriptions: this.subscriptions,
      writes: this.writes,
      sessions: this.sessions,
      identities: this.identities,
      limits: this.limits,
      hasLookup: this.hasLookup,
      debug: (message, details) => this.debug(message, details),
    });
    // `new Collector({ register: stream.register })` passes the method on its own.
    this.register = this.register.bind(this);
  }

  /**
   * Registers a collector without a socket. `receive(type, message)` gets every message;
   * `done(err)` reports when registration completed or failed. Returns an unregister function
   * whose `send(message)` takes the client's other messages (`subscribe`, `unsubscribe`).
   */
  // eslint-disable-next-line @typescript-eslint/max-params -- public API (the Collector's register transport)
  register(
    identity: Record<string, unknown>,
    receive: (type: ServerMessage['type'], message: ServerMessage) => void,
    done?: (error: Error | null) => void,
    request?: IdentityRequest,
  ): Unregister {
    return registerInProcess(this, { identity, receive, done, request });
  }

  /**
   * @internal
   * A registered client's message other than `register`, from its connection.
   */
  receive(
    session: Session,
    message: Exclude<ClientMessage, RegisterMessage>,
    sink: Sink,
  ): Promise<void> {
    return this.queue.run(async () => {
      // What a client asks is answered after every change that came before it was sent.
      flushDeltas();
      if (session.sink !== sink || !this.sessions.holds(session)) return;
      if (message.type === 'subscribe') await this.subscriptions.subscribe(session, message, sink);
      else if (message.type === 'unsubscribe')
        this.subscriptions.unsubscribe(session, message.sub, sink);
      else if (message.type === 'publish')
        await this.views.publications.publish(session, message, sink);
      else if (message.type === 'unpublish')
        this.views.publications.unpublish(session, message.pub);
      else await this.writes.receive(session, message, sink);
    });
  }

  /**
   * @internal
   * Registers a client whose frames go to `sink`; a transport's entry point. Resolves with the
   * session, or with the wire error to answer (the caller sends it and closes the link).
   */
  async attach(
    message: RegisterMessage,
    sink: Sink,
    request?: IdentityRequest,
  ): Promise<AttachResult> {
    if (this.closed) return { ok: false, code: 'internal', message: 'the stream is shut down' };
    if (message.protocol !== PROTOCOL_VERSION) {
      return {
        ok: false,
        code: 'protocol_mismatch',
        message: `this server speaks protocol ${PROTOCOL_VERSION}, the client sent ${String(message.protocol)}`,
      };
    }
    const checked = await this.identities.check(message.identity, request);
    if (!checked.ok) return checked;
    const { identity } = checked;
    const identityKey = this.identities.key(identity);
    const credentials = this.lifecycle.credentialsOf(message.identity, request);
    return this.queue.run(async (): Promise<AttachResult> => {
      if (this.closed) return { ok: false, code: 'internal', message: 'the stream is shut down' };
      await this.feed.ensure();
      const held = message.resume ? this.sessions.get(message.resume.session) : undefined;
      const resumable = held !== undefined && held.identityKey === identityKey;
      if (!resumable) {
        const victim = this.sessions.victim();
        if (victim === null) {
          return {
            ok: false,
            code: 'rate_limited',
            message: `this server holds its most sessions (${this.sessions.max}); try again later`,
          };
        }
        if (victim) this.lifecycle.drop(victim);
      }
      const session = resumable
        ? held
        : await this.lifecycle.create(identity, identityKey, credentials);
      if (resumable) {
        this.writes.leases.linkOpened(session);
        this.views.publications.linkOpened(session);
        // Only what criteria read had to match: the rest (a new sign-in's sid, a new name) is
        // the new link's, and what reauthorize, authorize and accept read from now on.
        session.credentials = credentials;
        session.identity = identity;
        clearTimeout(session.graceTimer);
        // The old link may not have noticed it is dead yet; the resume takes the session over.
        session.sink?.close(CLOSE_CODES.goingAway, 'session resumed on another link');
      }
      session.sink = sink;
      this.sessions.linkChanged(session);
      sink.send(encodeRegistered(session.id, sink.frameLimits), 'control');
      sink.send(this.views.manifestFrame, 'control');
      this.lifecycle.sendRoots(session, sink, resumable ? message.resume : undefined);
      if (resumable) await this.subscriptions.resume(session, message.resume?.roots ?? {}, sink);
      if (resumable) this.writes.leases.resumed(session);
      this.debug('registered', { session: session.id, resumed: resumable });
      return { ok: true, session };
    });
  }

  /**
   * @internal
   * The link `sink` of a session closed; with `hold`, the session waits `sessionGraceMs` for a
   * resume. A link that was already replaced by a resume changes nothing.
   */
  detach(session: Session, hold: boolean, sink: Sink): void {
    if (session.sink !== sink) return;
    session.sink = null;
    this.sessions.linkChanged(session);
    this.writes.leases.linkClosed(session);
    this.views.publications.linkClosed(session);
    clearTimeout(session.graceTimer);
    if (!this.sessions.holds(session)) return;
    if (hold && !this.closed && this.graceMs > 0) {
      session.graceTimer = setTimeout(
        () => this.queue.push(() => this.lifecycle.drop(session)),
        this.graceMs,
      );
      session.graceTimer.unref?.();
    } else {
      this.queue.push(() => this.lifecycle.drop(session));
    }
  }

  /**
   * Resolves to `{ [source]: Doc[] }` exactly as a collector with this identity holds it once
   * ready. `subscriptions` adds those views under `subscriptionKey(source, params)` (the key
   * `initialData` is read by); a refused one rejects with its code.
   */
  async snapshot(
    identity: Record<string, unknown>,
    request?: IdentityRequest,
    options: SnapshotOptions = {},
  ): Promise<Record<string, Doc[]>> {
    const checked = await this.identities.check(identity, request);
    if (!checked.ok) throw new ParticleError(checked.code, checked.message);
    const out: Record<string, Doc[]> = {};
    // Live views answer from what the feed delivered: let it reach the writes made before now.
    // (Outside the queue, which the changes it waits for go through.)
    if (options.caughtUp !== false) await this.adapter.caughtUp?.();
    await this.queue.run(async () => {
      await this.feed.ensure();
      for (const source of this.views.eagerSources) {
        out[source.name] = await this.views.view({ source, identity: checked.identity });
      }
      for (const [name, params, limit] of options.subscriptions ?? []) {
        const docs = await this.subscriptions.view(checked.identity, { name, params, limit });
        out[subscriptionKey(name, params)] = docs;
      }
    });
    return JSON.parse(JSON.stringify(out)) as Record<string, Doc[]>;
  }

  /**
   * Runs `identityLookup` again for every session (live, or held for resume) whose resolved
   * identity matches `predicate` (all when omitted), with the claimed identity and the request
   * snapshot it registered with. A throw ends that session (`identity_rejected`, close 4403);
   * a changed identity re-resolves its views and sends fresh payloads. Call it after a
   * sign-out, a role change or a membership change that criteria cannot see. Resolves with the
   * number of sessions re-checked.
   */
  async reauthorize(
    predicate?: (identity: Readonly<Record<string, unknown>>) => boolean,
  ): Promise<number> {
    if (predicate !== undefined && typeof predicate !== 'function') {
      throw new TypeError('stream.reauthorize: predicate must be a function (identity) => boolean');
    }
    if (!this.hasLookup) return 0;
    const targets = [...this.sessions.values()].filter((s) => !predicate || predicate(s.identity));
    await Promise.all(
      targets.map(async (session) => {
        const { claimed, request } = session.credentials;
        const checked = await this.identities.check(claimed, request);
        await this.queue.run(async () => {
          if (!this.sessions.holds(session)) return;
          if (!checked.ok) this.lifecycle.end(session, checked.code, checked.message);
          else if (this.identities.key(checked.identity) !== session.identityKey) {
            await this.lifecycle.reresolve(session, checked.identity);
          } else {
            // Nothing the criteria read changed, but authorize and accept may read the rest of
            // the identity, or the database (a membership removed): ask them again.
            session.identity = checked.identity;
            await this.subscriptions.recheck(session);
            await this.views.publications.reauthorize(session);
          }
        });
      }),
    );
    return targets.length;
  }

  /**
   * Marks dependency `name` changed: every produced instance whose `produce` called
   * `depend(name)` produces again (coalesced). Call it from REST routes or jobs after changing
   * what a producer reads outside the adapter. Returns how many instances were marked.
   */
  bump(name: string): number {
    if (typeof name !== 'string') throw new TypeError('stream.bump: name must be a string');
    return this.views.producers.bump(name);
  }

  /** Counts for health checks. */
  stats(): StreamStats {
    let clients = 0;
    for (const s of this.sessions.values()) if (s.sink) clients++;
    const feedLagMs = this.adapter.feedLagMs?.();
    return {
      clients,
      sessions: this.sessions.size,
      groups: this.views.groupCount,
      uptimeMs: Date.now() - this.startedAt,
      closed: this.closed,
      ...(feedLagMs === undefined ? {} : { feedLagMs }),
    };
  }

  /** Closes every client link (close code 1001), the change feed and the adapter. */
  async disconnect(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const session of this.sessions.values()) {
      clearTimeout(session.graceTimer);
      session.sink?.close(CLOSE_CODES.goingAway, 'server shutting down');
      session.sink = null;
    }
    this.sessions.clear();
    this.writes.close();
    for (const t of this.transports) t.close();
    await this.queue.run(() => undefined);
    await this.feed.stop();
    this.views.clear();
    await this.adapter.close();
  }

  /** @internal Lets a transport be closed with the stream. */
  addTransport(transport: { close(): void }): () => void {
    this.transports.add(transport);
    return () => this.transports.delete(transport);
  }

  private debug(message: string, details?: unknown): void {
    this.debugLog?.(message, details);
  }

  /** @internal Lets a transport report what must not reach a client (to `onDebug`). */
  report(message: string, details?: unknown): void {
    this.debug(message, details);
  }
}
