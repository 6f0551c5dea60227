import { afterEach, describe, expect, it } from 'vitest';
import Type from 'typebox';
import { z } from 'zod';
import {
  MemoryAdapter,
  Stream,
  type DataSource,
  type StreamOptions,
} from '../../src/server/index.js';
import { RawClient, startServer, type TestServer, type WireMessage } from '../support/server.js';

/** A team chat: Ann is a member of c1 only, Bob of c2 only. */
function chat(): MemoryAdapter {
  const messages = [];
  for (let i = 1; i <= 5; i++) {
    messages.push({ _id: `a${i}`, channelId: 'c1', text: `c1 #${i}`, createdAt: i, secret: 's' });
  }
  messages.push({ _id: 'b1', channelId: 'c2', text: 'c2 #1', createdAt: 1, secret: 's' });
  return new MemoryAdapter({
    collections: {
      users: [
        { _id: 'ann', name: 'Ann' },
        { _id: 'bob', name: 'Bob' },
      ],
      memberships: [
        { _id: 'm1', userId: 'ann', channelId: 'c1' },
        { _id: 'm2', userId: 'bob', channelId: 'c2' },
      ],
      messages,
    },
  });
}

const me: DataSource = {
  collection: 'users',
  criteria: { _id: '@userId' },
  manifest: { name: true },
};
const messages: DataSource = {
  collection: 'messages',
  params: z.object({ channelId: z.string() }),
  criteria: {
    channelId: '$channelId',
    $and: [{ channelId: '@userId|memberships.userId>memberships.channelId' }],
  },
  sort: { createdAt: -1 },
  limit: { default: 3, max: 4 },
  manifest: { text: true, createdAt: true },
};

let server: TestServer | undefined;
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.close();
  server = undefined;
});

async function start(options: Partial<StreamOptions> = {}, mw = {}): Promise<TestServer> {
  server = await startServer(
    { adapter: chat(), dataSources: { me, messages }, cacheConfig: {}, ...options },
    mw,
  );
  return server;
}

async function client(identity: Record<string, unknown> = { userId: 'ann' }): Promise<RawClient> {
  const c = await RawClient.register((server as TestServer).url, identity);
  clients.push(c);
  await c.ready();
  return c;
}

const ids = (docs: unknown): unknown[] => (docs as { _id: unknown }[]).map((d) => d._id);
const last = (c: RawClient, type: string, sub: string): WireMessage | undefined =>
  c.messages.filter((m) => m.type === type && (m.root === sub || m.sub === sub)).at(-1);
const errorOf = async (c: RawClient, sub: string): Promise<WireMessage> => {
  await c.until(() => last(c, 'subscription_error', sub) !== undefined);
  return last(c, 'subscription_error', sub) as WireMessage;
};

