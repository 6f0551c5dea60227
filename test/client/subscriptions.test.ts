import { afterEach, describe, expect, test, vi } from 'vitest';
import { WebSocket } from 'ws';
import { Collector, type RegisterTransport } from '../../src/client/index.js';
import {
  opToWire,
  type ClientMessage,
  type Op,
  type ServerMessage,
} from '../../src/protocol/index.js';
import { fakeStream } from './fakeStream.js';
import { scriptedServer, type ServerSide } from './scriptedServer.js';

type Server = Awaited<ReturnType<typeof scriptedServer>>;

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup() {
  const server = await scriptedServer();
  cleanups.push(() => server.close());
  const debug: string[] = [];
  const collector = new Collector({
    url: server.url,
    identity: { userId: 'u1' },
    WebSocket,
    reconnect: { minDelayMs: 5, maxDelayMs: 20 },
    onDebug: (message) => debug.push(message),
  });
  cleanups.push(() => collector.disconnect());
  return { server, collector, debug };
}

const T = '2026-01-01T00:00:00.000Z';
const MESSAGES = { idField: '_id', sort: { at: -1 as const }, limit: 2 };

/** registered, a manifest with one eager root `users`, and its payload. */
function handshake(server: Server, side: ServerSide, session = 'sess-1') {
  server.send(side, { type: 'registered', session });
  server.send(side, { type: 'manifest', sources: { users: { name: true } } });
  server.send(side, {
    type: 'payload',
    root: 'users',
    epoch: 'u',
    version: 0,
    data: [{ _id: 1, name: 'Ann' }],
  });
}

/** The frames of `type` the client sent on `side`. */
function sent(side: ServerSide, type: string): Record<string, unknown>[] {
  return side.frames.filter((frame) => frame.type === type);
}

async function nextSubscribe(side: ServerSide, count = 1): Promise<Record<string, unknown>> {
  return vi.waitFor(() => {
    const frames = sent(side, 'subscribe');
    if (frames.length < count) throw new Error(`${frames.length} subscribe frames`);
    return frames[count - 1]!;
  });
}

/** Answers a subscribe as a server does: subscribed, then a payload for root `sub`. */
function accept(
  server: Server,
  side: ServerSide,
  sub: unknown,
  data: Record<string, unknown>[],
  extra: { epoch?: string; more?: boolean } = {},
) {
  server.send(side, { type: 'subscribed', sub, manifest: { text: true }, options: MESSAGES });
  const payload: Record<string, unknown> = {
    type: 'payload',
    root: sub,
    epoch: extra.epoch ?? 'm1',
    version: 0,
    data,
  };
  if (extra.more !== undefined) payload.more = extra.more;
  server.send(side, payload);
}

function delta(
  server: Server,
  side: ServerSide,
  root: unknown,
  { version, ops = [], ...rest }: { version: number; ops?: Op[]; more?: boolean },
) {
  server.send(side, {
    type: 'delta',
    root,
    epoch: 'm1',
    version,
    timestamp: Date.parse(T),
    ops: ops.map(opToWire),
    ...rest,
  });
}

