/**
 * The embedded store's hash indexes, case by case: what gets indexed and when, that a filter's
 * candidates come from the index (not a scan), and that each kind of write keeps it right.
 */
import { Decimal128, Int32 } from 'mongodb';
import { describe, expect, test } from 'vitest';
import type { Change, Doc } from '../../src/server/adapter.js';
import { Collection } from '../../src/server/memory/collection.js';
import { MemoryAdapter } from '../../src/server/memoryAdapter.js';
import { ParticleError } from '../../src/protocol/errors.js';

const ids = (docs: Doc[]) => docs.map((d) => d._id);

describe('what is indexed, and when', () => {
  test('a filter with an equality indexes its field; declared fields are indexed at once', () => {
    const adapter = new MemoryAdapter({
      collections: { users: [{ _id: 1, accountId: 'a', team: { id: 7 } }] },
      indexes: { users: ['team.id'] },
    });
    expect(adapter.indexedFields('users')).toEqual(['team.id']);
    adapter.findNow('users', { accountId: 'a', n: { $gt: 1 } });
    adapter.findNow('users', { $and: [{ role: { $in: ['x', 'y'] } }] });
    adapter.findNow('users', { name: { $regex: '^a' } });
    adapter.findNow('users', { _id: 1, other: 2 });
    expect(adapter.indexedFields('users')).toEqual(['team.id', 'accountId', 'role']);
  });

  test('with autoIndex off only declared fields are indexed', () => {
    const adapter = new MemoryAdapter({ autoIndex: false, indexes: { users: ['accountId'] } });
    adapter.insert('users', [{ _id: 1, accountId: 'a', role: 'r' }]);
    expect(adapter.findNow('users', { role: 'r' })).toHaveLength(1);
    expect(adapter.indexedFields('users')).toEqual(['accountId']);
  });

  test('a declared path that is not a field path is refused, naming it', () => {
    for (const path of ['', 'a..b', '$where', 'a.$']) {
      expect(() => new MemoryAdapter({ indexes: { users: [path] } })).toThrow(ParticleError);
    }
    expect(() => new MemoryAdapter({ indexes: { users: ['a..b'] } })).toThrow(/a\.\.b of users/);
    const unchecked = { users: 'accountId' } as unknown as Record<string, string[]>;
    expect(() => new MemoryAdapter({ indexes: unchecked })).toThrow(
      /indexes\.users must be an array/,
    );
  });

  test("candidates come from the index: only the documents holding the filter's values", () => {
    const coll = new Collection(true);
    for (let i = 0; i < 10_000; i++) {
      coll.add(`n:${i}`, { _id: i, accountId: `account-${i % 500}` });
    }
    const found = coll.candidates({ accountId: 'account-7' }) ?? [];
    expect(found.map((e) => e.doc._id)).toEqual(Array.from({ length: 20 }, (_, i) => 7 + i * 500));
    expect(coll.candidates({ accountId: { $in: ['account-1', 'account-2'] } })).toHaveLength(40);
    expect(coll.candidates({ $or: [{ _id: 3 }, { accountId: 'account-9' }] })).toHaveLength(21);
    // Nothing to look up: the caller scans.
    expect(coll.candidates({ accountId: { $ne: 'account-7' } })).toBeUndefined();
    expect(coll.candidates({ accountId: null })).toBeUndefined();
  });
});

