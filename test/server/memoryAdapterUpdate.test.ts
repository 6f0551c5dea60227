/**
 * MemoryAdapter's update operators where they follow MongoDB rather than what mingo did, the
 * errors they raise, the changes they emit, and the `$in` lookup of its filters.
 */
import fc from 'fast-check';
import { Query } from 'mingo';
import { describe, expect, test } from 'vitest';
import type { Change, Doc } from '../../src/server/adapter.js';
import { MemoryAdapter, type UpdateDocument } from '../../src/server/memoryAdapter.js';
import { compileFilter } from '../../src/server/memory/match.js';
import { applyUpdate } from '../../src/server/memory/update.js';
import { ParticleError } from '../../src/protocol/errors.js';

function updated(doc: Doc, update: UpdateDocument): { doc: Doc; paths: string[] } {
  const paths = applyUpdate(doc, update);
  return { doc, paths };
}

async function changesOf(seed: Doc, update: UpdateDocument): Promise<Change[]> {
  const adapter = new MemoryAdapter({ collections: { c: [seed] } });
  const changes: Change[] = [];
  await adapter.watch(['c'], (c) => changes.push(c));
  adapter.update('c', { _id: seed._id }, update);
  return changes;
}

describe('MongoDB semantics', () => {
  test('$push with modifiers sorts and slices a new array too', () => {
    const r = updated({ _id: 1 }, { $push: { t: { $each: [3, 1, 2], $sort: 1, $slice: 2 } } });
    expect(r.doc.t).toEqual([1, 2]);
    expect(r.paths).toEqual(['t']);
  });

  test('$push: $position, negative $slice, sort by field', () => {
    const doc: Doc = { _id: 1, t: [{ n: 2 }, { n: 5 }] };
    applyUpdate(doc, {
      $push: { t: { $each: [{ n: 1 }, { n: 9 }], $sort: { n: -1 }, $slice: -3 } },
    });
    expect(doc.t).toEqual([{ n: 5 }, { n: 2 }, { n: 1 }]);
    const doc2: Doc = { _id: 1, t: [1, 2, 3] };
    applyUpdate(doc2, { $push: { t: { $each: [9], $position: -1 } } });
    expect(doc2.t).toEqual([1, 2, 9, 3]);
  });

  test('$addToSet keeps existing duplicates and adds each new value once', () => {
    const doc: Doc = { _id: 1, t: [1, 1], u: undefined };
    delete doc.u;
    applyUpdate(doc, { $addToSet: { t: { $each: [2, 2, 1] }, u: { $each: [4, 4] } } });
    expect(doc).toEqual({ _id: 1, t: [1, 1, 2], u: [4] });
    expect(applyUpdate({ _id: 1, t: [1, 1] }, { $addToSet: { t: 1 } })).toEqual([]);
  });

  test('$pull: a document condition matches documents only; scalars by equality', () => {
    const doc: Doc = { _id: 1, t: [1, { x: 1, y: 2 }, { x: 2 }], u: [[1], 1, 2] };
    applyUpdate(doc, { $pull: { t: { x: 1 }, u: 1 } });
    expect(doc).toEqual({ _id: 1, t: [1, { x: 2 }], u: [[1], 2] });
    applyUpdate(doc, { $pull: { u: { $gte: 2 } }, $pullAll: { t: [1] } });
    expect(doc).toEqual({ _id: 1, t: [{ x: 2 }], u: [[1]] });
  });

  test('writing past the end of an array pads it with null', () => {
    const doc: Doc = { _id: 1, t: [1] };
    expect(applyUpdate(doc, { $set: { 't.3': 4 } })).toEqual(['t.3']);
    expect(doc.t).toEqual([1, null, null, 4]);
  });

  test('$unset of an array element leaves null; $mul creates 0; $min/$max', () => {
    const doc: Doc = { _id: 1, t: [1, 2], n: 5 };
    applyUpdate(doc, { $unset: { 't.0': '' }, $mul: { m: 3 }, $min: { n: 2 }, $max: { k: 7 } });
    expect(doc).toEqual({ _id: 1, t: [null, 2], n: 2, m: 0, k: 7 });
  });

  test('$rename moves a value, creating parents; a missing source is no change', () => {
    const doc: Doc = { _id: 1, a: { b: 1 } };
    expect(applyUpdate(doc, { $rename: { 'a.b': 'c.d' } })).toEqual(['a.b', 'c.d']);
    expect(doc).toEqual({ _id: 1, a: {}, c: { d: 1 } });
    expect(applyUpdate(doc, { $rename: { zz: 'yy' } })).toEqual([]);
  });

  test('$currentDate writes a Date, or milliseconds for timestamp', () => {
    const doc: Doc = { _id: 1 };
    applyUpdate(doc, { $currentDate: { at: true, ts: { $type: 'timestamp' } } });
    expect(doc.at).toBeInstanceOf(Date);
    expect(typeof doc.ts).toBe('number');
  });

  test('$setOnInsert is ignored (an update never inserts)', () => {
    const doc: Doc = { _id: 1, a: 1 };
    expect(applyUpdate(doc, { $setOnInsert: { b: 2 }, $inc: { a: 1 } })).toEqual(['a']);
    expect(doc).toEqual({ _id: 1, a: 2 });
  });

  test('positional paths still work (through mingo)', () => {
    const doc: Doc = { _id: 1, t: [{ n: 1 }, { n: 2 }] };
    expect(applyUpdate(doc, { $inc: { 't.$[].n': 10 } })).toEqual(['t']);
    expect(doc.t).toEqual([{ n: 11 }, { n: 12 }]);
  });
});

