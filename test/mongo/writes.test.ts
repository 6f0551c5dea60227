/**
 * MongoAdapter's mutator support (`runWrites`, `settled`) with the real `mongodb` driver against
 * the wire fake: the write API's counts, one session per run, transactions (commit, abort,
 * retry after a transient error) and `settled` resolving only once the change stream has
 * delivered the writes, or has passed them on an idle batch.
 */
import { BSON, MongoClient } from 'mongodb';
import { afterEach, describe, expect, test } from 'vitest';
import type { Change, Doc } from '../../src/server/adapter.js';
import { MongoAdapter, type MongoAdapterOptions } from '../../src/server/mongo/index.js';
import { DeliveredTime, tokenTime } from '../../src/server/mongo/clusterTime.js';
import { MongoWireFake } from '../support/mongoWireFake.js';
import { quietFor } from '../support/quiet.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(options: Partial<MongoAdapterOptions> = {}) {
  const fake = await MongoWireFake.start();
  cleanups.push(() => fake.stop());
  fake.seed('users', [
    { _id: 1, name: 'Ann', team: 'a' },
    { _id: 2, name: 'Bob', team: 'a' },
    { _id: 3, name: 'Cy', team: 'b' },
  ]);
  const client = new MongoClient(fake.url);
  await client.connect();
  cleanups.push(() => client.close());
  const adapter = new MongoAdapter({
    db: client.db(fake.dbName),
    maxAwaitTimeMS: 100,
    reopenDelayMs: 20,
    ...options,
  });
  cleanups.push(() => adapter.close());
  const changes: Change[] = [];
  const errors: Error[] = [];
  const watch = (collections = ['users']) =>
    adapter.watch(
      collections,
      (change) =>
        changes.push(
          // Without the commit time (checked in mapping.test.ts), for exact comparisons.
          ...(change.type === 'transaction' ? change.changes : [change]).map((c) => {
            if (!('at' in c)) return c;
            const { at: _at, ...rest } = c;
            return rest as Change;
          }),
        ),
      (error) => errors.push(error),
    );
  return { fake, adapter, changes, errors, watch };
}

const seen = (changes: Change[]) =>
  changes.map((c) => (c.type === 'reset' ? `reset ${c.collection}` : `${c.type} ${String(c.id)}`));

/** The changes recorded at the moment `settled` resolves (not a few events later). */
async function seenAtSettle(
  adapter: MongoAdapter,
  written: unknown,
  changes: Change[],
): Promise<string[]> {
  let recorded: string[] = [];
  await adapter.settled(written).then(() => {
    recorded = seen(changes);
  });
  return recorded;
}

/** Whether `promise` is still pending after `ms`; `false` as soon as it settles. */
function pendingAfter(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const settled = promise.then(
    () => false,
    () => false,
  );
  return Promise.race([settled, quietFor(ms).then(() => true)]);
}

