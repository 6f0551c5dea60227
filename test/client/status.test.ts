import { afterEach, describe, expect, test, vi } from 'vitest';
import { Collector, ParticleError, type CollectorNotice } from '../../src/client/index.js';
import { fakeStream } from './fakeStream.js';

function setup() {
  const stream = fakeStream();
  const collector = new Collector({ register: stream.register, identity: { userId: 1 } });
  const notices: CollectorNotice[] = [];
  collector.onNotice((notice) => notices.push(notice));
  return { stream, collector, notices };
}

describe('status and ready', () => {
  test('waiting until the manifest and a payload for every root arrived', async () => {
    const { stream, collector } = setup();
    const ready = vi.fn();
    collector.ready(ready);
    const promise = collector.ready();
    stream.send({ type: 'registered', session: 's' });
    stream.send({ type: 'manifest', sources: { users: true, stuffs: { name: true } } });
    stream.send({ type: 'payload', root: 'users', epoch: 'e', version: 0, data: [] });
    expect(collector.status).toBe('waiting');
    expect(ready).not.toHaveBeenCalled();
    stream.send({ type: 'payload', root: 'stuffs', epoch: 'e', version: 0, data: [] });
    expect(collector.status).toBe('ready');
    expect(ready).toHaveBeenCalledWith(undefined);
    await expect(promise).resolves.toBeUndefined();
  });

  test('a manifest with no roots is ready at once', async () => {
    const { stream, collector } = setup();
    stream.start({});
    await expect(collector.ready()).resolves.toBeUndefined();
    expect(collector.data).toEqual({});
  });

  test('ready() when already ready resolves immediately, and the callback runs at once', async () => {
    const { stream, collector } = setup();
    stream.start({ users: [] });
    const callback = vi.fn();
    collector.ready(callback);
    expect(callback).toHaveBeenCalledTimes(1);
    await expect(collector.ready()).resolves.toBeUndefined();
  });

  test.each([
    ['bad_message'],
    ['protocol_mismatch'],
    ['bad_identity'],
    ['identity_rejected'],
  ] as const)('an error %s refuses the registration: status error, ready rejects', async (code) => {
    const { stream, collector } = setup();
    const promise = collector.ready();
    const callback = vi.fn();
    collector.ready(callback);
    stream.send({ type: 'error', code, message: 'nope' });
    expect(collector.status).toBe('error');
    expect(collector.error).toBeInstanceOf(ParticleError);
    expect(collector.error?.code).toBe(code);
    await expect(promise).rejects.toMatchObject({ code });
    expect(callback).toHaveBeenCalledWith(collector.error);
    await expect(collector.ready()).rejects.toBe(collector.error);
    expect(stream.registrations[0]!.active).toBe(false);
  });

  test('C6: done(error) from the transport refuses the registration with its code', async () => {
    const { stream, collector } = setup();
    stream.done(new ParticleError('identity_rejected', 'who are you?'));
    expect(collector.status).toBe('error');
    expect(collector.error).toMatchObject({ code: 'identity_rejected', message: 'who are you?' });
    await expect(collector.ready()).rejects.toBe(collector.error);
  });

  test('done(null) means registered, nothing more', () => {
    const { stream, collector } = setup();
    stream.done(null);
    stream.start({ users: [] });
    expect(collector.status).toBe('ready');
  });

  test('an internal error over the register transport registers again', async () => {
    const { stream, collector } = setup();
    stream.start({ users: [{ _id: 1 }] });
    stream.send({ type: 'error', code: 'internal', message: 'oops' });
    expect(collector.status).toBe('reconnecting');
    expect(collector.error?.code).toBe('internal');
    await expect.poll(() => stream.registrations.length).toBe(2);
    stream.start({ users: [{ _id: 1 }] });
    expect(collector.status).toBe('ready');
    expect(collector.error).toBeNull();
  });

  test('disconnect: status closed, the transport unregistered, pending ready rejects', async () => {
    const { stream, collector } = setup();
    const promise = collector.ready();
    collector.disconnect();
    expect(collector.status).toBe('closed');
    expect(stream.registrations[0]!.active).toBe(false);
    await expect(promise).rejects.toMatchObject({ code: 'disconnected' });
    collector.disconnect();
    expect(collector.status).toBe('closed');
  });

  test('messages after disconnect are ignored', () => {
    const { stream, collector } = setup();
    stream.start({ users: [] });
    const receive = stream.registrations[0]!.receive;
    collector.disconnect();
    const data = collector.data;
    receive('payload', {
      type: 'payload',
      root: 'users',
      epoch: 'e',
      version: 0,
      data: [{ _id: 1 }],
    });
    expect(collector.data).toBe(data);
  });
});