describe('subscriptions with params', () => {
  it('a source with params is not sent at register; subscribing sends its manifest, then the window', async () => {
    await start();
    const c = await client();
    expect(Object.keys((c.of('manifest')[0] as unknown as { sources: object }).sources)).toEqual([
      'me',
    ]);
    c.send({ type: 'subscribe', sub: 's1', source: 'messages', params: { channelId: 'c1' } });
    await c.until(() => c.of('payload', 's1').length > 0);
    expect(last(c, 'subscribed', 's1')).toEqual({
      type: 'subscribed',
      sub: 's1',
      manifest: { text: true, createdAt: true },
      options: { sort: { createdAt: -1 }, limit: 3 },
    });
    const payload = c.of('payload', 's1')[0] as WireMessage;
    expect(ids(payload.data)).toEqual(['a5', 'a4', 'a3']);
    expect(payload).toMatchObject({ version: 0, more: true });
    expect(JSON.stringify(payload.data)).not.toContain('secret');
  });

  it('the window stays live: a newer document slides in, the oldest slides out, in one delta', async () => {
    const { adapter } = await start();
    const c = await client();
    c.send({ type: 'subscribe', sub: 's1', source: 'messages', params: { channelId: 'c1' } });
    await c.until(() => c.of('payload', 's1').length > 0);
    adapter.insert('messages', { _id: 'a6', channelId: 'c1', text: 'new', createdAt: 6 });
    await c.until(() => c.of('delta', 's1').length === 1);
    const delta = c.of('delta', 's1')[0] as WireMessage;
    expect(delta.version).toBe(1);
    expect(delta.ops).toEqual(
      expect.arrayContaining([
        { operation: 'remove', id: 'a3' },
        { operation: 'insert', id: 'a6', data: { _id: 'a6', text: 'new', createdAt: 6 } },
      ]),
    );
    expect(delta.ops).toHaveLength(2);
    // A removal inside the window brings the next older one in; `more` turns false when the
    // last one beyond the window is gone.
    adapter.remove('messages', { _id: { $in: ['a1', 'a2'] } });
    adapter.remove('messages', { _id: 'a6' });
    await c.until(() => c.of('delta', 's1').some((d) => d.more === false));
    const window = c.of('delta', 's1').flatMap((d) => d.ops as { operation: string; id: string }[]);
    expect(window.filter((o) => o.operation === 'insert').map((o) => o.id)).toEqual(['a6', 'a3']);
    // a change outside the channel sends nothing to this window
    const before = c.of('delta', 's1').length;
    adapter.insert('messages', { _id: 'b9', channelId: 'c2', text: 'other', createdAt: 9 });
    adapter.update('users', { _id: 'ann' }, { $set: { name: 'Ann 2' } });
    await c.until(() => c.of('delta', 'me').length === 1);
    expect(c.of('delta', 's1')).toHaveLength(before);
  });

  it('the same sub with a higher limit pages older documents in as inserts; above max is clamped', async () => {
    await start();
    const c = await client();
    c.send({ type: 'subscribe', sub: 's1', source: 'messages', params: { channelId: 'c1' } });
    await c.until(() => c.of('payload', 's1').length > 0);
    c.send({
      type: 'subscribe',
      sub: 's1',
      source: 'messages',
      params: { channelId: 'c1' },
      limit: 100,
    });
    await c.until(() => c.of('delta', 's1').length === 1);
    expect(c.of('subscribed', undefined).at(-1)).toMatchObject({ options: { limit: 4 } });
    expect(c.of('delta', 's1')[0]).toMatchObject({
      version: 1,
      ops: [{ operation: 'insert', id: 'a2' }],
    });
    expect(c.of('payload', 's1')).toHaveLength(1);
    c.send({
      type: 'subscribe',
      sub: 's1',
      source: 'messages',
      params: { channelId: 'c1' },
      limit: 0,
    });
    expect(await errorOf(c, 's1')).toMatchObject({ code: 'bad_params', message: /at least 1/ });
  });

  it('a param naming a channel the identity may not see yields nothing, live, also after membership changes', async () => {
    const { adapter } = await start();
    const c = await client();
    c.send({ type: 'subscribe', sub: 'x', source: 'messages', params: { channelId: 'c2' } });
    await c.until(() => c.of('payload', 'x').length > 0);
    expect(c.payload('x')).toEqual([]);
    adapter.insert('messages', { _id: 'b2', channelId: 'c2', text: 'private', createdAt: 2 });
    adapter.update('users', { _id: 'ann' }, { $set: { name: 'Ann 2' } });
    await c.until(() => c.of('delta', 'me').length === 1);
    expect(c.of('delta', 'x')).toEqual([]);
    // Ann joins c2: the window fills; she leaves: it empties again.
    adapter.insert('memberships', { _id: 'm3', userId: 'ann', channelId: 'c2' });
    await c.until(() => c.ops('x').length === 2);
    expect(
      c
        .ops('x')
        .map((o) => (o as { id: string }).id)
        .sort(),
    ).toEqual(['b1', 'b2']);
    adapter.remove('memberships', { _id: 'm3' });
    await c.until(() => c.ops('x').length === 4);
    expect(c.ops('x').slice(2)).toEqual(
      expect.arrayContaining([
        { operation: 'remove', id: 'b1' },
        { operation: 'remove', id: 'b2' },
      ]),
    );
  });

  it('errors end one subscription only: bad params, unknown source, a taken name, a bad id', async () => {
    const { adapter } = await start();
    const c = await client();
    c.send({ type: 'subscribe', sub: 's1', source: 'messages', params: { channelId: 5 } });
    expect(await errorOf(c, 's1')).toMatchObject({
      code: 'bad_params',
      message: expect.stringContaining('params.channelId') as string,
    });
    c.send({ type: 'subscribe', sub: 's2', source: 'mesages', params: {} });
    expect(await errorOf(c, 's2')).toMatchObject({ code: 'unknown_source' });
    c.send({ type: 'subscribe', sub: 'me', source: 'messages', params: { channelId: 'c1' } });
    expect(await errorOf(c, 'me')).toMatchObject({ code: 'bad_message' });
    c.send({
      type: 'subscribe',
      sub: 'no spaces',
      source: 'messages',
      params: { channelId: 'c1' },
    });
    expect(await errorOf(c, 'no spaces')).toMatchObject({ code: 'bad_message' });
    c.send({ type: 'subscribe', sub: 's3', source: 'me', params: { a: 1 } });
    expect(await errorOf(c, 's3')).toMatchObject({ code: 'bad_params', message: /no params/ });
    c.send({
      type: 'subscribe',
      sub: 's4',
      source: 'messages',
      params: { channelId: 'c1', x: {} },
    });
    await c.until(() => c.of('payload', 's4').length > 0);
    // The same sub with other params is refused and the live subscription carries on.
    c.send({ type: 'subscribe', sub: 's4', source: 'messages', params: { channelId: 'c2' } });
    expect(await errorOf(c, 's4')).toMatchObject({ code: 'bad_params' });
    adapter.insert('messages', { _id: 'a7', channelId: 'c1', text: 'still', createdAt: 7 });
    await c.until(() => c.of('delta', 's4').length === 1);
    expect(c.closed).toBeUndefined();
  });

  it('authorize refuses with forbidden (false or a throw), with the resolved identity and validated params', async () => {
    const seen: unknown[] = [];
    await start({
      dataSources: {
        me,
        messages: {
          ...messages,
          authorize: ({ identity, params }) => {
            seen.push([identity.userId, params.channelId]);
            if (params.channelId === 'boom') throw new Error('no');
            return params.channelId !== 'c9';
          },
        },
      },
    });
    const c = await client();
    c.send({ type: 'subscribe', sub: 'a', source: 'messages', params: { channelId: 'c9' } });
    expect(await errorOf(c, 'a')).toMatchObject({ code: 'forbidden' });
    c.send({ type: 'subscribe', sub: 'b', source: 'messages', params: { channelId: 'boom' } });
    expect(await errorOf(c, 'b')).toMatchObject({ code: 'forbidden' });
    c.send({ type: 'subscribe', sub: 'c', source: 'messages', params: { channelId: 'c1' } });
    await c.until(() => c.of('payload', 'c').length > 0);
    expect(seen).toEqual([
      ['ann', 'c9'],
      ['ann', 'boom'],
      ['ann', 'c1'],
    ]);
  });

  it('maxSubscriptions bounds a client; unsubscribe frees a place and stops the deltas', async () => {
    const { adapter } = await start({ maxSubscriptions: 2 });
    const c = await client();
    for (const sub of ['a', 'b', 'c']) {
      c.send({ type: 'subscribe', sub, source: 'messages', params: { channelId: 'c1' } });
    }
    expect(await errorOf(c, 'c')).toMatchObject({ code: 'too_many_subscriptions' });
    c.send({ type: 'unsubscribe', sub: 'a' });
    await c.until(() => c.of('unsubscribed').length === 1);
    c.send({ type: 'subscribe', sub: 'c', source: 'messages', params: { channelId: 'c1' } });
    await c.until(() => c.of('payload', 'c').length > 0);
    adapter.insert('messages', { _id: 'a8', channelId: 'c1', text: 'hi', createdAt: 8 });
    await c.until(() => c.of('delta', 'b').length === 1 && c.of('delta', 'c').length === 1);
    expect(c.of('delta', 'a')).toEqual([]);
  });

  it('clients with the same channel share one group', async () => {
    const { stream } = await start();
    const a = await client();
    const b = await client();
    const groups = stream.stats().groups;
    for (const c of [a, b]) {
      c.send({ type: 'subscribe', sub: 's', source: 'messages', params: { channelId: 'c1' } });
      await c.until(() => c.of('payload', 's').length > 0);
    }
    expect(stream.stats().groups).toBe(groups + 1);
  });

  it('resume: a held subscription resumes with the deltas it missed; one the server no longer holds is unsubscribed', async () => {
    const { adapter } = await start();
    const first = await client();
    first.send({ type: 'subscribe', sub: 's1', source: 'messages', params: { channelId: 'c1' } });
    await first.until(() => first.of('payload', 's1').length > 0);
    const payload = first.of('payload', 's1')[0] as WireMessage;
    const mePayload = first.of('payload', 'me')[0] as WireMessage;
    first.close();
    await expect.poll(() => (server as TestServer).stream.stats().clients).toBe(0);
    adapter.insert('messages', { _id: 'a6', channelId: 'c1', text: 'missed', createdAt: 6 });
    const again = new RawClient((server as TestServer).url);
    clients.push(again);
    await again.opened;
    again.send({
      type: 'register',
      protocol: 2,
      identity: { userId: 'ann' },
      resume: {
        session: first.session(),
        roots: {
          me: { epoch: mePayload.epoch, version: 0 },
          s1: { epoch: payload.epoch, version: 0 },
          gone: { epoch: 'e', version: 0 },
        },
      },
    });
    await again.until(
      () => again.of('delta', 's1').length === 1 && again.of('unsubscribed').length === 1,
    );
    expect(again.of('subscribed')).toHaveLength(1);
    expect(again.of('resumed', 's1')).toEqual([
      { type: 'resumed', root: 's1', epoch: payload.epoch, version: 0 },
    ]);
    expect(again.of('payload', 's1')).toEqual([]);
    expect(again.of('unsubscribed')).toEqual([{ type: 'unsubscribed', sub: 'gone' }]);
  });

  it('in process: the unregister function sends subscribe and unsubscribe', async () => {
    const stream = new Stream({ adapter: chat(), dataSources: { me, messages } });
    const got: WireMessage[] = [];
    let unregister: ReturnType<Stream['register']> | undefined;
    await new Promise<void>((resolve, reject) => {
      unregister = stream.register(
        { userId: 'ann' },
        (_type, m) => got.push(m as WireMessage),
        (e) => (e ? reject(e) : resolve()),
      );
    });
    unregister?.send({
      type: 'subscribe',
      sub: 's',
      source: 'messages',
      params: { channelId: 'c1' },
    });
    await expect.poll(() => got.find((m) => m.type === 'payload' && m.root === 's')).toBeTruthy();
    unregister?.send({ type: 'unsubscribe', sub: 's' });
    await expect.poll(() => got.at(-1)).toEqual({ type: 'unsubscribed', sub: 's' });
    expect(() => unregister?.send({ type: 'register' } as never)).toThrow(TypeError);
    unregister?.();
    await stream.disconnect();
  });

  it('a client that floods frames is closed with rate_limited (4430), others carry on', async () => {
    await start(
      { maxSubscriptions: 1, maxLeases: 1, maxPublications: 1 },
      { maxMessagesPerSecond: 2 },
    );
    const other = await client();
    const flood = await client({ userId: 'bob' });
    for (let i = 0; i < 20; i++) flood.send({ type: 'unsubscribe', sub: `s${i}` });
    expect(await flood.closedWith()).toMatchObject({ code: 4430 });
    expect(flood.of('error')).toEqual([expect.objectContaining({ code: 'rate_limited' })]);
    // frames within the burst (2 x rate + maxSubscriptions + maxLeases + maxPublications) were
    // taken; the eighth was refused
    expect(flood.of('unsubscribed').length).toBeLessThanOrEqual(7);
    other.send({ type: 'subscribe', sub: 's', source: 'messages', params: { channelId: 'c1' } });
    await other.until(() => other.of('payload', 's').length > 0);
  });
});

