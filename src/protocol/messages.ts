// Every wire message, by direction: the values they carry (wireValues.ts), what clients send
// (clientMessages.ts) and what servers send (serverMessages.ts); `schemas` names them all.
export * from './wireValues.js';
export * from './wireOps.js';
export * from './clientMessages.js';
export * from './serverMessages.js';
import { ManifestSchema } from './wireValues.js';
import { WireOpSchema } from './wireOps.js';
import {
  LockMessageSchema,
  MutateMessageSchema,
  PublishMessageSchema,
  RegisterMessageSchema,
  SubscribeMessageSchema,
  UnlockMessageSchema,
  UnpublishMessageSchema,
  UnsubscribeMessageSchema,
} from './clientMessages.js';
import {
  BatchMessageSchema,
  DeltaMessageSchema,
  ErrorMessageSchema,
  HeartbeatMessageSchema,
  LeaseMessageSchema,
  LockErrorMessageSchema,
  LockedMessageSchema,
  ManifestMessageSchema,
  MutatedMessageSchema,
  PayloadMessageSchema,
  PublishErrorMessageSchema,
  RegisteredMessageSchema,
  ResumedMessageSchema,
  SubscribedMessageSchema,
  SubscriptionErrorMessageSchema,
  UnsubscribedMessageSchema,
} from './serverMessages.js';

/** JSON Schemas of every wire message, by message type. */
export const schemas = {
  register: RegisterMessageSchema,
  subscribe: SubscribeMessageSchema,
  unsubscribe: UnsubscribeMessageSchema,
  mutate: MutateMessageSchema,
  mutated: MutatedMessageSchema,
  batch: BatchMessageSchema,
  lock: LockMessageSchema,
  unlock: UnlockMessageSchema,
  locked: LockedMessageSchema,
  lock_error: LockErrorMessageSchema,
  lease: LeaseMessageSchema,
  publish: PublishMessageSchema,
  unpublish: UnpublishMessageSchema,
  publish_error: PublishErrorMessageSchema,
  subscribed: SubscribedMessageSchema,
  unsubscribed: UnsubscribedMessageSchema,
  subscription_error: SubscriptionErrorMessageSchema,
  registered: RegisteredMessageSchema,
  error: ErrorMessageSchema,
  manifest: ManifestMessageSchema,
  payload: PayloadMessageSchema,
  resumed: ResumedMessageSchema,
  delta: DeltaMessageSchema,
  heartbeat: HeartbeatMessageSchema,
  op: WireOpSchema,
  manifestValue: ManifestSchema,
} as const;