describe('onNotice', () => {
  test('C5: one data notice per applied message, after it is applied, and status notices', () => {
    const { stream, collector, notices } = setup();
    const seen: unknown[] = [];
    collector.onNotice((notice) => {
      if (notice.type === 'data') seen.push(collector.data[notice.root]?.length);
    });
    stream.start({ users: [{ _id: 1 }] });
    stream.delta('users', [
      { operation: 'insert', id: 2, data: { _id: 2 } },
      { operation: 'insert', id: 3, data: { _id: 3 } },
      { operation: 'set', id: 2, path: 'a', data: 1 },
    ]);
    expect(notices).toEqual([
      { type: 'data', root: 'users', ids: null },
      { type: 'status', status: 'ready' },
      { type: 'data', root: 'users', ids: [2, 3] },
    ]);
    expect(seen).toEqual([1, 3]);
    expect(collector.revision).toBe(3);
  });

  test('the revision moves with every notice, so a late subscriber can tell it missed one', () => {
    const { stream, collector } = setup();
    const before = collector.revision;
    stream.start({ users: [] });
    expect(collector.revision).toBeGreaterThan(before);
    const seen = collector.revision;
    stream.send({ type: 'heartbeat' });
    expect(collector.revision).toBe(seen);
  });

  test('the unsubscribe stops notices', () => {
    const { stream, collector } = setup();
    const listener = vi.fn();
    const off = collector.onNotice(listener);
    off();
    stream.start({ users: [] });
    expect(listener).not.toHaveBeenCalled();
  });
});

describe('options', () => {
  const originalLocation = Object.getOwnPropertyDescriptor(globalThis, 'location');
  afterEach(() => {
    if (originalLocation) Object.defineProperty(globalThis, 'location', originalLocation);
    else delete (globalThis as { location?: unknown }).location;
  });

  class NoopSocket {
    static urls: string[] = [];
    readyState = 0;
    onopen = null;
    onmessage = null;
    onclose = null;
    onerror = null;
    constructor(url: string) {
      NoopSocket.urls.push(url);
    }
    send(): void {}
    close(): void {}
  }

  test('exactly one of url and register', () => {
    const register = fakeStream().register;
    expect(() => new Collector({ identity: {} })).toThrow(/exactly one of `url`.*`register`/);
    expect(
      () => new Collector({ identity: {}, url: 'ws://x', register, WebSocket: NoopSocket }),
    ).toThrow(TypeError);
  });

  test('identity must be a JSON object', () => {
    const register = fakeStream().register;
    expect(() => new Collector({ identity: null as never, register })).toThrow(/identity/);
    expect(() => new Collector({ identity: { n: 1n }, register })).toThrow(/JSON-serializable/);
  });

  test('no WebSocket class (Node without the option) is a clear error', () => {
    expect(() => new Collector({ identity: {}, url: 'ws://127.0.0.1:1/p' })).toThrow(
      /no global WebSocket.*`WebSocket` option/,
    );
  });

  test('reconnect bounds are checked', () => {
    const base = { identity: {}, register: fakeStream().register };
    expect(
      () => new Collector({ ...base, reconnect: { minDelayMs: 500, maxDelayMs: 100 } }),
    ).toThrow(/minDelayMs must not exceed/);
    expect(() => new Collector({ ...base, heartbeatTimeoutMs: -1 })).toThrow(/heartbeatTimeoutMs/);
  });

  test('a relative url resolves against location (http → ws, https → wss)', () => {
    const make = (href: string) => {
      Object.defineProperty(globalThis, 'location', { value: { href }, configurable: true });
      new Collector({ identity: {}, url: '/particle', WebSocket: NoopSocket }).disconnect();
      return NoopSocket.urls.at(-1);
    };
    expect(make('http://example.com:3000/page')).toBe('ws://example.com:3000/particle');
    expect(make('https://example.com/a/b')).toBe('wss://example.com/particle');
  });

  test('a relative url without location is a clear error', () => {
    expect(() => new Collector({ identity: {}, url: '/particle', WebSocket: NoopSocket })).toThrow(
      /relative.*no globalThis\.location/,
    );
  });

  test('an absolute http url is taken as its ws twin', () => {
    new Collector({ identity: {}, url: 'https://h/p', WebSocket: NoopSocket }).disconnect();
    expect(NoopSocket.urls.at(-1)).toBe('wss://h/p');
  });
});
