import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { WebSocket } from 'ws';
import { Collector, ParticleError } from '../../src/client/index.js';
import { closeSocket } from '../../src/client/connection.js';
import { Model } from '../../src/client/model.js';
import type { WebSocketLike } from '../../src/client/types.js';
import type { Doc, Op } from '../../src/protocol/index.js';
import { fakeStream } from './fakeStream.js';
import { scriptedServer, type ServerSide } from './scriptedServer.js';

const T = '2026-01-01T00:00:00.000Z';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** `{ a: { a: … { a: 1 } } }`, `levels` objects deep. */
function nested(levels: number): Doc {
  let doc: Doc = { a: 1 };
  for (let i = 1; i < levels; i++) doc = { a: doc };
  return doc;
}

async function overSocket(options: { maxDepth?: number } = {}) {
  const server = await scriptedServer();
  cleanups.push(() => server.close());
  const debug: string[] = [];
  const collector = new Collector({
    url: server.url,
    identity: { sessionId: 'foo' },
    WebSocket,
    reconnect: { minDelayMs: 5, maxDelayMs: 20 },
    onDebug: (message) => debug.push(message),
    ...options,
  });
  cleanups.push(() => collector.disconnect());
  return { server, collector, debug };
}

async function handshake(
  server: Awaited<ReturnType<typeof scriptedServer>>,
  side: ServerSide,
  root = 'users',
  data: Doc[] = [
    { _id: 1, name: 'Ann', tags: ['a'] },
    { _id: 2, name: 'Bob', tags: ['b'] },
  ],
) {
  server.send(side, { type: 'registered', session: 'sess-1' });
  server.send(side, { type: 'manifest', sources: { [root]: true } });
  server.send(side, { type: 'payload', root, epoch: 'e1', version: 7, data });
}

function viaTransport(options: { maxDepth?: number; maxArrayGap?: number } = {}) {
  const stream = fakeStream();
  const debug: string[] = [];
  const collector = new Collector({
    register: stream.register,
    identity: { userId: 1 },
    onDebug: (message) => debug.push(message),
    ...options,
  });
  cleanups.push(() => collector.disconnect());
  stream.start({ users: [{ _id: 1, name: 'Ann', tags: ['a', 'b'] }] });
  return { stream, collector, debug };
}

/** Sends one delta and expects it refused as invalid: nothing applied, a fresh registration. */
async function expectInvalid(setup: ReturnType<typeof viaTransport>, ops: Op[]) {
  const { stream, collector, debug } = setup;
  const before = collector.data;
  const registrations = stream.registrations.length;
  stream.delta('users', ops);
  expect(collector.data).toBe(before);
  expect(collector.status).toBe('reconnecting');
  expect(debug.some((line) => line.startsWith('registering again: invalid delta'))).toBe(true);
  await vi.waitFor(() => expect(stream.registrations.length).toBe(registrations + 1));
}

