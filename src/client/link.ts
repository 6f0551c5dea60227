import type {
  LockMessage,
  MutateMessage,
  PublishMessage,
  UnpublishMessage,
  SubscribeMessage,
  UnlockMessage,
  UnsubscribeMessage,
} from '../protocol/index.js';
import { Connection, type ConnectionHandlers } from './connection.js';
import type { ResolvedOptions } from './options.js';
import { RegisterLink, type RegisterLinkHandlers } from './registerLink.js';

/** What the collector sends after `register`. */
export type LinkMessage =
  | SubscribeMessage
  | UnsubscribeMessage
  | MutateMessage
  | LockMessage
  | UnlockMessage
  | PublishMessage
  | UnpublishMessage;

/** The part of a link the collector drives; `Connection` is the socket one. */
export interface Link {
  start(): void;
  /** Drop the current registration and register again, not sooner than `minDelayMs`. */
  restart(reason: string, minDelayMs?: number): void;
  /** The server accepted the registration. */
  registered(): void;
  /**
   * Sends a message on the current registration; one that cannot arrive (the link is down) is
   * dropped, since the collector sends again after the next `registered`. Returns `false` when
   * this link can never carry such messages.
   */
  send(message: LinkMessage): boolean;
  stop(): void;
}

/** Everything either link may ask of the collector. */
export type LinkHandlers = ConnectionHandlers & RegisterLinkHandlers;

/** The link for the configured transport: a socket `Connection` or a `RegisterLink`. */
export function createLink(options: ResolvedOptions, handlers: LinkHandlers): Link {
  const { transport } = options;
  if (transport.kind === 'register') {
    return new RegisterLink(transport.register, options.identity, handlers);
  }
  return new Connection(
    {
      url: transport.url,
      WebSocket: transport.WebSocket,
      reconnect: options.reconnect,
      heartbeatTimeoutMs: options.heartbeatTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs,
    },
    handlers,
  );
}
