import fc from 'fast-check';
import { describe, expect, test, vi } from 'vitest';
import { Collector, type CollectorEvent } from '../../src/client/index.js';
import { matchPattern } from '../../src/client/listeners.js';
import { fakeStream } from './fakeStream.js';

function setup() {
  const stream = fakeStream();
  const collector = new Collector({ register: stream.register, identity: { userId: 1 } });
  stream.start({ users: [{ _id: 1, name: 'Ann', address: { state: 'CA' } }], stuffs: [] });
  return { stream, collector };
}

/** Records the event names (root + path) each pattern saw. */
function record(collector: Collector, patterns: string[]) {
  const seen: Record<string, string[]> = Object.fromEntries(patterns.map((p) => [p, []]));
  for (const pattern of patterns) {
    collector.on(pattern, (_data, event) => {
      seen[pattern]!.push([event.root, event.path].filter((s) => s !== '').join('.'));
    });
  }
  return seen;
}

const T = '2026-01-01T00:00:00.000Z';

describe('listener names and wildcards', () => {
  test('names are the root then the op path; insert and remove are just the root', () => {
    const { stream, collector } = setup();
    const seen = record(collector, [
      '**',
      'users',
      'users.*',
      'users.**',
      'users.address.*',
      '*.address.state',
      '**.state',
      'stuffs.**',
    ]);
    stream.delta('users', [
      { operation: 'set', id: 1, path: 'address.state', data: 'NY' },
      { operation: 'set', id: 1, path: 'name', data: 'Anna' },
      { operation: 'insert', id: 2, data: { _id: 2, x: 1 } },
      { operation: 'unset', id: 2, path: 'x' },
      { operation: 'remove', id: 2 },
    ]);
    expect(seen).toEqual({
      '**': ['users.address.state', 'users.name', 'users', 'users.x', 'users'],
      users: ['users', 'users'],
      'users.*': ['users.name', 'users.x'],
      'users.**': ['users.address.state', 'users.name', 'users', 'users.x', 'users'],
      'users.address.*': ['users.address.state'],
      '*.address.state': ['users.address.state'],
      '**.state': ['users.address.state'],
      'stuffs.**': [],
    });
  });

  test('corners where EventEmitter2 alone would differ follow the documented rule', () => {
    const { stream, collector } = setup();
    const seen = record(collector, ['**.**', 'users.*.**', 'users.**.a', '*.**', '**.*']);
    stream.delta('users', [
      { operation: 'insert', id: 3, data: { _id: 3 } },
      { operation: 'set', id: 3, path: 'a.a.a', data: 1 },
    ]);
    expect(seen).toEqual({
      '**.**': ['users', 'users.a.a.a'],
      'users.*.**': ['users.a.a.a'],
      'users.**.a': ['users.a.a.a'],
      '*.**': ['users', 'users.a.a.a'],
      '**.*': ['users', 'users.a.a.a'],
    });
  });

  test('a payload fires one event named after its root', () => {
    const stream = fakeStream();
    const collector = new Collector({ register: stream.register, identity: {} });
    const events: CollectorEvent[] = [];
    collector.on('users', (_data, event) => events.push(event));
    stream.start({ users: [{ _id: 1 }] });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ root: 'users', operation: 'payload', id: null, path: '' });
    expect(events[0]!.data).toBe(collector.data.users);
  });

  test('roots named like EventEmitter2 specials (error, newListener) are ordinary roots', () => {
    const stream = fakeStream();
    const collector = new Collector({ register: stream.register, identity: {} });
    const seen = record(collector, ['**', 'error']);
    stream.start({ error: [], newListener: [] });
    expect(seen).toEqual({ '**': ['error', 'newListener'], error: ['error'] });
  });

  test('the event carries root, timestamp, operation, id, path and data', () => {
    const { stream, collector } = setup();
    const events: CollectorEvent[] = [];
    collector.on('**', (_data, event) => events.push(event));
    stream.delta('users', [{ operation: 'set', id: 1, path: 'address', data: { state: 'TX' } }]);
    expect(events).toEqual([
      {
        root: 'users',
        timestamp: T,
        operation: 'set',
        id: 1,
        path: 'address',
        data: { state: 'TX' },
      },
    ]);
  });
});

