import { afterEach, describe, expect, it, vi } from 'vitest';
import { RawClient, startServer, type TestServer } from '../support/server.js';

let server: TestServer;
const clients: RawClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.close();
});

interface Position {
  epoch: string;
  version: number;
}

function positions(client: RawClient): { session: string; roots: Record<string, Position> } {
  const session = client.session();
  const roots: Record<string, Position> = {};
  for (const m of client.messages) {
    if (m.type === 'payload' || m.type === 'delta' || m.type === 'resumed') {
      roots[m.root as string] = { epoch: m.epoch as string, version: m.version as number };
    }
  }
  return { session, roots };
}

async function reconnect(
  resume: ReturnType<typeof positions>,
  identity: Record<string, unknown>,
): Promise<RawClient> {
  const c = new RawClient(server.url);
  clients.push(c);
  await c.opened;
  c.send({ type: 'register', protocol: 2, identity, resume });
  return c;
}

const ann = { userId: 1, accountId: 1 };

/** Registers, waits for ready, then cuts the socket: returns what a collector would resume with. */
async function registerThenCut(
  identity: Record<string, unknown>,
): Promise<ReturnType<typeof positions>> {
  const first = await RawClient.register(server.url, identity);
  clients.push(first);
  await first.ready();
  const resume = positions(first);
  first.close();
  await first.closedWith();
  return resume;
}

describe('S8: resume after a cut', () => {
  it('replays exactly the missed deltas, not a payload', async () => {
    server = await startServer();
    const resume = await registerThenCut(ann);

    // One write per tick: the changes of one tick would go out as one delta.
    for (let i = 0; i < 10; i++) {
      server.adapter.update('users', { _id: 2 }, { $set: { name: `Ben ${i}` } });
      await new Promise((r) => setImmediate(r));
    }

    const second = await reconnect(resume, ann);
    await second.until(
      (c) => c.of('delta', 'allUsers').length === 10 && c.of('resumed').length === 6,
    );
    expect(second.of('payload')).toEqual([]);
    expect(second.session()).toBe(resume.session);
    expect(second.of('resumed', 'allUsers')[0]).toEqual({
      type: 'resumed',
      root: 'allUsers',
      ...resume.roots.allUsers,
    });
    const versions = second.of('delta', 'allUsers').map((d) => d.version);
    const start = (resume.roots.allUsers as Position).version;
    expect(versions).toEqual(Array.from({ length: 10 }, (_, i) => start + i + 1));
    expect(second.ops('visibleUsers').at(-1)).toEqual({
      operation: 'set',
      id: 2,
      path: 'name',
      data: 'Ben 9',
    });

    // what the resume cost on the wire: the ten deltas and small control frames, no documents beyond them
    const bytes = second.messages.reduce((n, m) => n + JSON.stringify(m).length, 0);
    const deltaBytes = second.of('delta').reduce((n, m) => n + JSON.stringify(m).length, 0);
    expect(bytes - deltaBytes).toBeLessThan(1200);

    // and it goes on live afterwards
    server.adapter.update('users', { _id: 2 }, { $set: { name: 'Ben live' } });
    await second.until((c) => c.of('delta', 'allUsers').length === 11);
  });

  it('sends a fresh payload when the session is unknown (e.g. after a server restart)', async () => {
    server = await startServer();
    const c = await reconnect(
      { session: 'nope', roots: { allUsers: { epoch: 'old', version: 3 } } },
      ann,
    );
    await c.ready();
    expect(c.of('resumed')).toEqual([]);
    expect(c.payload('allUsers')).toHaveLength(3);
  });

  it('sends a fresh payload in a new epoch when the backlog no longer covers the gap', async () => {
    server = await startServer({ backlog: { deltas: 3 } });
    const resume = await registerThenCut(ann);
    // One write per tick: the changes of one tick would go out as one delta.
    for (let i = 0; i < 5; i++) {
      server.adapter.update('users', { _id: 2 }, { $set: { name: `Ben ${i}` } });
      await new Promise((r) => setImmediate(r));
    }
    server.adapter.update('users', { _id: 1 }, { $set: { name: 'Ann 2' } });

    const second = await reconnect(resume, ann);
    await second.ready();
    const payload = second.of('payload', 'allUsers')[0] as unknown as Position & {
      data: { name: string }[];
    };
    expect(payload.epoch).not.toBe(resume.roots.allUsers?.epoch);
    expect(payload.data.map((u) => u.name)).toEqual(['Ann 2', 'Ben 4', 'Cid']);
    // roots whose backlog still covers the gap resume
    expect(second.of('resumed', 'myStuff')).toHaveLength(1);
  });

  it('a resume takes over a session whose old link has not noticed it is dead', async () => {
    server = await startServer();
    const first = await RawClient.register(server.url, ann);
    clients.push(first);
    await first.ready();
    const resume = positions(first);
    const second = await reconnect(resume, ann);
    await second.ready();
    expect(second.of('payload')).toEqual([]);
    expect(await first.closedWith()).toMatchObject({ code: 1001 });
    server.adapter.update('users', { _id: 2 }, { $set: { name: 'taken over' } });
    await second.until((c) => c.ops('visibleUsers').length === 1);
    expect(server.stream.stats()).toMatchObject({ clients: 1, sessions: 1 });
  });

  it('does not resume a session for a different identity', async () => {
    server = await startServer();
    const resume = await registerThenCut(ann);
    const other = await reconnect(resume, { userId: 3, accountId: 2 });
    await other.ready();
    expect(other.session()).not.toBe(resume.session);
    expect(other.payload('myProfile')).toEqual([expect.objectContaining({ _id: 3 })]);
  });

  it('forgets a closed session after sessionGraceMs', async () => {
    server = await startServer({ sessionGraceMs: 50 });
    const resume = await registerThenCut(ann);
    await vi.waitFor(() => expect(server.stream.stats().sessions).toBe(0));
    const second = await reconnect(resume, ann);
    await second.ready();
    expect(second.of('resumed')).toEqual([]);
  });
});

