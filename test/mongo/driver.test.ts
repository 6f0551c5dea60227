/**
 * MongoAdapter with the real `mongodb` driver, over real sockets, against the wire fake in
 * test/support. This covers the driver and change-stream plumbing (resume tokens, which errors
 * the driver resumes from, re-opening, resets); server semantics need MONGO_URL (see
 * test/adapters/mongo.contract.test.ts).
 */
import { BSON, MongoClient } from 'mongodb';
import { afterEach, describe, expect, test, vi } from 'vitest';
import type { Change, ChangeBatch } from '../../src/server/adapter.js';
import { MongoAdapter, REPLICA_SET_REQUIRED } from '../../src/server/mongo/index.js';
import { ParticleError } from '../../src/protocol/errors.js';
import { MongoWireFake, type MongoWireFakeOptions } from '../support/mongoWireFake.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(options: MongoWireFakeOptions = {}) {
  const fake = await MongoWireFake.start(options);
  cleanups.push(() => fake.stop());
  const client = new MongoClient(fake.url);
  await client.connect();
  cleanups.push(() => client.close());
  const adapter = new MongoAdapter({
    db: client.db(fake.dbName),
    maxAwaitTimeMS: 100,
    reopenDelayMs: 20,
  });
  cleanups.push(() => adapter.close());
  const changes: Change[] = [];
  const errors: Error[] = [];
  const watch = (collections = ['users', 'posts']) =>
    adapter.watch(
      collections,
      (change) => changes.push(...flat(change)),
      (error) => errors.push(error),
    );
  return { fake, client, adapter, changes, errors, watch };
}

const ns = (coll: string) => ({ db: 'test', coll });
const insert = (coll: string, _id: unknown, doc: Record<string, unknown> = {}) => ({
  operationType: 'insert',
  ns: ns(coll),
  documentKey: { _id },
  fullDocument: { _id, ...doc },
});
/** A transaction's changes one by one. */
const flat = (change: Change | ChangeBatch): Change[] =>
  (change.type === 'transaction' ? change.changes : [change]).map(withoutTime);
/** A change without its commit time (checked in mapping.test.ts), for exact comparisons. */
const withoutTime = (change: Change): Change => {
  if (!('at' in change)) return change;
  const { at: _at, ...rest } = change;
  return rest as Change;
};
const ids = (changes: Change[]) =>
  changes.map((c) => (c.type === 'reset' ? `reset ${c.collection}` : c.id));

