import type { IncomingMessage } from 'node:http';
import { ParticleError, CLOSE_CODES } from '../protocol/errors.js';
import {
  PROTOCOL_VERSION,
  type Manifest,
  type RegisterMessage,
  type RootOptions,
  type ServerMessage,
  type Sort,
  type WireErrorCode,
} from '../protocol/messages.js';
import type { Adapter, Change, Doc, StopWatching } from './adapter.js';
import { canonicalKey } from './canonical.js';
import { isPlainObject } from './clone.js';
import {
  compileCriteria,
  identityValues,
  resolveCriteria,
  type CacheConfig,
  type CompiledCriteria,
} from './criteria.js';
import { Group, type GroupSource } from './group.js';
import { CollectionGroups } from './groupIndex.js';
import { idKey } from './ids.js';
import { compileMatcher } from './matcher.js';
import { toProjection } from './projection.js';
import { Session, SessionRoot, type BacklogLimits, type Sink } from './session.js';

/** One root of every client's data model. */
export interface DataSource {
  /** The adapter's collection (Mongo collection, memory collection). */
  collection: string;
  /** A MongoDB query; string values starting with `@` or holding `|` are references. `undefined`: every record. */
  criteria?: Doc | undefined;
  /** `true` (all fields) or a projection with `true` at any depth. Only listed fields leave the server. */
  manifest: Manifest;
  /** The order of the client's array (MongoDB sort spec). Its fields must be in the manifest. */
  sort?: Sort;
  /** The field that identifies a document on the wire. @default '_id' */
  idField?: string;
}

/** The request the identity came with (the HTTP upgrade request), when there is one. */
export type IdentityRequest = IncomingMessage | undefined;

/**
 * Maps a claimed identity to the identity references read. Throw (or reject) to refuse the
 * registration; the message reaches the client as `identity_rejected`.
 */
export type IdentityLookup = (
  identity: Record<string, unknown>,
  request: IdentityRequest,
) => Record<string, unknown> | Promise<Record<string, unknown>>;

/** Options of {@link Stream}. */
export interface StreamOptions {
  adapter: Adapter;
  dataSources: Record<string, DataSource>;
  /** Without it, the claimed identity is trusted as it is. */
  identityLookup?: IdentityLookup;
  /** Links between collections for pipes: `{ L: { field: 'T.f' } }` means `L.field` references `T.f`. */
  cacheConfig?: CacheConfig;
  onDebug?: (message: string, details?: unknown) => void;
  /** How long a closed socket's session is held for resume. @default 30000 */
  sessionGraceMs?: number;
  /** What each session root keeps for resume. @default { deltas: 1000, bytes: 1 MiB } */
  backlog?: Partial<BacklogLimits>;
}

/** Server state in numbers, as `GET <path>/health` reports it. */
export interface StreamStats {
  clients: number;
  sessions: number;
  groups: number;
  uptimeMs: number;
}

/** The outcome of {@link Stream.attach}. */
export type AttachResult =
  { ok: true; session: Session } | { ok: false; code: WireErrorCode; message: string };

interface SourceState extends GroupSource {
  readonly compiled: CompiledCriteria;
  readonly projection: Doc | undefined;
  readonly resolutions: Map<string, Resolution>;
}

/** The criteria of one source resolved for one set of identity values, shared by its clients. */
interface Resolution {
  readonly key: string;
  readonly source: SourceState;
  readonly identity: Record<string, unknown>;
  query: Doc;
  group: Group;
  readonly members: Set<SessionRoot>;
}

type Job = () => void | Promise<void>;

/**
 * The server side of Particle: decides per identity which records and fields each client may
 * see, sends them once and then every change to them.
 */
export class Stream {
  private readonly adapter: Adapter;
  private readonly identityLookup: IdentityLookup | undefined;
  private readonly debugLog: ((message: string, details?: unknown) => void) | undefined;
  private readonly graceMs: number;
  private readonly limits: BacklogLimits;
  private readonly sources = new Map<string, SourceState>();
  private readonly dependents = new Map<string, { source: SourceState; fields: Set<string> }[]>();
  private readonly watched: string[];
  private readonly manifestFrame: string;
  private readonly groups = new Map<string, Group>();
  private readonly collections = new Map<string, CollectionGroups>();
  private readonly sessions = new Map<string, Session>();
  private readonly transports = new Set<{ close(): void }>();
  private readonly startedAt = Date.now();
  private jobs: Job[] = [];
  private running = false;
  private feed: Promise<StopWatching> | null = null;
  private closed = false;

