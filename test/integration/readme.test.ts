import express from 'express';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Collector, type CollectorEvent, type WebSocketClass } from '../../src/client/index.js';
import { MemoryAdapter, Stream, particleMiddleware } from '../../src/server/index.js';
import { seedCacheConfig, seedCollections, seedDataSources } from '../support/seed.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** The README's server snippet, on port 0. */
async function readmeServer(): Promise<{ adapter: MemoryAdapter; stream: Stream; url: string }> {
  const adapter = new MemoryAdapter({ collections: seedCollections() });
  const stream = new Stream({
    adapter,
    identityLookup: async (identity) => ({
      userId: identity.sessionId === 'foo' ? 1 : 3,
      accountId: 1,
    }),
    cacheConfig: seedCacheConfig,
    dataSources: seedDataSources,
  });
  const app = express();
  const server = createServer(app);
  const mw = particleMiddleware(stream, { path: '/particle' });
  app.use(mw);
  mw.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(async () => {
    await stream.disconnect();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return {
    adapter,
    stream,
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/particle`,
  };
}

describe('the README snippets, end to end', () => {
  it('a Node client gets live data, wildcard listeners and structurally shared snapshots', async () => {
    const { adapter, url } = await readmeServer();
    const collector = new Collector({
      url,
      identity: { sessionId: 'foo' },
      WebSocket: WebSocket as unknown as WebSocketClass,
    });
    cleanup.push(() => collector.disconnect());
    const all: CollectorEvent[] = [];
    const states: string[] = [];
    collector.on('**', (_data, event) => all.push(event));
    collector.on('myProfile.address.*', (_data, event) => states.push(String(event.data)));
    await collector.ready();
    expect(collector.status).toBe('ready');
    expect(collector.data.myProfile).toEqual([expect.objectContaining({ _id: 1, name: 'Ann' })]);

    const before = collector.data;
    adapter.update('users', { _id: 1 }, { $set: { 'address.state': 'WA' } });
    await expect.poll(() => states).toEqual(['WA']);
    const after = collector.data;
    expect(after).not.toBe(before);
    const [annBefore, benBefore, cidBefore] = before.allUsers as Record<string, unknown>[];
    const [annAfter, benAfter, cidAfter] = after.allUsers as Record<string, unknown>[];
    expect(annAfter).not.toBe(annBefore);
    expect(annAfter?.address).toEqual({ state: 'WA', city: 'SF' });
    expect(benAfter).toBe(benBefore);
    expect(cidAfter).toBe(cidBefore);
    expect(after.myStuff).toBe(before.myStuff);
    expect(Object.isFrozen(annAfter)).toBe(true);
    expect(all.filter((e) => e.operation === 'set').map((e) => `${e.root}.${e.path}`)).toEqual([
      'myProfile.address.state',
      'allUsers.address.state',
    ]);

    adapter.insert('users', { _id: 7, name: 'Ann', accountId: 1 });
    await expect.poll(() => collector.data.visibleUsers?.length).toBe(3);
  });

  it('new Collector({ register: stream.register }) works in one process, without a socket', async () => {
    const { adapter, stream } = await readmeServer();
    const collector = new Collector({ register: stream.register, identity: { sessionId: 'foo' } });
    cleanup.push(() => collector.disconnect());
    await collector.ready();
    adapter.remove('userstuffs', { stuffId: 10 });
    await expect.poll(() => collector.data.myStuff?.map((s) => s._id)).toEqual([11]);
  });

  it('a refused identity rejects ready() with the lookup message and never reconnects', async () => {
    const adapter = new MemoryAdapter({ collections: seedCollections() });
    const stream = new Stream({
      adapter,
      dataSources: seedDataSources,
      cacheConfig: seedCacheConfig,
      identityLookup: () => {
        throw new Error('not signed in');
      },
    });
    cleanup.push(() => stream.disconnect());
    const collector = new Collector({ register: stream.register, identity: {} });
    cleanup.push(() => collector.disconnect());
    await expect(collector.ready()).rejects.toMatchObject({
      code: 'identity_rejected',
      message: expect.stringContaining('not signed in'),
    });
    expect(collector.status).toBe('error');
  });
});