describe('the client survives the server', () => {
  test('a restart whose reason holds a long non-ASCII root name still closes the old socket', async () => {
    const { server, collector } = await overSocket();
    const first = await server.registered(0);
    const root = 'é'.repeat(100);
    await handshake(server, first, root);
    await collector.ready();
    const closed = once(first.socket, 'close');
    // A version gap: the collector drops the link with a reason naming the root.
    server.send(first, {
      type: 'delta',
      root,
      epoch: 'e1',
      version: 9,
      timestamp: Date.parse(T),
      ops: [['remove', 1]],
    });
    await server.registered(1);
    const [code, reason] = (await closed) as [number, Buffer];
    expect(code).toBe(4000);
    expect(reason.byteLength).toBeLessThanOrEqual(123);
    expect(String(reason)).toMatch(/^version gap on é+$/);
  });

  test('closing a socket cannot throw: a close that throws falls back to terminate or a bare close', () => {
    const calls: unknown[][] = [];
    const throwing = (extra: object) =>
      ({
        close: (...args: unknown[]) => {
          calls.push(['close', ...args]);
          if (args.length > 1) throw new SyntaxError('reason too long');
        },
        ...extra,
      }) as unknown as WebSocketLike;
    const debug: string[] = [];
    const terminate = vi.fn(() => {
      throw new Error('already gone');
    });
    expect(() =>
      closeSocket(throwing({ terminate }), { code: 4000, reason: 'x' }, (m) => debug.push(m)),
    ).not.toThrow();
    expect(terminate).toHaveBeenCalledTimes(1);
    closeSocket(throwing({}), { code: 4000, reason: 'ü'.repeat(200) }, (m) => debug.push(m));
    expect(Buffer.byteLength(String(calls[1]![2]))).toBeLessThanOrEqual(123);
    expect(calls.at(-1)).toEqual(['close', 4000]);
    expect(debug).toContain('closing the socket failed again');
  });

  test('C8: set tags.length is an invalid frame: the link resumes from the version before it', async () => {
    const { server, collector, debug } = await overSocket();
    const first = await server.registered(0);
    await handshake(server, first);
    await collector.ready();
    const before = collector.data;
    server.send(first, {
      type: 'delta',
      root: 'users',
      epoch: 'e1',
      version: 8,
      timestamp: Date.parse(T),
      ops: [
        ['remove', 1],
        ['set', 2, 'tags.length', -1],
      ],
    });
    const second = await server.registered(1);
    // Applied first, advanced after: the failed delta is asked for again.
    expect(second.frames[0]).toMatchObject({
      resume: { roots: { users: { epoch: 'e1', version: 7 } } },
    });
    expect(collector.data).toBe(before);
    expect(debug.some((line) => line.includes('invalid delta for users at version 8'))).toBe(true);
    server.send(second, { type: 'registered', session: 'sess-1' });
    server.send(second, { type: 'manifest', sources: { users: true } });
    server.send(second, { type: 'resumed', root: 'users', epoch: 'e1', version: 7 });
    server.send(second, {
      type: 'delta',
      root: 'users',
      epoch: 'e1',
      version: 8,
      timestamp: Date.parse(T),
      ops: [['set', 2, 'name', 'Bobby']],
    });
    // The half-applied remove left no trace in the id index: id 2 is still the second document.
    await vi.waitFor(() =>
      expect(collector.data.users!.map((u) => u.name)).toEqual(['Ann', 'Bobby']),
    );
  });

  test('a payload nested 2000 levels deep is an invalid frame, not a crash', async () => {
    const { server, collector, debug } = await overSocket();
    const first = await server.registered(0);
    await handshake(server, first, 'users', [{ _id: 1, deep: nested(2000) }]);
    await server.registered(1);
    expect(collector.data.users).toBeUndefined();
    expect(collector.status).toBe('reconnecting');
    expect(debug.some((line) => line.includes('nested deeper than maxDepth (100)'))).toBe(true);
  });

  test.each(['tags.length', '__proto__.polluted', 'constructor.x', 'prototype', 'tags.x'])(
    'set %s is an invalid frame, and nothing of its delta applies',
    async (path) => {
      const setup = viaTransport();
      await expectInvalid(setup, [
        { operation: 'set', id: 1, path: 'name', data: 'Anna' },
        { operation: 'set', id: 1, path, data: 1 },
      ]);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    },
  );

  test('unset tags.length is an invalid frame', async () => {
    await expectInvalid(viaTransport(), [{ operation: 'unset', id: 1, path: 'tags.length' }]);
  });

  test('a field named length on an object is ordinary data', () => {
    const { stream, collector } = viaTransport();
    stream.delta('users', [{ operation: 'set', id: 1, path: 'size.length', data: 3 }]);
    expect(collector.data.users![0]).toMatchObject({ size: { length: 3 } });
    expect(collector.status).toBe('ready');
  });

  test('set tags.1000000 is refused as an invalid frame instead of padding a million nulls', async () => {
    await expectInvalid(viaTransport(), [
      { operation: 'set', id: 1, path: 'tags.1000000', data: 'x' },
    ]);
  });

  test('a gap of exactly maxArrayGap still pads; one more is invalid', async () => {
    const setup = viaTransport({ maxArrayGap: 3 });
    setup.stream.delta('users', [{ operation: 'set', id: 1, path: 'tags.5', data: 'f' }]);
    expect(setup.collector.data.users![0]!.tags).toEqual(['a', 'b', null, null, null, 'f']);
    await expectInvalid(setup, [{ operation: 'set', id: 1, path: 'tags.10', data: 'x' }]);
  });

  test('an insert or set nested deeper than maxDepth is an invalid frame', async () => {
    const setup = viaTransport({ maxDepth: 5 });
    // Document (1) + a (2) + … : a value of 4 levels under a top-level field makes 5.
    setup.stream.delta('users', [{ operation: 'set', id: 1, path: 'ok', data: nested(4) }]);
    expect(setup.collector.status).toBe('ready');
    await expectInvalid(setup, [{ operation: 'set', id: 1, path: 'deep', data: nested(5) }]);
    setup.stream.start({ users: [{ _id: 1 }] });
    await expectInvalid(setup, [{ operation: 'set', id: 1, path: 'a.b.c.d.e', data: {} }]);
    setup.stream.start({ users: [{ _id: 1 }] });
    await expectInvalid(setup, [{ operation: 'insert', id: 2, data: { _id: 2, x: nested(5) } }]);
  });

  test('an exception while handling a frame goes through the invalid-frame path', async () => {
    const { stream, collector, debug } = viaTransport();
    vi.spyOn(Model.prototype, 'delta').mockImplementation(() => {
      throw new RangeError('boom');
    });
    expect(() => stream.delta('users', [{ operation: 'remove', id: 1 }])).not.toThrow();
    expect(collector.status).toBe('reconnecting');
    expect(debug).toContain('handling a delta message failed: boom');
    await vi.waitFor(() => expect(stream.registrations.length).toBe(2));
  });
});