  constructor(options: StreamOptions) {
    this.adapter = options.adapter;
    this.identityLookup = options.identityLookup;
    this.debugLog = options.onDebug;
    this.graceMs = options.sessionGraceMs ?? 30_000;
    this.limits = { deltas: 1000, bytes: 1024 * 1024, ...options.backlog };
    const manifests: Record<string, Manifest> = {};
    const rootOptions: Record<string, RootOptions> = {};
    const watched = new Set<string>();
    for (const [name, ds] of Object.entries(options.dataSources)) {
      const source = this.compileSource(name, ds, options.cacheConfig ?? {});
      this.sources.set(name, source);
      manifests[name] = ds.manifest;
      if (ds.idField !== undefined || ds.sort !== undefined) {
        rootOptions[name] = {
          ...(ds.idField ? { idField: ds.idField } : {}),
          ...(ds.sort ? { sort: ds.sort } : {}),
        };
      }
      watched.add(ds.collection);
      for (const [collection, fields] of source.compiled.dependencies) {
        watched.add(collection);
        const list = this.dependents.get(collection) ?? [];
        list.push({ source, fields });
        this.dependents.set(collection, list);
      }
    }
    this.watched = [...watched];
    // `new Collector({ register: stream.register })` passes the method on its own.
    this.register = this.register.bind(this);
    this.manifestFrame = JSON.stringify({
      type: 'manifest',
      sources: manifests,
      ...(Object.keys(rootOptions).length ? { options: rootOptions } : {}),
    });
  }

  private compileSource(name: string, ds: DataSource, cacheConfig: CacheConfig): SourceState {
    const where = `dataSources.${name}`;
    if (!ds || typeof ds.collection !== 'string' || !ds.collection) {
      throw new ParticleError('config', `${where}.collection must name a collection`);
    }
    if (ds.manifest !== true && !isPlainObject(ds.manifest)) {
      throw new ParticleError(
        'config',
        `${where}.manifest is required: true, or a projection such as { name: true }`,
      );
    }
    if (ds.criteria !== undefined && !isPlainObject(ds.criteria)) {
      throw new ParticleError(
        'config',
        `${where}.criteria must be a MongoDB query object or undefined`,
      );
    }
    const idField = ds.idField ?? '_id';
    for (const field of Object.keys(ds.sort ?? {})) {
      if (!manifestShows(ds.manifest, field) && field !== idField) {
        throw new ParticleError(
          'config',
          `${where}.sort: "${field}" must be in the manifest, or clients cannot keep the order`,
        );
      }
    }
    return {
      name,
      collection: ds.collection,
      manifest: ds.manifest,
      idField,
      sort: ds.sort,
      compiled: compileCriteria(ds.criteria, cacheConfig, where),
      projection: toProjection(ds.manifest, idField),
      resolutions: new Map(),
    };
  }

  /**
   * Registers a collector without a socket. `receive(type, message)` gets every message;
   * `done(err)` reports when registration completed or failed. Returns an unregister function.
   */
  register(
    identity: Record<string, unknown>,
    receive: (type: ServerMessage['type'], message: ServerMessage) => void,
    done?: (error: Error | null) => void,
    request?: IdentityRequest,
  ): () => void {
    let session: Session | undefined;
    let cancelled = false;
    const sink: Sink = {
      send: (frame) => {
        const message = JSON.parse(frame) as ServerMessage;
        receive(message.type, message);
      },
      close: () => {
        cancelled = true;
      },
    };
    this.attach({ type: 'register', protocol: PROTOCOL_VERSION, identity }, sink, request).then(
      (result) => {
        if (!result.ok) {
          receive('error', { type: 'error', code: result.code, message: result.message });
          done?.(new ParticleError(result.code, result.message));
          return;
        }
        session = result.session;
        if (cancelled) this.detach(session, false, sink);
        done?.(null);
      },
      (error: unknown) => done?.(error instanceof Error ? error : new Error(String(error))),
    );
    return () => {
      cancelled = true;
      if (session) this.detach(session, false, sink);
    };
  }