describe('subscribe over a socket', () => {
  test('subscribed then payload: data sorted by the sort option (ties by id), ready resolves', async () => {
    const { server, collector } = await setup();
    const side = await server.registered(0);
    handshake(server, side);
    await collector.ready();
    const sub = collector.subscribe('messages', { channelId: 'c1' }, { limit: 2 });
    expect(sub.status).toBe('waiting');
    const frame = await nextSubscribe(side);
    expect(frame).toEqual({
      type: 'subscribe',
      sub: frame.sub,
      source: 'messages',
      params: { channelId: 'c1' },
      limit: 2,
    });
    accept(
      server,
      side,
      frame.sub,
      [
        { _id: 'b', at: 1 },
        { _id: 'c', at: 2 },
        { _id: 'a', at: 1 },
      ],
      { more: true },
    );
    const docs = await sub.ready();
    expect(docs.map((d) => d._id)).toEqual(['c', 'a', 'b']);
    expect(sub.status).toBe('ready');
    expect(sub.more).toBe(true);
    expect(sub.data).toBe(docs);
    expect(Object.isFrozen(docs) && Object.isFrozen(docs[0])).toBe(true);
    // Eager roots only in collector.data.
    expect(Object.keys(collector.data)).toEqual(['users']);
  });

  test('collector.ready() does not wait for subscriptions', async () => {
    const { server, collector } = await setup();
    const sub = collector.subscribe('messages', { channelId: 'c1' });
    const side = await server.registered(0);
    handshake(server, side);
    await collector.ready();
    expect(sub.status).toBe('waiting');
  });

  test('deltas on root sub: ops in sort order, more changes, on() events, one notice per message', async () => {
    const { server, collector } = await setup();
    const side = await server.registered(0);
    handshake(server, side);
    const sub = collector.subscribe('messages', { channelId: 'c1' });
    const { sub: id } = await nextSubscribe(side);
    accept(server, side, id, [{ _id: 'a', at: 1, text: 'hi' }], { more: false });
    await sub.ready();
    const notices: unknown[] = [];
    sub.onNotice((notice) => notices.push(notice));
    const events: string[] = [];
    sub.on('messages.**', (docs, event) => events.push(`${event.operation}:${docs.length}`));
    const first = sub.data!;
    delta(server, side, id, {
      version: 1,
      ops: [
        { operation: 'insert', id: 'b', data: { _id: 'b', at: 5, text: 'new' } },
        { operation: 'set', id: 'a', path: 'text', data: 'edited' },
      ],
      more: true,
    });
    await vi.waitFor(() => expect(sub.data?.map((d) => d.text)).toEqual(['new', 'edited']));
    expect(sub.more).toBe(true);
    expect(notices).toEqual([{ type: 'data', ids: ['b', 'a'] }]);
    expect(events).toEqual(['insert:2', 'set:2']);
    expect(sub.data).not.toBe(first);
    // The eager root was not touched.
    expect(collector.data.users).toHaveLength(1);
  });

  test('handles with the same source, params and limit share one wire subscription', async () => {
    const { server, collector } = await setup();
    const side = await server.registered(0);
    handshake(server, side);
    await collector.ready();
    const one = collector.subscribe('messages', { channelId: 'c1', page: 1 });
    const two = collector.subscribe('messages', { page: 1, channelId: 'c1' });
    const { sub: id } = await nextSubscribe(side);
    accept(server, side, id, [{ _id: 'a', at: 1 }]);
    await Promise.all([one.ready(), two.ready()]);
    expect(one.data).toBe(two.data);
    one.unsubscribe();
    expect(one.status).toBe('closed');
    expect(two.status).toBe('ready');
    // A later subscribe reaches the server after anything the first unsubscribe would have sent.
    collector.subscribe('other');
    await nextSubscribe(side, 2);
    expect(sent(side, 'unsubscribe')).toEqual([]);
    two.unsubscribe();
    await vi.waitFor(() =>
      expect(sent(side, 'unsubscribe')).toEqual([{ type: 'unsubscribe', sub: id }]),
    );
    expect(sent(side, 'subscribe')).toHaveLength(2);
    // A closed handle keeps its data and hears nothing more.
    expect(two.data?.map((d) => d._id)).toEqual(['a']);
    server.send(side, { type: 'unsubscribed', sub: id });
    delta(server, side, id, { version: 1, ops: [{ operation: 'remove', id: 'a' }] });
    await vi.waitFor(() => expect(side.frames.length).toBeGreaterThan(0));
    expect(two.data?.map((d) => d._id)).toEqual(['a']);
    expect(collector.data).not.toHaveProperty(String(id));
  });

  test('a different limit is another wire subscription', async () => {
    const { server, collector } = await setup();
    const side = await server.registered(0);
    handshake(server, side);
    collector.subscribe('messages', { channelId: 'c1' }, { limit: 10 });
    collector.subscribe('messages', { channelId: 'c1' }, { limit: 20 });
    await nextSubscribe(side, 2);
    const [a, b] = sent(side, 'subscribe');
    expect(a!.sub).not.toBe(b!.sub);
  });

  test('setLimit sends subscribe with the same sub and the new limit, and keeps the data', async () => {
    const { server, collector } = await setup();
    const side = await server.registered(0);
    handshake(server, side);
    const sub = collector.subscribe('messages', { channelId: 'c1' }, { limit: 1 });
    const { sub: id } = await nextSubscribe(side);
    accept(server, side, id, [{ _id: 'a', at: 2 }], { more: true });
    await sub.ready();
    sub.setLimit(2);
    expect(sub.limit).toBe(2);
    expect(await nextSubscribe(side, 2)).toEqual({
      type: 'subscribe',
      sub: id,
      source: 'messages',
      params: { channelId: 'c1' },
      limit: 2,
    });
    expect(sub.status).toBe('ready');
    delta(server, side, id, {
      version: 1,
      ops: [{ operation: 'insert', id: 'b', data: { _id: 'b', at: 1 } }],
      more: false,
    });
    await vi.waitFor(() => expect(sub.data?.map((d) => d._id)).toEqual(['a', 'b']));
    expect(sub.more).toBe(false);
    expect(() => sub.setLimit(0)).toThrow(TypeError);
  });

  test('setLimit on a shared handle moves it alone, showing its documents until the new window arrives', async () => {
    const { server, collector } = await setup();
    const side = await server.registered(0);
    handshake(server, side);
    const mine = collector.subscribe('messages', { channelId: 'c1' }, { limit: 1 });
    const theirs = collector.subscribe('messages', { channelId: 'c1' }, { limit: 1 });
    const { sub: id } = await nextSubscribe(side);
    accept(server, side, id, [{ _id: 'a', at: 2 }]);
    await mine.ready();
    mine.setLimit(2);
    const moved = await nextSubscribe(side, 2);
    expect(moved.sub).not.toBe(id);
    expect(moved.limit).toBe(2);
    expect(mine.status).toBe('ready');
    expect(mine.data?.map((d) => d._id)).toEqual(['a']);
    accept(server, side, moved.sub, [
      { _id: 'a', at: 2 },
      { _id: 'b', at: 1 },
    ]);
    await vi.waitFor(() => expect(mine.data).toHaveLength(2));
    expect(theirs.data).toHaveLength(1);
    expect(sent(side, 'unsubscribe')).toEqual([]);
  });

  test('subscription_error ends only that subscription; eager roots and other subscriptions carry on', async () => {
    const { server, collector } = await setup();
    const side = await server.registered(0);
    handshake(server, side);
    await collector.ready();
    const bad = collector.subscribe('messages', { channelId: 'secret' });
    const good = collector.subscribe('messages', { channelId: 'c1' });
    const badReady = bad.ready();
    await nextSubscribe(side, 2);
    const [badFrame, goodFrame] = sent(side, 'subscribe');
    server.send(side, {
      type: 'subscription_error',
      sub: badFrame!.sub,
      code: 'forbidden',
      message: 'not a member',
    });
    await expect(badReady).rejects.toMatchObject({ code: 'forbidden' });
    expect(bad.status).toBe('error');
    expect(bad.error?.message).toContain('not a member');
    accept(server, side, goodFrame!.sub, [{ _id: 'a', at: 1 }]);
    await good.ready();
    server.send(side, {
      type: 'delta',
      root: 'users',
      epoch: 'u',
      version: 1,
      timestamp: Date.parse(T),
      ops: [['set', 1, 'name', 'Anna']],
    });
    await vi.waitFor(() => expect(collector.data.users?.[0]?.name).toBe('Anna'));
    expect(collector.status).toBe('ready');
    expect(server.connections).toHaveLength(1);
    // Subscribing again after an error is a new attempt.
    collector.subscribe('messages', { channelId: 'secret' });
    expect((await nextSubscribe(side, 3)).sub).not.toBe(badFrame!.sub);
  });

  test('unknown_source: status error with that code', async () => {
    const { server, collector } = await setup();
    const side = await server.registered(0);
    handshake(server, side);
    const sub = collector.subscribe('nope');
    const { sub: id } = await nextSubscribe(side);
    expect(sent(side, 'subscribe')[0]).toEqual({ type: 'subscribe', sub: id, source: 'nope' });
    server.send(side, {
      type: 'subscription_error',
      sub: id,
      code: 'unknown_source',
      message: 'no data source named nope',
    });
    await expect(sub.ready()).rejects.toMatchObject({ code: 'unknown_source' });
    expect(sub.error?.code).toBe('unknown_source');
  });

  test('produce_failed with retrying keeps the subscription waiting; ready() waits for the first good value', async () => {
    const { server, collector } = await setup();
    const side = await server.registered(0);
    handshake(server, side);
    const sub = collector.subscribe('report', { day: 1 });
    const ready = sub.ready();
    const { sub: id } = await nextSubscribe(side);
    server.send(side, { type: 'subscribed', sub: id, manifest: true });
    server.send(side, {
      type: 'subscription_error',
      sub: id,
      code: 'produce_failed',
      message: 'producer failed',
      retrying: true,
    });
    await vi.waitFor(() => expect(sub.error?.code).toBe('produce_failed'));
    expect(sub.status).toBe('waiting');
    server.send(side, { type: 'payload', root: id, epoch: 'p', version: 0, data: [{ _id: 1 }] });
    expect(await ready).toHaveLength(1);
    expect(sub.error).toBeUndefined();
  });

  test('a subscribe before registered is queued until registered', async () => {
    const { server, collector } = await setup();
    const sub = collector.subscribe('messages', { channelId: 'c1' });
    const side = await server.registered(0);
    expect(side.frames.map((f) => f.type)).toEqual(['register']);
    server.send(side, { type: 'registered', session: 'sess-1' });
    const frame = await nextSubscribe(side);
    expect(side.frames.map((f) => f.type)).toEqual(['register', 'subscribe']);
    server.send(side, { type: 'manifest', sources: {} });
    accept(server, side, frame.sub, [{ _id: 'a', at: 1 }]);
    await sub.ready();
    await collector.ready();
  });

  test('unsubscribing a queued subscription sends nothing', async () => {
    const { server, collector } = await setup();
    collector.subscribe('messages', { channelId: 'c1' }).unsubscribe();
    const side = await server.registered(0);
    handshake(server, side);
    await collector.ready();
    collector.subscribe('probe');
    await nextSubscribe(side);
    expect(side.frames.map((f) => [f.type, f.source])).toEqual([
      ['register', undefined],
      ['subscribe', 'probe'],
    ]);
  });
});