describe('when listeners run', () => {
  test('C1: only after the whole message is applied, with the whole new data', () => {
    const { stream, collector } = setup();
    const views: unknown[] = [];
    collector.on('**', (data) => {
      expect(data).toBe(collector.data);
      views.push(data.users!.map((u) => u.name));
    });
    stream.delta('users', [
      { operation: 'set', id: 1, path: 'name', data: 'A1' },
      { operation: 'insert', id: 2, data: { _id: 2, name: 'B' } },
      { operation: 'set', id: 2, path: 'name', data: 'B1' },
    ]);
    expect(views).toEqual([
      ['A1', 'B1'],
      ['A1', 'B1'],
      ['A1', 'B1'],
    ]);
  });

  test('on returns an unsubscribe; off removes a listener', () => {
    const { stream, collector } = setup();
    const a = vi.fn();
    const b = vi.fn();
    const offA = collector.on('users.**', a);
    collector.on('users.*', b);
    stream.delta('users', [{ operation: 'set', id: 1, path: 'name', data: 'x' }]);
    offA();
    collector.off('users.*', b);
    stream.delta('users', [{ operation: 'set', id: 1, path: 'name', data: 'y' }]);
    expect(a).toHaveBeenCalledTimes(1);
    expect(b).toHaveBeenCalledTimes(1);
  });

  test('a listener that throws neither stops the others nor the collector', () => {
    const stream = fakeStream();
    const debug = vi.fn();
    const collector = new Collector({ register: stream.register, identity: {}, onDebug: debug });
    stream.start({ users: [] });
    const after = vi.fn();
    collector.on('users', () => {
      throw new Error('boom');
    });
    collector.on('users', after);
    stream.delta('users', [{ operation: 'insert', id: 1, data: { _id: 1 } }]);
    stream.delta('users', [{ operation: 'insert', id: 2, data: { _id: 2 } }]);
    expect(after).toHaveBeenCalledTimes(2);
    expect(collector.data.users).toHaveLength(2);
    expect(debug).toHaveBeenCalledWith('a listener on "users" threw', expect.any(Error));
  });

  test('ops that change nothing fire nothing', () => {
    const { stream, collector } = setup();
    const listener = vi.fn();
    collector.on('**', listener);
    stream.delta('users', [{ operation: 'set', id: 1, path: 'name', data: 'Ann' }]);
    stream.delta('users', [{ operation: 'remove', id: 42 }]);
    expect(listener).not.toHaveBeenCalled();
  });
});

describe('matchPattern', () => {
  const reference = (p: string[], n: string[]): boolean => {
    if (p.length === 0) return n.length === 0;
    const [head, ...tail] = p;
    if (head === '**') return n.some((_, i) => reference(tail, n.slice(i))) || reference(tail, []);
    return n.length > 0 && (head === '*' || head === n[0]) && reference(tail, n.slice(1));
  };

  test('agrees with the definition: * is one segment, ** is zero or more', () => {
    const segment = fc.constantFrom('a', 'b', 'c');
    fc.assert(
      fc.property(
        fc.array(fc.oneof(segment, fc.constantFrom('*', '**')), { minLength: 1, maxLength: 6 }),
        fc.array(segment, { minLength: 1, maxLength: 7 }),
        (pattern, name) => matchPattern(pattern, name) === reference(pattern, name),
      ),
      { numRuns: 3000 },
    );
  });

  test('through a collector, every listener fires exactly when its pattern matches', () => {
    const segment = fc.constantFrom('a', 'b');
    fc.assert(
      fc.property(
        fc.array(
          fc.array(fc.oneof(segment, fc.constantFrom('*', '**')), { minLength: 1, maxLength: 5 }),
          {
            minLength: 1,
            maxLength: 6,
          },
        ),
        fc.array(segment, { minLength: 1, maxLength: 4 }),
        (patterns, path) => {
          const stream = fakeStream();
          const collector = new Collector({ register: stream.register, identity: {} });
          stream.start({ a: [{ _id: 1 }] });
          const fired = patterns.map(() => false);
          patterns.forEach((pattern, i) =>
            collector.on(pattern.join('.'), () => {
              fired[i] = true;
            }),
          );
          stream.delta('a', [{ operation: 'set', id: 1, path: path.join('.'), data: 1 }]);
          collector.disconnect();
          return patterns.every((p, i) => fired[i] === reference(p, ['a', ...path]));
        },
      ),
      { numRuns: 500 },
    );
  });
});
