import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { Collector } from '../../src/client/index.js';
import { backoffDelay } from '../../src/client/connection.js';

/** A stand-in WebSocket the test drives by hand: enough for timers, nothing more. */
class FakeSocket {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: unknown[] = [];
  closedWith: number | null = null;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  send(data: string): void {
    this.sent.push(JSON.parse(data));
  }
  close(code = 1000): void {
    this.closedWith = code;
    this.readyState = 3;
  }
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  receive(message: unknown): void {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
  fail(): void {
    this.readyState = 3;
    this.onerror?.({});
    this.onclose?.({ code: 1006, reason: '' });
  }
}

const last = (): FakeSocket => FakeSocket.all.at(-1)!;

function connect(options: { heartbeatTimeoutMs?: number; connectTimeoutMs?: number } = {}) {
  return new Collector({
    url: 'ws://particle.test/particle',
    identity: { userId: 1 },
    WebSocket: FakeSocket,
    reconnect: { minDelayMs: 100, maxDelayMs: 1000 },
    ...options,
  });
}

function serve(socket: FakeSocket): void {
  socket.open();
  socket.receive({ type: 'registered', session: 's1' });
  socket.receive({ type: 'manifest', sources: { users: true } });
  socket.receive({ type: 'payload', root: 'users', epoch: 'e', version: 4, data: [{ _id: 1 }] });
}

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.all = [];
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('backoff', () => {
  test('each wait lies in [ceiling/2, ceiling], ceiling doubling from 2×min up to max', () => {
    const options = { minDelayMs: 250, maxDelayMs: 10_000 };
    const ceilings = [500, 1000, 2000, 4000, 8000, 10_000, 10_000];
    ceilings.forEach((ceiling, attempt) => {
      expect(backoffDelay(attempt, options, () => 0)).toBe(ceiling / 2);
      expect(backoffDelay(attempt, options, () => 0.999999)).toBeCloseTo(ceiling, 0);
      const delay = backoffDelay(attempt, options);
      expect(delay).toBeGreaterThanOrEqual(options.minDelayMs);
      expect(delay).toBeLessThanOrEqual(options.maxDelayMs);
    });
  });

  test('a collector that reaches no server retries later and later, and says why', () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const collector = connect();
    // random = 0 gives the lower bound: 100, 200, 400, then the cap's half (500) from there on.
    for (const wait of [100, 200, 400, 500, 500]) {
      const count = FakeSocket.all.length;
      last().fail();
      expect(collector.status).toBe('waiting');
      expect(collector.error?.code).toBe('connection_failed');
      vi.advanceTimersByTime(wait - 1);
      expect(FakeSocket.all.length).toBe(count);
      vi.advanceTimersByTime(1);
      expect(FakeSocket.all.length).toBe(count + 1);
    }
    collector.disconnect();
  });

  test('a registration resets the backoff; a drop after it means reconnecting', () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const collector = connect();
    last().fail();
    vi.advanceTimersByTime(100);
    last().fail();
    vi.advanceTimersByTime(200);
    serve(last());
    expect(collector.status).toBe('ready');
    expect(collector.error).toBeNull();
    last().onclose?.({ code: 1001, reason: 'shutting down' });
    expect(collector.status).toBe('reconnecting');
    expect(collector.data.users).toEqual([{ _id: 1 }]);
    vi.advanceTimersByTime(100);
    expect(FakeSocket.all.length).toBe(4);
    collector.disconnect();
  });
});

describe('heartbeat timeout', () => {
  test('silence for heartbeatTimeoutMs drops the link; any frame restarts the count', () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const collector = connect({ heartbeatTimeoutMs: 1000 });
    const first = last();
    serve(first);
    vi.advanceTimersByTime(900);
    first.receive({ type: 'heartbeat' });
    vi.advanceTimersByTime(900);
    expect(first.closedWith).toBeNull();
    expect(collector.status).toBe('ready');
    vi.advanceTimersByTime(100);
    expect(first.closedWith).toBe(4000);
    expect(collector.status).toBe('reconnecting');
    expect(collector.error?.code).toBe('connection_failed');
    vi.advanceTimersByTime(100);
    const second = last();
    expect(second).not.toBe(first);
    second.open();
    expect(second.sent).toEqual([
      {
        type: 'register',
        protocol: 2,
        identity: { userId: 1 },
        resume: { session: 's1', roots: { users: { epoch: 'e', version: 4 } } },
      },
    ]);
    // Frames from the dropped socket are ignored.
    first.receive({ type: 'payload', root: 'users', epoch: 'x', version: 0, data: [] });
    expect(collector.data.users).toEqual([{ _id: 1 }]);
    collector.disconnect();
  });

  test('a socket that never opens counts as silent too', () => {
    const collector = connect({ heartbeatTimeoutMs: 1000 });
    vi.advanceTimersByTime(1000);
    expect(FakeSocket.all[0]!.closedWith).toBe(4000);
    expect(collector.error?.code).toBe('connection_failed');
    collector.disconnect();
  });
});

