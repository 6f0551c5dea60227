import { describe, expect, test } from 'vitest';
import { Collector } from '../../src/client/index.js';
import { fakeStream } from './fakeStream.js';

function setup() {
  const stream = fakeStream();
  const debug: string[] = [];
  const collector = new Collector({
    register: stream.register,
    identity: { userId: 1 },
    onDebug: (message) => debug.push(message),
  });
  return { stream, collector, debug };
}

const ann = { _id: 1, name: 'Ann', address: { state: 'CA', zip: '90001' } };
const bob = { _id: 2, name: 'Bob', address: { state: 'NY', zip: '10001' } };

describe('payload then deltas', () => {
  test('a payload fills its root; roots not received yet are absent', () => {
    const { stream, collector } = setup();
    stream.send({ type: 'registered', session: 's1' });
    stream.send({ type: 'manifest', sources: { users: true, stuffs: true } });
    stream.send({ type: 'payload', root: 'users', epoch: 'e', version: 3, data: [ann, bob] });
    expect(collector.data).toEqual({ users: [ann, bob] });
    expect('stuffs' in collector.data).toBe(false);
    expect(collector.status).toBe('waiting');
  });

  test('documents are frozen at every depth: from a payload, an insert and a set', () => {
    const { stream, collector } = setup();
    stream.start({ users: [structuredClone(ann), { _id: 2, tags: [{ name: 'x' }] }] });
    stream.delta('users', [
      { operation: 'insert', id: 3, data: { _id: 3, address: { lines: ['a', 'b'] } } },
      { operation: 'set', id: 2, path: 'meta', data: { seen: [{ at: 1 }] } },
    ]);
    const [a, b, c] = collector.data.users as Record<string, unknown>[];
    const values = [
      a,
      a?.address,
      b,
      b?.tags,
      (b?.tags as unknown[])[0],
      b?.meta,
      (b?.meta as { seen: unknown[] }).seen,
      (b?.meta as { seen: unknown[] }).seen[0],
      c,
      c?.address,
      (c?.address as { lines: unknown }).lines,
    ];
    for (const value of values) expect(Object.isFrozen(value)).toBe(true);
    expect(() => {
      (a?.address as Record<string, unknown>).state = 'WA';
    }).toThrow(TypeError);
  });

  test('insert appends, insert of a known id replaces it, remove drops it', () => {
    const { stream, collector } = setup();
    stream.start({ users: [ann] });
    stream.delta('users', [{ operation: 'insert', id: 2, data: bob }]);
    expect(collector.data.users).toEqual([ann, bob]);
    stream.delta('users', [{ operation: 'insert', id: 1, data: { _id: 1, name: 'Anna' } }]);
    expect(collector.data.users).toEqual([{ _id: 1, name: 'Anna' }, bob]);
    stream.delta('users', [{ operation: 'remove', id: 1 }]);
    expect(collector.data.users).toEqual([bob]);
  });

  test('set and unset reach nested paths, create missing objects and index arrays', () => {
    const { stream, collector } = setup();
    stream.start({ users: [{ _id: 1, todos: [{ done: false }, { done: false }] }] });
    stream.delta('users', [
      { operation: 'set', id: 1, path: 'todos.1.done', data: true },
      { operation: 'set', id: 1, path: 'address.geo.lat', data: 12 },
      { operation: 'set', id: 1, path: 'todos.3', data: { done: true } },
    ]);
    expect(collector.data.users).toEqual([
      {
        _id: 1,
        todos: [{ done: false }, { done: true }, null, { done: true }],
        address: { geo: { lat: 12 } },
      },
    ]);
    stream.delta('users', [
      { operation: 'unset', id: 1, path: 'address.geo' },
      { operation: 'unset', id: 1, path: 'todos.0' },
      { operation: 'unset', id: 1, path: 'not.there' },
    ]);
    expect(collector.data.users).toEqual([
      { _id: 1, todos: [null, { done: true }, null, { done: true }], address: {} },
    ]);
  });

  test('ids compare by their wire value: 7 and "7" are different documents', () => {
    const { stream, collector } = setup();
    stream.start({
      things: [
        { _id: 7, n: 'number' },
        { _id: '7', n: 'string' },
      ],
    });
    stream.delta('things', [{ operation: 'set', id: '7', path: 'n', data: 'changed' }]);
    expect(collector.data.things).toEqual([
      { _id: 7, n: 'number' },
      { _id: '7', n: 'changed' },
    ]);
  });

  test('idField from the manifest options names the id', () => {
    const { stream, collector } = setup();
    stream.start({ colors: [{ code: 'r', name: 'red' }] }, { colors: { idField: 'code' } });
    stream.delta('colors', [{ operation: 'set', id: 'r', path: 'name', data: 'crimson' }]);
    stream.delta('colors', [{ operation: 'insert', id: 'g', data: { code: 'g', name: 'green' } }]);
    expect(collector.data.colors).toEqual([
      { code: 'r', name: 'crimson' },
      { code: 'g', name: 'green' },
    ]);
  });

  test('ops on unknown ids change nothing and say so through onDebug', () => {
    const { stream, collector, debug } = setup();
    stream.start({ users: [ann] });
    const before = collector.data;
    stream.delta('users', [
      { operation: 'set', id: 99, path: 'name', data: 'x' },
      { operation: 'remove', id: 98 },
    ]);
    expect(collector.data).toBe(before);
    expect(debug.some((line) => line.includes('no document has this id'))).toBe(true);
  });

  test('a path through __proto__ is refused', () => {
    const { stream, collector } = setup();
    stream.start({ users: [ann] });
    stream.delta('users', [{ operation: 'set', id: 1, path: '__proto__.polluted', data: true }]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(collector.data.users).toEqual([ann]);
  });
});

describe('snapshots', () => {
  test('C3: are frozen, a new top-level object per message, and structurally shared', () => {
    const { stream, collector } = setup();
    stream.start({ users: [ann, bob], stuffs: [{ _id: 'a' }] });
    const before = collector.data;
    stream.delta('users', [{ operation: 'set', id: 1, path: 'address.state', data: 'WA' }]);
    const after = collector.data;
    expect(after).not.toBe(before);
    expect(after.users).not.toBe(before.users);
    expect(after.stuffs).toBe(before.stuffs);
    expect(after.users![1]).toBe(before.users![1]);
    expect(after.users![0]).not.toBe(before.users![0]);
    expect(after.users![0]!.address).toEqual({ state: 'WA', zip: '90001' });
    for (const value of [after, after.users, after.users![0], after.users![0]!.address]) {
      expect(Object.isFrozen(value)).toBe(true);
    }
    expect(() => {
      (after.users as unknown[]).push({});
    }).toThrow(TypeError);
  });

  test('a set value that is an object is frozen too, and untouched subtrees are kept', () => {
    const { stream, collector } = setup();
    stream.start({ users: [{ _id: 1, a: { x: 1 }, b: { y: 2 } }] });
    const b = collector.data.users![0]!.b;
    stream.delta('users', [{ operation: 'set', id: 1, path: 'a', data: { x: { deep: 1 } } }]);
    const doc = collector.data.users![0]! as { a: { x: object }; b: object };
    expect(Object.isFrozen(doc.a.x)).toBe(true);
    expect(doc.b).toBe(b);
  });

  test('the register transport gets copies: the server’s objects are never frozen', () => {
    const { stream } = setup();
    const doc = { _id: 1, name: 'Ann' };
    stream.start({ users: [doc] });
    expect(Object.isFrozen(doc)).toBe(false);
  });
});

describe('sort', () => {
  const sorted = (collector: Collector) =>
    collector.data.users!.map((u) => `${String(u.name)}#${String(u._id)}`);

  test('C4: the payload is put in sort order and inserts land in place', () => {
    const { stream, collector } = setup();
    stream.start(
      {
        users: [
          { _id: 1, name: 'Cy' },
          { _id: 2, name: 'Ann' },
        ],
      },
      { users: { sort: { name: 1, _id: -1 } } },
    );
    expect(sorted(collector)).toEqual(['Ann#2', 'Cy#1']);
    stream.delta('users', [
      { operation: 'insert', id: 3, data: { _id: 3, name: 'Bo' } },
      { operation: 'insert', id: 4, data: { _id: 4, name: 'Ann' } },
      { operation: 'insert', id: 5, data: { _id: 5, name: 'Dee' } },
    ]);
    expect(sorted(collector)).toEqual(['Ann#4', 'Ann#2', 'Bo#3', 'Cy#1', 'Dee#5']);
  });

  test('a set that changes a sort key moves only that document; others keep identity', () => {
    const { stream, collector } = setup();
    stream.start(
      {
        users: [
          { _id: 1, name: 'A' },
          { _id: 2, name: 'B' },
          { _id: 3, name: 'C' },
        ],
      },
      { users: { sort: { name: 1 } } },
    );
    const [a, b] = collector.data.users!;
    stream.delta('users', [{ operation: 'set', id: 1, path: 'name', data: 'Z' }]);
    expect(sorted(collector)).toEqual(['B#2', 'C#3', 'Z#1']);
    expect(collector.data.users![0]).toBe(b);
    stream.delta('users', [{ operation: 'set', id: 1, path: 'name', data: 'A' }]);
    expect(sorted(collector)).toEqual(['A#1', 'B#2', 'C#3']);
    expect(collector.data.users![0]).not.toBe(a);
    // After moves the id index still finds every document.
    stream.delta('users', [
      { operation: 'remove', id: 2 },
      { operation: 'set', id: 3, path: 'name', data: 'B' },
    ]);
    expect(sorted(collector)).toEqual(['A#1', 'B#3']);
  });

  test('dotted sort paths, descending order, and missing fields first when ascending', () => {
    const { stream, collector } = setup();
    stream.start(
      {
        users: [
          { _id: 1, name: 'x', address: { zip: '2' } },
          { _id: 2, name: 'y' },
          { _id: 3, name: 'z', address: { zip: '9' } },
        ],
      },
      { users: { sort: { 'address.zip': 1 } } },
    );
    expect(collector.data.users!.map((u) => u._id)).toEqual([2, 1, 3]);
    stream.delta('users', [{ operation: 'set', id: 2, path: 'address.zip', data: '5' }]);
    expect(collector.data.users!.map((u) => u._id)).toEqual([1, 2, 3]);
  });

  test('C4: without sort: payload order, then arrival order', () => {
    const { stream, collector } = setup();
    stream.start({ users: [bob, ann] });
    stream.delta('users', [{ operation: 'insert', id: 0, data: { _id: 0, name: 'Zed' } }]);
    stream.delta('users', [{ operation: 'set', id: 2, path: 'name', data: 'Aaron' }]);
    expect(collector.data.users!.map((u) => u._id)).toEqual([2, 1, 0]);
  });
});

describe('versions', () => {
  test('C2: a gap is never applied: the collector registers again and takes the fresh payload', async () => {
    const { stream, collector, debug } = setup();
    stream.start({ users: [ann] });
    await collector.ready();
    const before = collector.data;
    stream.send({
      type: 'delta',
      root: 'users',
      epoch: 'e1',
      version: 5,
      timestamp: Date.UTC(2026, 0, 1),
      ops: [['remove', 1]],
    });
    expect(collector.data).toBe(before);
    expect(collector.status).toBe('reconnecting');
    expect(debug.some((line) => line.includes('version gap'))).toBe(true);
    await expect.poll(() => stream.registrations.length).toBe(2);
    expect(stream.registrations[0]!.active).toBe(false);
    stream.start({ users: [ann, bob] }, undefined, 'e2');
    expect(collector.status).toBe('ready');
    expect(collector.data.users).toEqual([ann, bob]);
  });

  test('C2: a delta from another epoch is never applied', () => {
    const { stream, collector } = setup();
    stream.start({ users: [ann] });
    const before = collector.data;
    stream.send({
      type: 'delta',
      root: 'users',
      epoch: 'other',
      version: 1,
      timestamp: Date.UTC(2026, 0, 1),
      ops: [['remove', 1]],
    });
    expect(collector.data).toBe(before);
    expect(collector.status).toBe('reconnecting');
  });

  test('a replayed (already applied) version is not applied twice', () => {
    const { stream, collector } = setup();
    stream.start({ users: [ann] });
    stream.delta('users', [{ operation: 'insert', id: 2, data: bob }]);
    const before = collector.data;
    stream.send({
      type: 'delta',
      root: 'users',
      epoch: 'e1',
      version: 1,
      timestamp: Date.UTC(2026, 0, 1),
      ops: [['remove', 2]],
    });
    expect(collector.data).toBe(before);
  });

  test('a payload replaces its root and starts a new epoch at any version', () => {
    const { stream, collector } = setup();
    stream.start({ users: [ann] });
    stream.send({ type: 'payload', root: 'users', epoch: 'e9', version: 40, data: [bob] });
    stream.send({
      type: 'delta',
      root: 'users',
      epoch: 'e9',
      version: 41,
      timestamp: Date.UTC(2026, 0, 1),
      ops: [['insert', 1, ann]],
    });
    expect(collector.data.users).toEqual([bob, ann]);
  });

  test('an invalid message is logged and the collector registers again', async () => {
    const { stream, collector, debug } = setup();
    stream.start({ users: [ann] });
    stream.send({ type: 'delta', root: 'users', ops: 'nope' } as Record<string, unknown>);
    expect(debug.some((line) => line.includes('invalid message'))).toBe(true);
    expect(collector.status).toBe('reconnecting');
    await expect.poll(() => stream.registrations.length).toBe(2);
    expect(collector.data.users).toEqual([ann]);
  });

  test('a manifest without a root drops that root from the data', async () => {
    const { stream, collector } = setup();
    stream.start({ users: [ann], stuffs: [] });
    stream.send({ type: 'payload', root: 'users', epoch: 'x', version: 0, data: [ann] });
    stream.send({ type: 'delta', root: 'users', epoch: 'x', version: 9, timestamp: 0, ops: [] });
    await expect.poll(() => stream.registrations.length).toBe(2);
    stream.start({ users: [ann] });
    expect(Object.keys(collector.data)).toEqual(['users']);
  });
});

describe('resumed', () => {
  test('a resumed root keeps its data and a sort new in the manifest re-sorts it', () => {
    const { stream, collector } = setup();
    stream.start({ users: [bob, ann] });
    stream.delta('users', [{ operation: 'set', id: 2, path: 'n', data: 1 }]);
    const bobNow = collector.data.users![0];
    stream.send({
      type: 'manifest',
      sources: { users: true },
      options: { users: { sort: { name: 1 } } },
    });
    stream.send({ type: 'resumed', root: 'users', epoch: 'e1', version: 1 });
    expect(collector.status).toBe('ready');
    expect(collector.data.users!.map((u) => u.name)).toEqual(['Ann', 'Bob']);
    expect(collector.data.users![1]).toBe(bobNow);
    stream.delta('users', [{ operation: 'insert', id: 3, data: { _id: 3, name: 'Al' } }]);
    expect(collector.data.users!.map((u) => u.name)).toEqual(['Al', 'Ann', 'Bob']);
  });

  test('a resume point the collector does not hold is refused: it registers again', async () => {
    const { stream, collector } = setup();
    stream.start({ users: [ann] });
    stream.send({ type: 'resumed', root: 'users', epoch: 'e1', version: 5 });
    expect(collector.status).toBe('reconnecting');
    await expect.poll(() => stream.registrations.length).toBe(2);
    expect(collector.data.users).toEqual([ann]);
  });
});

describe('snapshots read late', () => {
  test('C3: a data object read only after later messages shows its own message', () => {
    const { stream, collector } = setup();
    stream.start({ users: [ann, bob] }, { users: { sort: { name: 1 } } });
    const taken = [collector.data];
    stream.delta('users', [{ operation: 'set', id: 1, path: 'address.state', data: 'WA' }]);
    taken.push(collector.data);
    stream.delta('users', [{ operation: 'insert', id: 3, data: { _id: 3, name: 'Al' } }]);
    taken.push(collector.data);
    // Ann becomes Zoe: the document moves to the end of the sorted root.
    stream.delta('users', [{ operation: 'set', id: 1, path: 'name', data: 'Zoe' }]);
    taken.push(collector.data);
    stream.delta('users', [{ operation: 'remove', id: 2 }]);
    taken.push(collector.data);
    const annWA = { ...ann, address: { state: 'WA', zip: '90001' } };
    const al = { _id: 3, name: 'Al' };
    const zoe = { ...annWA, name: 'Zoe' };
    expect(taken.map((data) => data.users)).toEqual([
      [ann, bob],
      [annWA, bob],
      [al, annWA, bob],
      [al, bob, zoe],
      [al, zoe],
    ]);
    expect(taken[4]!.users![1]).toBe(taken[3]!.users![2]);
    expect(taken[1]!.users![1]).toBe(taken[0]!.users![1]);
    for (const data of taken) expect(Object.isFrozen(data.users)).toBe(true);
    expect(collector.data.users).toBe(taken[4]!.users);
  });

  test('a delta refused halfway leaves no op of it behind, read early or late', async () => {
    const { stream, collector } = setup();
    stream.start({ users: [ann, bob] });
    const before = collector.data;
    stream.delta('users', [
      { operation: 'set', id: 1, path: 'name', data: 'Anna' },
      { operation: 'remove', id: 2 },
      { operation: 'insert', id: 3, data: { _id: 3 } },
      { operation: 'set', id: 1, path: 'constructor.x', data: 1 },
    ]);
    expect(collector.data.users).toEqual([ann, bob]);
    expect(before.users).toEqual([ann, bob]);
    // Registered again from scratch: the next payload and delta apply as usual.
    await Promise.resolve();
    expect(stream.registrations).toHaveLength(2);
    stream.start({ users: [ann, bob] });
    stream.delta('users', [{ operation: 'set', id: 2, path: 'name', data: 'Bo' }]);
    expect(collector.data.users).toEqual([ann, { ...bob, name: 'Bo' }]);
  });

  test('a set of the value already there changes nothing; a new value is frozen deeply', () => {
    const { stream, collector } = setup();
    stream.start({ users: [ann] });
    const before = collector.data;
    stream.delta('users', [{ operation: 'set', id: 1, path: 'address.state', data: 'CA' }]);
    expect(collector.data).toBe(before);
    stream.delta('users', [{ operation: 'set', id: 1, path: 'tags', data: [{ t: 'a' }] }]);
    const tags = collector.data.users![0]!.tags as { t: string }[];
    expect(Object.isFrozen(tags)).toBe(true);
    expect(Object.isFrozen(tags[0])).toBe(true);
    expect(collector.data.users![0]!.address).toBe(before.users![0]!.address);
  });

  test('data reads like a plain object: keys, spread, JSON and util.inspect', async () => {
    const { inspect } = await import('node:util');
    const { stream, collector } = setup();
    stream.start({ users: [ann], stuffs: [{ _id: 'a' }] });
    stream.delta('users', [{ operation: 'set', id: 2, path: 'name', data: 'x' }]);
    stream.delta('users', [{ operation: 'set', id: 1, path: 'name', data: 'Anna' }]);
    const anna = { ...ann, name: 'Anna' };
    expect(Object.keys(collector.data)).toEqual(['users', 'stuffs']);
    expect({ ...collector.data }).toEqual({ users: [anna], stuffs: [{ _id: 'a' }] });
    expect(JSON.parse(JSON.stringify(collector.data))).toEqual({
      users: [anna],
      stuffs: [{ _id: 'a' }],
    });
    expect(inspect(collector.data, { depth: 4 })).toBe(
      inspect({ users: [anna], stuffs: [{ _id: 'a' }] }, { depth: 4 }),
    );
  });

  test('a listener added after deltas nobody heard gets the events of the next ones', () => {
    const { stream, collector } = setup();
    stream.start({ users: [ann] });
    stream.delta('users', [{ operation: 'set', id: 1, path: 'name', data: 'A' }]);
    const events: unknown[] = [];
    collector.on('users.**', (data, event) => events.push([data.users![0]!.name, event.path]));
    stream.delta('users', [{ operation: 'set', id: 1, path: 'name', data: 'B' }]);
    expect(events).toEqual([['B', 'name']]);
  });
});
