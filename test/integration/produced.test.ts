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

it('subscribeAll follows every live instance of a wildcard source that authorize lets it see', async () => {
  const adapter = new MemoryAdapter({ collections: { messages: [] } });
  const rooms: ProducedDataSource = {
    params: z.object({ room: z.string() }),
    wildcard: true,
    produce: ({ params }) => ({ _id: params.room, name: `Room ${params.room}` }),
    authorize: ({ identity, params }) => identity.admin === true || params.room !== 'secret',
    manifest: true,
    lingerMs: 0,
  };
  const server: TestServer = await startServer({
    adapter,
    dataSources: { rooms },
    cacheConfig: {},
  });
  cleanups.push(() => server.close());
  const make = (identity: Record<string, unknown>) => {
    const c = new Collector({ url: server.url, identity, WebSocket });
    cleanups.push(() => c.disconnect());
    return c;
  };
  const watcher = make({ admin: false });
  const user = make({ admin: true });
  const all = watcher.subscribeAll('rooms');
  expect(await all.ready()).toEqual([]);
  const a = user.subscribe('rooms', { room: 'a' });
  const secret = user.subscribe('rooms', { room: 'secret' });
  await Promise.all([a.ready(), secret.ready()]);
  await expect.poll(() => all.data?.map((d) => d._id)).toEqual(['rooms?{"room":"a"}']);
  expect(all.data?.[0]).toEqual({
    _id: 'rooms?{"room":"a"}',
    params: { room: 'a' },
    docs: [{ _id: 'a', name: 'Room a' }],
  });
  a.unsubscribe();
  await expect.poll(() => all.data).toEqual([]);
  expect(() => watcher.subscribeAll('')).toThrow(TypeError);
});

it('subscribeAll on a source that is not a wildcard ends with bad_params', async () => {
  const adapter = new MemoryAdapter({ collections: { messages: [] } });
  const server: TestServer = await startServer({
    adapter,
    dataSources: { summary },
    cacheConfig: {},
  });
  cleanups.push(() => server.close());
  const c = new Collector({ url: server.url, identity: {}, WebSocket });
  cleanups.push(() => c.disconnect());
  await expect(c.subscribeAll('summary').ready()).rejects.toMatchObject({ code: 'bad_params' });
});
