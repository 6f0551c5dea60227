/**
 * Where the adapter reads from and what it does when a read or an open goes wrong, with the
 * real driver against the wire fake as a model (collection state, a lagging secondary).
 */
import { MongoClient } from 'mongodb';
import { afterEach, expect, test, vi } from 'vitest';
import type { Change, Doc } from '../../src/server/adapter.js';
import { MongoAdapter } from '../../src/server/mongo/index.js';
import { Stream } from '../../src/server/stream.js';
import { ParticleError } from '../../src/protocol/errors.js';
import { MongoWireFake } from '../support/mongoWireFake.js';
import { opsOf } from '../support/wireOps.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(seed: Doc[], urlOptions = '') {
  const fake = await MongoWireFake.start();
  cleanups.push(() => fake.stop());
  fake.seed('users', seed);
  const client = new MongoClient(fake.url + urlOptions);
  await client.connect();
  cleanups.push(() => client.close());
  const adapter = new MongoAdapter({
    db: client.db(fake.dbName),
    maxAwaitTimeMS: 100,
    reopenDelayMs: 20,
  });
  cleanups.push(() => adapter.close());
  return { fake, adapter };
}

function register(stream: Stream, team: string) {
  const view = new Map<string, Doc>();
  let payloads = 0;
  const unregister = stream.register({ team }, (_type, message) => {
    const m = message as { type: string; data?: Doc[]; ops?: Doc[] };
    if (m.type === 'payload') {
      payloads++;
      view.clear();
      for (const doc of m.data ?? []) view.set(String(doc._id), { ...doc });
    }
    for (const op of opsOf(m)) {
      const id = String(op.id);
      if (op.operation === 'insert') view.set(id, { ...(op.data as Doc) });
      if (op.operation === 'remove') view.delete(id);
      const doc = view.get(id);
      if (op.operation === 'set' && doc) doc[String(op.path)] = op.data;
      if (op.operation === 'unset' && doc) delete doc[String(op.path)];
    }
  });
  cleanups.push(async () => unregister());
  return {
    docs: () => [...view.values()].sort((x, y) => Number(x._id) - Number(y._id)),
    payloads: () => payloads,
  };
}

test('with a secondary read preference on the Db, payloads still read the primary: a new group sees an insert the stream already passed', async () => {
  const { fake, adapter } = await setup(
    [{ _id: 1, name: 'Ann', team: 'a' }],
    '&readPreference=secondary',
  );
  const stream = new Stream({
    adapter,
    dataSources: {
      team: { collection: 'users', criteria: { team: '@team' }, manifest: { name: true } },
    },
  });
  cleanups.push(() => stream.disconnect());
  const a = register(stream, 'a');
  await vi.waitFor(() => expect(a.payloads()).toBe(1));
  fake.lagReads();
  fake.insertOne('users', { _id: 2, name: 'Bob', team: 'b' });
  fake.insertOne('users', { _id: 3, name: 'Cy', team: 'a' });
  await vi.waitFor(() => expect(a.docs().map((d) => d._id)).toEqual([1, 3]));
  const b = register(stream, 'b');
  await vi.waitFor(() => expect(b.payloads()).toBe(1));
  expect(b.docs()).toEqual([{ _id: 2, name: 'Bob' }]);
  for (const command of fake.commands.filter((c) => c.find !== undefined || c.aggregate)) {
    // A direct connection sends primary as primaryPreferred (server selection spec).
    expect(command.$readPreference).toEqual({ mode: 'primaryPreferred' });
  }
});

test('an update whose lookup is null (the document still exists) is re-read by its key, not removed', async () => {
  const { fake, adapter } = await setup([{ _id: 1, name: 'Ann', team: 'a' }]);
  const stream = new Stream({
    adapter,
    dataSources: {
      team: { collection: 'users', criteria: { team: '@team' }, manifest: { name: true } },
    },
  });
  cleanups.push(() => stream.disconnect());
  const a = register(stream, 'a');
  await vi.waitFor(() => expect(a.payloads()).toBe(1));
  const [doc] = fake.docs('users');
  if (doc) doc.name = 'Anne';
  // As a sharded cluster answers a shard-key update that keeps the document on its shard.
  fake.push({
    operationType: 'update',
    ns: { db: 'test', coll: 'users' },
    documentKey: { _id: 1 },
    updateDescription: { updatedFields: { name: 'Anne' }, removedFields: [] },
    fullDocument: null,
  });
  fake.insertOne('users', { _id: 2, name: 'Bob', team: 'a' });
  await vi.waitFor(() => expect(a.docs().map((d) => d._id)).toEqual([1, 2]));
  expect(a.docs()[0]).toEqual({ _id: 1, name: 'Anne' });
  expect(fake.commands.some((c) => c.find === 'users' && (c.filter as Doc)._id === 1)).toBe(true);
});

