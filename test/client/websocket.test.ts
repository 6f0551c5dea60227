import { once } from 'node:events';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { WebSocket } from 'ws';
import { Collector } from '../../src/client/index.js';
import { scriptedServer, type ServerSide } from './scriptedServer.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup() {
  const server = await scriptedServer();
  cleanups.push(() => server.close());
  const debug: string[] = [];
  const collector = new Collector({
    url: server.url,
    identity: { sessionId: 'foo' },
    WebSocket,
    reconnect: { minDelayMs: 5, maxDelayMs: 20 },
    onDebug: (message) => debug.push(message),
  });
  cleanups.push(() => collector.disconnect());
  return { server, collector, debug };
}

const T = '2026-01-01T00:00:00.000Z';

async function handshake(server: Awaited<ReturnType<typeof scriptedServer>>, side: ServerSide) {
  server.send(side, { type: 'registered', session: 'sess-1' });
  server.send(side, {
    type: 'manifest',
    sources: { users: { name: true } },
    options: { users: { sort: { name: 1 } } },
  });
  server.send(side, {
    type: 'payload',
    root: 'users',
    epoch: 'e1',
    version: 7,
    data: [
      { _id: 2, name: 'Bob' },
      { _id: 1, name: 'Ann' },
    ],
  });
}

describe('over a real WebSocket', () => {
  test('registers, gets ready, applies deltas in sort order', async () => {
    const { server, collector } = await setup();
    const first = await server.registered(0);
    expect(first.frames).toEqual([
      { type: 'register', protocol: 2, identity: { sessionId: 'foo' } },
    ]);
    await handshake(server, first);
    await collector.ready();
    expect(collector.data.users!.map((u) => u.name)).toEqual(['Ann', 'Bob']);
    server.send(first, {
      type: 'delta',
      root: 'users',
      epoch: 'e1',
      version: 8,
      timestamp: Date.parse(T),
      ops: [['insert', 3, { _id: 3, name: 'Al' }]],
    });
    await vi.waitFor(() =>
      expect(collector.data.users!.map((u) => u.name)).toEqual(['Al', 'Ann', 'Bob']),
    );
  });

  test('C7: after close 4429 it reconnects with resume, and the replay brings it up to date', async () => {
    const { server, collector } = await setup();
    const first = await server.registered(0);
    await handshake(server, first);
    await collector.ready();
    const before = collector.data;
    first.socket.close(4429, 'slow consumer');
    await vi.waitFor(() => expect(collector.status).toBe('reconnecting'));
    expect(collector.data).toBe(before);

    const second = await server.registered(1);
    expect(second.frames[0]).toEqual({
      type: 'register',
      protocol: 2,
      identity: { sessionId: 'foo' },
      resume: { session: 'sess-1', roots: { users: { epoch: 'e1', version: 7 } } },
    });
    server.send(second, { type: 'registered', session: 'sess-1' });
    server.send(second, {
      type: 'manifest',
      sources: { users: { name: true } },
      options: { users: { sort: { name: 1 } } },
    });
    server.send(second, { type: 'resumed', root: 'users', epoch: 'e1', version: 7 });
    server.send(second, {
      type: 'delta',
      root: 'users',
      epoch: 'e1',
      version: 8,
      timestamp: Date.parse(T),
      ops: [['set', 2, 'name', 'Aaron']],
    });
    await vi.waitFor(() =>
      expect(collector.data.users!.map((u) => u.name)).toEqual(['Aaron', 'Ann']),
    );
    expect(collector.status).toBe('ready');
    expect(collector.data.users![1]).toBe(before.users![0]);
  });

  test('a version gap drops the link and resumes from the last applied version', async () => {
    const { server, collector, debug } = await setup();
    const first = await server.registered(0);
    await handshake(server, first);
    await collector.ready();
    const before = collector.data;
    server.send(first, {
      type: 'delta',
      root: 'users',
      epoch: 'e1',
      version: 9,
      timestamp: Date.parse(T),
      ops: [['remove', 1]],
    });
    const second = await server.registered(1);
    expect(second.frames[0]).toMatchObject({
      resume: { roots: { users: { epoch: 'e1', version: 7 } } },
    });
    expect(collector.data).toBe(before);
    expect(debug.some((line) => line.includes('version gap'))).toBe(true);
    await vi.waitFor(() => expect(first.socket.readyState).toBe(WebSocket.CLOSED));
  });

  test('an invalid frame is logged; the collector closes and reconnects', async () => {
    const { server, collector, debug } = await setup();
    const first = await server.registered(0);
    first.socket.send('{not json');
    await server.registered(1);
    expect(debug.some((line) => line.includes('invalid frame'))).toBe(true);
    expect(collector.status).toBe('waiting');
  });

  test.each([
    [4403, 'identity_rejected'],
    [4400, 'bad_message'],
    [4401, 'bad_identity'],
    [4426, 'protocol_mismatch'],
    [1009, 'frame_too_large'],
  ])('close %i is terminal: status error (%s), no reconnect', async (code, errorCode) => {
    const { server, collector, debug } = await setup();
    const first = await server.registered(0);
    const refused = collector.ready();
    if (errorCode !== 'frame_too_large') {
      server.send(first, { type: 'error', code: errorCode, message: 'refused by test' });
    }
    first.socket.close(code);
    await expect(refused).rejects.toMatchObject({ code: errorCode });
    expect(collector.status).toBe('error');
    expect(collector.error?.code).toBe(errorCode);
    // A retry is scheduled synchronously when the close arrives; none was.
    expect(debug.filter((line) => line.startsWith('reconnecting in'))).toEqual([]);
    expect(server.connections).toHaveLength(1);
  });

  test.each([[4408], [4429], [1001], [1011]])('close %i reconnects', async (code) => {
    const { server, collector } = await setup();
    const first = await server.registered(0);
    if (code === 4408)
      server.send(first, { type: 'error', code: 'bad_message', message: 'too slow' });
    if (code === 1011) server.send(first, { type: 'error', code: 'internal', message: 'oops' });
    first.socket.close(code);
    const second = await server.registered(1);
    await handshake(server, second);
    await collector.ready();
    expect(collector.error).toBeNull();
  });

  test('with no server listening: connection_failed, still retrying', async () => {
    const server = await scriptedServer();
    const url = server.url;
    await server.close();
    const collector = new Collector({
      url,
      identity: {},
      WebSocket,
      reconnect: { minDelayMs: 5, maxDelayMs: 10 },
    });
    cleanups.push(() => collector.disconnect());
    await vi.waitFor(() => expect(collector.error?.code).toBe('connection_failed'));
    expect(collector.status).toBe('waiting');
  });

  test('disconnect closes the socket with 1000 and does not come back', async () => {
    const { server, collector } = await setup();
    const first = await server.registered(0);
    await handshake(server, first);
    await collector.ready();
    const closed = once(first.socket, 'close');
    collector.disconnect();
    const [code] = await closed;
    expect(code).toBe(1000);
    expect(collector.status).toBe('closed');
  });
});
