import Type from 'typebox';
import { IdSchema, RootPositionSchema, type Id, type RootPosition } from './wireValues.js';

// What a client sends.

/** The one message a client sends: who it claims to be, and optionally where to resume. */
export const RegisterMessageSchema = Type.Object({
  type: Type.Literal('register'),
  protocol: Type.Number(),
  identity: Type.Record(Type.String(), Type.Unknown()),
  resume: Type.Optional(
    Type.Object({
      session: Type.String({ maxLength: 200 }),
      roots: Type.Record(Type.String(), RootPositionSchema),
    }),
  ),
});
export type RegisterMessage = {
  type: 'register';
  protocol: number;
  identity: Record<string, unknown>;
  resume?: { session: string; roots: Record<string, RootPosition> };
};

/**
 * A subscription id: chosen by the client (`^[A-Za-z0-9_-]{1,64}$`), unique among its live
 * subscriptions. The frame only bounds its length; an id outside the pattern ends that one
 * subscription (`subscription_error bad_message`), not the link.
 */
export const SUB_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const SubIdSchema = Type.String({ minLength: 1, maxLength: 200 });

/**
 * Subscribes to a source with params (or changes the limit of subscription `sub`); the server
 * answers `subscribed` then a `payload` for root `sub`, or `subscription_error`.
 */
export const SubscribeMessageSchema = Type.Object({
  type: Type.Literal('subscribe'),
  sub: SubIdSchema,
  source: Type.String({ minLength: 1, maxLength: 200 }),
  params: Type.Optional(Type.Unknown()),
  limit: Type.Optional(Type.Integer()),
  all: Type.Optional(Type.Boolean()),
});
export type SubscribeMessage = {
  type: 'subscribe';
  sub: string;
  source: string;
  params?: unknown;
  limit?: number;
  /** A wildcard consumer: one document per live instance of a `wildcard: true` produced source. */
  all?: boolean;
};

/** Ends subscription `sub`; the server answers `unsubscribed`. */
export const UnsubscribeMessageSchema = Type.Object({
  type: Type.Literal('unsubscribe'),
  sub: SubIdSchema,
});
export type UnsubscribeMessage = { type: 'unsubscribe'; sub: string };

/**
 * A mutation id, `<client id>:<seq>`: the client id is random per Collector, `seq` counts up.
 * The server remembers each id's outcome for a while, so a resent id never runs twice.
 */
export const MUTATION_ID_PATTERN = '^[A-Za-z0-9_-]{1,64}:[0-9]{1,15}$';
export const MutationIdSchema = Type.String({ pattern: MUTATION_ID_PATTERN, maxLength: 80 });

/** Runs mutator `name` with `args` on the server; answered by `mutated` with the same `id`. */
export const MutateMessageSchema = Type.Object({
  type: Type.Literal('mutate'),
  id: MutationIdSchema,
  name: Type.String({ minLength: 1, maxLength: 200 }),
  args: Type.Optional(Type.Unknown()),
});
export type MutateMessage = { type: 'mutate'; id: string; name: string; args?: unknown };

/**
 * Asks for the lease of document `doc` of root `root` (a source name; `params` for a
 * subscribed one). `wait: true` (`collector.lock`) queues behind the holder; `false`
 * (`collector.request`) fails at once with `locked`. `id` names this lock in `locked`,
 * `lock_error` and `unlock`.
 */
export const LockMessageSchema = Type.Object({
  type: Type.Literal('lock'),
  id: SubIdSchema,
  root: Type.String({ minLength: 1, maxLength: 200 }),
  params: Type.Optional(Type.Unknown()),
  doc: IdSchema,
  wait: Type.Boolean(),
});
export type LockMessage = {
  type: 'lock';
  id: string;
  root: string;
  params?: unknown;
  doc: Id;
  wait: boolean;
};
/** Releases lock `id` (held or waiting); one this session does not hold is ignored. */
export const UnlockMessageSchema = Type.Object({ type: Type.Literal('unlock'), id: SubIdSchema });
export type UnlockMessage = { type: 'unlock'; id: string };

/**
 * Publishes `data` into the instance (`source`, `params`) of a published source as publication
 * `pub`; again with the same `pub` replaces the value. Refusals come as `publish_error`.
 */
export const PublishMessageSchema = Type.Object({
  type: Type.Literal('publish'),
  pub: SubIdSchema,
  source: Type.String({ minLength: 1, maxLength: 200 }),
  params: Type.Optional(Type.Unknown()),
  data: Type.Unknown(),
});
export type PublishMessage = {
  type: 'publish';
  pub: string;
  source: string;
  params?: unknown;
  data: unknown;
};
/** Ends publication `pub`: its document goes. One this session does not hold is ignored. */
export const UnpublishMessageSchema = Type.Object({
  type: Type.Literal('unpublish'),
  pub: SubIdSchema,
});
export type UnpublishMessage = { type: 'unpublish'; pub: string };

export type ClientMessage =
  | RegisterMessage
  | SubscribeMessage
  | UnsubscribeMessage
  | MutateMessage
  | LockMessage
  | UnlockMessage
  | PublishMessage
  | UnpublishMessage;