  /**
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
    const checked = await this.lookupIdentity(message.identity, request);
    if (!checked.ok) return checked;
    const { identity } = checked;
    const identityKey = this.identityKey(identity);
    return this.enqueue(async () => {
      if (this.closed)
        return { ok: false, code: 'internal', message: 'the stream is shut down' } as const;
      await this.ensureFeed();
      const held = message.resume ? this.sessions.get(message.resume.session) : undefined;
      const resumable = held !== undefined && held.identityKey === identityKey;
      const session = resumable ? held : await this.createSession(identity, identityKey);
      if (resumable) {
        clearTimeout(session.graceTimer);
        // The old link may not have noticed it is dead yet; the resume takes the session over.
        session.sink?.close(CLOSE_CODES.goingAway, 'session resumed on another link');
      }
      session.sink = sink;
      sink.send(JSON.stringify({ type: 'registered', session: session.id }), 'control');
      sink.send(this.manifestFrame, 'control');
      for (const root of session.roots.values()) {
        const position = resumable ? message.resume?.roots[root.name] : undefined;
        const missed =
          position && position.epoch === root.epoch && position.version <= root.version
            ? root.backlog.since(position.version)
            : undefined;
        if (position && missed) {
          sink.send(
            JSON.stringify({
              type: 'resumed',
              root: root.name,
              epoch: root.epoch,
              version: position.version,
            }),
            'control',
          );
          missed.forEach((entry, i) =>
            sink.send(root.frame(position.version + i + 1, entry), 'control'),
          );
        } else {
          if (resumable) root.restart();
          sink.send(root.payloadFrame((root.group as Group).payload()), 'control');
        }
      }
      this.debug('registered', { session: session.id, resumed: Boolean(resumable) });
      return { ok: true, session } as const;
    });
  }

  /**
   * The link `sink` of a session closed; with `hold`, the session waits `sessionGraceMs` for a
   * resume. A link that was already replaced by a resume changes nothing.
   */
  detach(session: Session, hold: boolean, sink: Sink): void {
    if (session.sink !== sink) return;
    session.sink = null;
    clearTimeout(session.graceTimer);
    if (!this.sessions.has(session.id)) return;
    if (hold && !this.closed && this.graceMs > 0) {
      session.graceTimer = setTimeout(
        () => this.enqueue(() => this.dropSession(session)),
        this.graceMs,
      );
      session.graceTimer.unref?.();
    } else {
      this.enqueue(() => this.dropSession(session));
    }
  }

  /** Resolves to `{ [source]: Doc[] }` exactly as a collector with this identity holds it once ready. */
  async snapshot(
    identity: Record<string, unknown>,
    request?: IdentityRequest,
  ): Promise<Record<string, Doc[]>> {
    const checked = await this.lookupIdentity(identity, request);
    if (!checked.ok) throw new ParticleError(checked.code, checked.message);
    const out: Record<string, Doc[]> = {};
    await this.enqueue(async () => {
      await this.ensureFeed();
      for (const source of this.sources.values()) {
        const existing = source.resolutions.get(this.resolutionKey(source, checked.identity));
        const query = existing?.query ?? (await this.resolve(source, checked.identity));
        const group =
          this.groups.get(this.groupKey(source, query)) ??
          (await this.loadGroup(source, query, false));
        out[source.name] = group.list();
      }
    });
    return JSON.parse(JSON.stringify(out)) as Record<string, Doc[]>;
  }