describe('subscriptions across reconnects', () => {
  async function live() {
    const env = await setup();
    const side = await env.server.registered(0);
    handshake(env.server, side);
    const sub = env.collector.subscribe('messages', { channelId: 'c1' });
    const { sub: id } = await nextSubscribe(side);
    accept(env.server, side, id, [{ _id: 'a', at: 1 }], { epoch: 'm1' });
    delta(env.server, side, id, {
      version: 1,
      ops: [{ operation: 'insert', id: 'b', data: { _id: 'b', at: 2 } }],
    });
    await vi.waitFor(() => expect(sub.data).toHaveLength(2));
    side.socket.close(4429, 'slow consumer');
    const second = await env.server.registered(1);
    return { ...env, sub, id, second };
  }

  test('resume names live subscriptions with their position; resumed + replay bring them up to date', async () => {
    const { server, collector, sub, id, second } = await live();
    expect(second.frames[0]).toMatchObject({
      resume: {
        session: 'sess-1',
        roots: { users: { epoch: 'u', version: 0 }, [String(id)]: { epoch: 'm1', version: 1 } },
      },
    });
    const before = sub.data;
    handshake(server, second);
    server.send(second, { type: 'subscribed', sub: id, manifest: true, options: MESSAGES });
    server.send(second, { type: 'resumed', root: id, epoch: 'm1', version: 1 });
    delta(server, second, id, { version: 2, ops: [{ operation: 'remove', id: 'a' }] });
    await vi.waitFor(() => expect(sub.data?.map((d) => d._id)).toEqual(['b']));
    expect(sub.data?.[0]).toBe(before?.[0]);
    await collector.ready();
    // A resumed subscription is not subscribed again.
    expect(sent(second, 'subscribe')).toEqual([]);
  });

  test('unsubscribed at resume (the server no longer holds it): the client subscribes again', async () => {
    const { server, sub, id, second } = await live();
    server.send(second, { type: 'registered', session: 'sess-1' });
    server.send(second, { type: 'unsubscribed', sub: id });
    const again = await nextSubscribe(second);
    expect(again).toEqual({
      type: 'subscribe',
      sub: id,
      source: 'messages',
      params: { channelId: 'c1' },
    });
    expect(sub.data).toHaveLength(2);
    accept(server, second, id, [{ _id: 'c', at: 3 }], { epoch: 'm2' });
    await vi.waitFor(() => expect(sub.data?.map((d) => d._id)).toEqual(['c']));
  });

  test('a fresh session (another session id): every live subscription is sent again', async () => {
    const { server, sub, second } = await live();
    const released = server.connections.length;
    expect(released).toBe(2);
    handshake(server, second, 'sess-2');
    const frame = await nextSubscribe(second);
    expect(frame).toMatchObject({ source: 'messages', params: { channelId: 'c1' } });
    // The data is kept until the new payload replaces it.
    expect(sub.data).toHaveLength(2);
    expect(sub.status).toBe('ready');
    accept(server, second, frame.sub, [{ _id: 'z', at: 1 }], { epoch: 'm9' });
    await vi.waitFor(() => expect(sub.data?.map((d) => d._id)).toEqual(['z']));
  });

  test('a subscription released while the link was down is not named in the resume', async () => {
    const { server, collector, sub } = await setup().then(async (env) => {
      const side = await env.server.registered(0);
      handshake(env.server, side);
      const handle = env.collector.subscribe('messages', { channelId: 'c1' });
      const { sub: id } = await nextSubscribe(side);
      accept(env.server, side, id, [{ _id: 'a', at: 1 }]);
      await handle.ready();
      // Released as soon as the link is down, before the next register is built.
      env.collector.onNotice((notice) => {
        if (notice.type === 'status' && notice.status === 'reconnecting') handle.unsubscribe();
      });
      side.socket.close(4429);
      return { ...env, sub: handle };
    });
    const second = await server.registered(1);
    expect(second.frames[0]).toMatchObject({ resume: { roots: { users: {} } } });
    expect(Object.keys((second.frames[0]!.resume as { roots: object }).roots)).toEqual(['users']);
    expect(sub.status).toBe('closed');
    void collector;
  });

  test('close 4430 (rate_limited) reconnects, but not before 1 s', async () => {
    const { server, collector } = await setup();
    const first = await server.registered(0);
    handshake(server, first);
    await collector.ready();
    const closedAt = performance.now();
    first.socket.close(4430, 'rate limited');
    const second = await vi.waitFor(
      () => {
        const side = server.connections[1];
        if (side === undefined || side.frames.length === 0) throw new Error('not yet');
        return side;
      },
      { timeout: 5000 },
    );
    expect(second.at - closedAt).toBeGreaterThanOrEqual(1000);
    handshake(server, second);
    await collector.ready();
  });
});

