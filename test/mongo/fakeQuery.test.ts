/**
 * The wire fake answers `find` (and the write commands' filters) the way the MongoDB manual says
 * a server compares BSON types, through the real driver. Every expectation is a documented
 * result, written out here, never what mingo computes:
 *
 * - "Comparison/Sort Order": numeric types undergo conversion before comparison; BinData sorts by
 *   length, then subtype, then byte by byte; comparison operators only match fields whose BSON
 *   type matches the operand's (type bracketing).
 * - mongosh "Data Types", Decimal128 "Equality and Sort Order": the `numbers` example, where
 *   `{ val: 9.99 }` returns only the double and `{ val: 10 }` returns the double, the Long and
 *   `NumberDecimal("10.0")`.
 */
import { BSON, MongoClient, type Collection, type Document } from 'mongodb';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { MongoWireFake } from '../support/mongoWireFake.js';

let fake: MongoWireFake;
let client: MongoClient;
beforeEach(async () => {
  fake = await MongoWireFake.start();
  client = new MongoClient(fake.url);
  await client.connect();
});
afterEach(async () => {
  await client.close();
  await fake.stop();
});

const dec = (s: string) => BSON.Decimal128.fromString(s);
/** Documents keyed by plain ids, as in the manual's examples. */
type Keyed = Document & { _id: number | string };
const ids = async (coll: Collection<Keyed>, filter: Document, sort?: Document) =>
  (await coll.find(filter, sort ? { sort } : {}).toArray()).map((d) => d._id as unknown);

describe('numbers, by value whatever their BSON type', () => {
  test("the manual's numbers example", async () => {
    const numbers = client.db(fake.dbName).collection<Keyed>('numbers');
    await numbers.insertMany([
      { _id: 1, val: dec('9.99'), description: 'Decimal' },
      { _id: 2, val: 9.99, description: 'Double' },
      { _id: 3, val: 10, description: 'Double' },
      { _id: 4, val: BSON.Long.fromNumber(10), description: 'Long' },
      { _id: 5, val: dec('10.0'), description: 'Decimal' },
    ]);
    expect(await ids(numbers, { val: 9.99 })).toEqual([2]);
    expect(await ids(numbers, { val: dec('9.99') })).toEqual([1]);
    expect(await ids(numbers, { val: 10 })).toEqual([3, 4, 5]);
    expect(await ids(numbers, { val: dec('10') })).toEqual([3, 4, 5]);
  });

  test('Decimal128 against plain numbers: equality, ranges and $in', async () => {
    const c = client.db(fake.dbName).collection<Keyed>('c');
    await c.insertMany([
      { _id: 'five', n: dec('5') },
      { _id: 'onefifty', n: dec('1.50') },
      { _id: 'text', n: '5' },
      { _id: 'int', n: new BSON.Int32(5) },
    ]);
    expect(await ids(c, { n: 5 })).toEqual(['five', 'int']);
    expect(await ids(c, { n: { $gt: 4 } })).toEqual(['five', 'int']);
    expect(await ids(c, { n: { $in: [5, 6] } })).toEqual(['five', 'int']);
    expect(await ids(c, { n: 1.5 })).toEqual(['onefifty']);
    expect(await ids(c, { n: { $lt: 2 } })).toEqual(['onefifty']);
    // Type bracketing: the string "5" is no number.
    expect(await ids(c, { n: { $gte: 0 } })).not.toContain('text');
    // The write commands' filters compare the same way.
    await c.updateOne({ n: 1.5 }, { $set: { seen: true } });
    expect(await ids(c, { seen: true })).toEqual(['onefifty']);
  });
});

describe('BinData, by subtype and exact bytes', () => {
  // Two legacy UUIDs (subtype 3) differing only in bytes invalid as UTF-8 (both print "��").
  const a = () => new BSON.Binary(Buffer.from([0xff, 0xfe, 1, 2]), 3);
  const b = () => new BSON.Binary(Buffer.from([0xfe, 0xff, 1, 2]), 3);

  test('equality and $in see the bytes, and the subtype', async () => {
    expect(String(a())).toBe(String(b()));
    const c = client.db(fake.dbName).collection<Keyed>('keys');
    await c.insertMany([
      { _id: 'a', k: a() },
      { _id: 'b', k: b() },
      { _id: 'a0', k: new BSON.Binary(Buffer.from([0xff, 0xfe, 1, 2]), 0) },
    ]);
    expect(await ids(c, { k: a() })).toEqual(['a']);
    expect(await ids(c, { k: b() })).toEqual(['b']);
    expect(await ids(c, { k: { $in: [b()] } })).toEqual(['b']);
    expect(await ids(c, { k: { $nin: [a()] } })).toEqual(['b', 'a0']);
    await c.deleteOne({ k: b() });
    expect(await ids(c, {})).toEqual(['a', 'a0']);
  });

  test('sort: length, then subtype, then bytes', async () => {
    const c = client.db(fake.dbName).collection<Keyed>('sorted');
    await c.insertMany([
      { _id: 'long', k: new BSON.Binary(Buffer.from([0, 0, 0]), 0) },
      { _id: 'sub5', k: new BSON.Binary(Buffer.from([0, 0]), 5) },
      { _id: 'ff', k: new BSON.Binary(Buffer.from([0xff, 0]), 0) },
      { _id: '01', k: new BSON.Binary(Buffer.from([0x01, 0]), 0) },
    ]);
    expect(await ids(c, {}, { k: 1 })).toEqual(['01', 'ff', 'sub5', 'long']);
  });
});