describe('MongoAdapter over the wire', () => {
  test('payload from find, then changes from the shared change stream', async () => {
    const { fake, adapter, changes, watch } = await setup();
    const oid = new BSON.ObjectId();
    fake.seed('users', [
      { _id: oid, name: 'Ann', at: new Date(0) },
      { _id: 2, name: 'Bob' },
    ]);
    const stop = await watch();
    const payload = await adapter.find('users', { name: 'Ann' }, { projection: { name: 1 } });
    expect(payload).toEqual([{ _id: oid, name: 'Ann' }]);
    expect(payload[0]?._id).toBeInstanceOf(BSON.ObjectId);

    fake.push(insert('users', 3, { name: 'Cy' }));
    fake.push({
      operationType: 'update',
      ns: ns('users'),
      documentKey: { _id: oid },
      updateDescription: {
        updatedFields: { 'address.state': 'CA', 'tags.1': 'y' },
        removedFields: ['at'],
      },
      fullDocument: { _id: oid, name: 'Ann', address: { state: 'CA' }, tags: ['x', 'y'] },
    });
    fake.push(insert('other', 9));
    fake.push({ operationType: 'delete', ns: ns('posts'), documentKey: { _id: 4 } });
    await vi.waitFor(() => expect(changes).toHaveLength(3));
    expect(changes[0]).toEqual({
      type: 'insert',
      collection: 'users',
      id: 3,
      doc: { _id: 3, name: 'Cy' },
    });
    expect(changes[1]).toMatchObject({
      type: 'update',
      id: oid,
      updatedFields: { 'address.state': 'CA', 'tags.1': 'y' },
      removedFields: ['at'],
    });
    expect(changes[2]).toEqual({ type: 'delete', collection: 'posts', id: 4 });
    // One stream for the database, filtered to the watched collections, with updateLookup.
    expect(fake.changeStreamOpens).toEqual([
      { fullDocument: 'updateLookup', showExpandedEvents: true },
    ]);
    const aggregate = fake.commands.find((c) => c.aggregate !== undefined);
    expect(aggregate?.aggregate).toBe(1);
    expect(aggregate?.pipeline).toEqual([
      { $changeStream: { fullDocument: 'updateLookup', showExpandedEvents: true } },
      {
        $match: {
          $or: [
            { 'ns.coll': { $in: ['posts', 'users'] } },
            { 'to.coll': { $in: ['posts', 'users'] } },
            { operationType: { $in: ['dropDatabase', 'invalidate'] } },
          ],
        },
      },
    ]);
    await stop();
  });

  test('watch resolves only once the cursor is open: a change pushed right after is delivered', async () => {
    const { fake, changes, watch } = await setup();
    await watch();
    fake.push(insert('users', 1));
    await vi.waitFor(() => expect(ids(changes)).toEqual([1]));
  });

  test('the resume token advances on empty batches (postBatchResumeToken)', async () => {
    const { adapter, watch } = await setup();
    await watch();
    const first = adapter.resumeToken;
    expect(first).toBeDefined();
    await vi.waitFor(() => expect(adapter.resumeToken).not.toEqual(first));
  });

  test('a socket drop mid-stream: the driver resumes after the last token, nothing lost or repeated', async () => {
    const { fake, adapter, changes, errors, watch } = await setup();
    await watch();
    fake.push(insert('users', 1));
    await vi.waitFor(() => expect(ids(changes)).toEqual([1]));
    const token = adapter.resumeToken;
    fake.dropConnections();
    fake.push(insert('users', 2));
    fake.push(insert('posts', 3));
    await vi.waitFor(() => expect(ids(changes)).toEqual([1, 2, 3]));
    expect(fake.changeStreamOpens[1]).toEqual({
      fullDocument: 'updateLookup',
      showExpandedEvents: true,
      resumeAfter: token,
    });
    fake.push(insert('users', 4));
    await vi.waitFor(() => expect(ids(changes)).toEqual([1, 2, 3, 4]));
    expect(errors).toEqual([]);
  });

  test.each([
    ['CursorNotFound (43)', { code: 43, codeName: 'CursorNotFound' }],
    [
      'a labelled resumable error',
      { code: 91, codeName: 'ShutdownInProgress', errorLabels: ['ResumableChangeStreamError'] },
    ],
  ])('%s on getMore: the driver resumes by itself', async (_label, error) => {
    const { fake, adapter, changes, errors, watch } = await setup();
    await watch();
    fake.push(insert('users', 1));
    await vi.waitFor(() => expect(ids(changes)).toEqual([1]));
    const token = adapter.resumeToken;
    fake.failNextGetMore(error);
    fake.push(insert('users', 2));
    await vi.waitFor(() => expect(ids(changes)).toEqual([1, 2]));
    expect(fake.changeStreamOpens).toHaveLength(2);
    expect(fake.changeStreamOpens[1]?.resumeAfter).toEqual(token);
    expect(errors).toEqual([]);
  });

  test.each([
    ['an unlabelled server error', { code: 91, codeName: 'ShutdownInProgress' }],
    ['ChangeStreamHistoryLost (286)', { code: 286, codeName: 'ChangeStreamHistoryLost' }],
    ['ChangeStreamFatalError (280)', { code: 280, codeName: 'ChangeStreamFatalError' }],
  ])(
    '%s: onError, a fresh stream, then reset for every watched collection',
    async (_label, error) => {
      const { fake, changes, errors, watch } = await setup();
      await watch();
      fake.push(insert('users', 1));
      await vi.waitFor(() => expect(ids(changes)).toEqual([1]));
      fake.failNextGetMore(error);
      await vi.waitFor(() => expect(ids(changes)).toEqual([1, 'reset posts', 'reset users']));
      expect(errors.map((e) => (e as { code?: unknown }).code)).toEqual([error.code]);
      expect(fake.changeStreamOpens[1]).toEqual({
        fullDocument: 'updateLookup',
        showExpandedEvents: true,
      });
      fake.push(insert('posts', 2));
      await vi.waitFor(() => expect(ids(changes)).toEqual([1, 'reset posts', 'reset users', 2]));
    },
  );

  test('a failed resume (history lost on the re-aggregate) also ends in a fresh stream and resets', async () => {
    const { fake, changes, errors, watch } = await setup();
    await watch(['users']);
    fake.push(insert('users', 1));
    await vi.waitFor(() => expect(ids(changes)).toEqual([1]));
    fake.failNextAggregate({ code: 286, codeName: 'ChangeStreamHistoryLost' });
    fake.failNextGetMore({ code: 43, codeName: 'CursorNotFound' });
    await vi.waitFor(() => expect(ids(changes)).toEqual([1, 'reset users']));
    expect(errors).toHaveLength(1);
    const opens = fake.changeStreamOpens;
    expect(opens[1]?.resumeAfter).toBeDefined();
    expect(opens[opens.length - 1]).toEqual({
      fullDocument: 'updateLookup',
      showExpandedEvents: true,
    });
  });

  test('invalidate: reset, then a new stream that starts after the invalidate token', async () => {
    const { fake, changes, errors, watch } = await setup();
    await watch();
    fake.push(insert('users', 1));
    fake.push({ operationType: 'dropDatabase', ns: { db: 'test' } });
    const invalidate = fake.push({ operationType: 'invalidate' });
    await vi.waitFor(() =>
      expect(ids(changes)).toEqual([1, 'reset posts', 'reset users', 'reset posts', 'reset users']),
    );
    expect(fake.changeStreamOpens[1]).toEqual({
      fullDocument: 'updateLookup',
      showExpandedEvents: true,
      startAfter: invalidate._id,
    });
    fake.push(insert('users', 2));
    await vi.waitFor(() => expect(ids(changes).at(-1)).toBe(2));
    expect(errors).toEqual([]);
  });

  test('drop and rename reset only the collections they name', async () => {
    const { fake, changes, watch } = await setup();
    await watch();
    fake.push({ operationType: 'drop', ns: ns('posts') });
    fake.push({ operationType: 'rename', ns: ns('users'), to: ns('users_old') });
    fake.push({ operationType: 'rename', ns: ns('drafts'), to: ns('posts') });
    fake.push({ operationType: 'drop', ns: ns('other') });
    await vi.waitFor(() =>
      expect(ids(changes)).toEqual(['reset posts', 'reset users', 'reset posts']),
    );
    expect(fake.changeStreamOpens).toHaveLength(1);
  });

  test('a second watch shares the stream, or re-opens it from the token to cover more collections', async () => {
    const { fake, adapter, changes, watch } = await setup();
    await watch(['users']);
    const seen: Change[] = [];
    const stopSame = await adapter.watch(['users'], (c) => seen.push(...flat(c)));
    expect(fake.changeStreamOpens).toHaveLength(1);
    fake.push(insert('users', 1));
    await vi.waitFor(() => expect(ids(seen)).toEqual([1]));
    const token = adapter.resumeToken;
    const stopMore = await adapter.watch(['posts'], (c) => seen.push(...flat(c)));
    expect(fake.changeStreamOpens[1]).toEqual({
      fullDocument: 'updateLookup',
      showExpandedEvents: true,
      startAfter: token,
    });
    fake.push(insert('posts', 2));
    await vi.waitFor(() => expect(ids(seen)).toEqual([1, 2]));
    expect(ids(changes)).toEqual([1]);
    await stopSame();
    await stopMore();
  });

  test('close() stops the stream on the server and leaves the client usable', async () => {
    const { fake, adapter, client, watch } = await setup();
    await watch();
    await vi.waitFor(() => expect(fake.waitingGetMores).toBe(1));
    await adapter.close();
    expect(fake.commands.some((c) => c.killCursors !== undefined)).toBe(true);
    expect(fake.waitingGetMores).toBe(0);
    await expect(client.db('test').command({ ping: 1 })).resolves.toMatchObject({ ok: 1 });
  });

  test('a standalone server: watch rejects with a clear error naming the fix', async () => {
    const { watch } = await setup({ standalone: true });
    const failure = await watch().catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ParticleError);
    expect((failure as ParticleError).code).toBe('config');
    expect((failure as ParticleError).message).toBe(REPLICA_SET_REQUIRED);
    expect((failure as ParticleError).message).toMatch(/--replSet rs0.*rs\.initiate\(\)/);
  });
});

