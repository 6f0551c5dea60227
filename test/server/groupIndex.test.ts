import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Doc } from '../../src/server/adapter.js';
import { Group } from '../../src/server/group.js';
import { CollectionGroups, findEqualities } from '../../src/server/groupIndex.js';
import { compileMatcher } from '../../src/server/matcher.js';

const source = {
  name: 'r',
  collection: 'c',
  manifest: true as const,
  idField: '_id',
  sort: undefined,
};

function groupsFor(queries: Doc[]): { index: CollectionGroups; groups: Group[] } {
  const index = new CollectionGroups();
  const groups = queries.map((query, i) => {
    const g = new Group(
      { key: `g${i}`, source, query, matcher: compileMatcher(query) },
      (grp, key, held) => index.hold(grp, key, held),
    );
    index.add(g);
    return g;
  });
  return { index, groups };
}

describe('equalities a group is indexed by', () => {
  it.each([
    [{ ownerId: 7 }, [{ field: 'ownerId', values: [7] }]],
    [{ ownerId: { $in: [1, 2] } }, [{ field: 'ownerId', values: [1, 2] }]],
    [{ ownerId: { $eq: 'a' }, x: { $gt: 1 } }, [{ field: 'ownerId', values: ['a'] }]],
    [{ $and: [{ x: { $gt: 1 } }, { 'a.b': 3 }] }, [{ field: 'a.b', values: [3] }]],
    [
      { $or: [{ accountId: 1 }, { orgId: { $in: [] } }] },
      [
        { field: 'accountId', values: [1] },
        { field: 'orgId', values: [] },
      ],
    ],
    [{ $or: [{ accountId: 1 }, { x: { $gt: 1 } }] }, undefined],
    [{ x: { $gt: 1 } }, undefined],
    [{ tags: ['a', 'b'] }, undefined],
    [{ missing: null }, undefined],
  ])('%j', (query, expected) => {
    expect(findEqualities(query)).toEqual(expected);
  });
});

describe('candidates', () => {
  it('finds the groups a document can match by value, through arrays, and the groups holding its id', () => {
    const { index, groups } = groupsFor([
      { ownerId: 1 },
      { ownerId: 2 },
      { 'items.kind': 'a' },
      { $or: [{ accountId: 5 }, { ownerId: 9 }] },
      { x: { $gt: 0 } },
    ]);
    const names = (doc: Doc | null, key = 's:d') =>
      [...index.candidates(key, doc)].map((g) => g.key).sort();
    expect(names({ _id: 'd', ownerId: 1 })).toEqual(['g0', 'g4']);
    expect(names({ _id: 'd', items: [{ kind: 'b' }, { kind: 'a' }] })).toEqual(['g2', 'g4']);
    expect(names({ _id: 'd', ownerId: 9 })).toEqual(['g3', 'g4']);
    expect(names({ _id: 'd', accountId: 5 })).toEqual(['g3', 'g4']);
    groups[1]?.load([{ _id: 'd', ownerId: 2 }]);
    expect(names({ _id: 'd', ownerId: 1 })).toEqual(['g0', 'g1', 'g4']);
    expect(names(null)).toEqual(['g1']);
    index.remove(groups[4] as Group);
    expect(names({ _id: 'e', x: 1 }, 's:e')).toEqual([]);
  });

  it('never misses a group whose query matches (property)', () => {
    const value = fc.constantFrom(1, 2, 'a', 'b');
    const cond = fc.oneof(
      fc.record({ f: fc.constantFrom('p', 'q', 'r.s'), v: value }).map(({ f, v }) => ({ [f]: v })),
      fc
        .record({ f: fc.constantFrom('p', 'q'), vs: fc.array(value, { maxLength: 3 }) })
        .map(({ f, vs }) => ({ [f]: { $in: vs } })),
      fc.constant({ q: { $gt: 1 } }),
    );
    const query = fc.oneof(
      cond,
      fc.array(cond, { minLength: 1, maxLength: 3 }).map((c) => ({ $or: c })),
      fc.array(cond, { minLength: 1, maxLength: 3 }).map((c) => ({ $and: c })),
    );
    const doc = fc.record(
      {
        p: fc.oneof(value, fc.array(value, { maxLength: 3 })),
        q: value,
        r: fc.oneof(fc.record({ s: value }), fc.array(fc.record({ s: value }), { maxLength: 2 })),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.array(query, { minLength: 1, maxLength: 8 }), doc, (queries, d) => {
        const { index, groups } = groupsFor(queries);
        const found = index.candidates('s:x', { _id: 'x', ...d });
        for (const g of groups) if (g.matcher({ _id: 'x', ...d })) expect(found.has(g)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
