/**
 * A Stream on MongoAdapter, with the real driver against the wire fake: what a client holds
 * after history loss (full resync) and after a change that overlaps its payload.
 */
import { MongoClient } from 'mongodb';
import { afterEach, expect, test, vi } from 'vitest';
import type { Doc } from '../../src/server/adapter.js';
import { MongoAdapter } from '../../src/server/mongo/index.js';
import { Stream } from '../../src/server/stream.js';
import { MongoWireFake } from '../support/mongoWireFake.js';
import { quietFor } from '../support/quiet.js';
import { opsOf } from '../support/wireOps.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(seed: Doc[]) {
  const fake = await MongoWireFake.start();
  cleanups.push(() => fake.stop());
  fake.seed('users', seed);
  const client = new MongoClient(fake.url);
  await client.connect();
  cleanups.push(() => client.close());
  const adapter = new MongoAdapter({
    db: client.db(fake.dbName),
    maxAwaitTimeMS: 100,
    reopenDelayMs: 20,
  });
  const stream = new Stream({
    adapter,
    dataSources: {
      team: { collection: 'users', criteria: { team: '@team' }, manifest: { name: true } },
    },
  });
  cleanups.push(() => stream.disconnect());
  const view = new Map<string, Doc>();
  const ops: Doc[] = [];
  let payloads = 0;
  const unregister = stream.register({ team: 'a' }, (_type, message) => {
    const m = message as { type: string; data?: Doc[]; ops?: Doc[] };
    if (m.type === 'payload') {
      payloads++;
      view.clear();
      for (const doc of m.data ?? []) view.set(String(doc._id), doc);
    }
    for (const op of opsOf(m)) {
      ops.push(op);
      if (op.operation === 'insert') view.set(String(op.id), op.data as Doc);
      if (op.operation === 'remove') view.delete(String(op.id));
      if (op.operation === 'set') (view.get(String(op.id)) ?? {})[String(op.path)] = op.data;
    }
  });
  cleanups.push(async () => unregister());
  const docs = () => [...view.values()].sort((x, y) => Number(x._id) - Number(y._id));
  await vi.waitFor(() => expect(payloads).toBe(1));
  return { fake, docs, ops };
}

test('history lost (286): the Stream re-queries and the client converges without reconnecting', async () => {
  const { fake, docs } = await setup([
    { _id: 1, name: 'Ann', team: 'a' },
    { _id: 2, name: 'Bob', team: 'a' },
  ]);
  expect(docs()).toEqual([
    { _id: 1, name: 'Ann' },
    { _id: 2, name: 'Bob' },
  ]);
  // Writes whose events are lost with the history: only a re-query can see them.
  fake.seed('users', [
    { _id: 1, name: 'Anne', team: 'a' },
    { _id: 3, name: 'Cy', team: 'a' },
  ]);
  fake.failNextGetMore({ code: 286, codeName: 'ChangeStreamHistoryLost' });
  await vi.waitFor(() =>
    expect(docs()).toEqual([
      { _id: 1, name: 'Anne' },
      { _id: 3, name: 'Cy' },
    ]),
  );
  // And the fresh stream carries on.
  fake.push({
    operationType: 'insert',
    ns: { db: 'test', coll: 'users' },
    documentKey: { _id: 4 },
    fullDocument: { _id: 4, name: 'Di', team: 'a' },
  });
  await vi.waitFor(() => expect(docs().map((d) => d._id)).toEqual([1, 3, 4]));
});

test('a fatal stream error is recovered once: one new stream, one re-query per view', async () => {
  const { fake, docs } = await setup([{ _id: 1, name: 'Ann', team: 'a' }]);
  const opensBefore = fake.changeStreamOpens.length;
  const findsBefore = fake.commands.filter((c) => c.find === 'users').length;
  fake.seed('users', [{ _id: 1, name: 'Anne', team: 'a' }]);
  fake.failNextGetMore({ code: 286, codeName: 'ChangeStreamHistoryLost' });
  await vi.waitFor(() => expect(docs()).toEqual([{ _id: 1, name: 'Anne' }]));
  // No second recovery follows.
  await quietFor(500);
  expect(fake.changeStreamOpens.length - opensBefore).toBe(1);
  expect(fake.commands.filter((c) => c.find === 'users').length - findsBefore).toBe(1);
});

