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

describe('S12: identity values keep their own views', () => {
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

describe('S12: deny by default under negation', () => {
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

describe('S11: one member, one failure', () => {
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

describe('S11: a failed lookup during re-resolution', () => {
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

describe('bounds', () => {
  it('refuses an identity array longer than maxReferenceValues (bad_identity, 4401)', async () => {
    server = await startServer({ maxReferenceValues: 5 });
    const c = await client({ userId: [1, 2, 3, 4, 5, 6], accountId: 1 });
    expect(await c.closedWith()).toMatchObject({ code: 4401 });
    expect(c.of('error')[0]).toMatchObject({
      code: 'bad_identity',
      message: expect.stringContaining('userId') as string,
    });
    await ready({ userId: [1, 2, 3, 4, 5], accountId: 1 });
  });

  it('maxReferenceValues defaults to 1000', async () => {
    server = await startServer();
    const many = Array.from({ length: 1001 }, (_, i) => i);
    const c = await client({ userId: many, accountId: 1 });
    expect(await c.closedWith()).toMatchObject({ code: 4401 });
    await ready({ userId: many.slice(0, 1000), accountId: 1 });
  });

  it('refuses a claimed identity over maxIdentityBytes of UTF-8 JSON (bad_identity)', async () => {
    server = await startServer();
    // 9,000 characters, 18,000 bytes: over the 16 KiB default by bytes, not by characters.
    const c = await client({ userId: 1, accountId: 1, name: 'é'.repeat(9000) });
    expect(await c.closedWith()).toMatchObject({ code: 4401 });
    expect(c.of('error')[0]).toMatchObject({ code: 'bad_identity' });
    await ready({ userId: 1, accountId: 1, name: 'é'.repeat(8000) });
  });

  it('refuses an identity from identityLookup over maxIdentityBytes (bad_identity)', async () => {
    server = await startServer({
      maxIdentityBytes: 1024,
      identityLookup: (identity) => ({ ...identity, roles: 'r'.repeat(2000) }),
    });
    const c = await client({ userId: 1, accountId: 1 });
    expect(await c.closedWith()).toMatchObject({ code: 4401 });
    expect(c.of('error')[0]).toMatchObject({
      code: 'bad_identity',
      message: expect.stringContaining('identityLookup') as string,
    });
  });

  it('a pipe that grows past maxReferenceValues matches nothing, and says so once', async () => {
    const debug: string[] = [];
    server = await startServer({
      maxReferenceValues: 2,
      onDebug: (message) => debug.push(message),
    });
    const ann = await ready({ userId: 1, accountId: 1 });
    expect(ids(ann.payload('myStuff'))).toEqual([10, 11]);
    server.adapter.insert('userstuffs', { _id: 103, userId: 1, stuffId: 12 });
    await ann.until((c) => c.ops('myStuff').length === 2);
    expect(ann.ops('myStuff')).toEqual([
      { operation: 'remove', id: 10 },
      { operation: 'remove', id: 11 },
    ]);
    server.adapter.insert('stuffs', { _id: 13, name: 'vase', price: 5 });
    server.adapter.insert('userstuffs', { _id: 104, userId: 1, stuffId: 13 });
    server.adapter.remove('userstuffs', { _id: { $in: [103, 104] } });
    await ann.until((c) => c.ops('myStuff').length === 4);
    expect(opIds(ann.ops('myStuff').slice(2))).toEqual([10, 11]);
    expect(debug.filter((m) => m.includes('maxReferenceValues'))).toHaveLength(1);
  });

  it('keeps the resolved identity frozen: changing what identityLookup returned changes nothing', async () => {
    const returned: Record<string, unknown>[] = [];
    server = await startServer({
      identityLookup: () => {
        const identity = { userId: 1, accountId: 1 };
        returned.push(identity);
        return identity;
      },
    });
    const ann = await ready({ token: 'x'.repeat(1000) });
    (returned[0] as Record<string, unknown>).userId = 2;
    // a join row that re-runs Ann's pipe, then a change to sync on
    server.adapter.insert('userstuffs', { _id: 103, userId: 1, stuffId: 10 });
    server.adapter.update('users', { _id: 1 }, { $set: { name: 'Ann 2' } });
    await ann.until((c) => c.ops('myProfile').length > 0);
    expect(ann.ops('myStuff')).toEqual([]);
    expect(await server.stream.snapshot({})).toMatchObject({
      myStuff: [{ _id: 10 }, { _id: 11 }],
    });
  });
});

describe('configuration is checked', () => {
  const make = (options: Record<string, unknown>): Stream =>
    new Stream({
      adapter: new MemoryAdapter({ collections: seedCollections() }),
      dataSources: seedDataSources,
      cacheConfig: seedCacheConfig,
      ...options,
    } as ConstructorParameters<typeof Stream>[0]);

  it('a misspelled data source key is a config error naming the closest valid key', () => {
    expect(() =>
      make({
        dataSources: {
          messages: { collection: 'users', criterias: { _id: '@userId' }, manifest: true },
        },
      }),
    ).toThrow(
      expect.objectContaining({
        code: 'config',
        message: "dataSources.messages: unknown key 'criterias' (did you mean 'criteria'?)",
      }) as Error,
    );
    // A limit is a live window: without a sort (and on demand) it cannot be honoured, so it is
    // refused instead of being ignored.
    expect(() =>
      make({ dataSources: { m: { collection: 'users', manifest: true, limit: 50 } } }),
    ).toThrow(/dataSources\.m\.limit needs a sort/);
    expect(() =>
      make({ dataSources: { m: { collection: 'users', manifest: true, limits: 50 } } }),
    ).toThrow("dataSources.m: unknown key 'limits' (did you mean 'limit'?)");
    expect(() =>
      make({ dataSources: { m: { collection: 'users', manifest: true, idfield: 'id' } } }),
    ).toThrow("dataSources.m: unknown key 'idfield' (did you mean 'idField'?)");
  });

  it('a misspelled Stream option is a config error naming the closest valid key', () => {
    expect(() => make({ sesionGraceMs: 10 })).toThrow(
      expect.objectContaining({
        code: 'config',
        message: "new Stream: unknown key 'sesionGraceMs' (did you mean 'sessionGraceMs'?)",
      }) as Error,
    );
    expect(() => make({ identityLookUp: () => ({}) })).toThrow(/did you mean 'identityLookup'/);
    expect(() => make({ backlog: { delta: 5 } })).toThrow(
      "new Stream: backlog: unknown key 'delta' (did you mean 'deltas'?)",
    );
    expect(() => make({ maxReferenceValues: 0 })).toThrow(/maxReferenceValues/);
    expect(() => make({ maxIdentityBytes: 1.5 })).toThrow(/maxIdentityBytes/);
  });

  it('omitted or undefined criteria still mean every record', async () => {
    const stream = make({
      dataSources: {
        omitted: { collection: 'users', manifest: { name: true } },
        undefinedCriteria: { collection: 'users', criteria: undefined, manifest: { name: true } },
      },
      maxIdentityBytes: 1024,
      maxReferenceValues: 10,
      backlog: { deltas: 10, bytes: 1024 },
    });
    const view = await stream.snapshot({});
    expect(ids(view.omitted ?? [])).toEqual([1, 2, 3]);
    expect(ids(view.undefinedCriteria ?? [])).toEqual([1, 2, 3]);
    await stream.disconnect();
  });
});
