import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import {
  MemoryAdapter,
  MutationError,
  type DataSource,
  type PublishedDataSource,
  type StreamOptions,
} from '../../src/server/index.js';
import { quietFor } from '../support/quiet.js';
import { RawClient, startServer, type TestServer, type WireMessage } from '../support/server.js';

const presence: PublishedDataSource = {
  published: 'many',
  params: z.object({ roomId: z.string() }),
  authorize: ({ identity, params }) =>
    (identity.rooms as string[] | undefined)?.includes(params.roomId as string) === true,
  accept: ({ identity, data }) => {
    const name = (data as { name?: unknown }).name;
    if (name === 'boom') throw new Error('the database password is hunter2');
    if (typeof name !== 'string') throw new MutationError('bad_name', 'name must be a string');
    return { name: name.slice(0, 40), userId: identity.userId };
  },
  manifest: { name: true, userId: true },
  sort: { name: 1 },
  goneAfterMs: 150,
};
const board: PublishedDataSource = {
  published: 'single',
  params: z.object({ roomId: z.string() }),
  manifest: true,
  goneAfterMs: 0,
};
const me: DataSource = { collection: 'users', criteria: { _id: '@userId' }, manifest: true };

let server: TestServer | undefined;
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.close();
  server = undefined;
});

async function start(options: Partial<StreamOptions> = {}): Promise<TestServer> {
  server = await startServer({
    adapter: new MemoryAdapter({ collections: { users: [] } }),
    dataSources: { me, presence, board },
    ...options,
  });
  return server;
}
async function client(userId: string, rooms = ['r1']): Promise<RawClient> {
  const c = await RawClient.register((server as TestServer).url, { userId, rooms });
  clients.push(c);
  await c.ready();
  return c;
}
/** Publishes `data` into room r1 of `presence` as publication `pub`. */
const publish = (c: RawClient, pub: string, data: unknown) =>
  c.send({ type: 'publish', pub, source: 'presence', params: { roomId: 'r1' }, data });

/** The documents of subscription `sub` as its payload and deltas leave them. */
function view(c: RawClient, sub: string): WireMessage[] {
  const docs = new Map<unknown, WireMessage>();
  let started = false;
  for (const m of c.messages) {
    if (m.root !== sub) continue;
    if (m.type === 'payload') {
      started = true;
      docs.clear();
      for (const d of m.data as WireMessage[]) docs.set(d._id, structuredClone(d));
    } else if (m.type === 'delta' && started) {
      for (const op of m.ops as {
        operation: string;
        id: unknown;
        path?: string;
        data?: unknown;
      }[]) {
        if (op.operation === 'insert') docs.set(op.id, structuredClone(op.data) as WireMessage);
        else if (op.operation === 'remove') docs.delete(op.id);
        else {
          const doc = docs.get(op.id) as Record<string, unknown>;
          const key = op.path as string;
          if (op.operation === 'set') doc[key] = op.data;
          else delete doc[key];
        }
      }
    }
  }
  return [...docs.values()].sort((a, b) => String(a.name).localeCompare(String(b.name)));
}
const removes = (c: RawClient, sub: string) =>
  c
    .of('delta', sub)
    .flatMap((m) => m.ops as { operation: string }[])
    .filter((op) => op.operation === 'remove').length;