describe('notices and transports', () => {
  test('onNotice, and the deprecated function form of subscribe (one development warning)', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const stream = fakeStream();
    const collector = new Collector({ register: stream.register, identity: {} });
    const viaOnNotice: unknown[] = [];
    const viaSubscribe: unknown[] = [];
    collector.onNotice((notice) => viaOnNotice.push(notice));
    const off = collector.subscribe((notice) => viaSubscribe.push(notice));
    collector.subscribe(() => {});
    expect(typeof off).toBe('function');
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toContain('onNotice');
    stream.start({ users: [] });
    expect(viaSubscribe).toEqual(viaOnNotice);
    expect(viaOnNotice).toContainEqual({ type: 'status', status: 'ready' });
    collector.disconnect();
  });

  test('a register transport whose unregister function has send carries subscribe and unsubscribe', () => {
    const sentMessages: ClientMessage[] = [];
    let receive: ((type: string, message: unknown) => void) | undefined;
    const register: RegisterTransport = (_identity, give, done) => {
      receive = give;
      const serve = (message: ServerMessage) => give(message.type, message);
      // Answers synchronously, as an in-process server may.
      serve({ type: 'registered', session: 'p1' });
      serve({ type: 'manifest', sources: {} });
      done();
      return Object.assign(() => {}, {
        send(message: ClientMessage) {
          sentMessages.push(message);
          if (message.type !== 'subscribe') return;
          serve({ type: 'subscribed', sub: message.sub, manifest: true });
          serve({ type: 'payload', root: message.sub, epoch: 'e', version: 0, data: [{ _id: 1 }] });
        },
      });
    };
    const collector = new Collector({ register, identity: {} });
    const sub = collector.subscribe('messages', { channelId: 'c1' });
    expect(sub.status).toBe('ready');
    expect(sub.data).toEqual([{ _id: 1 }]);
    sub.unsubscribe();
    expect(sentMessages.map((m) => m.type)).toEqual(['subscribe', 'unsubscribe']);
    expect(receive).toBeDefined();
    collector.disconnect();
  });

  test('a register transport without send: the subscription ends with an error saying so', async () => {
    const stream = fakeStream();
    const collector = new Collector({ register: stream.register, identity: {} });
    const sub = collector.subscribe('messages', { channelId: 'c1' });
    expect(sub.status).toBe('waiting');
    stream.start({ users: [] });
    await expect(sub.ready()).rejects.toThrow(/cannot subscribe/i);
    expect(sub.error?.code).toBe('config');
    expect(collector.status).toBe('ready');
    collector.disconnect();
  });

  test('disconnect closes every handle; a pending ready() rejects with disconnected', async () => {
    const stream = fakeStream();
    const collector = new Collector({ register: stream.register, identity: {} });
    const sub = collector.subscribe('messages');
    const ready = sub.ready();
    collector.disconnect();
    expect(sub.status).toBe('closed');
    await expect(ready).rejects.toMatchObject({ code: 'disconnected' });
    expect(collector.subscribe('later').status).toBe('closed');
  });

  test('arguments are checked', () => {
    const stream = fakeStream();
    const collector = new Collector({ register: stream.register, identity: {} });
    expect(() => collector.subscribe('')).toThrow(TypeError);
    expect(() => collector.subscribe('m', {}, { limit: 1.5 })).toThrow(/limit/);
    expect(() => collector.subscribe('m', {}, { limt: 5 } as never)).toThrow(/limit/);
    expect(() => collector.subscribe('m', { n: 1n })).toThrow(/JSON/);
    collector.disconnect();
  });

  test('a limit that is not a number is named by its kind, never as [object Object]', () => {
    const stream = fakeStream();
    const collector = new Collector({ register: stream.register, identity: {} });
    const limit = {} as unknown as number;
    expect(() => collector.subscribe('m', {}, { limit })).toThrow(
      'collector.subscribe: limit must be an integer >= 1, got an object',
    );
    expect(() => collector.subscribe('m', {}, { limit: '5' as unknown as number })).toThrow(
      'limit must be an integer >= 1, got "5"',
    );
    collector.disconnect();
  });
});

describe('rate_limited over a register transport', () => {
  test('registers again, but not before 1 s', async () => {
    const stream = fakeStream();
    const collector = new Collector({ register: stream.register, identity: {} });
    cleanups.push(() => collector.disconnect());
    stream.start({ users: [] });
    const at = performance.now();
    stream.send({ type: 'error', code: 'rate_limited', message: 'too many messages' });
    await vi.waitFor(() => expect(stream.registrations).toHaveLength(2), { timeout: 5000 });
    expect(performance.now() - at).toBeGreaterThanOrEqual(1000);
  });
});
