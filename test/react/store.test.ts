import { describe, expect, it, vi } from 'vitest';
import type { Doc } from '../../src/protocol/index.js';
import { parsePath } from '../../src/react/path.js';
import {
  createParticleStore,
  type ParticleNotice,
  type ParticleSource,
  type ParticleStatus,
} from '../../src/react/store.js';

/** A hand-driven source: the store's view of a Collector, without a transport. */
function fakeSource(data: Record<string, readonly Doc[]> = {}) {
  const listeners = new Set<(notice: ParticleNotice) => void>();
  const source = {
    data,
    status: 'waiting' as ParticleStatus,
    onNotice: vi.fn((listener: (notice: ParticleNotice) => void) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    }),
    emit(notice: ParticleNotice) {
      for (const listener of listeners) listener(notice);
    },
    get listenerCount() {
      return listeners.size;
    },
  };
  return source satisfies ParticleSource;
}

const users = Object.freeze([
  Object.freeze({ _id: 7, name: 'Ann', tags: Object.freeze(['a', 'b']) }),
  Object.freeze({ _id: 8, name: 'Bob' }),
  Object.freeze({ _id: 'x.y', name: 'Dot' }),
]);

describe('store reads', () => {
  const source = fakeSource({ users });
  const store = createParticleStore({ collector: source });

  it('returns the root, a document by id and fields below it, never copies', () => {
    expect(store.read(parsePath('users'))).toBe(users);
    expect(store.read(parsePath('users.7'))).toBe(users[0]);
    expect(store.read(parsePath('users.7.name'))).toBe('Ann');
    expect(store.read(parsePath('users.7.tags.1'))).toBe('b');
    expect(store.read(parsePath(['users', 7, 'tags', 0]))).toBe('a');
    expect(store.read(parsePath(['users', 'x.y', 'name']))).toBe('Dot');
  });

  it('compares string ids by string form and array ids as they are', () => {
    expect(store.read(parsePath('users.7'))).toBe(users[0]);
    expect(store.read(parsePath(['users', 7]))).toBe(users[0]);
    expect(store.read(parsePath(['users', '7']))).toBeUndefined();
  });

  it('gives undefined for absent roots, ids, fields and inherited properties', () => {
    expect(store.read(parsePath('things'))).toBeUndefined();
    expect(store.read(parsePath('things.1'))).toBeUndefined();
    expect(store.read(parsePath('users.9'))).toBeUndefined();
    expect(store.read(parsePath('users.7.age'))).toBeUndefined();
    expect(store.read(parsePath('users.7.name.length'))).toBeUndefined();
    expect(store.read(parsePath('users.7.constructor'))).toBeUndefined();
    expect(store.read(parsePath('toString'))).toBeUndefined();
  });

  it('looks documents up without scanning the root on each read', () => {
    const docs = Array.from({ length: 1000 }, (_, i) => ({ _id: i, name: `u${i}` }));
    let elementReads = 0;
    const tracked = new Proxy(docs, {
      get(target, key, receiver) {
        if (typeof key === 'string' && /^\d+$/.test(key)) elementReads++;
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
    const local = createParticleStore({ collector: fakeSource({ users: tracked }) });
    for (let i = 0; i < 100; i++) {
      expect(local.read(parsePath(`users.${i * 7}`))).toBe(docs[i * 7]);
      expect(local.read(parsePath(['users', i * 3]))).toBe(docs[i * 3]);
    }
    // One pass to take the positions, then one element read per lookup.
    expect(elementReads).toBeLessThanOrEqual(1000 + 200);
  });

  it('uses the id field the collector reports for a root', () => {
    const things = [{ key: 'k1', n: 1 }];
    const local = createParticleStore({
      collector: fakeSource({ things }),
      idFieldOf: (_collector, root) => (root === 'things' ? 'key' : '_id'),
    });
    expect(local.read(parsePath('things.k1.n'))).toBe(1);
  });
});

describe('id lookups across snapshots', () => {
  it('keep positions through a set and retake them after an insert or a remove', () => {
    const docs = Array.from({ length: 100 }, (_, i) => ({ _id: i, n: 0 }));
    const source = fakeSource({ users: docs });
    const store = createParticleStore({ collector: source });
    expect(store.read(parsePath('users.50.n'))).toBe(0);

    let elementReads = 0;
    const afterSet = docs.map((doc) => (doc._id === 50 ? { _id: 50, n: 1 } : doc));
    source.data = {
      users: new Proxy(afterSet, {
        get(target, key, receiver) {
          if (typeof key === 'string' && /^\d+$/.test(key)) elementReads++;
          return Reflect.get(target, key, receiver) as unknown;
        },
      }),
    };
    expect(store.read(parsePath('users.50.n'))).toBe(1);
    expect(store.read(parsePath(['users', 7]))).toBe(docs[7]);
    expect(elementReads).toBe(2); // no new pass over the root

    source.data = { users: [{ _id: 'new', n: 9 }, ...afterSet] };
    expect(store.read(parsePath('users.50.n'))).toBe(1);
    expect(store.read(parsePath('users.new.n'))).toBe(9);
    source.data = { users: afterSet.filter((doc) => doc._id !== 7) };
    expect(store.read(parsePath(['users', 7]))).toBeUndefined();
    expect(store.read(parsePath(['users', 8]))).toBe(docs[8]);
    expect(store.read(parsePath('users.new'))).toBeUndefined();
  });
});

describe('initialData', () => {
  const initialData = { users: [{ _id: 1, name: 'Server' }] };

  it('renders until the live root arrives, and server reads use only it', () => {
    const source = fakeSource({});
    const store = createParticleStore({ collector: source, initialData });
    expect(store.read(parsePath('users.1.name'))).toBe('Server');
    source.data = { users: [{ _id: 1, name: 'Live' }] };
    expect(store.read(parsePath('users.1.name'))).toBe('Live');
    expect(store.readInitial(parsePath('users.1.name'))).toBe('Server');
  });

  it('is read with no collector attached', () => {
    const store = createParticleStore({ initialData });
    expect(store.read(parsePath(['users', 1, 'name']))).toBe('Server');
    expect(store.getStatus()).toBe('waiting');
  });
});

describe('notice routing', () => {
  function setup() {
    const source = fakeSource({ users });
    const store = createParticleStore({ collector: source });
    const calls = { root: 0, u7: 0, u7name: 0, u8: 0, other: 0, status: 0 };
    const offs = [
      store.subscribePath(parsePath('users'), () => calls.root++),
      store.subscribePath(parsePath('users.7'), () => calls.u7++),
      store.subscribePath(parsePath(['users', 7, 'name']), () => calls.u7name++),
      store.subscribePath(parsePath('users.8'), () => calls.u8++),
      store.subscribePath(parsePath('others'), () => calls.other++),
      store.subscribeStatus(() => calls.status++),
    ];
    return { source, store, calls, offs };
  }

  it('wakes the root and that document only', () => {
    const { source, calls } = setup();
    source.emit({ type: 'data', root: 'users', ids: [7] });
    expect(calls).toEqual({ root: 1, u7: 1, u7name: 1, u8: 0, other: 0, status: 0 });
  });

  it('wakes every subscriber of a root when it is replaced', () => {
    const { source, calls } = setup();
    source.emit({ type: 'data', root: 'users', ids: null });
    expect(calls).toEqual({ root: 1, u7: 1, u7name: 1, u8: 1, other: 0, status: 0 });
  });

  it('wakes status subscribers only on status notices', () => {
    const { source, calls } = setup();
    source.status = 'ready';
    source.emit({ type: 'status', status: 'ready' });
    expect(calls).toEqual({ root: 0, u7: 0, u7name: 0, u8: 0, other: 0, status: 1 });
  });

  it('listens to the collector only while someone subscribes', () => {
    const { source, offs } = setup();
    expect(source.listenerCount).toBe(1);
    for (const off of offs) off();
    expect(source.listenerCount).toBe(0);
    offs[0]?.(); // a second call is harmless
    expect(source.listenerCount).toBe(0);
  });

  it('wakes everyone once when another collector is attached', () => {
    const { source, store, calls } = setup();
    const next = fakeSource({});
    store.attach(next);
    expect(calls).toEqual({ root: 1, u7: 1, u7name: 1, u8: 1, other: 1, status: 1 });
    expect(source.listenerCount).toBe(0);
    expect(next.listenerCount).toBe(1);
    expect(store.read(parsePath('users'))).toBeUndefined();
  });
});