describe('published sources: presence', () => {
  it('one document per publisher, shaped by accept (nobody publishes as someone else), updated as small ops, gone on stop', async () => {
    await start();
    const ann = await client('ann');
    const bob = await client('bob');
    const cat = await client('cat');
    cat.send({ type: 'subscribe', sub: 'room', source: 'presence', params: { roomId: 'r1' } });
    await cat.until(() => cat.of('payload', 'room').length === 1);
    publish(ann, 'p1', { name: 'Ann', userId: 'bob', admin: true });
    publish(bob, 'p1', { name: 'Bob' });
    await cat.until(() => view(cat, 'room').length === 2);
    expect(view(cat, 'room').map(({ name, userId }) => ({ name, userId }))).toEqual([
      { name: 'Ann', userId: 'ann' },
      { name: 'Bob', userId: 'bob' },
    ]);
    const ids = view(cat, 'room').map((d) => d._id);
    expect(ids).not.toContain(ann.session());
    expect(ids).not.toContain(bob.session());
    expect(JSON.stringify(cat.messages)).not.toContain('admin');

    const before = cat.of('delta', 'room').length;
    publish(ann, 'p1', { name: 'Ann (away)' });
    await cat.until(() => cat.of('delta', 'room').length === before + 1);
    expect(cat.of('delta', 'room').at(-1)?.ops).toEqual([
      { operation: 'set', id: ids[0], path: 'name', data: 'Ann (away)' },
    ]);

    bob.send({ type: 'unpublish', pub: 'p1' });
    await cat.until(() => view(cat, 'room').length === 1);
    expect(view(cat, 'room')[0]).toMatchObject({ name: 'Ann (away)', userId: 'ann' });
  });

  it('an identity may neither publish into nor follow a room authorize refuses; the room stays clean', async () => {
    await start();
    const ann = await client('ann');
    const eve = await client('eve', ['r2']);
    ann.send({ type: 'subscribe', sub: 'room', source: 'presence', params: { roomId: 'r1' } });
    await ann.until(() => ann.of('payload', 'room').length === 1);
    publish(eve, 'p1', { name: 'Eve' });
    eve.send({ type: 'subscribe', sub: 'spy', source: 'presence', params: { roomId: 'r1' } });
    await eve.until(() => eve.of('publish_error').length === 1);
    await eve.until(() => eve.of('subscription_error').length === 1);
    expect(eve.of('publish_error')[0]).toMatchObject({ pub: 'p1', code: 'forbidden' });
    expect(eve.of('subscription_error')[0]).toMatchObject({ sub: 'spy', code: 'forbidden' });
    await quietFor(30);
    expect(view(ann, 'room')).toEqual([]);
    expect(ann.of('delta', 'room')).toEqual([]);
    expect(eve.closed).toBeUndefined();
  });

  it('a socket cut and resumed within goneAfterMs never drops its document; cut for good, it goes once', async () => {
    const { url, stream } = await start();
    const ann = await client('ann');
    const cat = await client('cat');
    cat.send({ type: 'subscribe', sub: 'room', source: 'presence', params: { roomId: 'r1' } });
    publish(ann, 'p1', { name: 'Ann' });
    await cat.until(() => view(cat, 'room').length === 1);
    const session = ann.session();
    ann.ws.terminate();
    await vi.waitFor(() => expect(stream.stats().clients).toBe(1));
    const back = new RawClient(url);
    clients.push(back);
    await back.opened;
    back.send({
      type: 'register',
      protocol: 2,
      identity: { userId: 'ann', rooms: ['r1'] },
      resume: { session, roots: {} },
    });
    await back.until(() => back.session() === session);
    // Past goneAfterMs (150): the resume must have called the removal off.
    await quietFor(250);
    expect(removes(cat, 'room')).toBe(0);
    expect(view(cat, 'room')).toHaveLength(1);

    back.ws.terminate();
    // Within goneAfterMs of the cut the document stays.
    await quietFor(100);
    expect(view(cat, 'room')).toHaveLength(1);
    await cat.until(() => view(cat, 'room').length === 0);
    await quietFor(50);
    expect(removes(cat, 'room')).toBe(1);
  });

  it('bad publications are refused one by one, with the reason, and the socket carries on', async () => {
    await start({ maxPublications: 2 });
    const ann = await client('ann', ['r1', 'r2', 'r3']);
    const pub = (
      id: string,
      data: unknown,
      params: unknown = { roomId: 'r1' },
      source = 'presence',
    ) => ann.send({ type: 'publish', pub: id, source, params, data });
    pub('not an id!', { name: 'x' });
    pub('a', { name: 'x' }, {}, 'nope');
    pub('b', { name: 'x' }, {}, 'me');
    pub('c', { name: 'x' }, { roomId: 7 });
    pub('d', 'just text');
    pub('e', { name: 42 });
    pub('f', { name: 'boom' });
    pub('g', { big: 'x'.repeat(20_000) }, { roomId: 'r1' }, 'board');
    await ann.until(() => ann.of('publish_error').length === 8);
    const codes = Object.fromEntries(
      ann.of('publish_error').map((m) => [m.pub, [m.code, m.message]]),
    );
    expect(codes['not an id!']?.[0]).toBe('bad_message');
    expect(codes.a?.[0]).toBe('unknown_source');
    expect(codes.b).toEqual(['unknown_source', 'me is not a published source']);
    expect(codes.c?.[0]).toBe('bad_params');
    expect(codes.d?.[0]).toBe('rejected');
    expect(codes.e).toEqual(['rejected', 'name must be a string']);
    expect(codes.f).toEqual(['rejected', 'presence did not accept this value']);
    expect(codes.g?.[1]).toContain('at most 16384 bytes');
    expect(JSON.stringify(ann.messages)).not.toContain('hunter2');

    pub('h', { name: 'one' }, { roomId: 'r1' });
    pub('i', { name: 'two' }, { roomId: 'r2' });
    pub('j', { name: 'three' }, { roomId: 'r3' });
    await ann.until(() => ann.of('publish_error').length === 9);
    expect(ann.of('publish_error').at(-1)).toMatchObject({
      pub: 'j',
      code: 'too_many_publications',
    });
    // One client, one document per room: a second pub into the same room conflicts.
    ann.send({ type: 'unpublish', pub: 'i' });
    pub('k', { name: 'again' }, { roomId: 'r1' });
    await ann.until(() => ann.of('publish_error').length === 10);
    expect(ann.of('publish_error').at(-1)).toMatchObject({ pub: 'k', code: 'publish_conflict' });

    for (let i = 0; i < 30; i++) pub('h', { name: `n${i}` });
    await ann.until(() => ann.of('publish_error').some((m) => m.code === 'rate_limited'));
    expect(ann.closed).toBeUndefined();
    // The refused update ended the publication; the next one starts it again, latest value.
    ann.send({ type: 'subscribe', sub: 'room', source: 'presence', params: { roomId: 'r1' } });
    await ann.until(() => ann.of('payload', 'room').length === 1);
    expect(view(ann, 'room')).toMatchObject([{ name: 'n29' }]);
  });

  it('a changed identity (reauthorize) accepts each publication again, or ends it', async () => {
    const rooms = new Map<string, string[]>([['ann', ['r1']]]);
    const names = new Map<string, string>([['ann', 'ann']]);
    await start({
      identityLookup: (claimed) => ({
        userId: names.get(String(claimed.userId)),
        rooms: rooms.get(String(claimed.userId)) ?? [],
      }),
    });
    const ann = await client('ann');
    const cat = await client('cat');
    rooms.set('cat', ['r1']);
    await server?.stream.reauthorize((i) => i.userId === undefined);
    cat.send({ type: 'subscribe', sub: 'room', source: 'presence', params: { roomId: 'r1' } });
    publish(ann, 'p1', { name: 'Ann' });
    await cat.until(() => view(cat, 'room').length === 1);
    names.set('ann', 'ann-renamed');
    await server?.stream.reauthorize();
    await cat.until(() => view(cat, 'room')[0]?.userId === 'ann-renamed');
    // Only what authorize reads changes (criteria read userId alone): both are checked again.
    rooms.set('ann', []);
    await server?.stream.reauthorize();
    await ann.until(() => ann.of('publish_error').length === 1);
    expect(ann.of('publish_error')[0]).toMatchObject({ pub: 'p1', code: 'forbidden' });
    await cat.until(() => view(cat, 'room').length === 0);
    rooms.set('cat', []);
    await server?.stream.reauthorize();
    await cat.until(() => cat.of('subscription_error').length === 1);
    expect(cat.of('subscription_error')[0]).toMatchObject({ sub: 'room', code: 'forbidden' });
  });
});

