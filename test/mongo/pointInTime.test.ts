/**
 * What a client holds when the change stream lags the writes, with the real driver against the
 * wire fake as a model: the fake applies writes to its state and fills each update event's
 * `fullDocument` from the state current when the batch is read (the documented `updateLookup`
 * behaviour: "from some point after the update occurred"), so the looked-up document can be
 * newer than the event's `updatedFields`.
 */
import { MongoClient } from 'mongodb';
import { afterEach, describe, expect, test, vi } from 'vitest';
import type { Doc } from '../../src/server/adapter.js';
import { MongoAdapter } from '../../src/server/mongo/index.js';
import { Stream } from '../../src/server/stream.js';
import type { Manifest } from '../../src/protocol/messages.js';
import { MongoWireFake } from '../support/mongoWireFake.js';
import { opsOf } from '../support/wireOps.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function setIn(doc: Doc, path: string, value: unknown): void {
  const segments = path.split('.');
  let node = doc as Record<string, unknown> | unknown[];
  for (const segment of segments.slice(0, -1)) {
    node = (node as Record<string, unknown>)[segment] as Record<string, unknown>;
  }
  (node as Record<string, unknown>)[segments[segments.length - 1] as string] = value;
}

function unsetIn(doc: Doc, path: string): void {
  const segments = path.split('.');
  let node = doc as Record<string, unknown>;
  for (const segment of segments.slice(0, -1)) node = node[segment] as Record<string, unknown>;
  delete node[segments[segments.length - 1] as string];
}

async function setup(seed: Doc[], manifest: Manifest, options: { postImages?: boolean } = {}) {
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
    ...options,
  });
  const stream = new Stream({
    adapter,
    dataSources: { team: { collection: 'users', criteria: { team: '@team' }, manifest } },
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
      for (const doc of m.data ?? []) view.set(String(doc._id), structuredClone(doc));
    }
    for (const op of opsOf(m)) {
      ops.push(op);
      const id = String(op.id);
      const doc = view.get(id);
      if (op.operation === 'insert') view.set(id, structuredClone(op.data as Doc));
      if (op.operation === 'remove') view.delete(id);
      if (op.operation === 'set' && doc) setIn(doc, String(op.path), structuredClone(op.data));
      if (op.operation === 'unset' && doc) unsetIn(doc, String(op.path));
    }
  });
  cleanups.push(async () => unregister());
  const docs = () => [...view.values()].sort((x, y) => Number(x._id) - Number(y._id));
  await vi.waitFor(() => expect(payloads).toBe(1));
  return { fake, docs, ops, adapter };
}

