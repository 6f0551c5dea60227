/**
 * Mutators on MongoAdapter, with the real driver against the wire fake: a mutation's answer
 * comes after its change went round the change stream, in the same batch as its delta.
 */
import { MongoClient } from 'mongodb';
import { afterEach, expect, test, vi } from 'vitest';
import type { ServerMessage } from '../../src/protocol/messages.js';
import { MongoAdapter } from '../../src/server/mongo/index.js';
import { MutationError, Stream, mutator } from '../../src/server/index.js';
import { MongoWireFake } from '../support/mongoWireFake.js';
import { quietFor } from '../support/quiet.js';
import { opsOf, withOpObjects } from '../support/wireOps.js';

const cleanups: (() => Promise<void>)[] = [];
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
  const adapter = new MongoAdapter({ db: client.db(fake.dbName), maxAwaitTimeMS: 100 });
  const stream = new Stream({
    adapter,
    dataSources: {
      tasks: { collection: 'tasks', criteria: { team: '@team' }, manifest: { title: true } },
    },
    mutators: {
      rename: mutator({
        run: async ({ args, db }) => {
          const { id, title } = args as { id: string; title: string };
          if (title === '') throw new MutationError('bad_title', 'a title is needed');
          return db.update('tasks', { _id: id }, { $set: { title } });
        },
      }),
      addPair: mutator({
        transaction: true,
        run: async ({ db }) => {
          await db.insert('tasks', { _id: 'p1', team: 'a', title: 'pair 1' });
          await db.insert('tasks', { _id: 'p2', team: 'a', title: 'pair 2' });
        },
      }),
      elsewhere: mutator({
        run: ({ db }) => db.insert('logs', { _id: 'l1', at: 1 }),
      }),
    },
  });
  cleanups.push(() => stream.disconnect());
  const got: ServerMessage[] = [];
  const unregister = stream.register({ team: 'a' }, (_type, message) => got.push(message));
  cleanups.push(async () => unregister());
  await vi.waitFor(() => expect(got.some((m) => m.type === 'payload')).toBe(true));
  return { got, unregister, fake };
}

const answerOf = (got: ServerMessage[], id: string) =>
  got.find(
    (m) =>
      (m.type === 'batch' && m.messages.some((x) => x.type === 'mutated' && x.id === id)) ||
      (m.type === 'mutated' && m.id === id),
  );

test('the delta a mutation caused and its mutated arrive in one batch, after the change stream passed the write', async () => {
  const { got, unregister, fake } = await setup();
  // The change stream lags: the write is done, its event not yet delivered.
  fake.hold();
  unregister.send({ type: 'mutate', id: 'c:1', name: 'rename', args: { id: 't1', title: 'two' } });
  await vi.waitFor(() => expect(fake.docs('tasks').find((d) => d._id === 't1')?.title).toBe('two'));
  // The stream reads the held feed again (and again) after the write: still no answer.
  const reads = () => fake.commands.filter((c) => c.getMore !== undefined).length;
  const before = reads();
  await vi.waitFor(() => expect(reads()).toBeGreaterThanOrEqual(before + 2));
  expect(answerOf(got, 'c:1')).toBeUndefined();
  fake.release();
  await vi.waitFor(() => expect(answerOf(got, 'c:1')).toBeDefined(), { timeout: 5000 });
  expect(withOpObjects(answerOf(got, 'c:1'))).toMatchObject({
    type: 'batch',
    messages: [
      { type: 'delta', ops: [{ operation: 'set', id: 't1', path: 'title', data: 'two' }] },
      { type: 'mutated', id: 'c:1', result: 1 },
    ],
  });
  // No delta for it came before the answer's batch.
  expect(got.filter((m) => m.type === 'delta')).toEqual([]);
});

test('a transaction: both inserts in the same batch as the answer', async () => {
  const { got, unregister } = await setup();
  unregister.send({ type: 'mutate', id: 'c:1', name: 'addPair' });
  await vi.waitFor(() => expect(answerOf(got, 'c:1')).toBeDefined(), { timeout: 5000 });
  const batch = answerOf(got, 'c:1') as Extract<ServerMessage, { type: 'batch' }>;
  const inserted = batch.messages.flatMap((m) =>
    m.type === 'delta' ? opsOf(m).map((op) => op.id) : [],
  );
  expect(inserted.sort()).toEqual(['p1', 'p2']);
  expect(batch.messages.at(-1)).toEqual({ type: 'mutated', id: 'c:1' });
});

test('a write this client does not watch is answered after an idle batch; a refusal at once', async () => {
  const { got, unregister } = await setup();
  unregister.send({ type: 'mutate', id: 'c:1', name: 'elsewhere' });
  unregister.send({ type: 'mutate', id: 'c:2', name: 'rename', args: { id: 't1', title: '' } });
  await vi.waitFor(() => expect(answerOf(got, 'c:2')).toBeDefined(), { timeout: 5000 });
  expect(answerOf(got, 'c:1')).toEqual({ type: 'mutated', id: 'c:1', result: 1 });
  expect(answerOf(got, 'c:2')).toEqual({
    type: 'mutated',
    id: 'c:2',
    error: { code: 'bad_title', message: 'a title is needed' },
  });
});

