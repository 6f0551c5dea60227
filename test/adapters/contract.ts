/**
 * The adapter contract: every adapter, given the same writes, answers `find` the same way and
 * emits changes that, applied to the previous state, give the same documents. Change shapes are
 * compared normalized (type, collection, id, resulting document), because databases may name
 * the same update differently (MongoDB reports a `$push` as `tags.2`, the memory adapter as
 * `tags`); the paths must still only touch the fields the write touched.
 */
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import type { Adapter, Change, Doc } from '../../src/server/adapter.js';
import { cloneDeep, isPlainObject } from '../../src/server/clone.js';
import { Stream } from '../../src/server/stream.js';
import { opsOf } from '../support/wireOps.js';

/** What the contract needs from one adapter under test: the adapter and a way to write. */
export interface ContractTarget {
  adapter: Adapter;
  /** Makes `collection` hold exactly `docs` (before any feed is opened). */
  seed(collection: string, docs: Doc[]): Promise<void>;
  insert(collection: string, doc: Doc): Promise<void>;
  /** Applies a MongoDB update document to every match. */
  update(collection: string, filter: Doc, update: Doc): Promise<void>;
  replace(collection: string, filter: Doc, doc: Doc): Promise<void>;
  remove(collection: string, filter: Doc): Promise<void>;
  /** Releases everything the target opened (the adapter included). */
  dispose(): Promise<void>;
}

/** Applies a change to a copy of `before` (the document the change's id had). */
export function applyChange(before: Doc | undefined, change: Change): Doc | undefined {
  switch (change.type) {
    case 'insert':
    case 'replace':
      return cloneDeep(change.doc);
    case 'delete':
      return undefined;
    case 'reset':
      return before;
    case 'update': {
      const next = cloneDeep(before ?? {});
      for (const [path, value] of Object.entries(change.updatedFields))
        setPath(next, path, cloneDeep(value));
      for (const path of change.removedFields) unsetPath(next, path);
      return next;
    }
  }
}

function setPath(doc: Doc, path: string, value: unknown): void {
  const segs = path.split('.');
  let cur: Record<string, unknown> = doc;
  segs.slice(0, -1).forEach((seg, i) => {
    if (typeof cur[seg] !== 'object' || cur[seg] === null)
      cur[seg] = /^\d+$/.test(segs[i + 1] ?? '') ? [] : {};
    cur = cur[seg] as Record<string, unknown>;
  });
  cur[segs[segs.length - 1] as string] = value;
}

function unsetPath(doc: Doc, path: string): void {
  const segs = path.split('.');
  let cur: unknown = doc;
  for (const seg of segs.slice(0, -1)) {
    if (cur === null || typeof cur !== 'object') return;
    cur = (cur as Record<string, unknown>)[seg];
  }
  if (cur !== null && typeof cur === 'object')
    delete (cur as Record<string, unknown>)[segs[segs.length - 1] as string];
}

/** Applies one wire op (insert/remove/set/unset) to a client-side view keyed by id. */
function applyOp(view: Map<string, Doc>, op: Doc): void {
  const key = String(op.id);
  if (op.operation === 'insert') view.set(key, cloneDeep(op.data as Doc));
  else if (op.operation === 'remove') view.delete(key);
  else {
    const doc = view.get(key);
    if (!doc) return;
    if (op.operation === 'set') setPath(doc, String(op.path), cloneDeep(op.data));
    else unsetPath(doc, String(op.path));
  }
}

/** The top-level field of each path an update names. */
function touched(change: Change): string[] {
  if (change.type !== 'update') return [];
  const paths = [...Object.keys(change.updatedFields), ...change.removedFields];
  return [...new Set(paths.map((p) => p.split('.')[0] ?? p))].sort();
}

const byId = (a: Doc, b: Doc): number => Number(a._id) - Number(b._id);

/** How to register the suite for one adapter. */
export interface ContractOptions {
  /** Register the suite as skipped, with this reason. */
  skip?: string | undefined;
}