describe('S9: slow consumers', () => {
  it('closes a socket that stops reading with 4429; others keep receiving; it catches up by resume', async () => {
    server = await startServer({}, { maxBufferedBytes: 64 * 1024 });
    const normal = await RawClient.register(server.url, ann);
    const slow = await RawClient.register(server.url, ann);
    clients.push(normal, slow);
    await normal.ready();
    await slow.ready();
    const resume = positions(slow);
    // stop reading: the kernel buffers fill and the server's send buffer grows
    slow.stopReading();

    const big = 'x'.repeat(16 * 1024);
    let n = 0;
    while (server.stream.stats().clients === 2 && n < 2000) {
      server.adapter.update('users', { _id: 2 }, { $set: { bio: `${n++}${big}` } });
      await new Promise((r) => setImmediate(r));
    }
    expect(server.stream.stats().clients).toBe(1);
    expect(server.stream.stats().sessions).toBe(2);
    server.adapter.update('users', { _id: 2 }, { $set: { name: 'still live' } });
    await normal.until((c) =>
      c.ops('visibleUsers').some((op) => (op as { data?: unknown }).data === 'still live'),
    );
    slow.resumeReading();
    await slow.until((c) => c.closed !== undefined, 10_000);
    expect(slow.closed?.code).toBe(4429);

    const back = await reconnect(resume, ann);
    await back.ready();
    // the backlog (1 MiB by default) no longer covers the big updates: that root starts over
    expect(back.of('payload', 'allUsers')).toHaveLength(1);
    expect(back.of('resumed', 'visibleUsers')).toHaveLength(1);
    await back.until((c) =>
      c.ops('visibleUsers').some((op) => (op as { data?: unknown }).data === 'still live'),
    );
  });
});

describe('S9: payloads do not count as slowness', () => {
  it('a client still draining a big payload is not cut at its first delta', async () => {
    server = await startServer({}, { maxBufferedBytes: 16 * 1024 });
    server.adapter.update('users', {}, { $set: { bio: 'y'.repeat(1024 * 1024) } });
    const c = new RawClient(server.url);
    clients.push(c);
    await c.opened;
    c.send({ type: 'register', protocol: 2, identity: { userId: 1, accountId: 1 } });
    c.stopReading();
    await expect
      .poll(
        async () =>
          (
            (await (await fetch(`${server.httpUrl}/particle/health`)).json()) as {
              bufferedBytes: number;
            }
          ).bufferedBytes,
      )
      .toBeGreaterThan(1024 * 1024);
    server.adapter.update('users', { _id: 1 }, { $set: { name: 'small change' } });
    c.resumeReading();
    await c.until((x) => x.ops('myProfile').length === 1, 10_000);
    expect(c.closed).toBeUndefined();
  });
});

describe('S9: many slow consumers', () => {
  it('200 clients that stop reading: buffered bytes stay bounded, all are cut, a reader carries on', async () => {
    const bound = 64 * 1024;
    server = await startServer({}, { maxBufferedBytes: bound });
    const reader = await RawClient.register(server.url, { userId: 1, accountId: 1 });
    clients.push(reader);
    const slow: RawClient[] = [];
    for (let i = 0; i < 200; i++) {
      const c = await RawClient.register(server.url, { userId: 2, accountId: 1 });
      clients.push(c);
      slow.push(c);
    }
    // 201 sockets on a busy 2-core machine: the waits are generous, the assertions are not.
    await Promise.all([reader, ...slow].map((c) => c.ready(30_000)));
    for (const c of slow) c.stopReading();

    const health = async (): Promise<{ clients: number; bufferedBytes: number }> =>
      (await (await fetch(`${server.httpUrl}/particle/health`)).json()) as {
        clients: number;
        bufferedBytes: number;
      };
    const big = 'x'.repeat(16 * 1024);
    let peak = 0;
    let n = 0;
    for (; n < 3000 && (await health()).clients > 1; n++) {
      server.adapter.update('users', { _id: 2 }, { $set: { bio: `${n}${big}` } });
      if (n % 10 === 0) peak = Math.max(peak, (await health()).bufferedBytes);
      await new Promise((r) => setImmediate(r));
    }
    const after = await health();
    expect(after.clients).toBe(1);
    // each socket stops taking deltas past the bound: at most one frame over it
    expect(peak).toBeLessThanOrEqual(200 * (bound + 20 * 1024));
    server.adapter.update('users', { _id: 2 }, { $set: { name: 'after the storm' } });
    await reader.until(
      (c) =>
        c.ops('visibleUsers').some((op) => (op as { data?: unknown }).data === 'after the storm'),
      30_000,
    );
    for (const c of slow) c.resumeReading();
    await Promise.all(slow.map((c) => c.closedWith(30_000)));
    // 4429 when the close frame got through; 1006 when the server had to cut a socket that did
    // not answer its close within a second. Both are resumable for a collector.
    for (const c of slow) expect([4429, 1006]).toContain(c.closed?.code);
  }, 60_000);
});