test('a direct write to a writable source on MongoDB: applied as $set, answered with its delta, fenced by a lease', async () => {
  const fake = await MongoWireFake.start();
  cleanups.push(() => fake.stop());
  fake.seed('tasks', [{ _id: 't1', team: 'a', title: 'one' }]);
  const client = new MongoClient(fake.url);
  await client.connect();
  cleanups.push(() => client.close());
  const adapter = new MongoAdapter({ db: client.db(fake.dbName), maxAwaitTimeMS: 100 });
  const stream = new Stream({
    adapter,
    dataSources: {
      tasks: {
        collection: 'tasks',
        criteria: { team: '@team' },
        manifest: { title: true },
        writable: { fields: { title: true } },
      },
    },
  });
  cleanups.push(() => stream.disconnect());
  const inbox = (): { got: ServerMessage[]; unregister: ReturnType<typeof stream.register> } => {
    const got: ServerMessage[] = [];
    const unregister = stream.register({ team: 'a' }, (_type, message) => got.push(message));
    cleanups.push(async () => unregister());
    return { got, unregister };
  };
  const ann = inbox();
  const bob = inbox();
  await vi.waitFor(() => expect(bob.got.some((m) => m.type === 'payload')).toBe(true));
  const args = (title: string) => ({
    root: 'tasks',
    id: 't1',
    ops: [{ operation: 'set', path: 'title', data: title }],
  });
  ann.unregister.send({ type: 'mutate', id: 'a:1', name: '$write', args: args('two') });
  await vi.waitFor(() => expect(answerOf(ann.got, 'a:1')).toBeDefined(), { timeout: 5000 });
  expect(withOpObjects(answerOf(ann.got, 'a:1'))).toMatchObject({
    type: 'batch',
    messages: [
      { type: 'delta', ops: [{ operation: 'set', path: 'title', data: 'two' }] },
      { type: 'mutated', id: 'a:1' },
    ],
  });
  expect(fake.docs('tasks')[0]).toMatchObject({ title: 'two' });
  ann.unregister.send({ type: 'lock', id: 'l1', root: 'tasks', doc: 't1', wait: false });
  await vi.waitFor(() => expect(ann.got.some((m) => m.type === 'locked')).toBe(true));
  bob.unregister.send({ type: 'mutate', id: 'b:1', name: '$write', args: args('three') });
  await vi.waitFor(() => expect(answerOf(bob.got, 'b:1')).toBeDefined(), { timeout: 5000 });
  expect(answerOf(bob.got, 'b:1')).toMatchObject({ error: { code: 'locked' } });
  expect(fake.docs('tasks')[0]).toMatchObject({ title: 'two' });
});

test('a transaction made outside Particle reaches each client as one delta, never a state in between', async () => {
  const fake = await MongoWireFake.start();
  cleanups.push(() => fake.stop());
  fake.seed('tasks', [{ _id: 't1', team: 'a', title: 'one' }]);
  const client = new MongoClient(fake.url);
  await client.connect();
  cleanups.push(() => client.close());
  const adapter = new MongoAdapter({ db: client.db(fake.dbName), maxAwaitTimeMS: 100 });
  const stream = new Stream({
    adapter,
    dataSources: {
      tasks: { collection: 'tasks', criteria: { team: '@team' }, manifest: { title: true } },
    },
  });
  cleanups.push(() => stream.disconnect());
  const got: ServerMessage[] = [];
  const unregister = stream.register({ team: 'a' }, (_type, message) => got.push(message));
  cleanups.push(async () => unregister());
  await vi.waitFor(() => expect(got.some((m) => m.type === 'payload')).toBe(true));
  // Move t1 out of team a and t2 in, atomically: no client may see both or neither.
  const session = client.startSession();
  await session.withTransaction(async () => {
    const tasks = client
      .db(fake.dbName)
      .collection<{ _id: string; team: string; title: string }>('tasks');
    await tasks.updateOne({ _id: 't1' }, { $set: { team: 'b' } }, { session });
    await tasks.insertOne({ _id: 't2', team: 'a', title: 'two' }, { session });
  });
  await session.endSession();
  await vi.waitFor(() => expect(got.filter((m) => m.type === 'delta')).toHaveLength(1), {
    timeout: 5000,
  });
  await quietFor(200);
  const deltas = got.filter((m) => m.type === 'delta');
  expect(deltas).toHaveLength(1);
  expect(withOpObjects(deltas[0])).toMatchObject({
    ops: [
      { operation: 'remove', id: 't1' },
      { operation: 'insert', id: 't2', data: { _id: 't2', title: 'two' } },
    ],
  });
});
