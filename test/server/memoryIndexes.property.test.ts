/**
 * The embedded store's hash indexes against a plain scan: random documents (arrays, nested
 * arrays, missing fields, nulls, BSON number types, dates, bytes, dotted paths) and random
 * finds, updates, replaces, removes and inserts. Every store (indexes made on demand, declared
 * up front, or none) returns what a scan of the same writes returns: the same documents in the
 * same order, the same counts, the same refusals. And the compiled filter's own answer to a
 * primitive equality (no mingo unless the path meets an array) is mingo's.
 */
import fc from 'fast-check';
import { Query } from 'mingo';
import { Binary, Decimal128, Int32, Long, ObjectId } from 'mongodb';
import { describe, expect, test } from 'vitest';
import type { Doc } from '../../src/server/adapter.js';
import { cloneDeep, deepEqual } from '../../src/server/clone.js';
import { idKey } from '../../src/server/ids.js';
import { compileFilter } from '../../src/server/memory/match.js';
import { applyUpdate, type UpdateDocument } from '../../src/server/memory/update.js';
import { MemoryAdapter } from '../../src/server/memoryAdapter.js';

/** The reference: every filter answered by testing every document in insertion order. */
class ScanStore {
  readonly docs = new Map<string, Doc>();

  find(filter: Doc): Doc[] {
    const test = compileFilter(filter);
    return [...this.docs.values()].filter(test);
  }

  insert(doc: Doc): number {
    const key = idKey(doc._id);
    if (this.docs.has(key)) throw new Error('duplicate');
    this.docs.set(key, cloneDeep(doc));
    return 1;
  }

  update(filter: Doc, update: UpdateDocument): number {
    let changed = 0;
    for (const doc of this.find(filter)) {
      const next = cloneDeep(doc);
      const paths = applyUpdate(next, update);
      if (paths.length === 0 || deepEqual(next, doc)) continue;
      this.docs.set(idKey(doc._id), next);
      changed++;
    }
    return changed;
  }

  replace(filter: Doc, doc: Doc): number {
    const found = this.find(filter);
    for (const old of found) this.docs.set(idKey(old._id), { ...cloneDeep(doc), _id: old._id });
    return found.length;
  }

  remove(filter: Doc): number {
    const found = this.find(filter);
    for (const old of found) this.docs.delete(idKey(old._id));
    return found.length;
  }
}

const bytes = new Binary(Buffer.from([1, 2, 3]), 0);
const legacy = new Binary(Buffer.from([0xff, 0xfe, 1]), 3);
const legacyToo = new Binary(Buffer.from([0xfe, 0xff, 1]), 3);
const oid = new ObjectId('0123456789abcdef01234567');

const scalar = fc.constantFrom<unknown>(
  1,
  2,
  0,
  -0,
  1.5,
  '1',
  'x',
  true,
  null,
  new Date(5),
  new Date(6),
  Decimal128.fromString('1'),
  Decimal128.fromString('1.0'),
  new Int32(1),
  Long.fromNumber(2),
  bytes,
  legacy,
  legacyToo,
  oid,
  oid.toHexString(),
);
const value: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: scalar },
  { weight: 2, arbitrary: fc.array(scalar, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.array(fc.array(scalar, { maxLength: 2 }), { maxLength: 2 }) },
  { weight: 1, arbitrary: fc.record({ c: scalar }, { requiredKeys: [] }) },
);
const nested = fc.oneof(
  scalar,
  fc.record({ c: value }, { requiredKeys: [] }),
  fc.array(fc.record({ c: value }, { requiredKeys: [] }), { maxLength: 3 }),
);
const id = fc.integer({ min: 0, max: 11 });
const docArb = fc
  .record(
    { _id: id, a: value, b: nested, n: fc.integer({ min: -2, max: 2 }) },
    { requiredKeys: ['_id'] },
  )
  .map((d): Doc => d);

const field = fc.constantFrom('a', 'b.c', 'a.0', 'b.0.c', 'n', '_id');
const cond = fc.oneof(
  scalar,
  fc.record({ $eq: scalar }),
  fc.record({ $in: fc.array(scalar, { maxLength: 3 }) }),
  fc.record({ $in: fc.array(scalar, { maxLength: 2 }), $ne: scalar }),
  fc.record({ $in: fc.array(id, { maxLength: 4 }) }),
  id,
);
const equality = fc.tuple(field, cond).map(([f, c]): Doc => ({ [f]: c }));
const filterArb: fc.Arbitrary<Doc> = fc.oneof(
  { weight: 4, arbitrary: equality },
  { weight: 1, arbitrary: fc.constant({}) },
  {
    weight: 1,
    arbitrary: fc.tuple(equality, equality).map(([x, y]): Doc => ({ $and: [x, y] })),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(equality, equality).map(([x, y]): Doc => ({ $or: [x, y] })),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(equality, equality).map(([x, y]): Doc => ({ ...x, ...y })),
  },
  { weight: 1, arbitrary: equality.map((x): Doc => ({ ...x, n: { $gte: 0 } })) },
);
const updateArb: fc.Arbitrary<UpdateDocument> = fc.oneof(
  value.map((v) => ({ $set: { a: v } })),
  nested.map((v) => ({ $set: { b: v } })),
  value.map((v) => ({ $set: { 'b.c': v } })),
  scalar.map((v) => ({ $set: { 'a.0': v } })),
  scalar.map((v) => ({ $push: { a: v } })),
  scalar.map((v) => ({ $pull: { a: v } })),
  fc.constant({ $unset: { a: '' } }),
  fc.constant({ $unset: { 'b.c': '' } }),
  fc.constant({ $inc: { n: 1 } }),
  fc.constant({ $rename: { a: 'z' } }),
  fc.constant({ $rename: { z: 'a' } }),
);

