import fc from 'fast-check';
import { Decimal128, Int32, Long } from 'mongodb';
import { describe, expect, it } from 'vitest';
import type { Change, Doc } from '../../src/server/adapter.js';
import { Group } from '../../src/server/group.js';
import { CollectionGroups } from '../../src/server/groupIndex.js';
import { idKey } from '../../src/server/ids.js';
import { LookupIndex, type TracedLookup } from '../../src/server/lookupIndex.js';
import { compileMatcher } from '../../src/server/matcher.js';

type Fed = Exclude<Change, { type: 'reset' }>;

function lookup(collection: string, query: Doc, ids: unknown[] = []): TracedLookup {
  return { collection, query, matcher: compileMatcher(query), ids: new Set(ids.map(idKey)) };
}

const insert = (collection: string, doc: Doc): Fed => ({
  type: 'insert',
  collection,
  id: doc._id,
  doc,
});

describe('the index of traced lookups', () => {
  it('visits only the owners whose lookups a change can alter', () => {
    const index = new LookupIndex<string>();
    for (let u = 0; u < 1000; u++) {
      index.set(`r${u}`, [
        lookup('users', { _id: { $in: [u] } }, [u]),
        lookup('members', { userId: { $in: [u] } }, [`m${u}`]),
      ]);
    }
    expect([...index.touched(insert('members', { _id: 'x', userId: 7 }))]).toEqual(['r7']);
    // a change to a document a lookup selected, whatever it holds now
    expect([...index.touched(insert('members', { _id: 'm9', userId: 'gone' }))]).toEqual(['r9']);
    expect([...index.touched({ type: 'delete', collection: 'members', id: 'm3' })]).toEqual(['r3']);
    expect([...index.touched(insert('members', { _id: 'y', userId: [4, 5] }))].sort()).toEqual([
      'r4',
      'r5',
    ]);
    // equal numbers of other BSON types
    expect([...index.touched(insert('members', { _id: 'z', userId: new Long(6) }))]).toEqual([
      'r6',
    ]);
    index.set('r7', [lookup('members', { userId: { $in: [70] } })]);
    expect([...index.touched(insert('members', { _id: 'x', userId: 7 }))]).toEqual([]);
    index.delete('r6');
    expect([...index.touched(insert('members', { _id: 'z', userId: 6 }))]).toEqual([]);
    expect([...index.touched(insert('others', { _id: 'z', userId: 1 }))]).toEqual([]);
  });

  it('never misses an owner whose lookup selected or now matches the document (property)', () => {
    const value = fc.constantFrom<unknown>(1, 2, 'a', 'b', Decimal128.fromString('2'));
    const query = fc.oneof(
      fc
        .record({ f: fc.constantFrom('p', 'q.s'), vs: fc.array(value, { maxLength: 3 }) })
        .map(({ f, vs }): Doc => ({ [f]: { $in: vs } })),
      value.map((v): Doc => ({ p: { $gt: v } })),
      fc.constant<Doc>({ $or: [{ p: 1 }, { q: { $exists: true } }] }),
    );
    const traced = fc.record({
      collection: fc.constantFrom('a', 'b'),
      query,
      ids: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 2 }),
    });
    const doc = fc.record(
      {
        _id: fc.integer({ min: 0, max: 5 }),
        p: fc.oneof(value, fc.array(value, { maxLength: 2 }), fc.constant(new Int32(1))),
        q: fc.oneof(fc.record({ s: value }), fc.array(fc.record({ s: value }), { maxLength: 2 })),
      },
      { requiredKeys: ['_id'] },
    );
    const change = fc.oneof(
      fc
        .record({ collection: fc.constantFrom('a', 'b'), doc })
        .map(({ collection, doc }) => insert(collection, doc as Doc)),
      fc
        .record({ collection: fc.constantFrom('a', 'b'), id: fc.integer({ min: 0, max: 5 }) })
        .map(({ collection, id }): Fed => ({ type: 'delete', collection, id })),
    );
    fc.assert(
      fc.property(
        fc.array(fc.array(traced, { maxLength: 3 }), { maxLength: 6 }),
        fc.array(change, { minLength: 1, maxLength: 5 }),
        (owners, changes) => {
          const index = new LookupIndex<number>();
          const traces = owners.map((list) =>
            list.map((t) => lookup(t.collection, t.query, t.ids)),
          );
          traces.forEach((trace, i) => index.set(i, trace));
          for (const c of changes) {
            const doc = c.type === 'delete' ? null : c.doc;
            const expected = traces.flatMap((trace, i) =>
              trace.some(
                (t) =>
                  t.collection === c.collection &&
                  (t.ids.has(idKey(c.id)) || (doc !== null && t.matcher(doc))),
              )
                ? [i]
                : [],
            );
            expect([...index.touched(c)].sort()).toEqual(expected);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('group equalities', () => {
  it('reach a document whose number has another BSON type of the same value', () => {
    const index = new CollectionGroups();
    const source = { name: 'r', collection: 'c', manifest: true as const, idField: '_id' };
    const query = { n: 5 };
    const group = new Group({
      key: 'g',
      source: { ...source, sort: undefined },
      query,
      matcher: compileMatcher(query),
    });
    index.add(group);
    for (const n of [Decimal128.fromString('5'), new Long(5), new Int32(5), 5]) {
      expect(group.matcher({ _id: 1, n })).toBe(true);
      expect([...index.candidates('n:1', { _id: 1, n })]).toEqual([group]);
    }
  });
});