describe('errors', () => {
  const cases: [string, Doc, UpdateDocument][] = [
    ['unknown operator', { _id: 1 }, { $frobnicate: { a: 1 } }],
    ['replacement document', { _id: 1 }, { a: { b: 1 } }],
    ['$inc of a string', { _id: 1, a: 'x' }, { $inc: { a: 1 } }],
    ['$inc by a string', { _id: 1 }, { $inc: { a: 'x' } }],
    ['$set through a scalar', { _id: 1, a: 5 }, { $set: { 'a.b': 1 } }],
    ['$set through null', { _id: 1, a: null }, { $set: { 'a.b': 1 } }],
    ['$set of a field of an array', { _id: 1, a: [1] }, { $set: { 'a.b': 1 } }],
    ['$push onto a scalar', { _id: 1, a: 5 }, { $push: { a: 1 } }],
    ['$pop of a scalar', { _id: 1, a: 5 }, { $pop: { a: 1 } }],
    ['$pop by 2', { _id: 1, a: [1] }, { $pop: { a: 2 } }],
    ['conflicting paths', { _id: 1 }, { $set: { a: 1 }, $inc: { 'a.b': 1 } }],
    ['the same path twice', { _id: 1 }, { $set: { a: 1 }, $unset: { a: '' } }],
    ['$rename onto a written path', { _id: 1, a: 1 }, { $rename: { a: 'b' }, $set: { b: 2 } }],
    ['_id', { _id: 1 }, { $set: { _id: 2 } }],
    ['empty field name', { _id: 1 }, { $set: { 'a..b': 1 } }],
    ['$push modifier without $each', { _id: 1 }, { $push: { a: { $slice: 1 } } }],
  ];
  test.each(cases)('%s', (_name, doc, update) => {
    expect(() => applyUpdate(doc, update)).toThrow(ParticleError);
  });

  test('a failed update leaves the stored document and emits nothing', async () => {
    const adapter = new MemoryAdapter({ collections: { c: [{ _id: 1, a: 'x', b: 1 }] } });
    const changes: Change[] = [];
    await adapter.watch(['c'], (c) => changes.push(c));
    expect(() => adapter.update('c', { _id: 1 }, { $set: { b: 2 }, $inc: { a: 1 } })).toThrow(
      /\$inc/,
    );
    expect(adapter.findNow('c')).toEqual([{ _id: 1, a: 'x', b: 1 }]);
    expect(changes).toEqual([]);
  });
});

describe('emitted changes', () => {
  test('updatedFields and removedFields by changed path', async () => {
    const changes = await changesOf(
      { _id: 1, a: 1, b: { c: 2 }, t: [1, 2], gone: true },
      { $inc: { a: 1 }, $set: { 'b.d': 3 }, $push: { t: 3 }, $unset: { gone: '', none: '' } },
    );
    expect(changes).toEqual([
      {
        type: 'update',
        collection: 'c',
        id: 1,
        doc: { _id: 1, a: 2, b: { c: 2, d: 3 }, t: [1, 2, 3] },
        updatedFields: { a: 2, 'b.d': 3, t: [1, 2, 3] },
        removedFields: ['gone'],
      },
    ]);
  });

  test('an update that changes nothing emits nothing and counts nothing', async () => {
    const adapter = new MemoryAdapter({ collections: { c: [{ _id: 1, a: 1 }] } });
    const changes: Change[] = [];
    await adapter.watch(['c'], (c) => changes.push(c));
    expect(adapter.update('c', { _id: 1 }, { $set: { a: 1 }, $pull: { t: 1 } })).toBe(0);
    expect(changes).toEqual([]);
  });

  test('a $set value is copied, not shared with the caller', () => {
    const adapter = new MemoryAdapter({ collections: { c: [{ _id: 1 }] } });
    const value = { deep: { n: 1 } };
    adapter.update('c', { _id: 1 }, { $set: { v: value } });
    value.deep.n = 2;
    expect(adapter.findNow('c')[0]).toEqual({ _id: 1, v: { deep: { n: 1 } } });
  });
});

describe('$in as a set lookup', () => {
  const scalar = fc.oneof(
    fc.integer({ min: 0, max: 6 }),
    fc.constantFrom('1', '2', 'x'),
    fc.boolean(),
  );
  const field = fc.oneof(
    scalar,
    fc.constant(null),
    fc.array(scalar, { maxLength: 3 }),
    fc.array(fc.record({ b: scalar }, { requiredKeys: [], noNullPrototype: true }), {
      maxLength: 3,
    }),
    fc.record(
      { b: fc.oneof(scalar, fc.array(scalar, { maxLength: 3 })) },
      { requiredKeys: [], noNullPrototype: true },
    ),
  );
  const docArb = fc.record({ a: field, k: scalar }, { requiredKeys: [], noNullPrototype: true });

  test('matches exactly what mingo matches', () => {
    fc.assert(
      fc.property(
        docArb,
        fc.array(scalar, { maxLength: 5 }),
        fc.constantFrom('a', 'a.b'),
        fc.boolean(),
        (doc, list, path, withRest) => {
          const filter: Doc = { [path]: { $in: list }, ...(withRest ? { k: { $ne: 3 } } : {}) };
          expect(compileFilter(filter)(doc)).toBe(new Query(filter).test(doc));
        },
      ),
      { numRuns: 3000 },
    );
  });

  test('a large identity list over many documents stays fast', () => {
    const ids = Array.from({ length: 50_000 }, (_, i) => `user-${i}`);
    const docs = Array.from({ length: 5000 }, (_, i) => ({ _id: i, owner: `user-${i * 7}` }));
    const adapter = new MemoryAdapter({ collections: { c: docs } });
    const t0 = performance.now();
    const found = adapter.findNow('c', { owner: { $in: ids } });
    expect(found.length).toBe(5000);
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});
