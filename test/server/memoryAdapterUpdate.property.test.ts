/**
 * The store's own update operators against mingo's `update()` (what the store used before) on
 * random documents and updates: the same resulting document and the same changed paths, which
 * is all the emitted change is made of. Where MongoDB refuses an update that mingo silently
 * skips (a `$inc` on a string, a `$set` through a scalar), the store throws instead; those
 * cases are counted, not compared.
 */
import fc from 'fast-check';
import { update as mingoUpdate } from 'mingo';
import { describe, expect, test } from 'vitest';
import type { Doc } from '../../src/server/adapter.js';
import { cloneDeep, deepEqual, getPath, hasPath, isPlainObject } from '../../src/server/clone.js';
import { applyUpdate, type UpdateDocument } from '../../src/server/memory/update.js';
import { ParticleError } from '../../src/protocol/errors.js';

const leaf = fc.oneof(
  fc.integer({ min: -5, max: 5 }),
  fc.constantFrom('p', 'q', 'r'),
  fc.boolean(),
  fc.constant(null),
);
const small = fc.record({ x: leaf, y: leaf }, { requiredKeys: [] });
const list = fc.oneof(
  fc.uniqueArray(fc.integer({ min: -3, max: 3 }), { maxLength: 4 }),
  fc.uniqueArray(fc.record({ x: fc.integer({ min: 0, max: 3 }) }), {
    selector: (o) => o.x,
    maxLength: 3,
  }),
);
const value = fc.oneof(leaf, small, list);
const docArb = fc
  .record({ a: value, b: value, c: value, d: value, n: small }, { requiredKeys: [] })
  .map((d): Doc => ({ _id: 1, ...d }));

const paths = ['a', 'b', 'c', 'd', 'e', 'a.x', 'b.y', 'c.x', 'c.0', 'd.1', 'n.x', 'n.m.k', 'e.f'];
const path = fc.constantFrom(...paths);
const int = fc.integer({ min: -3, max: 3 });
const each = fc.uniqueArray(int, { minLength: 1, maxLength: 3 });
const nonZero = fc.oneof(fc.integer({ min: -3, max: -1 }), fc.integer({ min: 1, max: 3 }));

const argOf: Record<string, fc.Arbitrary<unknown>> = {
  $set: value,
  $unset: fc.constant(''),
  $inc: int,
  $mul: int,
  $min: fc.oneof(int, fc.constantFrom('p', 'q')),
  $max: fc.oneof(int, fc.constantFrom('p', 'q')),
  $push: fc.oneof(
    int,
    fc.record(
      { $each: each, $slice: nonZero, $position: int, $sort: fc.constantFrom(1, -1) },
      { requiredKeys: ['$each'] },
    ),
  ),
  $addToSet: fc.oneof(int, fc.record({ $each: each })),
  // A document condition ({ x: 1 }) only matches documents in MongoDB; mingo also matches
  // scalars with it, so that case has its own test.
  $pull: fc.oneof(int, fc.record({ $gte: int }), fc.record({ $in: each })),
  $pullAll: each,
  $pop: fc.constantFrom(1, -1),
  $rename: path,
};

const updateArb: fc.Arbitrary<UpdateDocument> = fc
  .uniqueArray(fc.constantFrom(...Object.keys(argOf)), { minLength: 1, maxLength: 3 })
  .chain((ops) =>
    fc.tuple(
      ...ops.map((op) =>
        fc
          .uniqueArray(fc.tuple(path, argOf[op] as fc.Arbitrary<unknown>), {
            selector: ([p]) => p,
            minLength: 1,
            maxLength: 2,
          })
          .map((fields) => [op, Object.fromEntries(fields)] as const),
      ),
    ),
  )
  .map((entries) => Object.fromEntries(entries));

/** Array holes (mingo writing past the end) read as the `null`s MongoDB pads with. */
function normalize(value: unknown): unknown {
  if (Array.isArray(value))
    return Array.from(value, (v) => (v === undefined ? null : normalize(v)));
  if (isPlainObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v)]));
  }
  return value;
}

/**
 * mingo ignores `$sort`/`$slice` when `$push` creates the array; MongoDB applies them. Seeding
 * such a missing target with `[]` makes mingo compute what MongoDB does.
 */
function seedPushTargets(doc: Doc, update: UpdateDocument): void {
  for (const [p, arg] of Object.entries(update.$push ?? {})) {
    if (!isPlainObject(arg) || hasPath(doc, p)) continue;
    const segs = p.split('.');
    let cur: unknown = doc;
    for (const seg of segs.slice(0, -1)) {
      if (!isPlainObject(cur)) {
        cur = undefined;
        break;
      }
      if (cur[seg] === undefined) cur[seg] = {};
      cur = cur[seg];
    }
    const last = segs[segs.length - 1] as string;
    if (isPlainObject(cur)) cur[last] = [];
    else if (Array.isArray(cur) && /^\d+$/.test(last)) cur[Number(last)] = [];
  }
}

type Outcome = { ok: true; doc: unknown; paths: string[] } | { ok: false; error: unknown };

function run(fn: () => string[], doc: Doc): Outcome {
  try {
    const paths = fn();
    return { ok: true, doc: normalize(doc), paths };
  } catch (error) {
    return { ok: false, error };
  }
}

/** The change the adapter emits for `paths` on `next`. */
function change(next: unknown, paths: string[]): unknown {
  const updatedFields: Record<string, unknown> = {};
  const removedFields: string[] = [];
  for (const p of paths) {
    if (hasPath(next, p)) updatedFields[p] = getPath(next, p);
    else removedFields.push(p);
  }
  return { updatedFields, removedFields: removedFields };
}

describe('applyUpdate against mingo', () => {
  test('same document and same changed paths on random updates', () => {
    let compared = 0;
    let stricter = 0;
    fc.assert(
      fc.property(docArb, updateArb, (doc, update) => {
        const ours = cloneDeep(doc);
        const theirs = cloneDeep(doc);
        seedPushTargets(theirs, update);
        const a = run(() => applyUpdate(ours, cloneDeep(update)), ours);
        const b = run(() => mingoUpdate(theirs, cloneDeep(update)), theirs);
        if (!b.ok) {
          expect(a.ok, `mingo refused (${String(b.error)}), the store applied`).toBe(false);
          return;
        }
        if (!a.ok) {
          expect(a.error).toBeInstanceOf(ParticleError);
          stricter++;
          return;
        }
        compared++;
        expect(a.doc).toEqual(b.doc);
        // The adapter emits nothing for a document that did not change, whatever paths mingo
        // reported. mingo also reports some $push/$slice no-ops as changed (an array that ends
        // up as it was); the store does not, so those paths are left out of mingo's list.
        const before = normalize(doc);
        if (deepEqual(a.doc, before)) return;
        const real = (p: string): boolean =>
          hasPath(before, p) !== hasPath(b.doc, p) ||
          !deepEqual(getPath(before, p), getPath(b.doc, p));
        expect(a.paths).toEqual(b.paths.filter(real));
        expect(change(a.doc, a.paths)).toEqual(change(b.doc, b.paths.filter(real)));
      }),
      { numRuns: 4000 },
    );
    // About a third of random updates are valid everywhere: the comparison is not vacuous.
    expect(compared).toBeGreaterThan(800);
    expect(stricter).toBeLessThan(2000);
  });
});
