import { afterEach, describe, expect, it } from 'vitest';
import { MemoryAdapter, ParticleError } from '../../src/server/index.js';
import { seedCollections } from '../support/seed.js';
import { RawClient, startServer, type TestServer } from '../support/server.js';

let server: TestServer;
const clients: RawClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.close();
});

async function open(): Promise<RawClient> {
  const client = new RawClient(server.url);
  clients.push(client);
  await client.opened;
  return client;
}

/** A registered client that must keep receiving deltas whatever happens to the others. */
async function bystander(): Promise<RawClient> {
  const client = await RawClient.register(server.url, { userId: 1, accountId: 1 });
  clients.push(client);
  await client.ready();
  return client;
}

async function stillServed(client: RawClient, n: number): Promise<void> {
  server.adapter.update('users', { _id: 1 }, { $set: { name: `Ann ${n}` } });
  await client.until((c) =>
    c.ops('myProfile').some((op) => (op as { data?: unknown }).data === `Ann ${n}`),
  );
  expect(client.closed).toBeUndefined();
}

describe('S7: hostile input closes only the offending socket', () => {
  it.each([
    ['garbage text', 'not json {'],
    ['a JSON array', '[1,2,3]'],
    ['wrong field types', JSON.stringify({ type: 'register', protocol: 2, identity: 'me' })],
    ['an unknown message type', JSON.stringify({ type: 'subscribe', path: 'users' })],
  ])('%s: error bad_message, close 4400', async (_name, frame) => {
    server = await startServer();
    const other = await bystander();
    const bad = await open();
    bad.send(frame);
    expect(await bad.closedWith()).toMatchObject({ code: 4400 });
    expect(bad.messages).toEqual([
      { type: 'error', code: 'bad_message', message: expect.any(String) },
    ]);
    await stillServed(other, 1);
  });

  it('a second register on one socket: bad_message, close 4400', async () => {
    server = await startServer();
    const other = await bystander();
    const twice = await RawClient.register(server.url, { userId: 2, accountId: 1 });
    clients.push(twice);
    await twice.ready();
    twice.send({ type: 'register', protocol: 2, identity: { userId: 1, accountId: 1 } });
    expect(await twice.closedWith()).toMatchObject({ code: 4400 });
    expect(twice.of('error')).toEqual([expect.objectContaining({ code: 'bad_message' })]);
    await stillServed(other, 2);
  });

  it('another protocol version (a client of protocol 1): protocol_mismatch, close 4426', async () => {
    server = await startServer();
    const c = await open();
    c.send({ type: 'register', protocol: 1, identity: {} });
    expect(await c.closedWith()).toMatchObject({ code: 4426 });
    expect(c.of('error')[0]).toMatchObject({
      code: 'protocol_mismatch',
      message: 'this server speaks protocol 2, the client sent 1',
    });
  });

  it('a frame over maxFrameBytes is closed by the WebSocket layer with 1009', async () => {
    server = await startServer({}, { maxFrameBytes: 1024 });
    const other = await bystander();
    const c = await open();
    c.send({ type: 'register', protocol: 2, identity: { pad: 'x'.repeat(4096) } });
    expect(await c.closedWith()).toMatchObject({ code: 1009 });
    await stillServed(other, 3);
  });

  it('no register within registerTimeoutMs: bad_message, close 4408', async () => {
    server = await startServer({}, { registerTimeoutMs: 100 });
    const other = await bystander();
    const idle = await open();
    expect(await idle.closedWith()).toMatchObject({ code: 4408 });
    expect(idle.of('error')[0]).toMatchObject({ code: 'bad_message' });
    await stillServed(other, 4);
  });
});

describe('S6: identity safety', () => {
  it('refuses an operator object in a referenced identity field (bad_identity, 4401)', async () => {
    server = await startServer();
    const c = await RawClient.register(server.url, { userId: { $ne: null }, accountId: 1 });
    clients.push(c);
    expect(await c.closedWith()).toMatchObject({ code: 4401 });
    expect(c.messages).toEqual([
      { type: 'error', code: 'bad_identity', message: expect.stringContaining('userId') },
    ]);
  });

  it('refuses an array holding an operator object', async () => {
    server = await startServer();
    const c = await RawClient.register(server.url, { userId: [1, { $gt: 0 }], accountId: 1 });
    clients.push(c);
    expect(await c.closedWith()).toMatchObject({ code: 4401 });
  });

  it('a missing identity field matches nothing instead of every record lacking the field', async () => {
    server = await startServer();
    server.adapter.insert('users', { _id: 5, name: 'No account' });
    const c = await RawClient.register(server.url, { userId: 5 });
    clients.push(c);
    await c.ready();
    expect(c.payload('visibleUsers')).toEqual([]);
    expect(c.payload('myProfile')).toEqual([expect.objectContaining({ _id: 5 })]);
  });

  it('identityLookup sees the upgrade request; a throw refuses with its message (identity_rejected, 4403)', async () => {
    const seen: (string | undefined)[] = [];
    server = await startServer({
      identityLookup: (identity, request) => {
        seen.push(request?.headers['user-agent'] ?? request?.url);
        if (identity.token !== 'good') throw new Error('unknown session token');
        return { userId: 2, accountId: 1 };
      },
    });
    const bad = await RawClient.register(server.url, { token: 'forged', userId: 1, accountId: 1 });
    clients.push(bad);
    expect(await bad.closedWith()).toMatchObject({ code: 4403 });
    expect(bad.messages).toEqual([
      { type: 'error', code: 'identity_rejected', message: 'unknown session token' },
    ]);

    // references read what the lookup returned, never the claimed fields
    const good = await RawClient.register(server.url, { token: 'good', userId: 1, accountId: 2 });
    clients.push(good);
    await good.ready();
    expect(good.payload('myProfile')).toEqual([expect.objectContaining({ _id: 2 })]);
    expect(good.payload('visibleUsers').map((u) => (u as { _id: number })._id)).toEqual([1, 2]);
    expect(seen).toHaveLength(2);
    expect(seen[0]).toBeDefined();
  });

  it('an ObjectId-like string never matches a differently typed id', async () => {
    server = await startServer();
    const c = await RawClient.register(server.url, { userId: '1', accountId: '1' });
    clients.push(c);
    await c.ready();
    expect(c.payload('myProfile')).toEqual([]);
    expect(c.payload('visibleUsers')).toEqual([]);
  });
});

describe('a change feed that cannot open', () => {
  it('refuses registrations with the reason (internal, 1011) instead of hanging', async () => {
    const adapter = new MemoryAdapter({ collections: seedCollections() });
    adapter.watch = () =>
      Promise.reject(new ParticleError('config', 'change streams need a replica set'));
    server = await startServer({ adapter });
    const c = await RawClient.register(server.url, { userId: 1, accountId: 1 });
    clients.push(c);
    expect(await c.closedWith()).toMatchObject({ code: 1011 });
    expect(c.of('error')[0]).toMatchObject({
      code: 'internal',
      message: expect.stringContaining('replica set'),
    });
  });
});