test('an event that overlaps the payload (already in it) leaves one copy', async () => {
  const { fake, docs, ops } = await setup([{ _id: 1, name: 'Ann', team: 'a' }]);
  fake.push({
    operationType: 'insert',
    ns: { db: 'test', coll: 'users' },
    documentKey: { _id: 1 },
    fullDocument: { _id: 1, name: 'Ann', team: 'a' },
  });
  fake.push({
    operationType: 'insert',
    ns: { db: 'test', coll: 'users' },
    documentKey: { _id: 2 },
    fullDocument: { _id: 2, name: 'Bob', team: 'a' },
  });
  await vi.waitFor(() =>
    expect(docs()).toEqual([
      { _id: 1, name: 'Ann' },
      { _id: 2, name: 'Bob' },
    ]),
  );
  // The known document brings the client nothing new (no op, or one that changes nothing).
  const forAnn = ops.filter((op) => op.id === 1);
  expect(forAnn.every((op) => op.operation === 'insert' && (op.data as Doc).name === 'Ann')).toBe(
    true,
  );
});

test('events the payload already holds are not replayed on top of it: the client never goes back in time', async () => {
  const fake = await MongoWireFake.start();
  cleanups.push(() => fake.stop());
  fake.seed('users', [{ _id: 1, name: 'v1', team: 'a' }]);
  const client = new MongoClient(fake.url);
  await client.connect();
  cleanups.push(() => client.close());
  const adapter = new MongoAdapter({ db: client.db(fake.dbName), maxAwaitTimeMS: 100 });
  const stream = new Stream({
    adapter,
    dataSources: {
      team: { collection: 'users', criteria: { team: '@team' }, manifest: { name: true } },
    },
  });
  cleanups.push(() => stream.disconnect());
  // The feed is open (a first client), then the stream lags two writes behind.
  const elsewhere: Doc[] = [];
  const first = stream.register({ team: 'b' }, (_type, message) => {
    elsewhere.push(...opsOf(message));
  });
  cleanups.push(async () => first());
  await vi.waitFor(() => expect(fake.changeStreamOpens.length).toBe(1));
  await vi.waitFor(() => expect(fake.waitingGetMores).toBe(1));
  fake.hold();
  fake.replaceOne('users', 1, { name: 'v2', team: 'a' });
  fake.replaceOne('users', 1, { name: 'v3', team: 'a' });
  const seen: string[] = [];
  const unregister = stream.register({ team: 'a' }, (_type, message) => {
    const m = message as { type: string; data?: Doc[]; ops?: Doc[] };
    for (const doc of m.data ?? []) seen.push(String(doc.name));
    for (const op of opsOf(m)) {
      if (op.operation === 'insert') seen.push(String((op.data as Doc).name));
    }
  });
  cleanups.push(async () => unregister());
  await vi.waitFor(() => expect(seen).toEqual(['v3']));
  fake.release();
  // A later write only the first client sees: the feed reads the held events before it, so a
  // replay of them would show by the time it does.
  fake.insertOne('users', { _id: 2, name: 'b1', team: 'b' });
  await vi.waitFor(() => expect(elsewhere).toHaveLength(1));
  expect(seen).toEqual(['v3']);
});

test("stats (and /health) show the feed's lag behind the database's cluster time", async () => {
  MongoWireFake.seconds = Math.floor(Date.now() / 1000);
  cleanups.push(async () => {
    MongoWireFake.seconds = 1;
  });
  const fake = await MongoWireFake.start();
  cleanups.push(() => fake.stop());
  fake.seed('users', [{ _id: 1, name: 'Ann', team: 'a' }]);
  const client = new MongoClient(fake.url);
  await client.connect();
  cleanups.push(() => client.close());
  const adapter = new MongoAdapter({ db: client.db(fake.dbName), maxAwaitTimeMS: 100 });
  const stream = new Stream({
    adapter,
    dataSources: {
      team: { collection: 'users', criteria: { team: '@team' }, manifest: { name: true } },
    },
  });
  cleanups.push(() => stream.disconnect());
  expect(stream.stats().feedLagMs).toBeUndefined();
  const unregister = stream.register({ team: 'a' }, () => undefined);
  cleanups.push(async () => unregister());
  fake.updateOne('users', 1, { $set: { name: 'Anne' } });
  await vi.waitFor(() => expect(stream.stats().feedLagMs).toBeTypeOf('number'));
  // The cluster time counts whole seconds: up to one second behind means caught up.
  expect(stream.stats().feedLagMs).toBeLessThan(2000);
});
