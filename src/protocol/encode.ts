import type {
  DeltaMessage,
  ErrorMessage,
  HeartbeatMessage,
  ManifestMessage,
  LeaseMessage,
  LockErrorCode,
  LockErrorMessage,
  LockedMessage,
  MutatedMessage,
  PayloadMessage,
  PublishErrorCode,
  PublishErrorMessage,
  RegisteredMessage,
  ResumedMessage,
  SubscribedMessage,
  SubscriptionErrorCode,
  SubscriptionErrorMessage,
  UnsubscribedMessage,
  WireErrorCode,
} from './messages.js';

/**
 * Every frame the server sends is built here, next to the message types it must match. The
 * payload and delta frames take pre-serialized data and ops: a group serializes a change's ops
 * once, and each member's frame adds only its own small header.
 */

const json = <T>(message: T): string => JSON.stringify(message);

export const encodeRegistered = (session: string, limits?: RegisteredMessage['limits']): string =>
  json<RegisteredMessage>(
    limits ? { type: 'registered', session, limits } : { type: 'registered', session },
  );

export const encodeError = (code: WireErrorCode, message: string): string =>
  json<ErrorMessage>({ type: 'error', code, message });

export const encodeManifest = (message: Omit<ManifestMessage, 'type'>): string =>
  json<ManifestMessage>({ type: 'manifest', ...message });

export const encodeResumed = (root: string, epoch: string, version: number): string =>
  json<ResumedMessage>({ type: 'resumed', root, epoch, version });

export const encodeSubscribed = (message: Omit<SubscribedMessage, 'type'>): string =>
  json<SubscribedMessage>({ type: 'subscribed', ...message });

export const encodeUnsubscribed = (sub: string): string =>
  json<UnsubscribedMessage>({ type: 'unsubscribed', sub });

export const encodeSubscriptionError = (
  sub: string,
  code: SubscriptionErrorCode,
  message: string,
  retrying?: boolean,
): string =>
  json<SubscriptionErrorMessage>(
    retrying
      ? { type: 'subscription_error', sub, code, message, retrying }
      : { type: 'subscription_error', sub, code, message },
  );

/** The answer to mutation `id`: its result, or its error. */
export const encodeMutated = (
  id: string,
  outcome: { result: unknown } | { error: { code: string; message: string } },
): string =>
  json<MutatedMessage>(
    'error' in outcome
      ? { type: 'mutated', id, error: outcome.error }
      : outcome.result === undefined
        ? { type: 'mutated', id }
        : { type: 'mutated', id, result: outcome.result },
  );

/** A `batch` frame around frames that were each built by this encoder (no second serialization). */
export const encodeBatch = (frames: readonly string[]): string =>
  `{"type":"batch","messages":[${frames.join(',')}]}`;

export const encodeLocked = (id: string, token: number, expiresAt: string): string =>
  json<LockedMessage>({ type: 'locked', id, token, expiresAt });

export const encodeLockError = (
  id: string,
  code: LockErrorCode,
  message: string,
  owner?: unknown,
): string =>
  json<LockErrorMessage>(
    owner === undefined
      ? { type: 'lock_error', id, code, message }
      : { type: 'lock_error', id, code, message, owner },
  );

export const encodeLease = (
  root: string,
  doc: LeaseMessage['doc'],
  owner: unknown,
  held: boolean,
): string =>
  json<LeaseMessage>(
    held && owner !== undefined
      ? { type: 'lease', root, doc, held, owner }
      : { type: 'lease', root, doc, held },
  );

export const encodePublishError = (pub: string, code: PublishErrorCode, message: string): string =>
  json<PublishErrorMessage>({ type: 'publish_error', pub, code, message });

export const HEARTBEAT_FRAME: string = json<HeartbeatMessage>({ type: 'heartbeat' });

/** A `payload` frame around `dataJson`, the JSON of the root's documents (`more`: windows). */
export function encodePayload(
  root: string,
  epoch: string,
  version: number,
  dataJson: string,
  more?: boolean,
): string {
  const head = json<Omit<PayloadMessage, 'data'>>({
    type: 'payload',
    root,
    epoch,
    version,
    ...(more === undefined ? {} : { more }),
  });
  return `${head.slice(0, -1)},"data":${dataJson}}`;
}

/** The fixed start of one root's delta frames in one epoch; see {@link encodeDelta}. */
export function deltaPrefix(root: string, epoch: string): string {
  const head = json<Pick<DeltaMessage, 'type' | 'root' | 'epoch'>>({ type: 'delta', root, epoch });
  return `${head.slice(0, -1)},"version":`;
}

/**
 * A `delta` frame: `prefix` from {@link deltaPrefix}, `opsJson` serialized once per group.
 * `timestamp` is the server's own ISO time (no character needs escaping), written as is: this
 * runs once per member per change.
 */
export function encodeDelta(
  prefix: string,
  version: number,
  timestamp: string,
  opsJson: string,
  more?: boolean,
): string {
  const tail = more === undefined ? '}' : `,"more":${more}}`;
  return `${prefix}${version},"timestamp":"${timestamp}","ops":${opsJson}${tail}`;
}
