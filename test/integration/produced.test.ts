import { afterEach, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { z } from 'zod';
import { Collector } from '../../src/client/index.js';
import { MemoryAdapter, type ProducedDataSource } from '../../src/server/index.js';
import { startServer, type TestServer } from '../support/server.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let failing = false;
const summary: ProducedDataSource = {
  params: z.object({ channelId: z.string() }),
  collections: ['messages'],
  produce: async ({ params, find, depend }) => {
    depend('summaries');
    if (failing) throw new Error('no');
    const messages = await find('messages', { channelId: params.channelId });
    return { _id: params.channelId, count: messages.length, last: messages.at(-1)?.text ?? null };
  },
  manifest: true,
};

it('a Collector subscribes to a produced source like any other: live data, and a retrying failure keeps it', async () => {
  const adapter = new MemoryAdapter({
    collections: { messages: [{ _id: 'm1', channelId: 'c1', text: 'hi' }] },
  });
  const server: TestServer = await startServer({
    adapter,
    dataSources: { summary },
    cacheConfig: {},
  });
  cleanups.push(() => server.close());
  const collector = new Collector({ url: server.url, identity: {}, WebSocket });
  cleanups.push(() => collector.disconnect());
  const sub = collector.subscribe('summary', { channelId: 'c1' });
  expect(await sub.ready()).toEqual([{ _id: 'c1', count: 1, last: 'hi' }]);
  adapter.insert('messages', { _id: 'm2', channelId: 'c1', text: 'there' });
  await expect.poll(() => sub.data).toEqual([{ _id: 'c1', count: 2, last: 'there' }]);
  failing = true;
  server.stream.bump('summaries');
  await expect.poll(() => sub.error?.code).toBe('produce_failed');
  expect(sub.status).toBe('ready');
  expect(sub.data).toEqual([{ _id: 'c1', count: 2, last: 'there' }]);
  failing = false;
  server.stream.bump('summaries');
  adapter.insert('messages', { _id: 'm3', channelId: 'c1', text: 'again' });
  await expect.poll(() => sub.data).toEqual([{ _id: 'c1', count: 3, last: 'again' }]);
  expect(sub.error).toBeUndefined();
});