describe('runWrites without a transaction', () => {
  test('insert, update, replace, remove and find answer with counts and documents, and the feed sees every change', async () => {
    const { fake, adapter, changes, errors, watch } = await setup();
    await watch();
    const done = await adapter.runWrites(
      async (db) => ({
        many: await db.insert('users', [
          { _id: 4, name: 'Di', team: 'a' },
          { _id: 5, name: 'Ed', team: 'c' },
        ]),
        one: await db.insert('users', { _id: 6, name: 'Flo', team: 'c' }),
        updated: await db.update('users', { team: 'a' }, { $set: { active: true } }),
        unchanged: await db.update('users', { team: 'a' }, { $set: { active: true } }),
        replaced: await db.replace('users', { _id: 3 }, { _id: 99, name: 'Cyd', team: 'b' }),
        replacedByFilter: await db.replace('users', { team: 'c' }, { name: 'C', team: 'c' }),
        noMatch: await db.replace('users', { team: 'z' }, { name: 'Z' }),
        removed: await db.remove('users', { _id: { $in: [5, 6, 7] } }),
        found: await db.find(
          'users',
          { team: 'a' },
          { sort: { _id: -1 }, projection: { name: 1 } },
        ),
      }),
      { transaction: false },
    );
    expect(done.value).toEqual({
      many: 2,
      one: 1,
      updated: 3,
      unchanged: 0,
      replaced: 1,
      replacedByFilter: 2,
      noMatch: 0,
      removed: 2,
      found: [
        { _id: 4, name: 'Di' },
        { _id: 2, name: 'Bob' },
        { _id: 1, name: 'Ann' },
      ],
    });
    expect(done.written).toBeInstanceOf(BSON.Timestamp);
    expect(fake.docs('users')).toEqual([
      { _id: 1, name: 'Ann', team: 'a', active: true },
      { _id: 2, name: 'Bob', team: 'a', active: true },
      { _id: 3, name: 'Cyd', team: 'b' },
      { _id: 4, name: 'Di', team: 'a', active: true },
    ]);

    expect(await seenAtSettle(adapter, done.written, changes)).toEqual([
      'insert 4',
      'insert 5',
      'insert 6',
      'update 1',
      'update 2',
      'update 4',
      'replace 3',
      'replace 5',
      'replace 6',
      'delete 5',
      'delete 6',
    ]);
    expect(changes[3]).toMatchObject({ updatedFields: { active: true }, removedFields: [] });
    expect(changes[6]).toMatchObject({ doc: { _id: 3, name: 'Cyd', team: 'b' } });

    // One session for the whole run, and the caller's documents are left as they were.
    const writes = fake.commands.filter(
      (c) => c.insert !== undefined || c.update !== undefined || c.delete !== undefined,
    );
    expect(writes.length).toBeGreaterThan(5);
    expect(new Set(writes.map((c) => BSON.EJSON.stringify(c.lsid as Doc))).size).toBe(1);
    expect(errors).toEqual([]);
  });

  test('the documents given to insert are not changed (no _id is added to them)', async () => {
    const { fake, adapter } = await setup();
    const doc = { name: 'Gus' };
    const done = await adapter.runWrites((db) => db.insert('users', doc), { transaction: false });
    expect(done.value).toBe(1);
    expect(doc).toEqual({ name: 'Gus' });
    expect(fake.docs('users').at(-1)?._id).toBeInstanceOf(BSON.ObjectId);
  });

  test('a throw part-way keeps the writes made before it, and runWrites rejects with it', async () => {
    const { fake, adapter } = await setup();
    const failure = new Error('stop here');
    const run = adapter.runWrites(
      async (db) => {
        await db.insert('users', { _id: 4, name: 'Di' });
        throw failure;
      },
      { transaction: false },
    );
    await expect(run).rejects.toBe(failure);
    expect(fake.docs('users').map((d) => d._id)).toEqual([1, 2, 3, 4]);
  });

  test('nothing written: written is undefined and settled resolves at once', async () => {
    const { adapter, changes, watch } = await setup();
    await watch();
    const done = await adapter.runWrites((db) => db.find('users', { team: 'b' }), {
      transaction: false,
    });
    expect(done).toEqual({ value: [{ _id: 3, name: 'Cy', team: 'b' }], written: undefined });
    await adapter.settled(done.written);
    await adapter.settled(undefined);
    expect(changes).toEqual([]);
  });
});