describe('references in params and operands', () => {
  it('TypeBox params, $gte and $in operands, and a pipe that starts from a param', async () => {
    await start({
      dataSources: {
        me,
        since: {
          collection: 'messages',
          params: Type.Object({ since: Type.Number(), channels: Type.Array(Type.String()) }),
          criteria: { createdAt: { $gte: '$since' }, channelId: { $in: ['$channels', 'none'] } },
          manifest: { text: true },
        },
        byMember: {
          collection: 'messages',
          params: Type.Object({ userId: Type.String() }),
          criteria: { channelId: '$userId|memberships.userId>memberships.channelId' },
          manifest: { text: true },
        },
        notIn: {
          collection: 'messages',
          params: Type.Object({ skip: Type.Optional(Type.String()) }),
          criteria: { channelId: { $ne: '$skip' } },
          manifest: { text: true },
        },
      },
    });
    const c = await client();
    c.send({
      type: 'subscribe',
      sub: 'a',
      source: 'since',
      params: { since: 4, channels: ['c1'] },
    });
    c.send({ type: 'subscribe', sub: 'b', source: 'byMember', params: { userId: 'bob' } });
    c.send({ type: 'subscribe', sub: 'c', source: 'notIn', params: {} });
    c.send({ type: 'subscribe', sub: 'd', source: 'notIn', params: { skip: 'c1' } });
    c.send({ type: 'subscribe', sub: 'e', source: 'since', params: { since: 'x', channels: [] } });
    await c.until(() => ['a', 'b', 'c', 'd'].every((s) => c.of('payload', s).length > 0));
    expect(ids(c.payload('a')).sort()).toEqual(['a4', 'a5']);
    expect(ids(c.payload('b'))).toEqual(['b1']);
    // a missing param under $ne matches nothing (deny by default never inverts)
    expect(c.payload('c')).toEqual([]);
    expect(ids(c.payload('d'))).toEqual(['b1']);
    expect(await errorOf(c, 'e')).toMatchObject({ code: 'bad_params', message: /since/ });
  });

  it('a param object where a reference expects scalars is bad_params; $name without params is a config error', async () => {
    await start();
    const c = await client();
    c.send({ type: 'subscribe', sub: 'o', source: 'messages', params: { channelId: { $ne: 1 } } });
    expect(await errorOf(c, 'o')).toMatchObject({ code: 'bad_params' });
    expect(
      () =>
        new Stream({
          adapter: chat(),
          dataSources: {
            m: { collection: 'messages', criteria: { channelId: '$c' }, manifest: true },
          },
        }),
    ).toThrow(/reads a param, but this source declares no params/);
    expect(
      () =>
        new Stream({
          adapter: chat(),
          dataSources: { m: { ...messages, params: { parse: () => 1 } as never } },
        }),
    ).toThrow(/params must be a Standard Schema/);
  });
});
