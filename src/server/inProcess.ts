import { PROTOCOL_VERSION, type ServerMessage } from '../protocol/messages.js';
import { ClientConnection } from './connection.js';
import type { Stream } from './stream.js';
import type { IdentityRequest, Unregister } from './streamOptions.js';

/**
 * A client without a socket (`stream.register`): frames reach `receive` as parsed messages, the
 * link has no send buffer nor rate bound, and a closed link ends the session (no resume).
 */
/** A client registering in process: who it is, where its messages go, who hears the outcome. */
export interface InProcessClient {
  readonly identity: Record<string, unknown>;
  readonly receive: (type: ServerMessage['type'], message: ServerMessage) => void;
  readonly done: ((error: Error | null) => void) | undefined;
  readonly request: IdentityRequest;
}

export function registerInProcess(
  stream: Stream,
  { identity, receive, done, request }: InProcessClient,
): Unregister {
  let open = true;
  const connection = new ClientConnection(
    stream,
    {
      send: (frame) => {
        if (!open) return;
        const message = JSON.parse(frame) as ServerMessage;
        receive(message.type, message);
      },
      bufferedAmount: () => 0,
      close: () => {
        open = false;
      },
    },
    {
      limits: {
        registerTimeoutMs: 0,
        maxBufferedBytes: Infinity,
        maxMessagesPerSecond: Infinity,
        resumable: false,
      },
      request,
      onRegistered: (error) => done?.(error),
    },
  );
  connection.receive({ type: 'register', protocol: PROTOCOL_VERSION, identity });
  const unregister = (() => {
    open = false;
    connection.linkClosed();
  }) as Unregister;
  unregister.send = (message) => {
    if ((message as { type?: unknown }).type === 'register') {
      throw new TypeError('unregister.send: register is sent by stream.register itself');
    }
    connection.receive(message);
  };
  return unregister;
}
