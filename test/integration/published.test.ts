import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { z } from 'zod';
import { Collector, type Doc, type WebSocketClass } from '../../src/client/index.js';
import { MemoryAdapter, type StreamOptions } from '../../src/server/index.js';
import { quietFor } from '../support/quiet.js';
import { startServer, type TestServer } from '../support/server.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function live(
  options: Partial<StreamOptions> = {},
): Promise<TestServer & { sockets: Set<Socket>; registrations: boolean[] }> {
  const registrations: boolean[] = [];
  const server = await startServer({
    adapter: new MemoryAdapter({ collections: { users: [] } }),
    dataSources: {
      users: { collection: 'users', criteria: { _id: '@userId' }, manifest: true },
      presence: {
        published: 'many',
        params: z.object({ roomId: z.string() }),
        accept: ({ identity, data }) => ({
          name: String((data as { name?: unknown }).name).slice(0, 40),
          userId: identity.userId,
        }),
        manifest: { name: true, userId: true },
        sort: { name: 1 },
        goneAfterMs: 200,
      },
    },
    onDebug: (message, details) => {
      if (message === 'registered') registrations.push((details as { resumed: boolean }).resumed);
    },
    ...options,
  });
  const sockets = new Set<Socket>();
  server.server.on('upgrade', (_req, socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  cleanups.push(() => server.close());
  return Object.assign(server, { sockets, registrations });
}

function collector(server: TestServer, userId: string, options = {}): Collector {
  const c = new Collector({
    url: server.url,
    identity: { userId },
    WebSocket: WebSocket as unknown as WebSocketClass,
    reconnect: { minDelayMs: 5, maxDelayMs: 20 },
    ...options,
  });
  cleanups.push(() => c.disconnect());
  return c;
}

const names = (docs: readonly Doc[] | undefined) => (docs ?? []).map((d) => d.name);

describe('collector.publish', () => {
  it('publishes, updates (throttled, latest wins) and stops; other clients see it through their subscription', async () => {
    const server = await live();
    const ann = collector(server, 'ann', { publishIntervalMs: 50 });
    const cat = collector(server, 'cat');
    const room = cat.subscribe('presence', { roomId: 'r1' });
    const sent: unknown[] = [];
    const pub = ann.publish<Record<string, unknown>>(
      'presence',
      { roomId: 'r1' },
      { name: 'Ann', userId: 'cat' },
    );
    await expect.poll(() => room.data).toMatchObject([{ name: 'Ann', userId: 'ann' }]);
    const original = WebSocket.prototype.send;
    WebSocket.prototype.send = function (this: WebSocket, data: unknown, ...rest: unknown[]) {
      if (String(data).includes('"publish"')) sent.push(JSON.parse(String(data)));
      return (original as (...args: unknown[]) => void).call(this, data, ...rest);
    } as typeof original;
    cleanups.push(() => (WebSocket.prototype.send = original));
    for (let i = 1; i <= 10; i++) pub.update({ name: `Ann ${i}` });
    await expect.poll(() => names(room.data)).toEqual(['Ann 10']);
    // Ten updates within the interval: the first waits for it, the rest coalesce into it.
    expect(sent.length).toBeLessThanOrEqual(2);
    expect(sent.at(-1)).toMatchObject({ data: { name: 'Ann 10' } });
    pub.stop();
    await expect.poll(() => room.data).toEqual([]);
    expect(() => pub.update({ name: 'late' })).toThrow(TypeError);
  });

  it('a refusal reaches the publication as its error; the next update tries again', async () => {
    let open = false;
    const server = await live({
      dataSources: {
        users: { collection: 'users', criteria: { _id: '@userId' }, manifest: true },
        presence: {
          published: 'many',
          authorize: ({ identity }) => open || identity.userId !== 'eve',
          manifest: true,
        },
      },
    });
    const eve = collector(server, 'eve');
    const pub = eve.publish('presence', undefined, { name: 'Eve' });
    await expect.poll(() => pub.error?.code).toBe('forbidden');
    expect(pub.error?.message).toContain('may not publish');
    open = true;
    const cat = collector(server, 'cat');
    const room = cat.subscribe('presence');
    pub.update({ name: 'Eve, allowed' });
    expect(pub.error).toBeNull();
    await expect.poll(() => names(room.data)).toEqual(['Eve, allowed']);
    expect(() => eve.publish('presence', undefined, 'text' as never)).toThrow(TypeError);
  });

  it('a cut socket resumes without the document ever leaving; after a fresh session the collector publishes again', async () => {
    const server = await live({ sessionGraceMs: 100 });
    const ann = collector(server, 'ann', { connectTimeoutMs: 150 });
    const cat = collector(server, 'cat');
    const room = cat.subscribe('presence', { roomId: 'r1' });
    await Promise.all([ann.ready(), cat.ready()]);
    ann.publish('presence', { roomId: 'r1' }, { name: 'Ann' });
    await expect.poll(() => names(room.data)).toEqual(['Ann']);
    const seen: string[][] = [];
    room.onNotice(() => seen.push(names(room.data) as string[]));
    const catSocket = [...server.sockets].at(-1);
    // Cut Ann's socket (every socket but Cat's): she resumes within goneAfterMs.
    for (const s of server.sockets) if (s !== catSocket) s.destroy();
    await expect.poll(() => server.registrations.filter((r) => r).length).toBe(1);
    // Past goneAfterMs (200) of the cut: the document never left the room.
    await quietFor(300);
    expect(seen.filter((s) => s.length === 0)).toEqual([]);

    // A fresh session (the old one is dropped before the client is back): published again.
    const original = WebSocket.prototype.send;
    let blocked = true;
    WebSocket.prototype.send = function (this: WebSocket, data: unknown, ...rest: unknown[]) {
      if (blocked && String(data).includes('"register"')) return;
      return (original as (...args: unknown[]) => void).call(this, data, ...rest);
    } as typeof original;
    cleanups.push(() => (WebSocket.prototype.send = original));
    for (const s of server.sockets) if (s !== catSocket) s.destroy();
    await expect.poll(() => names(room.data), { timeout: 3000 }).toEqual([]);
    blocked = false;
    await expect.poll(() => names(room.data), { timeout: 3000 }).toEqual(['Ann']);
    expect(server.registrations.at(-1)).toBe(false);
  });
});