describe('settled', () => {
  test('resolves only once onChange has had the last change of the writes', async () => {
    const { fake, adapter, changes, watch } = await setup();
    await watch();
    // The stream lags: nothing is read until release().
    fake.hold();
    const done = await adapter.runWrites(
      async (db) => {
        await db.insert('users', { _id: 4, name: 'Di', team: 'a' });
        return db.update('users', { _id: 4 }, { $set: { name: 'Dee' } });
      },
      { transaction: false },
    );
    const atSettle = seenAtSettle(adapter, done.written, changes);
    expect(await pendingAfter(atSettle, 300)).toBe(true);
    expect(changes).toEqual([]);
    fake.release();
    expect(await atSettle).toEqual(['insert 4', 'update 4']);
  });

  test('waits for the re-read of an update whose post-image is missing', async () => {
    // postImages without changeStreamPreAndPostImages on the collection: the event comes without
    // a document and the adapter reads it again before calling onChange.
    const { adapter, changes, watch } = await setup({ postImages: true });
    await watch();
    const done = await adapter.runWrites(
      (db) => db.update('users', { _id: 1 }, { $set: { name: 'Anne' } }),
      { transaction: false },
    );
    await adapter.settled(done.written).then(() => expect(changes).toHaveLength(1));
    expect(changes).toEqual([
      {
        type: 'update',
        collection: 'users',
        id: 1,
        doc: { _id: 1, name: 'Anne', team: 'a' },
        updatedFields: { name: 'Anne' },
        removedFields: [],
      },
    ]);
  });

  test('a write to an unwatched collection is passed on an idle batch (postBatchResumeToken)', async () => {
    const { fake, adapter, changes, watch } = await setup();
    await watch(['users']);
    const done = await adapter.runWrites((db) => db.insert('posts', { _id: 1, title: 'Hi' }), {
      transaction: false,
    });
    const started = Date.now();
    await adapter.settled(done.written);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(changes).toEqual([]);
    expect(fake.docs('posts')).toEqual([{ _id: 1, title: 'Hi' }]);
  });

  test('waiters resolve in the order of their writes', async () => {
    const { fake, adapter, watch } = await setup();
    await watch();
    fake.hold();
    const first = await adapter.runWrites((db) => db.insert('users', { _id: 4 }), {
      transaction: false,
    });
    const second = await adapter.runWrites((db) => db.insert('users', { _id: 5 }), {
      transaction: false,
    });
    const order: string[] = [];
    const waits = [
      adapter.settled(second.written).then(() => order.push('second')),
      adapter.settled(first.written).then(() => order.push('first')),
    ];
    fake.release();
    await Promise.all(waits);
    expect(order).toEqual(['first', 'second']);
  });

  test('resolves at once when nobody watches', async () => {
    const { fake, adapter } = await setup();
    fake.hold();
    const done = await adapter.runWrites((db) => db.insert('users', { _id: 4 }), {
      transaction: false,
    });
    expect(await pendingAfter(adapter.settled(done.written), 50)).toBe(false);
  });

  test('pending waiters resolve when the feed is reset, when the last feed stops, and on close()', async () => {
    const { fake, adapter, changes, watch } = await setup();
    const stop = await watch();
    fake.hold();
    const write = () =>
      adapter.runWrites((db) => db.insert('users', { _id: new BSON.ObjectId() }), {
        transaction: false,
      });

    // The stream fails for good: it is opened afresh and every watched collection is reset.
    const beforeReset = adapter.settled((await write()).written);
    expect(await pendingAfter(beforeReset, 200)).toBe(true);
    fake.failNextGetMore({ code: 286, codeName: 'ChangeStreamHistoryLost' });
    await beforeReset;
    expect(seen(changes)).toEqual(['reset users']);

    const beforeStop = adapter.settled((await write()).written);
    expect(await pendingAfter(beforeStop, 200)).toBe(true);
    await stop();
    await beforeStop;

    await watch();
    const beforeClose = adapter.settled((await write()).written);
    expect(await pendingAfter(beforeClose, 200)).toBe(true);
    await adapter.close();
    await beforeClose;
  });

  test('rejects a `written` that no runWrites gave', async () => {
    const { adapter } = await setup();
    await expect(adapter.settled('later')).rejects.toThrow(TypeError);
  });
});

