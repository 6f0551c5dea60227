import { afterEach, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { Collector, type WebSocketClass } from '../../src/client/index.js';
import { MemoryAdapter, mutator } from '../../src/server/index.js';
import { startServer, type TestServer } from '../support/server.js';

let server: TestServer | undefined;
let collector: Collector | undefined;
afterEach(async () => {
  collector?.disconnect();
  await server?.close();
});

it('a long queue of mutations drains within the server frame bound told in registered, instead of looping on rate_limited', async () => {
  const registrations: boolean[] = [];
  let runs = 0;
  server = await startServer(
    {
      adapter: new MemoryAdapter({ collections: { notes: [] } }),
      dataSources: { notes: { collection: 'notes', manifest: true } },
      maxSubscriptions: 1,
      maxLeases: 1,
      maxPublications: 1,
      mutators: {
        add: mutator({
          run: async ({ db }) => {
            runs++;
            await db.insert('notes', { text: 'x' });
          },
        }),
      },
      onDebug: (message, details) => {
        if (message === 'registered') registrations.push((details as { resumed: boolean }).resumed);
      },
    },
    // A burst of 2 x 20 + 3 frames: 50 mutations at once would be over it.
    { maxMessagesPerSecond: 20 },
  );
  collector = new Collector({
    url: server.url,
    identity: {},
    WebSocket: WebSocket as unknown as WebSocketClass,
    reconnect: { minDelayMs: 5, maxDelayMs: 20 },
  });
  const statuses: string[] = [];
  collector.onNotice((n) => {
    if (n.type === 'status') statuses.push(n.status);
  });
  await collector.ready();
  const all = Array.from({ length: 50 }, () => collector?.mutate('add'));
  await Promise.all(all);
  expect(runs).toBe(50);
  expect(server.adapter.findNow('notes')).toHaveLength(50);
  expect(registrations).toEqual([false]);
  expect(statuses).not.toContain('reconnecting');
}, 15_000);
