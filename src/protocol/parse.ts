import Type from 'typebox';
import { Compile } from 'typebox/compile';
import {
  DeltaMessageSchema,
  ErrorMessageSchema,
  HeartbeatMessageSchema,
  ManifestMessageSchema,
  LeaseMessageSchema,
  LockErrorMessageSchema,
  LockMessageSchema,
  LockedMessageSchema,
  UnlockMessageSchema,
  MutateMessageSchema,
  PublishErrorMessageSchema,
  PublishMessageSchema,
  UnpublishMessageSchema,
  MutatedMessageSchema,
  PayloadMessageSchema,
  RegisterMessageSchema,
  RegisteredMessageSchema,
  ResumedMessageSchema,
  SubscribeMessageSchema,
  SubscribedMessageSchema,
  SubscriptionErrorMessageSchema,
  UnsubscribeMessageSchema,
  UnsubscribedMessageSchema,
  type ClientMessage,
  type ServerMessage,
} from './messages.js';

/** The result of parsing a frame: a typed message, or why it was refused. */
export type ParseResult<T> = { ok: true; message: T } | { ok: false; error: string };

const clientValidators = {
  register: Compile(RegisterMessageSchema),
  subscribe: Compile(SubscribeMessageSchema),
  unsubscribe: Compile(UnsubscribeMessageSchema),
  mutate: Compile(MutateMessageSchema),
  lock: Compile(LockMessageSchema),
  unlock: Compile(UnlockMessageSchema),
  publish: Compile(PublishMessageSchema),
  unpublish: Compile(UnpublishMessageSchema),
} as const;
// A payload can hold 100k documents: its envelope goes through the schema validator and each
// document is checked to be an object, which is all DocSchema asks; the published schema is the
// same contract.
const payloadEnvelope = Compile(
  Type.Object({ ...PayloadMessageSchema.properties, data: Type.Array(Type.Unknown()) }),
);
const serverValidators = {
  registered: Compile(RegisteredMessageSchema),
  error: Compile(ErrorMessageSchema),
  manifest: Compile(ManifestMessageSchema),
  payload: Compile(PayloadMessageSchema),
  resumed: Compile(ResumedMessageSchema),
  delta: Compile(DeltaMessageSchema),
  heartbeat: Compile(HeartbeatMessageSchema),
  subscribed: Compile(SubscribedMessageSchema),
  unsubscribed: Compile(UnsubscribedMessageSchema),
  subscription_error: Compile(SubscriptionErrorMessageSchema),
  mutated: Compile(MutatedMessageSchema),
  locked: Compile(LockedMessageSchema),
  lock_error: Compile(LockErrorMessageSchema),
  lease: Compile(LeaseMessageSchema),
  publish_error: Compile(PublishErrorMessageSchema),
} as const;

function decode(raw: unknown): ParseResult<Record<string, unknown>> {
  let value: unknown = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch {
      return { ok: false, error: 'frame is not valid JSON' };
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, error: 'message must be a JSON object' };
  }
  return { ok: true, message: value as Record<string, unknown> };
}

function describe(
  validator: { Errors(value: unknown): Iterable<{ instancePath: string; message: string }> },
  value: unknown,
): string {
  for (const e of validator.Errors(value)) return `${e.instancePath || '/'} ${e.message}`;
  return 'invalid message';
}

/** Validates a frame (text or already-decoded JSON) sent by a client. */
export function parseClientMessage(raw: unknown): ParseResult<ClientMessage> {
  const decoded = decode(raw);
  if (!decoded.ok) return decoded;
  const value = decoded.message;
  const type = value.type;
  if (typeof type !== 'string' || !Object.hasOwn(clientValidators, type)) {
    return { ok: false, error: `unknown message type ${JSON.stringify(type)}` };
  }
  const validator = clientValidators[type as keyof typeof clientValidators];
  if (!validator.Check(value)) return { ok: false, error: describe(validator, value) };
  return { ok: true, message: value };
}

/**
 * Validates a frame (text or already-decoded JSON) sent by a server. A `batch` is checked
 * message by message; a batch inside a batch is refused.
 */
export function parseServerMessage(raw: unknown): ParseResult<ServerMessage> {
  const decoded = decode(raw);
  if (!decoded.ok) return decoded;
  const value = decoded.message;
  if (value.type === 'batch') {
    const list = value.messages;
    if (!Array.isArray(list)) return { ok: false, error: '/messages must be an array' };
    const messages: ServerMessage[] = [];
    for (let i = 0; i < list.length; i++) {
      const item = list[i] as unknown;
      if (
        typeof item === 'object' &&
        item !== null &&
        (item as { type?: unknown }).type === 'batch'
      ) {
        return { ok: false, error: `/messages/${i} a batch may not hold a batch` };
      }
      const parsed = parseOne(item);
      if (!parsed.ok) return { ok: false, error: `/messages/${i}: ${parsed.error}` };
      messages.push(parsed.message);
    }
    return {
      ok: true,
      message: { type: 'batch', messages } as ServerMessage,
    };
  }
  return parseOne(value);
}

function parseOne(raw: unknown): ParseResult<ServerMessage> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, error: 'message must be a JSON object' };
  }
  const value = raw as Record<string, unknown>;
  const type = value.type;
  if (typeof type !== 'string' || !Object.hasOwn(serverValidators, type)) {
    return { ok: false, error: `unknown message type ${JSON.stringify(type)}` };
  }
  if (type === 'payload') {
    if (!payloadEnvelope.Check(value))
      return { ok: false, error: describe(payloadEnvelope, value) };
    const bad = value.data.findIndex(
      (doc) => typeof doc !== 'object' || doc === null || Array.isArray(doc),
    );
    if (bad >= 0) return { ok: false, error: `/data/${bad} must be an object` };
    return { ok: true, message: value as unknown as ServerMessage };
  }
  const validator = serverValidators[type as keyof typeof serverValidators];
  if (!validator.Check(value)) return { ok: false, error: describe(validator, value) };
  return { ok: true, message: value as unknown as ServerMessage };
}
