import { Binary, Decimal128, ObjectId, UUID } from 'mongodb';
import { afterEach, describe, expect, it } from 'vitest';
import { canonicalKey } from '../../src/server/canonical.js';
import { idKey } from '../../src/server/ids.js';
import { compileMatcher } from '../../src/server/matcher.js';
import { compileFilter } from '../../src/server/memory/match.js';
import { MemoryAdapter } from '../../src/server/index.js';
import { RawClient, startServer, type TestServer } from '../support/server.js';

// Two legacy UUIDs (subtype 3) that differ only in bytes invalid as UTF-8: both print as "��".
const a = () => new Binary(Buffer.from([0xff, 0xfe, 1, 2]), 3);
const b = () => new Binary(Buffer.from([0xfe, 0xff, 1, 2]), 3);

describe('bytes compare exactly', () => {
  it('in keys, ids and matchers (query engine and embedded store alike)', () => {
    expect(String(a())).toBe(String(b()));
    expect(canonicalKey({ k: a() })).not.toBe(canonicalKey({ k: b() }));
    expect(canonicalKey({ k: a() })).toBe(canonicalKey({ k: a() }));
    expect(idKey(a())).not.toBe(idKey(b()));
    for (const compile of [compileMatcher, compileFilter]) {
      const test = compile({ ownerKey: a() });
      expect(test({ ownerKey: b() })).toBe(false);
      expect(test({ ownerKey: a() })).toBe(true);
      expect(compile({ ownerKey: { $in: [a()] } })({ ownerKey: b() })).toBe(false);
      expect(compile({ ownerKey: { $in: [a()] } })({ ownerKey: a() })).toBe(true);
    }
    const uuid = new UUID();
    expect(compileMatcher({ u: uuid })({ u: new UUID(uuid.toHexString()) })).toBe(true);
    expect(canonicalKey(new ObjectId('0123456789abcdef01234567'))).toContain('0123456789abcdef');
    expect(canonicalKey(Decimal128.fromString('1.50'))).not.toBe(
      canonicalKey(Decimal128.fromString('1.5')),
    );
  });

  it('refuses in a key what it cannot compare exactly', () => {
    expect(() => canonicalKey({ k: new Map([['a', 1]]) })).toThrow(/cannot be compared exactly/);
  });
});

describe('identities keyed by bytes', () => {
  let server: TestServer | undefined;
  const clients: RawClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await server?.close();
  });

  it('two identities whose keys print alike get their own views, live, and nothing of the other', async () => {
    const adapter = new MemoryAdapter({
      collections: {
        notes: [
          { _id: 'n1', ownerKey: a(), text: "a's note" },
          { _id: 'n2', ownerKey: b(), text: "b's note" },
        ],
      },
    });
    server = await startServer({
      adapter,
      identityLookup: (claimed) => ({ ownerKey: claimed.who === 'a' ? a() : b() }),
      dataSources: {
        notes: {
          collection: 'notes',
          criteria: { ownerKey: '@ownerKey' },
          manifest: { text: true },
        },
      },
    });
    const ca = await RawClient.register(server.url, { who: 'a' });
    const cb = await RawClient.register(server.url, { who: 'b' });
    clients.push(ca, cb);
    await ca.ready();
    await cb.ready();
    expect(ca.payload('notes')).toEqual([{ _id: 'n1', text: "a's note" }]);
    expect(cb.payload('notes')).toEqual([{ _id: 'n2', text: "b's note" }]);
    adapter.insert('notes', { _id: 'n3', ownerKey: b(), text: "b's second" });
    await cb.until(() => cb.of('delta', 'notes').length === 1);
    await new Promise((r) => setTimeout(r, 30));
    expect(ca.of('delta', 'notes')).toEqual([]);
    expect(server.stream.stats().groups).toBe(2);
  });

  it('an identity value that cannot be keyed exactly is refused with bad_identity', async () => {
    server = await startServer({
      adapter: new MemoryAdapter({ collections: { notes: [] } }),
      identityLookup: () => ({ ownerKey: new Map() }),
      dataSources: {
        notes: { collection: 'notes', criteria: { ownerKey: '@ownerKey' }, manifest: true },
      },
    });
    const c = await RawClient.register(server.url, {});
    clients.push(c);
    expect(await c.closedWith()).toMatchObject({ code: 4401 });
    expect(c.of('error')[0]).toMatchObject({ code: 'bad_identity' });
  });
});

describe('numbers compare by value, whatever their BSON type', () => {
  it('matches a Decimal128 the way the server does', () => {
    const five = Decimal128.fromString('5');
    expect(compileMatcher({ n: 5 })({ n: five })).toBe(true);
    expect(compileMatcher({ n: { $gt: 4 } })({ n: five })).toBe(true);
    expect(compileMatcher({ n: { $in: [5, 6] } })({ n: five })).toBe(true);
    expect(compileMatcher({ n: 1.5 })({ n: Decimal128.fromString('1.50') })).toBe(true);
    expect(compileMatcher({ n: Decimal128.fromString('1.50') })({ n: 1.5 })).toBe(true);
    expect(compileMatcher({ 'a.n': 5 })({ a: [{ n: Decimal128.fromString('5') }] })).toBe(true);
    expect(compileMatcher({ $or: [{ n: 6 }, { n: 5 }] })({ n: five })).toBe(true);
    expect(compileMatcher({ n: 6 })({ n: five })).toBe(false);
  });
});