describe('expanded events', () => {
  test('servers from 6.0 get showExpandedEvents, so disambiguatedPaths (6.1 to 8.1) arrive and a field name holding a dot is sent whole', async () => {
    const { fake, changes, watch } = await setup();
    await watch(['users']);
    fake.push({
      operationType: 'update',
      ns: ns('users'),
      documentKey: { _id: 1 },
      updateDescription: {
        updatedFields: { 'meta.x.y': 2 },
        removedFields: [],
        disambiguatedPaths: { 'meta.x.y': ['meta', 'x.y'] },
      },
      fullDocument: { _id: 1, meta: { 'x.y': 2 } },
    });
    await vi.waitFor(() => expect(changes).toHaveLength(1));
    expect(changes[0]).toMatchObject({ updatedFields: { meta: { 'x.y': 2 } }, removedFields: [] });
  });

  test('a 5.0 server is not sent showExpandedEvents (it would refuse the stage)', async () => {
    const { fake, changes, errors, watch } = await setup({ version: [5, 0, 0] });
    await watch(['users']);
    expect(fake.changeStreamOpens).toEqual([{ fullDocument: 'updateLookup' }]);
    fake.push(insert('users', 1));
    await vi.waitFor(() => expect(ids(changes)).toEqual([1]));
    expect(errors).toEqual([]);
  });
});
