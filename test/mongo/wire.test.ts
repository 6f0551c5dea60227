/**
 * BSON values as clients receive them, through the real driver and a Stream: one conversion
 * (`toWire`'s table) for the data and the ids of payloads and ops. Expected values are the
 * documented wire forms, not whatever a serializer happens to print.
 */
import { BSON, MongoClient } from 'mongodb';
import { afterEach, expect, test, vi } from 'vitest';
import type { Doc } from '../../src/server/adapter.js';
import { MongoAdapter } from '../../src/server/mongo/index.js';
import { Stream } from '../../src/server/stream.js';
import { MongoWireFake } from '../support/mongoWireFake.js';
import { withOpObjects } from '../support/wireOps.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

test('Decimal128, Long past 2^53, Timestamp and a Binary _id go out in their wire form, in payloads and ops alike', async () => {
  const fake = await MongoWireFake.start();
  cleanups.push(() => fake.stop());
  const binaryId = new BSON.Binary(Buffer.from([0xff, 0xfe, 0x00, 0x41]), 0);
  const uuidId = new BSON.UUID('0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9');
  fake.seed('users', [
    {
      _id: binaryId,
      team: 'a',
      price: BSON.Decimal128.fromString('1.50'),
      big: BSON.Long.fromString('9007199254740993'),
      at: new BSON.Timestamp({ t: 7, i: 3 }),
      nested: [{ amount: BSON.Decimal128.fromString('0.10') }],
    },
    { _id: uuidId, team: 'a', price: BSON.Decimal128.fromString('3') },
  ]);
  const client = new MongoClient(fake.url);
  await client.connect();
  cleanups.push(() => client.close());
  const adapter = new MongoAdapter({ db: client.db(fake.dbName), maxAwaitTimeMS: 100 });
  const stream = new Stream({
    adapter,
    dataSources: {
      team: {
        collection: 'users',
        criteria: { team: '@team' },
        manifest: { price: true, big: true, at: true, nested: true },
      },
    },
  });
  cleanups.push(() => stream.disconnect());
  const messages: Doc[] = [];
  const unregister = stream.register({ team: 'a' }, (_type, message) => {
    messages.push(JSON.parse(JSON.stringify(withOpObjects(message))) as Doc);
  });
  cleanups.push(async () => unregister());
  await vi.waitFor(() => expect(messages.some((m) => m.type === 'payload')).toBe(true));
  const payload = messages.find((m) => m.type === 'payload');
  expect(payload?.data).toEqual([
    {
      _id: '//4AQQ==',
      price: '1.50',
      big: '9007199254740993',
      at: { t: 7, i: 3 },
      nested: [{ amount: '0.10' }],
    },
    { _id: '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9', price: '3' },
  ]);

  fake.updateOne('users', binaryId, { $set: { price: BSON.Decimal128.fromString('2.25') } });
  fake.updateOne('users', uuidId, { $set: { price: BSON.Decimal128.fromString('4.0') } });
  await vi.waitFor(() => expect(messages.filter((m) => m.type === 'delta')).toHaveLength(2));
  const ops = messages.filter((m) => m.type === 'delta').flatMap((m) => m.ops as Doc[]);
  expect(ops).toEqual([
    { operation: 'set', id: '//4AQQ==', path: 'price', data: '2.25' },
    { operation: 'set', id: '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9', path: 'price', data: '4.0' },
  ]);
});
