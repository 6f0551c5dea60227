import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { ClientMessage, RegisterMessage, WireErrorCode } from '../protocol/messages.js';
import type { Adapter } from './adapter.js';
import type { CacheConfig } from './criteria.js';
import type { Mutator, ScopesLike } from './mutators.js';
import type { BacklogLimits, Session } from './session.js';
import type { CollectionsOfAdapter, SourcesCheck } from './typedSources.js';
import type { DataSource } from './views.js';

/**
 * The request the identity came with: the HTTP upgrade request for WebSocket clients, or
 * whatever `stream.snapshot(identity, request)` was given (any object with `headers` will do).
 */
export type IdentityRequest =
  IncomingMessage | { headers: IncomingHttpHeaders; url?: string | undefined } | undefined;

/**
 * Maps a claimed identity to the identity references read. Throw (or reject) to refuse the
 * registration; the message reaches the client as `identity_rejected`.
 */
export type IdentityLookup = (
  identity: Record<string, unknown>,
  request: IdentityRequest,
) => Record<string, unknown> | Promise<Record<string, unknown>>;

/** Options of {@link Stream}. */
export interface StreamOptions<
  TMutators extends Record<string, Mutator> = Record<string, Mutator>,
  TSources extends Record<string, DataSource> = Record<string, DataSource>,
  TAdapter extends Adapter = Adapter,
> {
  adapter: TAdapter;
  /**
   * The roots of every client's model. With an adapter that carries collection models
   * (`new MemoryAdapter<{ tasks: Task }>()`), a manifest naming a field the model lacks, or an
   * unknown collection, is a compile error.
   */
  dataSources: TSources & SourcesCheck<TSources, CollectionsOfAdapter<TAdapter>>;
  /** Without it, the claimed identity is trusted as it is. */
  identityLookup?: IdentityLookup;
  /** Links between collections for pipes: `{ L: { field: 'T.f' } }` means `L.field` references `T.f`. */
  cacheConfig?: CacheConfig;
  onDebug?: (message: string, details?: unknown) => void;
  /** How long a closed socket's session is held for resume. @default 30000 */
  sessionGraceMs?: number;
  /** What each session root keeps for resume. @default { deltas: 1000, bytes: 1 MiB } */
  backlog?: Partial<BacklogLimits>;
  /**
   * The largest identity, as UTF-8 JSON, that a client may claim and that `identityLookup` may
   * return; a larger one is refused with `bad_identity`. @default 16384 (16 KiB)
   */
  maxIdentityBytes?: number;
  /**
   * How many values a reference may expand to. An identity array holding more is refused with
   * `bad_identity`; a pipe that expands past it makes that view match nothing, and says so once
   * to `onDebug`. @default 1000
   */
  maxReferenceValues?: number;
  /** Live subscriptions per client; one more is refused (`too_many_subscriptions`). @default 100 */
  maxSubscriptions?: number;
  /**
   * Server functions clients call with `collector.mutate(name, args)`. Needs an adapter with
   * `runWrites` and `settled` (MemoryAdapter, MongoAdapter).
   */
  mutators?: TMutators;
  /** Handed to every mutator's `run` as `scopes` (a `Scopes` from `particle-sync/storage`). */
  scopes?: ScopesLike;
  /** How long a mutation's outcome is remembered, so a resent id never runs twice. @default 300000 */
  dedupMs?: number;
  /** Outcomes remembered per identity and client id. @default 1000 */
  dedupEntries?: number;
  /** Bytes of outcomes remembered per identity and client id. @default 1048576 (1 MiB) */
  dedupBytes?: number;
  /** A mutation still running after this is answered `mutation_timeout`. @default 30000 */
  mutationTimeoutMs?: number;
  /** How long a lease outlives its holder's closed link (no resume). @default 15000 */
  lockTtlMs?: number;
  /** Leases and waiting locks per session. @default 16 */
  maxLeases?: number;
  /** Publications (`collector.publish`) per client; one more is refused. @default 16 */
  maxPublications?: number;
  /**
   * Sessions this process holds, live or waiting for a resume. At the bound a new client takes
   * the place of the session that has waited longest for a resume; when all are live it is
   * refused with `rate_limited` (it retries). @default 50000
   */
  maxSessions?: number;
}

/** Options of {@link Stream.snapshot}. */
export interface SnapshotOptions {
  /** Subscriptions to render too, as `[source, params?, limit?]`. */
  subscriptions?: readonly (readonly [source: string, params?: unknown, limit?: number])[];
  /**
   * Whether views that are already live first wait for the change feed to pass the writes
   * committed before the call (MongoDB: its operation time of now), so the snapshot holds a
   * write made just before. On an idle stream that can take up to the adapter's
   * `maxAwaitTimeMS`; `false` answers at once from what the feed has delivered. @default true
   */
  caughtUp?: boolean;
}

/**
 * What `stream.register` returns: call it to unregister. `send` takes any client message but
 * `register` (validated like a frame), so subscriptions work in process too.
 */
export interface Unregister {
  (): void;
  send(message: Exclude<ClientMessage, RegisterMessage>): void;
}

export const STREAM_OPTION_KEYS = [
  'adapter',
  'dataSources',
  'identityLookup',
  'cacheConfig',
  'onDebug',
  'sessionGraceMs',
  'backlog',
  'maxIdentityBytes',
  'maxReferenceValues',
  'maxSubscriptions',
  'mutators',
  'scopes',
  'dedupMs',
  'dedupEntries',
  'dedupBytes',
  'mutationTimeoutMs',
  'lockTtlMs',
  'maxLeases',
  'maxPublications',
  'maxSessions',
] as const satisfies readonly (keyof StreamOptions)[];

/** Server state in numbers, as `GET <path>/health` reports it. */
export interface StreamStats {
  clients: number;
  sessions: number;
  groups: number;
  uptimeMs: number;
  /** `true` once `disconnect()` ran: the stream serves nobody. */
  closed: boolean;
  /**
   * How far the change feed is behind the database, in ms, when the adapter can tell (MongoDB:
   * now minus the cluster time delivered up to); absent otherwise.
   */
  feedLagMs?: number;
}

/** The outcome of {@link Stream.attach}. */
export type AttachResult =
  { ok: true; session: Session } | { ok: false; code: WireErrorCode; message: string };