describe('monotonic silence', () => {
  test('after the wall clock is set back an hour, a silent link still drops on time', () => {
    const collector = connect({ heartbeatTimeoutMs: 1000 });
    const first = last();
    serve(first);
    vi.advanceTimersByTime(500);
    vi.setSystemTime(Date.now() - 3_600_000);
    vi.advanceTimersByTime(500);
    expect(first.closedWith).toBe(4000);
    expect(collector.status).toBe('reconnecting');
    collector.disconnect();
  });
});

describe('connect timeout', () => {
  test('no registered within connectTimeoutMs: connection_failed naming the url and the path, then a retry', () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const collector = connect();
    const first = last();
    first.open();
    vi.advanceTimersByTime(9_999);
    expect(first.closedWith).toBeNull();
    vi.advanceTimersByTime(1);
    expect(first.closedWith).toBe(4000);
    expect(collector.status).toBe('waiting');
    expect(collector.error?.code).toBe('connection_failed');
    expect(collector.error?.message).toContain('ws://particle.test/particle');
    expect(collector.error?.message).toContain('within 10000 ms');
    expect(collector.error?.message).toMatch(/path/);
    vi.advanceTimersByTime(100);
    expect(FakeSocket.all).toHaveLength(2);
    collector.disconnect();
  });

  test('a registration in time stops the connect timer', () => {
    const collector = connect({ connectTimeoutMs: 1000 });
    serve(last());
    vi.advanceTimersByTime(5000);
    expect(last().closedWith).toBeNull();
    expect(collector.status).toBe('ready');
    collector.disconnect();
  });

  test('connectTimeoutMs 0 turns it off', () => {
    const collector = connect({ connectTimeoutMs: 0, heartbeatTimeoutMs: 0 });
    last().open();
    vi.advanceTimersByTime(600_000);
    expect(last().closedWith).toBeNull();
    collector.disconnect();
  });
});

describe('ready({ timeoutMs })', () => {
  test('rejects with connection_failed when nothing answered in time; the collector keeps retrying', async () => {
    const collector = connect();
    const ready = collector.ready({ timeoutMs: 2000 });
    const outcome = ready.then(
      () => 'resolved',
      (error: unknown) => error,
    );
    for (let i = 0; i < 5; i++) {
      last().fail();
      vi.advanceTimersByTime(400);
    }
    const error = await outcome;
    expect(error).toMatchObject({ code: 'connection_failed' });
    expect((error as Error).message).toContain('Not ready within 2000 ms');
    expect(collector.status).toBe('waiting');
    const count = FakeSocket.all.length;
    last().fail();
    vi.advanceTimersByTime(1000);
    expect(FakeSocket.all.length).toBeGreaterThan(count);
    serve(last());
    expect(collector.status).toBe('ready');
    collector.disconnect();
  });

  test('still rejects at once on a refusal', async () => {
    const collector = connect();
    const ready = collector.ready({ timeoutMs: 60_000 });
    const socket = last();
    socket.open();
    socket.receive({ type: 'error', code: 'identity_rejected', message: 'no' });
    socket.onclose?.({ code: 4403, reason: '' });
    await expect(ready).rejects.toMatchObject({ code: 'identity_rejected' });
    expect(vi.getTimerCount()).toBe(0);
  });

  test('resolves when ready in time and leaves its timer behind neither way', async () => {
    const collector = connect();
    const callback = vi.fn();
    collector.ready(callback, { timeoutMs: 1000 });
    const ready = collector.ready({ timeoutMs: 1000 });
    serve(last());
    await expect(ready).resolves.toBeUndefined();
    expect(callback).toHaveBeenCalledWith(undefined);
    vi.advanceTimersByTime(5000);
    expect(callback).toHaveBeenCalledTimes(1);
    collector.disconnect();
    expect(vi.getTimerCount()).toBe(0);
  });

  test('refuses unknown keys and bad values', () => {
    const collector = connect();
    expect(() => collector.ready({ timeout: 5 } as never)).toThrow(
      "collector.ready: unknown key 'timeout' (did you mean 'timeoutMs'?)",
    );
    expect(() => collector.ready({ timeoutMs: -1 })).toThrow(/timeoutMs must be a number >= 0/);
    collector.disconnect();
  });
});

test('disconnect leaves no timer behind, whatever state the link was in', () => {
  const collector = connect();
  serve(last());
  collector.disconnect();
  expect(vi.getTimerCount()).toBe(0);
  expect(FakeSocket.all[0]!.closedWith).toBe(1000);

  const retrying = connect();
  last().fail();
  expect(vi.getTimerCount()).toBe(1);
  retrying.disconnect();
  expect(vi.getTimerCount()).toBe(0);
  vi.advanceTimersByTime(60_000);
  expect(FakeSocket.all.length).toBe(2);
});