describe('reauthorize and an authorize that reads the database', () => {
  it('a removed membership ends the subscription and the publication, though the identity is the same', async () => {
    const adapter = new MemoryAdapter({
      collections: { users: [], memberships: [{ _id: 'm1', userId: 'ben', roomId: 'r1' }] },
    });
    const member = async ({
      identity,
      params,
    }: {
      identity: Readonly<Record<string, unknown>>;
      params: Readonly<Record<string, unknown>>;
    }) =>
      (await adapter.find('memberships', { userId: identity.userId, roomId: params.roomId }))
        .length > 0;
    await start({
      adapter,
      identityLookup: (claimed) => ({ userId: claimed.userId }),
      dataSources: { me, presence: { ...presence, authorize: member } },
    });
    const ben = await client('ben');
    ben.send({ type: 'subscribe', sub: 'room', source: 'presence', params: { roomId: 'r1' } });
    publish(ben, 'p1', { name: 'Ben' });
    await ben.until(() => view(ben, 'room').length === 1);
    adapter.remove('memberships', { _id: 'm1' });
    expect(await server?.stream.reauthorize()).toBe(1);
    await ben.until(() => ben.of('subscription_error').length === 1);
    await ben.until(() => ben.of('publish_error').length === 1);
    expect(ben.of('subscription_error')[0]).toMatchObject({ sub: 'room', code: 'forbidden' });
    expect(ben.of('publish_error')[0]).toMatchObject({ pub: 'p1', code: 'forbidden' });
  });
});

describe('published sources: a single master', () => {
  it('a second live publisher gets publish_conflict; once the first stops, it may publish', async () => {
    await start();
    const ann = await client('ann');
    const bob = await client('bob');
    const cat = await client('cat');
    cat.send({ type: 'subscribe', sub: 'b', source: 'board', params: { roomId: 'r1' } });
    await cat.until(() => cat.of('payload', 'b').length === 1);
    const publish = (c: RawClient, text: string) =>
      c.send({
        type: 'publish',
        pub: 'm',
        source: 'board',
        params: { roomId: 'r1' },
        data: { text },
      });
    publish(ann, 'from ann');
    await cat.until(() => view(cat, 'b').length === 1);
    publish(bob, 'from bob');
    await bob.until(() => bob.of('publish_error').length === 1);
    expect(bob.of('publish_error')[0]).toMatchObject({ pub: 'm', code: 'publish_conflict' });
    expect(view(cat, 'b')).toEqual([{ _id: 'master', text: 'from ann' }]);
    ann.close();
    await cat.until(() => view(cat, 'b').length === 0);
    publish(bob, 'from bob');
    await cat.until(() => view(cat, 'b')[0]?.text === 'from bob');
  });
});
