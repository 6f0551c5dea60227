import {
  opToWire,
  type Doc,
  type Op,
  type RootOptions,
  type ServerMessage,
} from '../../src/protocol/index.js';
import type { RegisterTransport } from '../../src/client/index.js';

type Registration = {
  identity: Record<string, unknown>;
  receive: (type: string, message: unknown) => void;
  done: (error?: unknown) => void;
  active: boolean;
};

/**
 * A scripted server behind the `register` transport: tests say what the server sends, and see
 * every registration the collector makes.
 */
export function fakeStream() {
  const registrations: Registration[] = [];
  const register: RegisterTransport = (identity, receive, done) => {
    const registration = { identity, receive, done, active: true };
    registrations.push(registration);
    return () => {
      registration.active = false;
    };
  };
  const current = (): Registration => {
    const last = registrations.at(-1);
    if (last === undefined || !last.active) throw new Error('no active registration');
    return last;
  };
  const send = (message: ServerMessage | Record<string, unknown>): void =>
    current().receive(String(message.type), message);
  const versions = new Map<string, number>();
  return {
    register,
    registrations,
    send,
    done: (error?: unknown) => current().done(error),
    /** registered + manifest + one payload per root: what a server sends a new client. */
    start(roots: Record<string, Doc[]>, options?: Record<string, RootOptions>, epoch = 'e1'): void {
      send({ type: 'registered', session: 's1' });
      const sources = Object.fromEntries(Object.keys(roots).map((root) => [root, true as const]));
      send(options ? { type: 'manifest', sources, options } : { type: 'manifest', sources });
      for (const [root, data] of Object.entries(roots)) {
        versions.set(root, 0);
        send({ type: 'payload', root, epoch, version: 0, data });
      }
    },
    /** The next delta of `root` (version counted here). */
    delta(root: string, ops: Op[], epoch = 'e1'): void {
      const version = (versions.get(root) ?? 0) + 1;
      versions.set(root, version);
      send({
        type: 'delta',
        root,
        epoch,
        version,
        timestamp: Date.UTC(2026, 0, 1),
        ops: ops.map(opToWire),
      });
    },
  };
}
