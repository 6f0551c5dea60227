export { Collector } from './collector.js';
export { COLLECTOR_DEFAULTS } from './options.js';
/** One caller's hold on an on-demand subscription: `collector.subscribe(source, params)`. */
export { Subscription } from './subscription.js';
export type {
  CollectorData,
  CollectorEvent,
  CollectorListener,
  CollectorNotice,
  CollectorOptions,
  CollectorStatus,
  NoticeListener,
  ReadyCallback,
  ReadyOptions,
  ReconnectOptions,
  RegisterTransport,
  SubscribeOptions,
  SubscriptionListener,
  SubscriptionNotice,
  SubscriptionStatus,
  WebSocketClass,
  WebSocketLike,
  WildcardDoc,
} from './types.js';
export type { MutateOptions, PendingMutation } from './mutations.js';
export type { LocalStore, OptimisticRecipe } from './optimistic.js';
export type { Lease, LeaseState } from './leases.js';
export type { Publication } from './publications.js';
export type {
  DataOf,
  DocOf,
  EagerRoot,
  MutateRest,
  MutatorArgs,
  MutatorName,
  MutatorResult,
  MutatorsOf,
  ParamsOf,
  PublishedName,
  SourceName,
  SourcesOf,
  SubscribeRest,
  Wire,
} from './typed.js';
export { MutationError, ParticleError } from '../protocol/index.js';
export type {
  ClientMessage,
  Doc,
  Id,
  ParticleErrorCode,
  SubscriptionErrorCode,
} from '../protocol/index.js';
