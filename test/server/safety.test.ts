import { afterEach, describe, expect, it } from 'vitest';
import { MemoryAdapter, Stream, type DataSource } from '../../src/server/index.js';
import { seedCacheConfig, seedCollections, seedDataSources } from '../support/seed.js';
import { RawClient, startServer, type TestServer } from '../support/server.js';

let server: TestServer | undefined;
const clients: RawClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.close();
  server = undefined;
});

async function client(identity: Record<string, unknown>): Promise<RawClient> {
  const c = await RawClient.register((server as TestServer).url, identity);
  clients.push(c);
  return c;
}

async function ready(identity: Record<string, unknown>): Promise<RawClient> {
  const c = await client(identity);
  await c.ready();
  return c;
}

const ids = (docs: unknown[]): unknown[] => docs.map((d) => (d as { _id: unknown })._id);
const opIds = (ops: unknown[]): unknown[] => ops.map((op) => (op as { id: unknown }).id);

describe('identity values keep their own views', () => {
  it('a missing identity field never shares the view of an explicit null', async () => {
    server = await startServer();
    server.adapter.insert('users', { _id: 5, name: 'Nobody', accountId: null });
    const withNull = await ready({ userId: 5, accountId: null });
    expect(ids(withNull.payload('visibleUsers'))).toEqual([5]);
    const guest = await ready({ userId: 6 });
    expect(guest.payload('visibleUsers')).toEqual([]);
  });

  it('refuses a non-finite number as an identity value (bad_identity)', async () => {
    // JSON has no Infinity, so such a value can only come from identityLookup.
    const stream = new Stream({
      adapter: new MemoryAdapter({ collections: seedCollections() }),
      dataSources: seedDataSources,
      cacheConfig: seedCacheConfig,
      identityLookup: () => ({ userId: 1, accountId: Infinity }),
    });
    await expect(stream.snapshot({})).rejects.toMatchObject({ code: 'bad_identity' });
    await stream.disconnect();
  });
});

describe('deny by default under negation', () => {
  const everyoneElse: Record<string, DataSource> = {
    ...seedDataSources,
    others: { collection: 'users', criteria: { $nor: [{ _id: '@userId' }] }, manifest: true },
    othersInAccount: {
      collection: 'users',
      criteria: { $and: [{ accountId: 1 }, { $nor: [{ _id: '@userId' }, { name: 'Cid' }] }] },
      manifest: true,
    },
  };

  it('a missing identity field under $nor matches nothing, not every document', async () => {
    server = await startServer({ dataSources: everyoneElse });
    const guest = await ready({ accountId: 1 });
    expect(guest.payload('others')).toEqual([]);
    expect(guest.payload('othersInAccount')).toEqual([]);
    server.adapter.insert('users', { _id: 9, name: 'Eve', accountId: 1 });
    const ann = await ready({ userId: 1, accountId: 1 });
    expect(ids(ann.payload('others'))).toEqual([2, 3, 9]);
    expect(ids(ann.payload('othersInAccount'))).toEqual([2, 9]);
    expect(guest.ops('others')).toEqual([]);
  });
});

describe('fields named like Object.prototype members', () => {
  const named: Record<string, DataSource> = {
    names: { collection: 'users', criteria: undefined, manifest: { name: true } },
    nested: { collection: 'users', criteria: undefined, manifest: { address: { state: true } } },
  };

  it('hidden fields named constructor, valueOf or toString never leave the server', async () => {
    server = await startServer({ dataSources: named });
    const c = await ready({});
    server.adapter.update(
      'users',
      { _id: 1 },
      {
        $set: {
          constructor: { secret: 1 },
          valueOf: 'hidden',
          toString: 2,
          'address.constructor': 'hidden',
          'address.hasOwnProperty': 'hidden',
        },
      },
    );
    server.adapter.update('users', { _id: 1 }, { $unset: { valueOf: '' } });
    server.adapter.update('users', { _id: 1 }, { $set: { name: 'Ann 2', 'address.state': 'WA' } });
    await c.until((x) => x.ops('nested').length > 0 && x.ops('names').length > 0);
    expect(c.ops('names')).toEqual([{ operation: 'set', id: 1, path: 'name', data: 'Ann 2' }]);
    expect(c.ops('nested')).toEqual([
      { operation: 'set', id: 1, path: 'address.state', data: 'WA' },
    ]);
  });

  it('a sort on a hidden valueOf is a configuration error', () => {
    for (const field of ['valueOf', 'constructor', 'toString', 'address.valueOf']) {
      expect(
        () =>
          new Stream({
            adapter: new MemoryAdapter({ collections: seedCollections() }),
            dataSources: {
              names: {
                collection: 'users',
                manifest: { name: true, address: { state: true } },
                sort: { [field]: 1 },
              },
            },
          }),
      ).toThrow(expect.objectContaining({ code: 'config' }) as Error);
    }
  });
});

describe('one member, one failure', () => {
  it('a consumer whose receive throws is detached alone; the rest of its group still gets the delta', async () => {
    const adapter = new MemoryAdapter({ collections: seedCollections() });
    const stream = new Stream({
      adapter,
      dataSources: seedDataSources,
      cacheConfig: seedCacheConfig,
    });
    const got: [string[], string[], string[]] = [[], [], []];
    const registered = got.map(
      (seen, i) =>
        new Promise<void>((resolve, reject) => {
          stream.register(
            { userId: 1, accountId: 1 },
            (type, message) => {
              if (type !== 'delta') return;
              if (i === 0) throw new Error('this consumer is broken');
              seen.push((message as { root: string }).root);
            },
            (error) => (error ? reject(error) : resolve()),
          );
        }),
    );
    await Promise.all(registered);
    expect(stream.stats().clients).toBe(3);
    adapter.update('users', { _id: 1 }, { $set: { name: 'Ann 2' } });
    await expect.poll(() => got[2]).toContain('myProfile');
    expect(got[1]).toContain('myProfile');
    expect(stream.stats().clients).toBe(2);
    adapter.update('users', { _id: 1 }, { $set: { name: 'Ann 3' } });
    await expect.poll(() => got[2].filter((r) => r === 'myProfile').length).toBe(2);
    await stream.disconnect();
  });
});

describe('a failed lookup during re-resolution', () => {
  it('still routes the change to every client, and resyncs the view whose lookup failed', async () => {
    const debug: string[] = [];
    server = await startServer({ onDebug: (message) => debug.push(message) });
    const adapter = server.adapter;
    adapter.insert('userstuffs', { _id: 103, userId: 4, stuffId: 10 });
    const bystander = await ready({ userId: 1, accountId: 1 });
    const dan = await ready({ userId: 4, accountId: 1 });
    expect(dan.payload('myStuff')).toEqual([]);

    // The next lookup fails once, as a database blip would.
    const find = adapter.find.bind(adapter);
    let failures = 1;
    adapter.find = (collection, query, options) =>
      failures-- > 0
        ? Promise.reject(new Error('connection reset'))
        : find(collection, query, options);

    adapter.insert('users', { _id: 4, name: 'Dan', accountId: 1 });
    await bystander.until((c) => opIds(c.ops('visibleUsers')).includes(4));
    await dan.until((c) => opIds(c.ops('myProfile')).includes(4));
    await dan.until((c) => opIds(c.ops('myStuff')).includes(10));
    expect(failures).toBeLessThan(0);
    expect(debug.some((m) => m.includes('re-resolving criteria failed'))).toBe(true);
    expect(await server.stream.snapshot({ userId: 4, accountId: 1 })).toMatchObject({
      myStuff: [expect.objectContaining({ _id: 10 })],
    });
  });
});
