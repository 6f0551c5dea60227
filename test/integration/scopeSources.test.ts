import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { z } from 'zod';
import { Collector, type Doc, type WebSocketClass } from '../../src/client/index.js';
import { MemoryAdapter, mutator, type StreamOptions } from '../../src/server/index.js';
import { FileScopeStore, MemoryScopeStore, Scopes } from '../../src/storage/index.js';
import { startServer, type TestServer } from '../support/server.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function live(scopes: Scopes, options: Partial<StreamOptions> = {}): Promise<TestServer> {
  const server = await startServer({
    adapter: new MemoryAdapter({ collections: {} }),
    scopes,
    dataSources: {
      counter: { scopes, scope: 'global', manifest: { count: true } },
      room: {
        scopes,
        scope: '$roomId',
        params: z.object({ roomId: z.string().startsWith('room-') }),
        manifest: true,
      },
    },
    mutators: {
      bump: mutator({
        run: ({ scopes }) =>
          scopes?.scoped('global', (s: { count?: number }) => void (s.count = (s.count ?? 0) + 1)),
      }),
    },
    ...options,
  });
  cleanups.push(() => server.close());
  return server;
}

function collector(server: TestServer): Collector {
  const c = new Collector({
    url: server.url,
    identity: {},
    WebSocket: WebSocket as unknown as WebSocketClass,
    reconnect: { minDelayMs: 5, maxDelayMs: 20 },
  });
  cleanups.push(() => c.disconnect());
  return c;
}

/** Every count a subscription showed, in order. */
function counts(sub: { data: readonly Doc[] | undefined; onNotice(l: () => void): () => void }) {
  const seen: unknown[] = [];
  sub.onNotice(() => {
    const count = sub.data?.[0]?.count;
    if (seen.at(-1) !== count) seen.push(count);
  });
  return seen;
}

describe('live scope sources', () => {
  it('two Collectors see every commit, in order, as one small delta each', async () => {
    const scopes = new Scopes({ store: new MemoryScopeStore() });
    const server = await live(scopes);
    const ann = collector(server);
    const bob = collector(server);
    const a = ann.subscribe('counter');
    const b = bob.subscribe('counter');
    await Promise.all([a.ready(), b.ready()]);
    expect(a.data).toEqual([{ _id: 'global' }]);
    const seenA = counts(a);
    const seenB = counts(b);
    for (let i = 0; i < 5; i++) await ann.mutate('bump');
    // A commit made outside any mutator reaches them too.
    await scopes.scoped('global', (s: { count?: number; secret?: string }) => {
      s.count = 10;
      s.secret = 'not in the manifest';
    });
    await expect.poll(() => b.data?.[0]?.count).toBe(10);
    expect(seenA).toEqual([1, 2, 3, 4, 5, 10]);
    expect(seenB).toEqual([1, 2, 3, 4, 5, 10]);
    expect(JSON.stringify(b.data)).not.toContain('secret');
  });

  it('a scope named by a param: validated, one scope per value', async () => {
    const scopes = new Scopes({ store: new MemoryScopeStore() });
    const server = await live(scopes);
    await scopes.scoped('room-1', (s: { topic?: string }) => void (s.topic = 'cats'));
    const c = collector(server);
    const one = c.subscribe('room', { roomId: 'room-1' });
    const two = c.subscribe('room', { roomId: 'room-2' });
    await Promise.all([one.ready(), two.ready()]);
    expect(one.data).toEqual([{ _id: 'room-1', topic: 'cats' }]);
    expect(two.data).toEqual([{ _id: 'room-2' }]);
    await scopes.scoped('room-2', (s: { topic?: string }) => void (s.topic = 'dogs'));
    await expect.poll(() => two.data?.[0]?.topic).toBe('dogs');
    expect(one.data?.[0]?.topic).toBe('cats');
    await expect(c.subscribe('room', { roomId: 'global' }).ready()).rejects.toMatchObject({
      code: 'bad_params',
    });
  });

  it('commits made by another process reach subscribers (file store)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'particle-live-scope-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const store = new FileScopeStore({ dir });
    cleanups.push(() => store.close());
    const server = await live(new Scopes({ store }));
    const c = collector(server);
    const sub = c.subscribe('counter');
    await sub.ready();
    const seen = counts(sub);
    const worker = fileURLToPath(new URL('../storage/fixtures/worker.ts', import.meta.url));
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', worker, 'increment', 'file', dir, 'global', '5'],
        { stdio: 'ignore' },
      );
      child.on('error', reject);
      child.on('exit', resolve);
    });
    expect(code).toBe(0);
    await expect.poll(() => sub.data?.[0]?.count, { timeout: 5000 }).toBe(5);
    // Polling may skip versions; what is shown only ever grows.
    expect([...seen].sort()).toEqual(seen);
  });

  it("a store that fails to read ends that subscription with a generic reason; the store's text stays on the server", async () => {
    const inner = new MemoryScopeStore();
    const failing = new Scopes({
      store: {
        load: () => Promise.reject(new Error('redis://10.0.0.7:6379 refused the connection')),
        commit: (name, data, version) => inner.commit(name, data, version),
        watch: (name, listener) => inner.watch(name, listener),
        close: () => inner.close(),
      },
    });
    const server = await live(failing);
    const c = collector(server);
    const error = await c
      .subscribe('counter')
      .ready()
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'bad_params' });
    expect(String((error as Error).message)).toContain('could not be read');
    expect(String((error as Error).message)).not.toContain('10.0.0.7');
  });

  it('is checked when new Stream runs', async () => {
    const scopes = new Scopes({ store: new MemoryScopeStore() });
    await expect(
      live(scopes, {
        dataSources: { bad: { scopes, scope: '$roomId', manifest: true } },
      }),
    ).rejects.toThrow(/reads a param; add params/);
    await expect(
      live(scopes, {
        dataSources: { bad: { scopes: {} as Scopes, scope: 'x', manifest: true } },
      }),
    ).rejects.toThrow(/must be a Scopes/);
  });
});