describe('updates read after later writes (updateLookup is not point-in-time)', () => {
  test('an update then a replace, both committed before the stream reads the update: the client ends on the replacement', async () => {
    const { fake, docs } = await setup([{ _id: 1, name: 'Ann', team: 'a' }], { name: true });
    fake.hold();
    fake.updateOne('users', 1, { $set: { name: 'X' } });
    fake.replaceOne('users', 1, { name: 'Z', team: 'a' });
    fake.release();
    await vi.waitFor(() => expect(docs()).toEqual([{ _id: 1, name: 'Z' }]));
    // A full resync diffs against the same cache and keeps the client where it is.
    fake.failNextGetMore({ code: 286, codeName: 'ChangeStreamHistoryLost' });
    fake.insertOne('users', { _id: 2, name: 'Bob', team: 'a' });
    await vi.waitFor(() =>
      expect(docs()).toEqual([
        { _id: 1, name: 'Z' },
        { _id: 2, name: 'Bob' },
      ]),
    );
  });

  test('a value the document held only while in another team is never sent', async () => {
    const { fake, docs, ops } = await setup([{ _id: 1, name: 'Ann', team: 'a', note: 'n0' }], {
      name: true,
      note: true,
    });
    fake.hold();
    fake.updateOne('users', 1, { $set: { team: 'b' } });
    fake.updateOne('users', 1, { $set: { note: 'secret of b' } });
    fake.updateOne('users', 1, { $set: { team: 'a', note: 'note of a' } });
    fake.release();
    await vi.waitFor(() => expect(docs()).toEqual([{ _id: 1, name: 'Ann', note: 'note of a' }]));
    expect(JSON.stringify(ops)).not.toContain('secret of b');
  });

  test('without lag, an update still sends only the paths that changed', async () => {
    const { fake, docs, ops } = await setup(
      [{ _id: 1, name: 'Ann', team: 'a', address: { city: 'Oslo', zip: '0150' } }],
      { name: true, address: { city: true } },
    );
    fake.updateOne('users', 1, { $set: { 'address.city': 'Bergen', 'address.zip': '5003' } });
    await vi.waitFor(() =>
      expect(docs()).toEqual([{ _id: 1, name: 'Ann', address: { city: 'Bergen' } }]),
    );
    expect(ops).toEqual([{ operation: 'set', id: 1, path: 'address.city', data: 'Bergen' }]);
  });

  test('a burst of mixed writes read in lagging batches: the client converges on the state', async () => {
    const seed: Doc[] = [];
    for (let i = 1; i <= 6; i++) seed.push({ _id: i, name: `n${i}`, team: i % 2 ? 'a' : 'b' });
    const { fake, docs, ops } = await setup(
      seed.map((d) => ({ ...d })),
      { name: true, tags: true, note: true },
    );
    let state = 7;
    const random = (n: number): number => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return state % n;
    };
    const secrets: string[] = [];
    for (let round = 0; round < 6; round++) {
      fake.hold();
      for (let w = 0; w < 8; w++) {
        const live = fake.docs('users');
        const target = live[random(live.length)];
        const kind = random(5);
        if (!target || kind === 0) {
          fake.insertOne('users', { _id: 100 + round * 10 + w, name: 'new', team: 'a' });
        } else if (kind === 1) {
          fake.updateOne('users', target._id, { $set: { team: target.team === 'a' ? 'b' : 'a' } });
        } else if (kind === 2) {
          const note = `note ${round}.${w}`;
          fake.updateOne('users', target._id, { $set: { note, tags: [round, w] } });
          if (target.team === 'b') secrets.push(note);
        } else if (kind === 3) {
          fake.replaceOne('users', target._id, { name: `r${round}.${w}`, team: target.team });
        } else {
          fake.updateOne('users', target._id, { $unset: { note: 1 }, $set: { name: `u${w}` } });
        }
      }
      fake.release();
    }
    const expected = () =>
      fake
        .docs('users')
        .filter((d) => d.team === 'a')
        .map((d) => {
          const out: Doc = { _id: d._id };
          for (const key of ['name', 'tags', 'note']) if (key in d) out[key] = d[key];
          return out;
        })
        .sort((x, y) => Number(x._id) - Number(y._id));
    await vi.waitFor(() => expect(docs()).toEqual(expected()));
    // A note written while its document was in team b reaches team a only if the document
    // still holds it once back in a.
    const final = JSON.stringify(expected());
    for (const secret of secrets) {
      if (!final.includes(`"${secret}"`)) expect(JSON.stringify(ops)).not.toContain(`"${secret}"`);
    }
  });
});

describe('point-in-time post-images (postImages: true)', () => {
  test('with images enabled, a lagging stream still takes the client through every committed state', async () => {
    const { fake, docs, ops } = await setup(
      [{ _id: 1, name: 'Ann', team: 'a' }],
      { name: true },
      { postImages: true },
    );
    fake.enablePostImages('users');
    fake.hold();
    fake.updateOne('users', 1, { $set: { name: 'X' } });
    fake.replaceOne('users', 1, { name: 'Z', team: 'a' });
    fake.updateOne('users', 1, { $set: { name: 'Y' } });
    fake.release();
    await vi.waitFor(() => expect(docs()).toEqual([{ _id: 1, name: 'Y' }]));
    expect(ops).toEqual([
      { operation: 'set', id: 1, path: 'name', data: 'X' },
      { operation: 'insert', id: 1, data: { _id: 1, name: 'Z' } },
      { operation: 'set', id: 1, path: 'name', data: 'Y' },
    ]);
    expect(fake.changeStreamOpens[0]).toMatchObject({ fullDocument: 'whenAvailable' });
  });

  test('without an image (not enabled on the collection), the update is read again by _id', async () => {
    const { fake, docs } = await setup(
      [{ _id: 1, name: 'Ann', team: 'a' }],
      { name: true },
      {
        postImages: true,
      },
    );
    fake.updateOne('users', 1, { $set: { name: 'X' } });
    await vi.waitFor(() => expect(docs()).toEqual([{ _id: 1, name: 'X' }]));
  });
});