  /** Counts for health checks. */
  stats(): StreamStats {
    let clients = 0;
    for (const s of this.sessions.values()) if (s.sink) clients++;
    return {
      clients,
      sessions: this.sessions.size,
      groups: this.groups.size,
      uptimeMs: Date.now() - this.startedAt,
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
    for (const t of this.transports) t.close();
    await this.enqueue(() => undefined);
    const feed = this.feed;
    this.feed = null;
    if (feed) await feed.then((stop) => stop()).catch(() => undefined);
    for (const group of this.groups.values()) group.clear();
    this.groups.clear();
    await this.adapter.close();
  }

  /** Lets a transport be closed with the stream. */
  addTransport(transport: { close(): void }): () => void {
    this.transports.add(transport);
    return () => this.transports.delete(transport);
  }

  // ---- identity --------------------------------------------------------------------------

  private async lookupIdentity(
    claimed: Record<string, unknown>,
    request: IdentityRequest,
  ): Promise<
    | { ok: true; identity: Record<string, unknown> }
    | { ok: false; code: WireErrorCode; message: string }
  > {
    let identity = claimed;
    if (this.identityLookup) {
      try {
        const result = await this.identityLookup(claimed, request);
        if (typeof result !== 'object' || result === null)
          throw new Error('identityLookup must return an object');
        identity = result;
      } catch (error) {
        return {
          ok: false,
          code: 'identity_rejected',
          message: error instanceof Error ? error.message : String(error),
        };
      }
    }
    try {
      for (const source of this.sources.values()) {
        for (const field of source.compiled.identityFields) identityValues(identity, field);
      }
    } catch (error) {
      return { ok: false, code: 'bad_identity', message: (error as Error).message };
    }
    return { ok: true, identity };
  }

  // ---- sessions, resolutions, groups -------------------------------------------------------

  private async createSession(
    identity: Record<string, unknown>,
    identityKey: string,
  ): Promise<Session> {
    const session = new Session(identity, identityKey);
    for (const source of this.sources.values()) {
      const root = new SessionRoot(session, source.name, this.limits);
      const resolution = await this.resolutionFor(source, identity);
      root.resolution = resolution;
      root.group = resolution.group;
      resolution.members.add(root);
      resolution.group.members.add(root);
      session.roots.set(source.name, root);
    }
    this.sessions.set(session.id, session);
    return session;
  }

  private dropSession(session: Session): void {
    if (this.sessions.get(session.id) !== session || session.sink) return;
    this.sessions.delete(session.id);
    for (const root of session.roots.values()) {
      const resolution = root.resolution as Resolution | null;
      if (resolution) {
        resolution.members.delete(root);
        if (resolution.members.size === 0) resolution.source.resolutions.delete(resolution.key);
      }
      if (root.group) this.leaveGroup(root, root.group);
    }
    this.debug('session dropped', { session: session.id });
  }

  private leaveGroup(root: SessionRoot, group: Group): void {
    group.members.delete(root);
    if (group.members.size === 0 && this.groups.get(group.key) === group) {
      this.groups.delete(group.key);
      this.collections.get(group.source.collection)?.remove(group);
      group.clear();
    }
  }

  /** What a resume must present again: the values of every identity field a reference reads. */
  private identityKey(identity: Record<string, unknown>): string {
    const fields = [
      ...new Set([...this.sources.values()].flatMap((s) => s.compiled.identityFields)),
    ].sort();
    return canonicalKey(fields.map((f) => (Object.hasOwn(identity, f) ? [f, identity[f]] : [f])));
  }

  private resolutionKey(source: SourceState, identity: Record<string, unknown>): string {
    return canonicalKey(
      source.compiled.identityFields.map((f) => (Object.hasOwn(identity, f) ? identity[f] : null)),
    );
  }

  private resolve(source: SourceState, identity: Record<string, unknown>): Promise<Doc> {
    return resolveCriteria(source.compiled, identity, (collection, query) =>
      this.adapter.find(collection, query),
    );
  }

  private async resolutionFor(
    source: SourceState,
    identity: Record<string, unknown>,
  ): Promise<Resolution> {
    const key = this.resolutionKey(source, identity);
    const existing = source.resolutions.get(key);
    if (existing) return existing;
    const query = await this.resolve(source, identity);
    const group = await this.groupFor(source, query);
    const resolution: Resolution = { key, source, identity, query, group, members: new Set() };
    source.resolutions.set(key, resolution);
    return resolution;
  }

  private groupKey(source: SourceState, query: Doc): string {
    return `${source.name}\u0000${canonicalKey(query)}`;
  }

  private async groupFor(source: SourceState, query: Doc): Promise<Group> {
    return this.groups.get(this.groupKey(source, query)) ?? this.loadGroup(source, query, true);
  }

  private async loadGroup(source: SourceState, query: Doc, keep: boolean): Promise<Group> {
    await this.ensureFeed();
    const collection = source.collection;
    const index = this.collectionGroups(collection);
    const group = new Group(
      this.groupKey(source, query),
      source,
      query,
      compileMatcher(query),
      (g, key, held) => {
        if (keep) index.hold(g, key, held);
      },
    );
    const rows = await this.adapter.find(collection, query, {
      ...(source.projection ? { projection: source.projection } : {}),
      ...(source.sort ? { sort: source.sort } : {}),
    });
    if (keep) {
      this.groups.set(group.key, group);
      index.add(group);
    }
    group.load(rows);
    return group;
  }

  private collectionGroups(collection: string): CollectionGroups {
    let index = this.collections.get(collection);
    if (!index) this.collections.set(collection, (index = new CollectionGroups()));
    return index;
  }

  // ---- the change feed ---------------------------------------------------------------------

  private ensureFeed(): Promise<StopWatching> {
    this.feed ??= this.openFeed();
    return this.feed;
  }

  private async openFeed(): Promise<StopWatching> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.adapter.watch(
          this.watched,
          (change) => this.enqueue(() => this.applyChange(change)),
          (error) => this.feedFailed(error),
        );
      } catch (error) {
        if (this.closed) throw error;
        this.debug('opening the change feed failed; retrying', error);
        await new Promise((r) => setTimeout(r, Math.min(10_000, 250 * 2 ** attempt)));
      }
    }
  }

  private feedFailed(error: Error): void {
    this.debug('change feed failed; reopening and resyncing', error);
    if (this.closed) return;
    const old = this.feed;
    this.feed = null;
    this.enqueue(async () => {
      await old?.then((stop) => stop()).catch(() => undefined);
      await this.ensureFeed();
      for (const collection of this.watched) await this.resync(collection);
    });
  }

  private applyChange(change: Change): void | Promise<void> {
    if (this.closed) return;
    if (change.type === 'reset') return this.resync(change.collection);
    const affected = (this.dependents.get(change.collection) ?? []).filter(
      ({ source, fields }) => source.resolutions.size > 0 && touches(change, fields),
    );
    if (affected.length === 0) return this.route(change);
    return this.reresolve(affected.map((d) => d.source)).then(() => this.route(change));
  }

  private route(change: Exclude<Change, { type: 'reset' }>): void {
    const index = this.collections.get(change.collection);
    if (!index || index.size === 0) return;
    const key = idKey(change.id);
    const doc = change.type === 'delete' ? null : change.doc;
    for (const group of index.candidates(key, doc)) group.emit(group.process(change, key));
  }

  /** Re-runs the criteria of every resolution of `sources`; moves clients whose criteria changed. */
  private async reresolve(sources: SourceState[]): Promise<void> {
    for (const source of new Set(sources)) {
      for (const resolution of [...source.resolutions.values()]) {
        const query = await this.resolve(source, resolution.identity);
        if (canonicalKey(query) === canonicalKey(resolution.query)) continue;
        const from = resolution.group;
        const to = await this.groupFor(source, query);
        resolution.query = query;
        resolution.group = to;
        const ops = from.opsTowards(to);
        const entry = { opsJson: JSON.stringify(ops), timestamp: new Date().toISOString() };
        for (const root of resolution.members) {
          to.members.add(root);
          root.group = to;
          if (ops.length > 0) root.deliver(entry);
          this.leaveGroup(root, from);
        }
      }
    }
  }

  /** History of `collection` was lost: re-resolve criteria reading it and re-query its groups. */
  private async resync(collection: string): Promise<void> {
    const dependents = (this.dependents.get(collection) ?? []).map((d) => d.source);
    if (dependents.length) await this.reresolve(dependents);
    for (const group of [...this.groups.values()]) {
      if (group.source.collection !== collection || this.groups.get(group.key) !== group) continue;
      const source = this.sources.get(group.source.name) as SourceState;
      const rows = await this.adapter.find(
        collection,
        group.query,
        source.projection ? { projection: source.projection } : {},
      );
      group.emit(group.diff(rows));
    }
  }

  // ---- the job queue -------------------------------------------------------------------------

  /**
   * Runs jobs one at a time, in order. Changes, registrations and resyncs all go through it, so
   * a group is never queried while a change to it is half-applied.
   */
  private enqueue<T>(job: () => T | Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.jobs.push(() => {
        try {
          const result = job();
          if (result instanceof Promise) return result.then(resolve, reject);
          resolve(result);
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
      if (!this.running) void this.pump();
    });
  }

  private async pump(): Promise<void> {
    this.running = true;
    try {
      while (this.jobs.length > 0) {
        const job = this.jobs.shift() as Job;
        const result = job();
        if (result instanceof Promise)
          await result.catch((error: unknown) => this.debug('job failed', error));
      }
    } finally {
      this.running = false;
    }
  }

  private debug(message: string, details?: unknown): void {
    this.debugLog?.(message, details);
  }
}

function manifestShows(manifest: Manifest, path: string): boolean {
  let m: Manifest = manifest;
  for (const seg of path.split('.')) {
    if (m === true) return true;
    const next: Manifest | undefined = m[seg];
    if (next === undefined) return false;
    m = next;
  }
  return true;
}

/** True when a change may alter which documents a pipe selects or the values it reads. */
function touches(change: Exclude<Change, { type: 'reset' }>, fields: Set<string>): boolean {
  if (change.type !== 'update') return true;
  if (change.doc === null) return true;
  for (const path of Object.keys(change.updatedFields))
    if (fields.has(path.split('.')[0] as string)) return true;
  for (const path of change.removedFields)
    if (fields.has(path.split('.')[0] as string)) return true;
  return false;
}
