import { Collector } from '../../src/client/index.js';
import type { ClientMessage, Doc, ServerMessage } from '../../src/protocol/index.js';

/**
 * A Collector fed directly through its `register` transport with one root `users` holding
 * `docs`: what the client-side benchmarks apply deltas to. `send` delivers further messages.
 * With `onClientMessage`, the transport also carries what the Collector sends (a `mutate`, a
 * `subscribe`) to that function; without it, such messages have nowhere to go.
 */
export function scriptedCollector(
  docs: Doc[],
  onClientMessage?: (message: ClientMessage) => void,
): {
  collector: Collector;
  send: (message: ServerMessage) => void;
} {
  let receive: ((type: string, message: unknown) => void) | undefined;
  const collector = new Collector({
    identity: { bench: true },
    register: (_identity, deliver, done) => {
      receive = deliver;
      done();
      if (onClientMessage) return Object.assign(() => undefined, { send: onClientMessage });
    },
  });
  const send = (message: ServerMessage): void => receive?.(message.type, message);
  send({ type: 'registered', session: 'bench' });
  send({ type: 'manifest', sources: { users: true } });
  send({ type: 'payload', root: 'users', epoch: 'e', version: 0, data: docs });
  return { collector, send };
}
