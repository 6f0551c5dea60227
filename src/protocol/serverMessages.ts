import Type from 'typebox';
import {
  DocSchema,
  IdSchema,
  ManifestSchema,
  SortSchema,
  type Doc,
  type Id,
  type Manifest,
  type Sort,
} from './wireValues.js';
import { WireOpSchema, type WireOp } from './wireOps.js';

// What the server sends.

/**
 * Registration accepted; `session` names the server-side session for a later resume. `limits`
 * is the link's frame bound (a token bucket of `burst` frames refilled at `messagesPerSecond`),
 * so a client can pace what it sends; absent when there is none.
 */
export const RegisteredMessageSchema = Type.Object({
  type: Type.Literal('registered'),
  session: Type.String(),
  limits: Type.Optional(
    Type.Object({
      messagesPerSecond: Type.Number({ exclusiveMinimum: 0 }),
      burst: Type.Number({ minimum: 1 }),
    }),
  ),
});
export type RegisteredMessage = {
  type: 'registered';
  session: string;
  limits?: { messagesPerSecond: number; burst: number };
};

/** Wire error codes (see the close-code table in the README). */
export const ERROR_CODES = [
  'bad_message',
  'protocol_mismatch',
  'bad_identity',
  'identity_rejected',
  'rate_limited',
  'internal',
] as const;
export type WireErrorCode = (typeof ERROR_CODES)[number];

export const ErrorMessageSchema = Type.Object({
  type: Type.Literal('error'),
  code: Type.Union(ERROR_CODES.map((c) => Type.Literal(c))),
  message: Type.String(),
});
export type ErrorMessage = { type: 'error'; code: WireErrorCode; message: string };

/** Per-root options that differ from the defaults. */
export const RootOptionsSchema = Type.Object({
  idField: Type.Optional(Type.String()),
  sort: Type.Optional(SortSchema),
  limit: Type.Optional(Type.Integer({ minimum: 1 })),
});
/** `limit` is set for a live window: the first `limit` documents in `sort` order. */
export type RootOptions = { idField?: string; sort?: Sort; limit?: number };

/** The roots this client will receive, with their manifests. */
export const ManifestMessageSchema = Type.Object({
  type: Type.Literal('manifest'),
  sources: Type.Record(Type.String(), ManifestSchema),
  options: Type.Optional(Type.Record(Type.String(), RootOptionsSchema)),
});
export type ManifestMessage = {
  type: 'manifest';
  sources: Record<string, Manifest>;
  options?: Record<string, RootOptions>;
};

/** The whole current content of one root, starting an epoch at `version`. */
export const PayloadMessageSchema = Type.Object({
  type: Type.Literal('payload'),
  root: Type.String(),
  epoch: Type.String(),
  version: Type.Integer({ minimum: 0 }),
  data: Type.Array(DocSchema),
  more: Type.Optional(Type.Boolean()),
});
/** `more` (windowed roots only): whether matching documents exist beyond the window. */
export type PayloadMessage = {
  type: 'payload';
  root: string;
  epoch: string;
  version: number;
  data: Doc[];
  more?: boolean;
};

/** The client's resume point was accepted; the missed deltas follow. */
export const ResumedMessageSchema = Type.Object({
  type: Type.Literal('resumed'),
  root: Type.String(),
  epoch: Type.String(),
  version: Type.Integer({ minimum: 0 }),
});
export type ResumedMessage = { type: 'resumed'; root: string; epoch: string; version: number };

/**
 * Ops for one root; `version` is exactly the previous version + 1 within the epoch;
 * `timestamp` is the server's clock when it sent the change, in milliseconds since 1970.
 */
export const DeltaMessageSchema = Type.Object({
  type: Type.Literal('delta'),
  root: Type.String(),
  epoch: Type.String(),
  version: Type.Integer({ minimum: 1 }),
  // The range a JavaScript Date holds, so every timestamp turns into one.
  timestamp: Type.Integer({ minimum: 0, maximum: 8.64e15 }),
  ops: Type.Array(WireOpSchema),
  more: Type.Optional(Type.Boolean()),
});
/** `more` is present when a windowed root's "documents beyond the window" changed. */
export type DeltaMessage = {
  type: 'delta';
  root: string;
  epoch: string;
  version: number;
  timestamp: number;
  ops: WireOp[];
  more?: boolean;
};

/** Sent after a stretch of silence so the client knows the link is alive. */
export const HeartbeatMessageSchema = Type.Object({ type: Type.Literal('heartbeat') });
export type HeartbeatMessage = { type: 'heartbeat' };

/** Codes that end one subscription (the socket and other roots carry on). */
export const SUBSCRIPTION_ERROR_CODES = [
  'bad_message',
  'unknown_source',
  'bad_params',
  'forbidden',
  'too_many_subscriptions',
  'produce_failed',
] as const;
export type SubscriptionErrorCode = (typeof SUBSCRIPTION_ERROR_CODES)[number];

/** Subscription `sub` is live: its root's manifest and options; its `payload` follows. */
export const SubscribedMessageSchema = Type.Object({
  type: Type.Literal('subscribed'),
  sub: Type.String(),
  manifest: ManifestSchema,
  options: Type.Optional(RootOptionsSchema),
});
export type SubscribedMessage = {
  type: 'subscribed';
  sub: string;
  manifest: Manifest;
  options?: RootOptions;
};

/** Subscription `sub` ended (asked for, or not held any more at a resume). */
export const UnsubscribedMessageSchema = Type.Object({
  type: Type.Literal('unsubscribed'),
  sub: Type.String(),
});
export type UnsubscribedMessage = { type: 'unsubscribed'; sub: string };

