/**
 * `stream.snapshot()` right after a write made elsewhere (a REST handler writing with the
 * driver), while the view it reads is already live and the change stream lags: the snapshot
 * waits for the stream to pass the write instead of answering from the older view.
 */
import { MongoClient } from 'mongodb';
import { afterEach, expect, test, vi } from 'vitest';
import type { ServerMessage } from '../../src/protocol/messages.js';
import { MongoAdapter } from '../../src/server/mongo/index.js';
import { Stream } from '../../src/server/index.js';
import { MongoWireFake } from '../support/mongoWireFake.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup() {
  const fake = await MongoWireFake.start();
  cleanups.push(() => fake.stop());
  fake.seed('tasks', [{ _id: 't1', team: 'a', title: 'one' }]);
  const client = new MongoClient(fake.url);
  await client.connect();
  cleanups.push(() => client.close());
  const db = client.db(fake.dbName);
  const stream = new Stream({
    adapter: new MongoAdapter({ db, maxAwaitTimeMS: 100 }),
    dataSources: {
      tasks: { collection: 'tasks', criteria: { team: '@team' }, manifest: { title: true } },
    },
  });
  cleanups.push(() => stream.disconnect());
  // A live view of team a.
  const got: ServerMessage[] = [];
  const unregister = stream.register({ team: 'a' }, (_type, message) => got.push(message));
  cleanups.push(() => unregister());
  await vi.waitFor(() => expect(got.some((m) => m.type === 'payload')).toBe(true));
  return { fake, db, stream, got };
}

test('a snapshot after a write made elsewhere holds it, though the stream lags', async () => {
  const { fake, db, stream } = await setup();
  fake.hold();
  await db
    .collection<{ _id: string }>('tasks')
    .updateOne({ _id: 't1' }, { $set: { title: 'two' } });
  let answered = false;
  const snapshot = stream.snapshot({ team: 'a' }).then((out) => {
    answered = true;
    return out;
  });
  await new Promise((r) => setTimeout(r, 300));
  // Not from the live view, which still shows "one".
  expect(answered).toBe(false);
  fake.release();
  expect(await snapshot).toEqual({ tasks: [{ _id: 't1', title: 'two' }] });
});

test('with caughtUp: false it answers at once from the live view', async () => {
  const { fake, db, stream } = await setup();
  fake.hold();
  await db
    .collection<{ _id: string }>('tasks')
    .updateOne({ _id: 't1' }, { $set: { title: 'two' } });
  expect(await stream.snapshot({ team: 'a' }, undefined, { caughtUp: false })).toEqual({
    tasks: [{ _id: 't1', title: 'one' }],
  });
  fake.release();
});
