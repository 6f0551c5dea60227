import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import { z } from 'zod';
import { Collector } from '../../src/client/index.js';
import { MemoryAdapter, Stream, type DataSource } from '../../src/server/index.js';
import { startServer, type TestServer } from '../support/server.js';

/** Ann is a member of c1 only. */
function chat(): MemoryAdapter {
  const messages = [1, 2, 3, 4, 5].map((i) => ({
    _id: `a${i}`,
    channelId: 'c1',
    text: `c1 #${i}`,
    createdAt: i,
  }));
  messages.push({ _id: 'b1', channelId: 'c2', text: 'c2 #1', createdAt: 1 });
  return new MemoryAdapter({
    collections: {
      users: [{ _id: 'ann', name: 'Ann' }],
      memberships: [{ _id: 'm1', userId: 'ann', channelId: 'c1' }],
      messages,
    },
  });
}

const dataSources: Record<string, DataSource> = {
  me: { collection: 'users', criteria: { _id: '@userId' }, manifest: { name: true } },
  messages: {
    collection: 'messages',
    params: z.object({ channelId: z.string() }),
    criteria: {
      channelId: '$channelId',
      $and: [{ channelId: '@userId|memberships.userId>memberships.channelId' }],
    },
    sort: { createdAt: -1 },
    limit: { default: 2, max: 4 },
    manifest: { text: true, createdAt: true },
  },
};

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function live(): Promise<{ server: TestServer; collector: Collector }> {
  const server = await startServer({ adapter: chat(), dataSources, cacheConfig: {} });
  cleanups.push(() => server.close());
  const collector = new Collector({
    url: server.url,
    identity: { userId: 'ann' },
    WebSocket,
    reconnect: { minDelayMs: 5, maxDelayMs: 20 },
  });
  cleanups.push(() => collector.disconnect());
  return { server, collector };
}

const ids = (docs: readonly { _id?: unknown }[] | undefined) => docs?.map((d) => d._id);

describe('the Collector against a Stream', () => {
  it('a windowed subscription: payload, live inserts, paging by setLimit, more', async () => {
    const { server, collector } = await live();
    await collector.ready();
    const sub = collector.subscribe('messages', { channelId: 'c1' });
    expect(ids(await sub.ready())).toEqual(['a5', 'a4']);
    expect(sub.more).toBe(true);
    expect(Object.keys(collector.data)).toEqual(['me']);
    server.adapter.insert('messages', { _id: 'a6', channelId: 'c1', text: 'new', createdAt: 6 });
    await vi.waitFor(() => expect(ids(sub.data)).toEqual(['a6', 'a5']));
    sub.setLimit(4);
    await vi.waitFor(() => expect(ids(sub.data)).toEqual(['a6', 'a5', 'a4', 'a3']));
    expect(sub.more).toBe(true);
  });

  it('params outside what the identity may see give nothing; an unknown source is unknown_source', async () => {
    const { collector } = await live();
    const other = collector.subscribe('messages', { channelId: 'c2' });
    expect(await other.ready()).toEqual([]);
    const bad = collector.subscribe('messages', { channelId: 7 });
    await expect(bad.ready()).rejects.toMatchObject({ code: 'bad_params' });
    const unknown = collector.subscribe('nothing');
    await expect(unknown.ready()).rejects.toMatchObject({ code: 'unknown_source' });
    await collector.ready();
    expect(collector.status).toBe('ready');
  });
});

describe('the Collector over stream.register', () => {
  it('subscribes in process through the unregister function', async () => {
    const stream = new Stream({ adapter: chat(), dataSources, cacheConfig: {} });
    const collector = new Collector({
      register: stream.register.bind(stream),
      identity: { userId: 'ann' },
    });
    cleanups.push(() => collector.disconnect());
    const sub = collector.subscribe('messages', { channelId: 'c1' }, { limit: 3 });
    expect(ids(await sub.ready())).toEqual(['a5', 'a4', 'a3']);
    sub.unsubscribe();
    expect(sub.status).toBe('closed');
  });
});