describe('runWrites in a transaction', () => {
  test('the writes become visible, and reach the feed, together at the commit', async () => {
    const { fake, adapter, changes, watch } = await setup();
    await watch();
    const done = await adapter.runWrites(
      async (db) => {
        const inserted = await db.insert('users', { _id: 4, name: 'Di', team: 'a' });
        const updated = await db.update('users', { team: 'a' }, { $set: { team: 'x' } });
        const removed = await db.remove('users', { _id: 3 });
        // Inside: the transaction's own writes. Outside: nothing yet, and no events.
        const inside = await db.find('users', {}, { projection: { team: 1 } });
        const outside = await adapter.find('users', {});
        await quietFor(250);
        const eventsBefore = changes.length;
        // The stream reads the commit only once settled is waiting.
        fake.hold();
        return { inserted, updated, removed, inside, outside, eventsBefore };
      },
      { transaction: true },
    );
    expect(done.value).toEqual({
      inserted: 1,
      updated: 3,
      removed: 1,
      inside: [
        { _id: 1, team: 'x' },
        { _id: 2, team: 'x' },
        { _id: 4, team: 'x' },
      ],
      outside: [
        { _id: 1, name: 'Ann', team: 'a' },
        { _id: 2, name: 'Bob', team: 'a' },
        { _id: 3, name: 'Cy', team: 'b' },
      ],
      eventsBefore: 0,
    });
    expect(fake.docs('users').map((d) => [d._id, d.team])).toEqual([
      [1, 'x'],
      [2, 'x'],
      [4, 'x'],
    ]);
    // The five events share the commit's cluster time: settled waits for the last of them.
    const atSettle = seenAtSettle(adapter, done.written, changes);
    expect(await pendingAfter(atSettle, 150)).toBe(true);
    fake.release();
    expect(await atSettle).toEqual(['insert 4', 'update 1', 'update 2', 'update 4', 'delete 3']);
    expect(fake.commands.filter((c) => c.commitTransaction !== undefined)).toHaveLength(1);
    // Every command of the transaction carried its session and number.
    const inTxn = fake.commands.filter((c) => c.autocommit === false);
    expect(inTxn.length).toBeGreaterThanOrEqual(5);
    expect(inTxn[0]?.startTransaction).toBe(true);
    expect(
      new Set(inTxn.map((c) => `${BSON.EJSON.stringify(c.lsid as Doc)}/${String(c.txnNumber)}`))
        .size,
    ).toBe(1);
  });

  test('a throw inside aborts: nothing is visible, no change is emitted, and runWrites rejects with the error', async () => {
    const { fake, adapter, changes, watch } = await setup();
    await watch();
    const failure = new Error('not allowed');
    const run = adapter.runWrites(
      async (db) => {
        await db.insert('users', { _id: 4, name: 'Di' });
        await db.remove('users', {});
        throw failure;
      },
      { transaction: true },
    );
    await expect(run).rejects.toBe(failure);
    expect(fake.commands.some((c) => c.abortTransaction !== undefined)).toBe(true);
    expect(fake.commands.some((c) => c.commitTransaction !== undefined)).toBe(false);
    expect(fake.docs('users').map((d) => d._id)).toEqual([1, 2, 3]);
    // A later write and its settled: the aborted writes never reach the feed.
    const later = await adapter.runWrites((db) => db.insert('users', { _id: 5 }), {
      transaction: false,
    });
    await adapter.settled(later.written);
    expect(seen(changes)).toEqual(['insert 5']);
  });

  test('a transient commit error runs fn again; the writes commit once', async () => {
    const { fake, adapter, changes, watch } = await setup();
    await watch();
    fake.failNextCommand('commitTransaction', {
      code: 112,
      codeName: 'WriteConflict',
      errorLabels: ['TransientTransactionError'],
    });
    let runs = 0;
    const done = await adapter.runWrites(
      async (db) => {
        runs++;
        return db.update('users', { _id: 2 }, { $set: { name: `Bob ${runs}` } });
      },
      { transaction: true },
    );
    expect(runs).toBe(2);
    expect(done.value).toBe(1);
    await adapter.settled(done.written);
    expect(fake.docs('users')[1]).toEqual({ _id: 2, name: 'Bob 2', team: 'a' });
    expect(changes).toMatchObject([{ type: 'update', id: 2, updatedFields: { name: 'Bob 2' } }]);
  });

  test('a transaction that only reads has nothing to settle', async () => {
    const { adapter } = await setup();
    const done = await adapter.runWrites((db) => db.find('users', { _id: 1 }), {
      transaction: true,
    });
    expect(done).toEqual({ value: [{ _id: 1, name: 'Ann', team: 'a' }], written: undefined });
  });
});

describe('cluster time bookkeeping', () => {
  test('a resume token gives the cluster time it starts with', () => {
    // A server's event token: 0x82, seconds 0x659F2B7A, increment 3, then version, op index, ...
    const data =
      '82659F2B7A000000032B042C0100296E5A1004A1B2C3D4E5F60718293A4B5C6D7E8F90463C6F7065726174696F6E54797065003C696E736572740046646F63756D656E744B657900461E5F6964002B0C000004';
    expect(tokenTime({ _data: data })).toEqual(new BSON.Timestamp({ t: 0x659f2b7a, i: 3 }));
    expect(tokenTime({ _data: MongoWireFake.token(7, 12)._data })).toEqual(MongoWireFake.time(7));
    expect(tokenTime({ _data: 'legacy' })).toBeUndefined();
    expect(tokenTime(undefined)).toBeUndefined();
  });

  test('an event at a cluster time leaves it open until everything at that time is in', async () => {
    const delivered = new DeliveredTime();
    const at = new BSON.Timestamp({ t: 5, i: 2 });
    const waiting = delivered.wait(at);
    delivered.advance(new BSON.Timestamp({ t: 5, i: 1 }), true);
    delivered.advance(at, false);
    expect(await pendingAfter(waiting, 10)).toBe(true);
    delivered.advance(at, true);
    expect(await pendingAfter(waiting, 10)).toBe(false);
    // Never back, and a later time covers an earlier one.
    delivered.advance(new BSON.Timestamp({ t: 4, i: 9 }), false);
    expect(delivered.covers(at)).toBe(true);
    delivered.advance(new BSON.Timestamp({ t: 6, i: 0 }), false);
    expect(delivered.covers(new BSON.Timestamp({ t: 5, i: 99 }))).toBe(true);
    expect(delivered.covers(new BSON.Timestamp({ t: 6, i: 0 }))).toBe(false);
  });
});
