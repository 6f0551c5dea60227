import {
  opToWire,
  type ClientMessage,
  type DeltaMessage,
  type Doc,
  type Id,
  type ManifestMessage,
  type Op,
  type PayloadMessage,
  type RootOptions,
  type ServerMessage,
} from '../../src/protocol/index.js';

/** One registration made through the scripted transport. */
export interface ScriptedSession {
  readonly identity: Record<string, unknown>;
  /** True once the collector called the unregister function (it disconnected). */
  closed: boolean;
  /** Sends a message to the collector exactly as a Stream would. */
  send(message: ServerMessage): void;
  /** `registered`, `manifest`, then one `payload` per root: the happy path of a register. */
  accept(roots: Record<string, Doc[]>, options?: ManifestMessage['options']): void;
  /** One `payload` for `root` (a whole replacement). */
  payload(root: string, data: Doc[]): void;
  /** One `delta` for `root` carrying `ops`, at the next version. */
  delta(root: string, ops: Op[]): void;
  /** Shortcut for a delta with one `set` op. */
  set(root: string, id: Id, path: string, data: unknown): void;
  /** Refuses the registration the way a Stream does when `identityLookup` throws. */
  refuse(message: string): void;
  /** Every message the collector sent through the transport's `send` (subscribe, unsubscribe). */
  readonly sent: ClientMessage[];
  /** `subscribed` for `sub`, then its first `payload`. */
  subscribed(sub: string, data: Doc[], options?: RootOptions): void;
  /** The sub id of the latest `subscribe` for `source`; throws when there is none. */
  subOf(source: string): string;
}

/**
 * A Collector `register` transport driven by the test: every message is a real protocol
 * message, delivered synchronously when the test calls one of the session's methods.
 */
export function scriptedServer() {
  const sessions: ScriptedSession[] = [];
  let sessionCount = 0;

  const register = (
    identity: Record<string, unknown>,
    receive: (type: string, message: unknown) => void,
    done: (error?: unknown) => void,
  ): (() => void) & { send(message: ClientMessage): void } => {
    const versions = new Map<string, number>();
    const epochs = new Map<string, string>();
    let epochCount = 0;
    const name = `s${++sessionCount}`;
    const session: ScriptedSession = {
      identity,
      closed: false,
      send(message) {
        if (!session.closed) receive(message.type, message);
      },
      accept(roots, options) {
        session.send({ type: 'registered', session: name });
        done();
        const sources = Object.fromEntries(Object.keys(roots).map((root) => [root, true as const]));
        session.send({ type: 'manifest', sources, ...(options ? { options } : {}) });
        for (const [root, data] of Object.entries(roots)) session.payload(root, data);
      },
      payload(root, data) {
        const epoch = `e${++epochCount}`;
        epochs.set(root, epoch);
        versions.set(root, 0);
        const message: PayloadMessage = { type: 'payload', root, epoch, version: 0, data };
        session.send(message);
      },
      delta(root, ops) {
        const version = (versions.get(root) ?? 0) + 1;
        versions.set(root, version);
        const message: DeltaMessage = {
          type: 'delta',
          root,
          epoch: epochs.get(root) ?? 'e0',
          version,
          timestamp: 0,
          ops: ops.map(opToWire),
        };
        session.send(message);
      },
      set(root, id, path, data) {
        session.delta(root, [{ operation: 'set', id, path, data }]);
      },
      refuse(message) {
        session.send({ type: 'error', code: 'identity_rejected', message });
        done(new Error(message));
      },
      sent: [],
      subscribed(sub, data, options) {
        session.send({ type: 'subscribed', sub, manifest: true, ...(options ? { options } : {}) });
        session.payload(sub, data);
      },
      subOf(source) {
        const found = session.sent.findLast((m) => m.type === 'subscribe' && m.source === source);
        if (found === undefined) throw new Error(`no subscribe for ${source}`);
        return (found as { sub: string }).sub;
      },
    };
    sessions.push(session);
    return Object.assign(
      () => {
        session.closed = true;
      },
      {
        send(message: ClientMessage) {
          if (!session.closed) session.sent.push(message);
        },
      },
    );
  };

  return {
    register,
    sessions,
    /** The most recent session; throws when there is none. */
    get last(): ScriptedSession {
      const session = sessions.at(-1);
      if (session === undefined) throw new Error('no collector registered yet');
      return session;
    },
  };
}