describe('every write keeps the index right', () => {
  const seed = (): Doc[] => [
    { _id: 1, owner: 'u1', tags: ['x'], n: 1 },
    { _id: 2, owner: 'u2', tags: ['y'], n: 2 },
    { _id: 3, owner: 'u1', tags: 'x', n: 3 },
  ];

  test('the indexed field changes, is unset, becomes an array, is renamed', () => {
    const adapter = new MemoryAdapter({ collections: { c: seed() }, indexes: { c: ['owner'] } });
    expect(ids(adapter.findNow('c', { owner: 'u1' }))).toEqual([1, 3]);
    adapter.update('c', { _id: 1 }, { $set: { owner: 'u2' } });
    expect(ids(adapter.findNow('c', { owner: 'u1' }))).toEqual([3]);
    // Collection order, not the order documents reached the value.
    expect(ids(adapter.findNow('c', { owner: 'u2' }))).toEqual([1, 2]);
    adapter.update('c', { _id: 2 }, { $unset: { owner: '' } });
    expect(ids(adapter.findNow('c', { owner: 'u2' }))).toEqual([1]);
    adapter.update('c', { _id: 2 }, { $set: { owner: ['u1', 'u3'] } });
    expect(ids(adapter.findNow('c', { owner: 'u1' }))).toEqual([2, 3]);
    expect(ids(adapter.findNow('c', { owner: { $in: ['u1', 'u3'] } }))).toEqual([2, 3]);
    adapter.update('c', { _id: 3 }, { $rename: { owner: 'was' } });
    expect(ids(adapter.findNow('c', { owner: 'u1' }))).toEqual([2]);
    adapter.update('c', { _id: 3 }, { $rename: { was: 'owner' } });
    expect(ids(adapter.findNow('c', { owner: 'u1' }))).toEqual([2, 3]);
  });

  test('an element of an indexed array is pushed, pulled, set by position', () => {
    const adapter = new MemoryAdapter({ collections: { c: seed() } });
    expect(ids(adapter.findNow('c', { tags: 'x' }))).toEqual([1, 3]);
    adapter.update('c', { _id: 2 }, { $push: { tags: 'x' } });
    adapter.update('c', { _id: 1 }, { $pull: { tags: 'x' } });
    expect(ids(adapter.findNow('c', { tags: 'x' }))).toEqual([2, 3]);
    adapter.update('c', { _id: 2 }, { $set: { 'tags.1': 'z' } });
    expect(ids(adapter.findNow('c', { tags: { $eq: 'x' } }))).toEqual([3]);
    expect(ids(adapter.findNow('c', { tags: 'z' }))).toEqual([2]);
  });

  test('a number changes type: Int32 and Decimal128 meet plain numbers by value in the key', () => {
    const adapter = new MemoryAdapter({ collections: { c: seed() }, indexes: { c: ['n'] } });
    adapter.update('c', { _id: 1 }, { $set: { n: new Int32(2) } });
    expect(ids(adapter.findNow('c', { n: new Int32(2) }))).toEqual([1]);
    expect(ids(adapter.findNow('c', { n: 1 }))).toEqual([]);
    adapter.update('c', { _id: 1 }, { $set: { n: Decimal128.fromString('3') } });
    expect(ids(adapter.findNow('c', { n: new Int32(2) }))).toEqual([]);
    expect(ids(adapter.findNow('c', { n: Decimal128.fromString('3') }))).toEqual([1]);
    expect(ids(adapter.findNow('c', { n: 3 }))).toEqual([3]);
  });

  test('replace, remove and insert again; a dotted path', () => {
    const adapter = new MemoryAdapter({ collections: { c: seed() } });
    expect(ids(adapter.findNow('c', { 'meta.team': 't' }))).toEqual([]);
    adapter.replace('c', { _id: 2 }, { meta: { team: 't' } });
    adapter.insert('c', { _id: 4, meta: [{ team: 'u' }, { team: 't' }] });
    expect(ids(adapter.findNow('c', { 'meta.team': 't' }))).toEqual([2, 4]);
    adapter.remove('c', { 'meta.team': 't', _id: 2 });
    expect(ids(adapter.findNow('c', { 'meta.team': 't' }))).toEqual([4]);
    adapter.insert('c', { _id: 2, meta: { team: 't' } });
    // Inserted again: now last in collection order.
    expect(ids(adapter.findNow('c', { 'meta.team': 't' }))).toEqual([4, 2]);
    expect(adapter.update('c', { 'meta.team': 't' }, { $set: { done: true } })).toBe(2);
  });

  test('writes inside runWrites go through the same upkeep', async () => {
    const adapter = new MemoryAdapter({ collections: { c: seed() } });
    expect(ids(adapter.findNow('c', { owner: 'u1' }))).toEqual([1, 3]);
    await adapter.runWrites(async (db) => {
      await db.update('c', { owner: 'u1' }, { $set: { owner: 'u9' } });
      await db.insert('c', { _id: 5, owner: 'u1' });
      expect(ids(await db.find('c', { owner: 'u9' }))).toEqual([1, 3]);
      await db.remove('c', { owner: 'u9', n: 1 });
    });
    expect(ids(adapter.findNow('c', { owner: 'u1' }))).toEqual([5]);
    expect(ids(adapter.findNow('c', { owner: 'u9' }))).toEqual([3]);
  });

  test('a document a watcher removes during an update is not written back', async () => {
    const adapter = new MemoryAdapter({ collections: { c: seed() } });
    const changes: Change[] = [];
    await adapter.watch(['c'], (change) => {
      changes.push(change);
      if (change.type === 'update' && change.id === 1) adapter.remove('c', { _id: 3 });
    });
    expect(adapter.update('c', { owner: 'u1' }, { $inc: { n: 10 } })).toBe(1);
    expect(ids(adapter.findNow('c'))).toEqual([1, 2]);
    expect(adapter.findNow('c', { owner: 'u1' })).toEqual([{ ...seed()[0], n: 11 }]);
    const seen = changes.map((c) => `${c.type} ${'id' in c ? String(c.id) : ''}`);
    expect(seen).toEqual(['update 1', 'delete 3']);
  });
});
