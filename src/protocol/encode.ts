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
  Op,
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
import { opToWire } from './wireOps.js';

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

/** Why a subscription, lock or publication was refused: a wire code and a sentence. */
export interface Refusal<TCode extends string> {
  readonly code: TCode;
  readonly message: string;
}

export const encodeSubscriptionError = (
  sub: string,
  { code, message }: Refusal<SubscriptionErrorCode>,
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

/** A refused lock; `owner` (when the source names one) says who holds the document. */
export const encodeLockError = (
  id: string,
  { code, message, owner }: Refusal<LockErrorCode> & { readonly owner?: unknown },
): string =>
  json<LockErrorMessage>(
    owner === undefined
      ? { type: 'lock_error', id, code, message }
      : { type: 'lock_error', id, code, message, owner },
  );

/** Who holds document `doc` of `root` now: `holder`, or nobody (`null`). */
export const encodeLease = (
  root: string,
  doc: LeaseMessage['doc'],
  holder: { readonly owner: unknown } | null,
): string =>
  json<LeaseMessage>(
    holder === null
      ? { type: 'lease', root, doc, held: false }
      : holder.owner === undefined
        ? { type: 'lease', root, doc, held: true }
        : { type: 'lease', root, doc, held: true, owner: holder.owner },
  );

export const encodePublishError = (pub: string, code: PublishErrorCode, message: string): string =>
  json<PublishErrorMessage>({ type: 'publish_error', pub, code, message });

export const HEARTBEAT_FRAME: string = json<HeartbeatMessage>({ type: 'heartbeat' });

/** Where a payload starts: its root, epoch and version, and (windows) `more`. */
export interface PayloadHead {
  readonly root: PayloadMessage['root'];
  readonly epoch: PayloadMessage['epoch'];
  readonly version: PayloadMessage['version'];
  readonly more?: boolean | undefined;
}

/** A `payload` frame around `dataJson`, the JSON of the root's documents. */
export function encodePayload(
  { root, epoch, version, more }: PayloadHead,
  dataJson: string,
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

/** What every member's delta frame of one change shares; a backlog entry is one. */
export interface DeltaBody {
  /** The ops in their wire form, serialized once per group. */
  readonly opsJson: string;
  /** The server's clock when the change went out, in milliseconds since 1970. */
  readonly timestamp: number;
  /** A windowed root's new "documents beyond the window" flag, when it changed. */
  readonly more?: boolean | undefined;
}

/** The shared part of the delta frames carrying `ops` (and a changed `more`), made now. */
export function deltaBody(ops: readonly Op[], more?: boolean): DeltaBody {
  const opsJson = JSON.stringify(ops.map(opToWire));
  const timestamp = Date.now();
  return more === undefined ? { opsJson, timestamp } : { opsJson, timestamp, more };
}

/**
 * A `delta` frame: `prefix` from {@link deltaPrefix} around the shared `body`. This runs once
 * per member per change: it reads the body the group made and allocates only the frame.
 */
export function encodeDelta(prefix: string, version: number, body: DeltaBody): string {
  const { opsJson, timestamp, more } = body;
  const tail = more === undefined ? '}' : `,"more":${more}}`;
  return `${prefix}${version},"timestamp":${timestamp},"ops":${opsJson}${tail}`;
}