describe('connecting', () => {
  test('a server that never accepts the registration: connection_failed naming the url and the path', async () => {
    // An HTTP server that leaves an upgrade for a path it does not serve hanging.
    const http = createServer();
    const hanging = new Set<Duplex>();
    http.on('upgrade', (_request, socket) => hanging.add(socket));
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    cleanups.push(() => {
      for (const socket of hanging) socket.destroy();
      return new Promise((resolve) => http.close(resolve));
    });
    const url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}/wrong-path`;
    const collector = new Collector({
      url,
      identity: {},
      WebSocket,
      connectTimeoutMs: 50,
      reconnect: { minDelayMs: 5, maxDelayMs: 10 },
    });
    cleanups.push(() => collector.disconnect());
    await vi.waitFor(() => expect(collector.error?.code).toBe('connection_failed'));
    expect(collector.error?.message).toContain(url);
    expect(collector.error?.message).toContain('path');
    expect(collector.status).toBe('waiting');
  });
});

describe('configuration is checked', () => {
  test('an unknown option is a config error naming the closest valid key', () => {
    let thrown: unknown;
    try {
      new Collector({
        url: 'ws://127.0.0.1:1/particle',
        WebSocket,
        identty: { userId: 1 },
      } as never);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ParticleError);
    expect(thrown).toMatchObject({
      code: 'config',
      message: "Collector: unknown key 'identty' (did you mean 'identity'?)",
    });
  });

  test('an unknown reconnect key is a config error too', () => {
    expect(
      () =>
        new Collector({
          url: 'ws://127.0.0.1:1/particle',
          WebSocket,
          identity: {},
          reconnect: { minDelay: 5 } as never,
        }),
    ).toThrow("Collector.reconnect: unknown key 'minDelay' (did you mean 'minDelayMs'?)");
  });

  test.each([
    [{ maxDepth: 0 }, /maxDepth must be an integer >= 1/],
    [{ maxArrayGap: -1 }, /maxArrayGap must be an integer >= 0/],
    [{ connectTimeoutMs: Number.NaN }, /connectTimeoutMs must be a finite number >= 0/],
  ])('%o is refused', (options, message) => {
    const stream = fakeStream();
    expect(() => new Collector({ register: stream.register, identity: {}, ...options })).toThrow(
      message,
    );
  });
});