test('an update whose lookup is null because the document is gone still removes it', async () => {
  const { fake, adapter } = await setup([{ _id: 1, name: 'Ann', team: 'a' }]);
  const changes: Change[] = [];
  await adapter.watch(['users'], (c) =>
    changes.push(...(c.type === 'transaction' ? c.changes : [c])),
  );
  fake.seed('users', []);
  fake.push({
    operationType: 'update',
    ns: { db: 'test', coll: 'users' },
    documentKey: { _id: 1 },
    updateDescription: { updatedFields: { name: 'Anne' }, removedFields: [] },
    fullDocument: null,
  });
  await vi.waitFor(() => expect(changes).toHaveLength(1));
  expect(changes[0]).toMatchObject({ type: 'update', id: 1, doc: null });
});

test('a failed re-open for a new collection: the earlier watchers learn why and get their stream back', async () => {
  const { fake, adapter } = await setup([]);
  const changes: Change[] = [];
  const errors: Error[] = [];
  await adapter.watch(
    ['users'],
    (c) => changes.push(...(c.type === 'transaction' ? c.changes : [c])),
    (e) => errors.push(e),
  );
  fake.failNextAggregate({ code: 13, codeName: 'Unauthorized', errmsg: 'not authorized on test' });
  const failure = await adapter.watch(['posts'], () => undefined).catch((e: unknown) => e);
  expect((failure as ParticleError).code).toBe('config');
  await vi.waitFor(() =>
    expect(errors.map((e) => e.message)).toEqual([(failure as Error).message]),
  );
  await vi.waitFor(() => expect(fake.changeStreamOpens).toHaveLength(3));
  fake.insertOne('users', { _id: 1, name: 'Ann' });
  await vi.waitFor(() =>
    expect(changes.map((c) => (c.type === 'reset' ? c.type : c.id))).toEqual([1]),
  );
});

test('a change stream the user may not open (Unauthorized, 13): registrations and snapshot() fail with the reason instead of waiting', async () => {
  const { fake, adapter } = await setup([{ _id: 1, name: 'Ann', team: 'a' }]);
  const stream = new Stream({
    adapter,
    dataSources: {
      team: { collection: 'users', criteria: { team: '@team' }, manifest: { name: true } },
    },
  });
  cleanups.push(() => stream.disconnect());
  fake.failAggregates({ code: 13, codeName: 'Unauthorized', errmsg: 'not authorized on test' });
  const failure = await Promise.race([
    stream.snapshot({ team: 'a' }).then(
      () => 'resolved',
      (e: unknown) => e,
    ),
    new Promise((r) => setTimeout(() => r('still waiting'), 2000)),
  ]);
  expect(failure).toBeInstanceOf(ParticleError);
  expect((failure as ParticleError).code).toBe('config');
  expect((failure as ParticleError).message).toMatch(/error 13.*grant `read`/);
  // Once the rights are there, the next request opens the stream.
  fake.failAggregates(undefined);
  await expect(stream.snapshot({ team: 'a' })).resolves.toEqual({
    team: [{ _id: 1, name: 'Ann' }],
  });
});

test('a watched collection with a default collation is refused: Particle could not match changes the way its finds do', async () => {
  const { fake, adapter } = await setup([{ _id: 1, name: 'Ann', team: 'a' }]);
  fake.setCollation('posts', { locale: 'fr', strength: 1 });
  const failure = await adapter.watch(['posts'], () => undefined).catch((e: unknown) => e);
  expect(failure).toMatchObject({ code: 'config' });
  expect(String((failure as Error).message)).toContain('default collation (fr)');
  // A simple collation is the default comparison: fine.
  fake.setCollation('simple', { locale: 'simple' });
  const stop = await adapter.watch(['users', 'simple'], () => undefined);
  await stop();
});
