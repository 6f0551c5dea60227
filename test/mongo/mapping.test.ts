import { readFileSync } from 'node:fs';
import { BSON } from 'mongodb';
import { describe, expect, test } from 'vitest';
import type { Change, Doc } from '../../src/server/adapter.js';
import { mapChangeEvent, toWire, type ChangeEvent } from '../../src/server/mongo/index.js';
import { applyChange } from '../adapters/contract.js';

/** What `mapChangeEvent` makes, without the commit time (`at`), which the last test checks. */
const mapped = (...args: Parameters<typeof mapChangeEvent>) =>
  mapChangeEvent(...args).map((change) => {
    if (!('at' in change)) return change;
    const { at: _at, ...rest } = change;
    return rest;
  });

/** Reads a fixture written in canonical Extended JSON, decoded as the driver decodes BSON. */
function fixture(name: string): ChangeEvent {
  const text = readFileSync(new URL(`./fixtures/${name}.json`, import.meta.url), 'utf8');
  return BSON.EJSON.parse(text, { relaxed: true }) as unknown as ChangeEvent;
}

const ID = new BSON.ObjectId('656f1c2a9d1e8b2f4c3a1b10');
const watched = ['todos', 'users'];

describe('change event → Change', () => {
  test('a change carries its commit time (the event clusterTime) as one comparable number', () => {
    const event = fixture('insert');
    const [change] = mapChangeEvent(event, watched);
    const time = (event as { clusterTime?: BSON.Timestamp }).clusterTime;
    expect(time).toBeDefined();
    expect(change).toMatchObject({ at: (BigInt(time?.t ?? 0) << 32n) | BigInt(time?.i ?? 0) });
  });

  test('insert carries the full document with native BSON values', () => {
    const [change] = mapped(fixture('insert'), watched);
    expect(change).toMatchObject({ type: 'insert', collection: 'todos', id: ID });
    const doc = (change as { doc: Doc }).doc;
    expect(doc.dueAt).toBeInstanceOf(Date);
    expect(doc._id).toBeInstanceOf(BSON.ObjectId);
  });

  test('update keeps dotted and array-index paths, and removed fields', () => {
    const event = fixture('update-nested-array');
    const changes = mapped(event, watched);
    expect(changes).toEqual([
      {
        type: 'update',
        collection: 'todos',
        id: ID,
        doc: event.fullDocument,
        updatedFields: { title: 'b', 'address.state': 'CA', 'tags.1': 'y', 'items.0.qty': 5 },
        removedFields: ['dueAt', 'address.zip'],
      },
    ]);
    // Applied to the state before the update, the paths give the post-image.
    const before: Doc = {
      _id: ID,
      orgId: 'o1',
      title: 'a',
      dueAt: new Date(0),
      address: { city: 'SF', zip: '94107' },
      tags: ['x', 'w'],
      items: [{ sku: 's1', qty: 1 }],
    };
    expect(applyChange(before, changes[0] as Change)).toEqual(event.fullDocument);
  });

  test('a truncated array becomes one whole-array set read from the post-image', () => {
    const event = fixture('update-truncated-arrays');
    const [change] = mapped(event, watched);
    expect(change).toMatchObject({
      updatedFields: { scores: [4, 9], title: 'c' },
      removedFields: [],
    });
    expect(Object.keys((change as { updatedFields: Doc }).updatedFields)).toEqual([
      'scores',
      'title',
    ]);
    const before: Doc = { _id: ID, title: 'b', scores: [4, 5, 6, 7] };
    expect(applyChange(before, change as Change)).toEqual(event.fullDocument);
  });

  test('a null post-image (deleted since) passes through; the truncation waits for the delete', () => {
    const [change] = mapped(fixture('update-lookup-null'), watched);
    expect(change).toEqual({
      type: 'update',
      collection: 'todos',
      id: ID,
      doc: null,
      updatedFields: { title: 'd' },
      removedFields: [],
    });
  });

  test('a path whose real key holds a dot is sent as its whole top-level field', () => {
    const event = fixture('update-disambiguated');
    const [change] = mapped(event, watched);
    expect(change).toMatchObject({
      updatedFields: { 'a.0': 1, title: 'e', meta: { 'x.y': 'z', k: 1 } },
      removedFields: [],
    });
  });

  test('replace and delete', () => {
    expect(mapped(fixture('replace'), watched)).toEqual([
      { type: 'replace', collection: 'todos', id: ID, doc: { _id: ID, orgId: 'o2', title: 'c' } },
    ]);
    expect(mapped(fixture('delete'), watched)).toEqual([
      { type: 'delete', collection: 'todos', id: ID },
    ]);
  });

  test('drop resets the dropped collection, if watched', () => {
    expect(mapped(fixture('drop'), watched)).toEqual([{ type: 'reset', collection: 'todos' }]);
    expect(mapped(fixture('drop'), ['users'])).toEqual([]);
  });

  test('rename resets both names that are watched', () => {
    expect(mapped(fixture('rename'), watched)).toEqual([{ type: 'reset', collection: 'todos' }]);
    expect(mapped(fixture('rename'), ['todos', 'todos_old'])).toEqual([
      { type: 'reset', collection: 'todos' },
      { type: 'reset', collection: 'todos_old' },
    ]);
  });

  test('dropDatabase and invalidate reset every watched collection', () => {
    const all = watched.map((collection) => ({ type: 'reset', collection }));
    expect(mapped(fixture('dropDatabase'), watched)).toEqual(all);
    expect(mapped(fixture('invalidate'), watched)).toEqual(all);
  });

  test('unknown operation types are ignored', () => {
    expect(mapped(fixture('createIndexes'), watched)).toEqual([]);
    expect(mapped({ operationType: 'somethingNew', ns: { coll: 'todos' } }, watched)).toEqual([]);
  });
});

describe('toWire', () => {
  test('converts BSON values to what clients receive', () => {
    const doc = fixture('insert').fullDocument as Doc;
    expect(toWire(doc)).toEqual({
      _id: '656f1c2a9d1e8b2f4c3a1b10',
      orgId: 'o1',
      title: 'a',
      tags: ['x'],
      dueAt: '2023-12-05T12:48:42.123Z',
      items: [{ sku: 's1', qty: 1 }],
    });
    // JSON serialization gives the same for ObjectId and Date.
    expect(JSON.parse(JSON.stringify(doc))).toEqual(toWire(doc));
  });

  test('numbers, decimals, uuids, binaries, timestamps', () => {
    expect(
      toWire({
        dec: BSON.Decimal128.fromString('1.50'),
        small: BSON.Long.fromNumber(5),
        big: BSON.Long.fromString('9007199254740993'),
        uuid: new BSON.UUID('47d229ff-34da-4bf5-94a0-4391d60664ed'),
        bin: new BSON.Binary(Buffer.from('ab')),
        ts: new BSON.Timestamp({ t: 10, i: 2 }),
        missing: undefined,
        nan: Number.NaN,
      }),
    ).toEqual({
      dec: '1.50',
      small: 5,
      big: '9007199254740993',
      uuid: '47d229ff-34da-4bf5-94a0-4391d60664ed',
      bin: 'YWI=',
      ts: { t: 10, i: 2 },
      nan: null,
    });
  });
});