/** Registers the contract suite for one adapter. `setup` runs once. */
export function adapterContract(
  name: string,
  setup: () => Promise<ContractTarget>,
  { skip }: ContractOptions = {},
): void {
  describe.skipIf(skip !== undefined)(`adapter contract: ${name}`, () => {
    let target: ContractTarget;
    let counter = 0;
    beforeAll(async () => {
      target = await setup();
    });
    afterAll(async () => {
      await target?.dispose();
    });

    /** A fresh collection seeded with `docs`, watched, with a replica built from its changes. */
    async function watched(docs: Doc[]) {
      const collection = `contract_${Date.now().toString(36)}_${++counter}`;
      await target.seed(collection, docs);
      const changes: Change[] = [];
      const replica = new Map<string, Doc>(docs.map((d) => [String(d._id), cloneDeep(d)]));
      const stop = await target.adapter.watch([collection], (given) => {
        for (const change of given.type === 'transaction' ? given.changes : [given]) {
          changes.push(change);
          if (change.type === 'reset') continue;
          const key = String(change.id);
          const next = applyChange(replica.get(key), change);
          if (next) replica.set(key, next);
          else replica.delete(key);
        }
      });
      /** Waits until the replica equals `expected` and `find` returns it too. */
      const converge = async (expected: Doc[]) => {
        await vi.waitFor(() => expect([...replica.values()].sort(byId)).toEqual(expected));
        expect((await target.adapter.find(collection, {})).sort(byId)).toEqual(expected);
      };
      return { collection, changes, stop, converge };
    }

    const ann = { _id: 1, name: 'Ann', address: { city: 'Oslo', zip: '0150' }, tags: ['a'], n: 1 };
    const bob = { _id: 2, name: 'Bob', address: { city: 'Rome' }, tags: [], n: 5 };

    test('find: query and sort', async () => {
      const { collection, stop } = await watched([ann, bob, { _id: 3, name: 'Cy', n: 3 }]);
      const { adapter } = target;
      expect(await adapter.find(collection, { n: { $gte: 3 } }, { sort: { n: -1 } })).toEqual([
        bob,
        { _id: 3, name: 'Cy', n: 3 },
      ]);
      expect(await adapter.find(collection, { name: 'nobody' })).toEqual([]);
      await stop();
    });

    test('find: projection, id always returned', async () => {
      const { collection, stop } = await watched([ann, bob]);
      const found = await target.adapter.find(
        collection,
        { _id: 1 },
        { projection: { 'address.city': 1 } },
      );
      expect(found).toEqual([{ _id: 1, address: { city: 'Oslo' } }]);
      await stop();
    });

    test('insert emits the whole document', async () => {
      const { collection, changes, stop, converge } = await watched([ann]);
      await target.insert(collection, bob);
      await converge([ann, bob]);
      expect(changes).toEqual([{ type: 'insert', collection, id: 2, doc: bob }]);
      await stop();
    });

    test.each([
      ['$set nested (dotted)', { $set: { 'address.state': 'NO' } }, ['address']],
      ['$set a whole sub-document', { $set: { address: { city: 'Bergen' } } }, ['address']],
      [
        '$set several fields',
        { $set: { name: 'Anne', 'address.city': 'Bergen' } },
        ['address', 'name'],
      ],
      ['$unset', { $unset: { 'address.zip': '' } }, ['address']],
      ['$inc', { $inc: { n: 2 } }, ['n']],
      ['$push', { $push: { tags: 'b' } }, ['tags']],
    ] as [string, Doc, string[]][])('update %s', async (_label, update, fields) => {
      const { collection, changes, stop, converge } = await watched([ann, bob]);
      await target.update(collection, { _id: 1 }, update);
      const [after] = await target.adapter.find(collection, { _id: 1 });
      await converge([after as Doc, bob]);
      expect(changes).toHaveLength(1);
      const change = changes[0] as Change;
      expect(change).toMatchObject({ type: 'update', collection, id: 1, doc: after });
      expect(touched(change)).toEqual(fields);
      await stop();
    });

    test('$set of a whole sub-document is reported at that path', async () => {
      const { collection, changes, stop, converge } = await watched([ann]);
      await target.update(collection, { _id: 1 }, { $set: { address: { city: 'Bergen' } } });
      await converge([{ ...ann, address: { city: 'Bergen' } }]);
      expect(changes[0]).toMatchObject({
        updatedFields: { address: { city: 'Bergen' } },
        removedFields: [],
      });
      await stop();
    });

    test('replace emits the new document with the same id', async () => {
      const { collection, changes, stop, converge } = await watched([ann, bob]);
      await target.replace(collection, { _id: 2 }, { name: 'Bobby' });
      await converge([ann, { _id: 2, name: 'Bobby' }]);
      expect(changes).toEqual([
        { type: 'replace', collection, id: 2, doc: { _id: 2, name: 'Bobby' } },
      ]);
      await stop();
    });

    test('remove emits a delete by id', async () => {
      const { collection, changes, stop, converge } = await watched([ann, bob]);
      await target.remove(collection, { _id: 1 });
      await converge([bob]);
      expect(changes).toEqual([{ type: 'delete', collection, id: 1 }]);
      await stop();
    });

    test('changes of two watched collections arrive in commit order; others are not seen', async () => {
      const a = `contract_pair_a_${++counter}`;
      const b = `contract_pair_b_${counter}`;
      const other = `contract_pair_other_${counter}`;
      for (const c of [a, b, other]) await target.seed(c, []);
      const seen: string[] = [];
      const stop = await target.adapter.watch([a, b], (given) => {
        for (const change of given.type === 'transaction' ? given.changes : [given]) {
          if (change.type !== 'reset')
            seen.push(`${change.type} ${change.collection} ${String(change.id)}`);
        }
      });
      await target.insert(a, { _id: 1 });
      await target.insert(other, { _id: 9 });
      await target.insert(b, { _id: 2 });
      await target.update(a, { _id: 1 }, { $set: { x: 1 } });
      await target.remove(b, { _id: 2 });
      const expected = [`insert ${a} 1`, `insert ${b} 2`, `update ${a} 1`, `delete ${b} 2`];
      await vi.waitFor(() => expect(seen).toEqual(expected));
      await stop();
      await target.insert(a, { _id: 3 });
      // Nothing after stop: a later write to a watched-by-nobody collection stays unseen.
      expect(seen).toEqual(expected);
    });

    test('documents keep native values: nested arrays and sub-documents round-trip', async () => {
      const doc = { _id: 7, list: [{ k: 1, v: [1, 2] }], deep: { a: { b: { c: 'd' } } } };
      const { collection, stop, converge } = await watched([]);
      await target.insert(collection, doc);
      await target.update(collection, { _id: 7 }, { $set: { 'list.0.k': 2, 'deep.a.b.c': 'e' } });
      const expected = { _id: 7, list: [{ k: 2, v: [1, 2] }], deep: { a: { b: { c: 'e' } } } };
      await converge([expected]);
      expect(isPlainObject((await target.adapter.find(collection, { _id: 7 }))[0]?.deep)).toBe(
        true,
      );
      await stop();
    });

    test('Stream: a client view follows the same writes to the same result', async () => {
      const collection = `contract_stream_${Date.now().toString(36)}_${++counter}`;
      await target.seed(collection, [
        { _id: 1, name: 'Ann', accountId: 1, address: { city: 'Oslo', zip: '0150' } },
        { _id: 2, name: 'Bob', accountId: 1, address: { city: 'Rome' } },
        { _id: 3, name: 'Cy', accountId: 2 },
      ]);
      // The Stream closes its adapter on disconnect; the target's adapter outlives this test.
      const { adapter } = target;
      const borrowed: Adapter = {
        find: (...args) => adapter.find(...args),
        watch: (...args) => adapter.watch(...args),
        close: async () => undefined,
      };
      const stream = new Stream({
        adapter: borrowed,
        dataSources: {
          people: {
            collection,
            criteria: { accountId: '@accountId' },
            manifest: { name: true, address: { city: true } },
          },
        },
      });
      const view = new Map<string, Doc>();
      let ready = false;
      const unregister = stream.register({ accountId: 1 }, (_type, message) => {
        const m = message as { type: string; data?: Doc[]; ops?: Doc[] };
        if (m.type === 'payload') {
          view.clear();
          for (const doc of m.data ?? []) view.set(String(doc._id), doc);
          ready = true;
        }
        for (const op of opsOf(m)) applyOp(view, op);
      });
      await vi.waitFor(() => expect(ready).toBe(true));
      await target.update(
        collection,
        { _id: 1 },
        { $set: { 'address.city': 'Bergen', 'address.zip': '5003' } },
      );
      await target.update(collection, { _id: 2 }, { $set: { accountId: 2 } });
      await target.update(
        collection,
        { _id: 3 },
        { $set: { accountId: 1, address: { city: 'Lyon' } } },
      );
      await target.insert(collection, { _id: 4, name: 'Di', accountId: 1 });
      await target.remove(collection, { _id: 4 });
      await target.replace(collection, { _id: 1 }, { name: 'Anne', accountId: 1 });
      await vi.waitFor(() =>
        expect([...view.values()].sort(byId)).toEqual([
          { _id: 1, name: 'Anne' },
          { _id: 3, name: 'Cy', address: { city: 'Lyon' } },
        ]),
      );
      unregister();
      await stream.disconnect();
    });
  });
}
