import type { RawClient } from './server.js';

/**
 * Resolves once the server has read every frame `client` sent before: it answers a ping after
 * the frames ahead of it, and hands each message to the Stream's queue as it reads it. A message
 * whose handling waits behind another (a production at a gate) may not have been handled yet.
 */
export function readByServer(client: RawClient): Promise<void> {
  return new Promise((resolve) => {
    client.ws.once('pong', () => resolve());
    client.ws.ping();
  });
}

let probes = 0;

/**
 * Resolves once the server has handled every message `client` sent before: the Stream handles
 * messages one at a time, in order, so the answer to an `unsubscribe` of a subscription nobody
 * holds (an `unsubscribed`, and nothing else) comes after theirs. Adds that one `unsubscribed`
 * to the client's messages.
 */
export async function handledByServer(client: RawClient): Promise<void> {
  const sub = `probe-${++probes}`;
  client.send({ type: 'unsubscribe', sub });
  await client.until((c) => c.of('unsubscribed').some((m) => m.sub === sub));
}