/** Subscription `sub` failed and ended, unless `retrying` (it then stays live with its data). */
export const SubscriptionErrorMessageSchema = Type.Object({
  type: Type.Literal('subscription_error'),
  sub: Type.String(),
  code: Type.Union(SUBSCRIPTION_ERROR_CODES.map((c) => Type.Literal(c))),
  message: Type.String(),
  retrying: Type.Optional(Type.Boolean()),
});
export type SubscriptionErrorMessage = {
  type: 'subscription_error';
  sub: string;
  code: SubscriptionErrorCode;
  message: string;
  retrying?: boolean;
};

/** Codes a mutation may fail with besides the app's own (`^[a-z][a-z0-9_]*$`). */
export const MUTATION_ERROR_CODES = [
  'unknown_mutator',
  'bad_args',
  'mutation_timeout',
  'locked',
  'forbidden',
  'internal',
] as const;
export type MutationErrorCode = (typeof MUTATION_ERROR_CODES)[number];
/** The pattern every mutation error code follows, the app's own included. */
export const MUTATION_CODE_PATTERN = '^[a-z][a-z0-9_]*$';

/** How mutation `id` ended: its `result`, or an `error` (never both). */
export const MutatedMessageSchema = Type.Union([
  Type.Object(
    {
      type: Type.Literal('mutated'),
      id: Type.String(),
      result: Type.Optional(Type.Unknown()),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal('mutated'),
      id: Type.String(),
      error: Type.Object({
        code: Type.String({ pattern: MUTATION_CODE_PATTERN, maxLength: 100 }),
        message: Type.String(),
      }),
    },
    { additionalProperties: false },
  ),
]);
export type MutatedMessage =
  | { type: 'mutated'; id: string; result?: unknown }
  | { type: 'mutated'; id: string; error: { code: string; message: string } };

/**
 * Several messages the client applies in one step: a mutation's deltas and its `mutated`, so the
 * view never shows the optimistic document beside the real one. Framing only: backlogs and
 * resume replay keep single deltas.
 */
export const BatchMessageSchema = Type.Object({
  type: Type.Literal('batch'),
  messages: Type.Array(Type.Record(Type.String(), Type.Unknown()), { maxItems: 100_000 }),
});
export type BatchMessage = { type: 'batch'; messages: Exclude<ServerMessage, BatchMessage>[] };

/** Lock `id` is granted: `token` (larger with every grant of that document), and until when. */
export const LockedMessageSchema = Type.Object({
  type: Type.Literal('locked'),
  id: Type.String(),
  token: Type.Integer({ minimum: 1 }),
  expiresAt: Type.String(),
});
export type LockedMessage = { type: 'locked'; id: string; token: number; expiresAt: string };

/** Codes a lock may fail with. */
export const LOCK_ERROR_CODES = [
  'locked',
  'forbidden',
  'unknown_source',
  'too_many_leases',
  'cancelled',
  'bad_message',
] as const;
export type LockErrorCode = (typeof LOCK_ERROR_CODES)[number];

/** Lock `id` failed (or a held lease ended: `cancelled`); `owner` names the holder when known. */
export const LockErrorMessageSchema = Type.Object({
  type: Type.Literal('lock_error'),
  id: Type.String(),
  code: Type.Union(LOCK_ERROR_CODES.map((c) => Type.Literal(c))),
  message: Type.String(),
  owner: Type.Optional(Type.Unknown()),
});
export type LockErrorMessage = {
  type: 'lock_error';
  id: string;
  code: LockErrorCode;
  message: string;
  owner?: unknown;
};

/**
 * Who holds the lease of document `doc` of root `root` now (`held: false`: nobody), sent to every
 * client whose view of a writable source shows it. `owner` is the source's `lockOwner(identity)`.
 */
export const LeaseMessageSchema = Type.Object({
  type: Type.Literal('lease'),
  root: Type.String(),
  doc: IdSchema,
  held: Type.Boolean(),
  owner: Type.Optional(Type.Unknown()),
});
export type LeaseMessage = { type: 'lease'; root: string; doc: Id; held: boolean; owner?: unknown };

/** Codes a publication may fail with. */
export const PUBLISH_ERROR_CODES = [
  'bad_message',
  'unknown_source',
  'bad_params',
  'forbidden',
  'rejected',
  'publish_conflict',
  'too_many_publications',
  'rate_limited',
] as const;
export type PublishErrorCode = (typeof PUBLISH_ERROR_CODES)[number];

/** Publication `pub` was refused: the server holds no document for it (any earlier one is gone). */
export const PublishErrorMessageSchema = Type.Object({
  type: Type.Literal('publish_error'),
  pub: Type.String(),
  code: Type.Union(PUBLISH_ERROR_CODES.map((c) => Type.Literal(c))),
  message: Type.String(),
});
export type PublishErrorMessage = {
  type: 'publish_error';
  pub: string;
  code: PublishErrorCode;
  message: string;
};

export type ServerMessage =
  | PublishErrorMessage
  | LockedMessage
  | LockErrorMessage
  | LeaseMessage
  | BatchMessage
  | MutatedMessage
  | SubscribedMessage
  | UnsubscribedMessage
  | SubscriptionErrorMessage
  | RegisteredMessage
  | ErrorMessage
  | ManifestMessage
  | PayloadMessage
  | ResumedMessage
  | DeltaMessage
  | HeartbeatMessage;
