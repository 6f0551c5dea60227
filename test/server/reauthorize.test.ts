import WebSocket from 'ws';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Collector, type WebSocketClass } from '../../src/client/index.js';
import { RawClient, startServer, type TestServer } from '../support/server.js';

let server: TestServer | undefined;
const cleanup: (() => void)[] = [];

afterEach(async () => {
  for (const f of cleanup.splice(0)) f();
  await server?.close();
  server = undefined;
});

/** Sign-in state the app keeps: session id -> user. identityLookup reads it. */
function appSessions(): Map<string, { userId: number; accountId: number }> {
  return new Map([
    ['ann', { userId: 1, accountId: 1 }],
    ['cid', { userId: 3, accountId: 2 }],
  ]);
}

async function serverWith(sessions: ReturnType<typeof appSessions>): Promise<TestServer> {
  return startServer({
    identityLookup: (identity) => {
      const user = sessions.get(String(identity.sid));
      if (!user) throw new Error('signed out');
      return { ...user };
    },
  });
}

function collector(url: string, sid: string): Collector {
  const c = new Collector({
    url,
    identity: { sid },
    WebSocket: WebSocket as unknown as WebSocketClass,
  });
  cleanup.push(() => c.disconnect());
  return c;
}

const names = (docs: unknown): string[] =>
  ((docs as { name: string }[] | undefined) ?? []).map((d) => d.name).sort();

describe('stream.reauthorize', () => {
  it('a signed-out user stops receiving at once (identity_rejected, 4403); others carry on', async () => {
    const sessions = appSessions();
    server = await serverWith(sessions);
    const ann = await RawClient.register(server.url, { sid: 'ann' });
    const cid = collector(server.url, 'cid');
    cleanup.push(() => ann.close());
    await ann.ready();
    await cid.ready();

    sessions.delete('ann');
    expect(await server.stream.reauthorize()).toBe(2);
    expect(await ann.closedWith()).toMatchObject({ code: 4403, reason: 'signed out' });
    expect(ann.of('error').at(-1)).toMatchObject({ code: 'identity_rejected' });
    const deltasBefore = ann.of('delta').length;

    server.adapter.update('users', { _id: 1 }, { $set: { name: 'Ann, after sign-out' } });
    await expect.poll(() => names(cid.data.allUsers)).toContain('Ann, after sign-out');
    expect(ann.of('delta').length).toBe(deltasBefore);
    expect(cid.status).toBe('ready');
    expect(server.stream.stats()).toMatchObject({ clients: 1, sessions: 1 });
  });

  it('a role change re-resolves the views live: the client shows the new account', async () => {
    const sessions = appSessions();
    server = await serverWith(sessions);
    const ann = collector(server.url, 'ann');
    await ann.ready();
    expect(names(ann.data.visibleUsers)).toEqual(['Ann', 'Ben']);

    sessions.set('ann', { userId: 1, accountId: 2 });
    expect(await server.stream.reauthorize((identity) => identity.userId === 1)).toBe(1);
    await expect.poll(() => names(ann.data.visibleUsers)).toEqual(['Cid']);
    expect(ann.status).toBe('ready');

    // live on the new view, and nothing more of the old one
    server.adapter.update('users', { _id: 3 }, { $set: { name: 'Cid 2' } });
    server.adapter.update('users', { _id: 2 }, { $set: { name: 'Ben 2' } });
    await expect.poll(() => names(ann.data.visibleUsers)).toEqual(['Cid 2']);
  });

  it('checks only the sessions the predicate names, and held sessions too', async () => {
    const sessions = appSessions();
    server = await serverWith(sessions);
    const ann = await RawClient.register(server.url, { sid: 'ann' });
    const cid = await RawClient.register(server.url, { sid: 'cid' });
    await ann.ready();
    await cid.ready();
    const annSession = ann.session();
    ann.close(); // held for resume
    await expect.poll(() => server?.stream.stats().clients).toBe(1);
    expect(server.stream.stats().sessions).toBe(2);

    sessions.clear();
    expect(await server.stream.reauthorize((identity) => identity.userId === 1)).toBe(1);
    expect(server.stream.stats().sessions).toBe(1);
    expect(cid.closed).toBeUndefined();

    // the held session is gone: a resume of it is refused by the lookup, never resumed
    const again = new RawClient(server.url);
    cleanup.push(
      () => again.close(),
      () => cid.close(),
    );
    await again.opened;
    again.send({
      type: 'register',
      protocol: 2,
      identity: { sid: 'ann' },
      resume: { session: annSession, roots: {} },
    });
    expect((await again.closedWith()).code).toBe(4403);
  });

  it('a resume with another sign-in (a new sid, same user) carries the new identity: signing that sid out reaches the resumed link', async () => {
    const valid = new Set(['t1', 't2']);
    server = await startServer({
      identityLookup: (identity) => {
        if (!valid.has(String(identity.sid))) throw new Error('signed out');
        return { userId: 1, accountId: 1, sid: identity.sid };
      },
    });
    const first = await RawClient.register(server.url, { sid: 't1' });
    await first.ready();
    const session = first.session();
    first.ws.terminate();
    await vi.waitFor(() => expect(server?.stream.stats().clients).toBe(0));
    const second = new RawClient(server.url);
    cleanup.push(() => second.close());
    await second.opened;
    second.send({
      type: 'register',
      protocol: 2,
      identity: { sid: 't2' },
      resume: { session, roots: {} },
    });
    await second.until((c) => c.session() === session);
    valid.delete('t2');
    expect(await server.stream.reauthorize((identity) => identity.sid === 't2')).toBe(1);
    expect(await second.closedWith()).toMatchObject({ code: 4403 });
  });

  it('without identityLookup there is nothing to re-check', async () => {
    server = await startServer();
    const c = await RawClient.register(server.url, { userId: 1, accountId: 1 });
    cleanup.push(() => c.close());
    await c.ready();
    expect(await server.stream.reauthorize()).toBe(0);
    await expect(server.stream.reauthorize('x' as never)).rejects.toThrow(TypeError);
  });
});
