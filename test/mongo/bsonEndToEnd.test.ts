/**
 * BSON types end to end: the real driver against the wire fake (whose find compares the way the
 * manual documents, see fakeQuery.test.ts), a real server and WebSocket clients. Expected
 * results are written out from the manual's rules, not computed.
 */
import { BSON, MongoClient } from 'mongodb';
import { afterEach, expect, test } from 'vitest';
import { MongoAdapter } from '../../src/server/mongo/index.js';
import type { MemoryAdapter } from '../../src/server/index.js';
import type { StreamOptions } from '../../src/server/stream.js';
import { MongoWireFake } from '../support/mongoWireFake.js';
import { RawClient, startServer } from '../support/server.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve(options: Partial<StreamOptions>) {
  const fake = await MongoWireFake.start();
  cleanups.push(() => fake.stop());
  const client = new MongoClient(fake.url);
  await client.connect();
  cleanups.push(() => client.close());
  const adapter = new MongoAdapter({ db: client.db(fake.dbName), maxAwaitTimeMS: 100 });
  const server = await startServer({
    ...options,
    adapter: adapter as unknown as MemoryAdapter,
  });
  cleanups.push(() => server.close());
  const connect = async (identity: Record<string, unknown>) => {
    const c = await RawClient.register(server.url, identity);
    cleanups.push(() => c.close());
    await c.ready();
    return c;
  };
  return { fake, connect };
}

// Two legacy UUIDs (subtype 3) that differ only in bytes invalid as UTF-8: both print as "��".
const keyA = () => new BSON.Binary(Buffer.from([0xff, 0xfe, 1, 2]), 3);
const keyB = () => new BSON.Binary(Buffer.from([0xfe, 0xff, 1, 2]), 3);

test('two identities whose legacy-UUID keys differ only in invalid-UTF-8 bytes each see only their own documents', async () => {
  expect(String(keyA())).toBe(String(keyB()));
  const { fake, connect } = await serve({
    identityLookup: (claimed) => ({ ownerKey: claimed.who === 'a' ? keyA() : keyB() }),
    dataSources: {
      notes: { collection: 'notes', criteria: { ownerKey: '@ownerKey' }, manifest: { text: true } },
    },
  });
  fake.seed('notes', [
    { _id: 'n1', ownerKey: keyA(), text: "a's note" },
    { _id: 'n2', ownerKey: keyB(), text: "b's note" },
  ]);
  const a = await connect({ who: 'a' });
  const b = await connect({ who: 'b' });
  expect(a.payload('notes')).toEqual([{ _id: 'n1', text: "a's note" }]);
  expect(b.payload('notes')).toEqual([{ _id: 'n2', text: "b's note" }]);
  fake.insertOne('notes', { _id: 'n3', ownerKey: keyB(), text: "b's second" });
  fake.insertOne('notes', { _id: 'n4', ownerKey: keyA(), text: "a's second" });
  await a.until((c) => c.ops('notes').length === 1);
  await b.until((c) => c.ops('notes').length === 1);
  expect(a.ops('notes')).toEqual([
    { operation: 'insert', id: 'n4', data: { _id: 'n4', text: "a's second" } },
  ]);
  expect(b.ops('notes')).toEqual([
    { operation: 'insert', id: 'n3', data: { _id: 'n3', text: "b's second" } },
  ]);
});

test('a Decimal128 document matched by { n: { $gt: 4 } } stays in the view on its next update', async () => {
  const { fake, connect } = await serve({
    dataSources: {
      big: { collection: 'items', criteria: { n: { $gt: 4 } }, manifest: { n: true, label: true } },
    },
  });
  fake.seed('items', [
    { _id: 'five', n: BSON.Decimal128.fromString('5'), label: 'x' },
    { _id: 'three', n: BSON.Decimal128.fromString('3'), label: 'y' },
  ]);
  const c = await connect({});
  // Numbers compare by value: Decimal128 5 > 4, Decimal128 3 is not.
  expect(c.payload('big')).toEqual([{ _id: 'five', n: '5', label: 'x' }]);
  fake.updateOne('items', 'five', { $set: { label: 'changed' } });
  await c.until((x) => x.ops('big').length > 0);
  expect(c.ops('big')).toEqual([{ operation: 'set', id: 'five', path: 'label', data: 'changed' }]);
});

test('a Decimal128 9.99 never enters a view on the double 9.99, and a Long past 2^53 keeps its own', async () => {
  const { fake, connect } = await serve({
    dataSources: {
      cheap: {
        collection: 'items',
        criteria: { price: 9.99 },
        manifest: { price: true, label: true },
      },
      big: {
        collection: 'counters',
        criteria: { n: BSON.Long.fromString('9007199254740993') },
        manifest: { label: true },
      },
    },
  });
  // The manual's numbers example: `{ val: 9.99 }` finds the double, not NumberDecimal("9.99").
  fake.seed('items', [
    { _id: 'decimal', price: BSON.Decimal128.fromString('9.99'), label: 'd' },
    { _id: 'double', price: 9.99, label: 'f' },
  ]);
  fake.seed('counters', [
    { _id: 'exact', n: BSON.Long.fromString('9007199254740993'), label: 'a' },
    { _id: 'near', n: BSON.Long.fromString('9007199254740992'), label: 'b' },
  ]);
  const c = await connect({});
  expect(c.payload('cheap')).toEqual([{ _id: 'double', price: 9.99, label: 'f' }]);
  expect(c.payload('big')).toEqual([{ _id: 'exact', label: 'a' }]);
  // Updates the live matcher decides: neither look-alike may enter its view.
  fake.updateOne('items', 'decimal', { $set: { label: 'd2' } });
  fake.updateOne('counters', 'near', { $set: { label: 'b2' } });
  fake.updateOne('items', 'double', { $set: { label: 'f2' } });
  fake.updateOne('counters', 'exact', { $set: { label: 'a2' } });
  await c.until((x) => x.ops('cheap').length > 0 && x.ops('big').length > 0);
  expect(c.ops('cheap')).toEqual([{ operation: 'set', id: 'double', path: 'label', data: 'f2' }]);
  expect(c.ops('big')).toEqual([{ operation: 'set', id: 'exact', path: 'label', data: 'a2' }]);
});
