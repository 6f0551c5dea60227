import fc from 'fast-check';
import { Binary, Decimal128, Double, Int32, Long, ObjectId, UUID } from 'mongodb';
import { afterEach, describe, expect, it } from 'vitest';
import { canonicalKey } from '../../src/server/canonical.js';
import { idKey } from '../../src/server/ids.js';
import { compileMatcher } from '../../src/server/matcher.js';
import { compileFilter } from '../../src/server/memory/match.js';
import { MemoryAdapter } from '../../src/server/index.js';
import { compileFakeQuery } from '../support/fakeQuery.js';
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

describe('numbers compare by exact value, as the server compares them', () => {
  // mongosh "Data Types", Decimal128 "Equality and Sort Order": `{ val: 9.99 }` returns only the
  // double, `{ val: 10 }` the double, the Long and NumberDecimal("10.0").
  const numbers = [
    { _id: 1, val: Decimal128.fromString('9.99'), description: 'Decimal' },
    { _id: 2, val: 9.99, description: 'Double' },
    { _id: 3, val: 10, description: 'Double' },
    { _id: 4, val: Long.fromNumber(10), description: 'Long' },
    { _id: 5, val: Decimal128.fromString('10.0'), description: 'Decimal' },
  ];
  const ids = (query: Record<string, unknown>) =>
    numbers.filter(compileMatcher(query)).map((doc) => doc._id);

  it("gives the manual's results for the numbers example", () => {
    expect(ids({ val: 9.99 })).toEqual([2]);
    expect(ids({ val: 10 })).toEqual([3, 4, 5]);
    expect(ids({ val: Decimal128.fromString('9.99') })).toEqual([1]);
    expect(ids({ val: { $in: [9.99] } })).toEqual([2]);
    expect(ids({ val: { $ne: 9.99 } })).toEqual([1, 3, 4, 5]);
  });

  it('orders a Decimal128 against the double nearest it by their exact values', () => {
    // The double 9.99 is 9.9900000000000002131628...: above Decimal128 9.99.
    expect(ids({ val: { $lt: 9.99 } })).toEqual([1]);
    expect(ids({ val: { $gt: Decimal128.fromString('9.99'), $lt: 10 } })).toEqual([2]);
    // Its exact value lies between these two 34-digit decimals.
    const below = Decimal128.fromString('9.990000000000000213162820728030055');
    const above = Decimal128.fromString('9.990000000000000213162820728030056');
    expect(ids({ val: { $gte: below } })).toEqual([2, 3, 4, 5]);
    expect(ids({ val: { $gte: above } })).toEqual([3, 4, 5]);
  });

  it('matches NaN to NaN only, never above or below a number', () => {
    for (const nan of [NaN, Decimal128.fromString('NaN')]) {
      expect(compileMatcher({ n: { $gte: 0 } })({ n: nan })).toBe(false);
      expect(compileMatcher({ n: { $lte: 0 } })({ n: nan })).toBe(false);
      expect(compileMatcher({ n: { $lt: 0 } })({ n: nan })).toBe(false);
      expect(compileMatcher({ n: NaN })({ n: nan })).toBe(true);
      expect(compileMatcher({ n: { $gte: Decimal128.fromString('NaN') } })({ n: nan })).toBe(true);
      expect(compileMatcher({ n: { $ne: 0 } })({ n: nan })).toBe(true);
    }
  });

  it('compares a Long past 2^53 exactly', () => {
    const big = Long.fromString('9007199254740993');
    const test = (query: Record<string, unknown>) => compileMatcher(query)({ n: big });
    expect(test({ n: 2 ** 53 })).toBe(false);
    expect(test({ n: { $gt: 2 ** 53 } })).toBe(true);
    expect(test({ n: Long.fromString('9007199254740993') })).toBe(true);
    expect(test({ n: { $in: [Long.fromString('9007199254740992')] } })).toBe(false);
  });

  it('through arrays, element indexes and $elemMatch', () => {
    const five = Decimal128.fromString('5');
    expect(compileMatcher({ 'a.0': 5 })({ a: [five] })).toBe(true);
    expect(compileMatcher({ n: { $elemMatch: { $gt: 4, $lt: 6 } } })({ n: [five] })).toBe(true);
    expect(compileMatcher({ n: { $elemMatch: { $gt: 5 } } })({ n: [five] })).toBe(false);
    expect(compileMatcher({ n: { $size: 2 } })({ n: [five, 2] })).toBe(true);
    expect(
      compileMatcher({ n: { $all: [5, 2] } })({ n: [five, Decimal128.fromString('2.0')] }),
    ).toBe(true);
    expect(compileMatcher({ n: { $not: { $gt: 4 } } })({ n: five })).toBe(false);
    expect(compileMatcher({ n: -0.15 })({ n: Decimal128.fromString('-0.15') })).toBe(false);
    expect(compileMatcher({ n: 0 })({ n: Decimal128.fromString('-0.00') })).toBe(true);
  });

  it('agrees with the wire fake, written on its own, on random numbers of every BSON type', () => {
    const magnitude = fc.oneof(
      fc.integer({ min: -20, max: 20 }),
      fc.constantFrom(9.99, 0.1, -0.15, 1.5, 2 ** 53, 2 ** 53 + 2, 1e21, -1e-7, 0, -0),
      fc.double({ noNaN: false }),
    );
    const typed = magnitude.chain((x) =>
      fc.constantFrom<unknown>(
        x,
        new Double(x),
        Number.isInteger(x) && Math.abs(x) < 2 ** 31 ? new Int32(x) : x,
        Number.isSafeInteger(x) ? Long.fromNumber(x) : x,
        Number.isFinite(x) ? Decimal128.fromString(x.toPrecision(17)) : x,
        Number.isFinite(x) ? Decimal128.fromString(String(x)) : x,
        Number.isSafeInteger(x) ? Long.fromBigInt(BigInt(x) * 3n + 1n) : x,
      ),
    );
    const op = fc.constantFrom('$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin');
    fc.assert(
      fc.property(
        op,
        typed,
        fc.array(typed, { minLength: 1, maxLength: 3 }),
        (name, operand, values) => {
          const arg = name === '$in' || name === '$nin' ? [operand] : operand;
          const query = { n: { [name]: arg } };
          for (const n of [values[0], values]) {
            expect(compileMatcher(query)({ n })).toBe(compileFakeQuery(query)({ n }));
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('equality on scalars (the criteria most sources have)', () => {
  it('matches as the full query engine does, whatever the document holds', () => {
    const scalar = fc.oneof(
      fc.constantFrom<string | number | boolean>(0, -0, 1, 4, 'a', 'b', '4', true, false),
      fc.integer({ min: -3, max: 3 }),
    );
    const held = fc.oneof(
      scalar,
      fc.constantFrom<unknown>(undefined, null, new Int32(4), Long.fromNumber(1), new Double(0)),
      fc.constantFrom<unknown>(Decimal128.fromString('4.0'), new ObjectId(), { a: 1 }, [[4]], []),
      fc.array(fc.oneof(scalar, fc.constantFrom<unknown>(new Int32(1), null, [1])), {
        maxLength: 3,
      }),
    );
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom('a', 'b', 'c'), scalar, { minKeys: 1 }),
        fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd'), held),
        (query, doc) => {
          expect(compileMatcher(query)(doc)).toBe(compileFakeQuery(query)(doc));
        },
      ),
      { numRuns: 3000 },
    );
  });
});