type Op =
  | { kind: 'find'; filter: Doc }
  | { kind: 'update'; filter: Doc; update: UpdateDocument }
  | { kind: 'replace'; filter: Doc; doc: Doc }
  | { kind: 'remove'; filter: Doc }
  | { kind: 'insert'; doc: Doc };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: filterArb.map((filter): Op => ({ kind: 'find', filter })) },
  {
    weight: 4,
    arbitrary: fc
      .tuple(filterArb, updateArb)
      .map(([filter, update]): Op => ({ kind: 'update', filter, update })),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(filterArb, docArb).map(([filter, doc]): Op => {
      const { _id: _ignored, ...rest } = doc;
      return { kind: 'replace', filter, doc: rest };
    }),
  },
  { weight: 1, arbitrary: filterArb.map((filter): Op => ({ kind: 'remove', filter })) },
  { weight: 2, arbitrary: docArb.map((doc): Op => ({ kind: 'insert', doc })) },
);

/** What an operation returned, or that it threw. */
function outcome(run: () => number | Doc[]): unknown {
  try {
    return { ok: run() };
  } catch {
    return { threw: true };
  }
}

function apply(store: MemoryAdapter | ScanStore, op: Op): unknown {
  const isScan = store instanceof ScanStore;
  switch (op.kind) {
    case 'find':
      return outcome(() => (isScan ? store.find(op.filter) : store.findNow('items', op.filter)));
    case 'update':
      return outcome(() =>
        isScan ? store.update(op.filter, op.update) : store.update('items', op.filter, op.update),
      );
    case 'replace':
      return outcome(() =>
        isScan ? store.replace(op.filter, op.doc) : store.replace('items', op.filter, op.doc),
      );
    case 'remove':
      return outcome(() => (isScan ? store.remove(op.filter) : store.remove('items', op.filter)));
    case 'insert':
      return outcome(() => (isScan ? store.insert(op.doc) : store.insert('items', op.doc)));
  }
}

describe('indexed finds and writes equal a scan', () => {
  test('same documents in the same order, same counts, same refusals', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(docArb, { selector: (d) => d._id, maxLength: 10 }),
        fc.array(opArb, { minLength: 1, maxLength: 25 }),
        (seed, ops) => {
          const scan = new ScanStore();
          for (const doc of seed) scan.insert(doc);
          const stores = [
            new MemoryAdapter({ collections: { items: seed } }),
            new MemoryAdapter({
              collections: { items: seed },
              indexes: { items: ['a', 'b.c', 'a.0', 'b.0.c', 'n'] },
            }),
            new MemoryAdapter({ collections: { items: seed }, autoIndex: false }),
          ];
          for (const op of ops) {
            const want = apply(scan, op);
            for (const store of stores) expect(apply(store, op)).toEqual(want);
          }
          const all = [...scan.docs.values()];
          for (const store of stores) expect(store.findNow('items')).toEqual(all);
        },
      ),
      { numRuns: 1500 },
    );
  });
});

describe('a primitive equality is answered as mingo answers it', () => {
  const primitive = fc.constantFrom<unknown>(0, -0, 1, 2, '1', 'x', '', true, false);
  const anyValue = fc.oneof(primitive, scalar, value, nested);
  const deep = fc.record({ a: anyValue, b: anyValue, k: primitive }, { requiredKeys: [] });
  const path = fc.constantFrom('a', 'b', 'b.c', 'a.c', 'b.c.c', 'k', 'a.constructor', 'z');
  test('with or without $eq, beside other conditions', () => {
    fc.assert(
      fc.property(
        deep,
        path,
        primitive,
        fc.boolean(),
        fc.boolean(),
        (doc, at, wanted, withEq, withRest) => {
          const filter: Doc = {
            [at]: withEq ? { $eq: wanted } : wanted,
            ...(withRest ? { k: { $ne: 2 } } : {}),
          };
          expect(compileFilter(filter)(doc)).toBe(new Query(filter).test(doc));
        },
      ),
      { numRuns: 4000 },
    );
  });
});
