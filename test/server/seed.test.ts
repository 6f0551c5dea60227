import { afterEach, describe, expect, it } from 'vitest';
import { RawClient, startServer, type TestServer } from '../support/server.js';

let server: TestServer;
const clients: RawClient[] = [];

async function connect(identity: Record<string, unknown>): Promise<RawClient> {
  const client = await RawClient.register(server.url, identity);
  clients.push(client);
  return client;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.close();
});

const ann = { userId: 1, accountId: 1 };
const ben = { userId: 2, accountId: 1 };
const cid = { userId: 3, accountId: 2 };

describe('the seed configuration over real WebSockets', () => {
  it('sends each identity exactly the records and fields it may see', async () => {
    server = await startServer();
    const a = await connect(ann);
    const c = await connect(cid);
    await a.ready();
    await c.ready();

    expect(a.messages[0]).toMatchObject({ type: 'registered' });
    expect(a.messages[1]).toEqual({
      type: 'manifest',
      sources: {
        myProfile: true,
        myStuff: true,
        visibleUsers: { name: true, _id: true },
        notFound: true,
        allUsers: true,
        redThings: true,
      },
    });
    expect(a.payload('myProfile')).toEqual([
      {
        _id: 1,
        name: 'Ann',
        accountId: 1,
        email: 'ann@example.com',
        address: { state: 'CA', city: 'SF' },
      },
    ]);
    expect(a.payload('myStuff')).toEqual([
      { _id: 10, name: 'lamp', price: 20 },
      { _id: 11, name: 'desk', price: 200 },
    ]);
    expect(a.payload('visibleUsers')).toEqual([
      { _id: 1, name: 'Ann' },
      { _id: 2, name: 'Ben' },
    ]);
    expect(a.payload('notFound')).toEqual([]);
    expect(a.payload('allUsers').map((u) => (u as { _id: number })._id)).toEqual([1, 2, 3]);
    expect(a.payload('redThings')).toEqual([
      { _id: 1000, colorId: 'c1', name: 'apple' },
      { _id: 1002, colorId: 'c1', name: 'cherry' },
    ]);

    expect(c.payload('myProfile')).toEqual([expect.objectContaining({ _id: 3, name: 'Cid' })]);
    expect(c.payload('myStuff')).toEqual([]);
    expect(c.payload('visibleUsers')).toEqual([{ _id: 3, name: 'Cid' }]);
  });

  it('routes inserts, updates and removes only to the clients that may see them', async () => {
    server = await startServer();
    const a = await connect(ann);
    const c = await connect(cid);
    await a.ready();
    await c.ready();

    server.adapter.insert('users', { _id: 4, name: 'Dee', accountId: 2, email: 'dee@example.com' });
    server.adapter.update('users', { _id: 2 }, { $set: { name: 'Benny' } });
    server.adapter.remove('users', { _id: 3 });
    await a.until((x) => x.ops('allUsers').length === 3);
    await c.until((x) => x.ops('visibleUsers').length === 2);

    expect(a.ops('visibleUsers')).toEqual([
      { operation: 'set', id: 2, path: 'name', data: 'Benny' },
    ]);
    expect(c.ops('visibleUsers')).toEqual([
      { operation: 'insert', id: 4, data: { _id: 4, name: 'Dee' } },
      { operation: 'remove', id: 3 },
    ]);
    expect(a.ops('allUsers')).toEqual([
      {
        operation: 'insert',
        id: 4,
        data: { _id: 4, name: 'Dee', accountId: 2, email: 'dee@example.com' },
      },
      { operation: 'set', id: 2, path: 'name', data: 'Benny' },
      { operation: 'remove', id: 3 },
    ]);
    expect(c.ops('myProfile')).toEqual([{ operation: 'remove', id: 3 }]);
    expect(a.ops('myProfile')).toEqual([]);
  });

  it('S5: moves records into and out of a view when a change makes them match or stop matching', async () => {
    server = await startServer();
    const a = await connect(ann);
    await a.ready();
    server.adapter.update('users', { _id: 3 }, { $set: { accountId: 1 } });
    server.adapter.update('users', { _id: 2 }, { $set: { accountId: 9 } });
    await a.until((x) => x.ops('visibleUsers').length === 2);
    expect(a.ops('visibleUsers')).toEqual([
      { operation: 'insert', id: 3, data: { _id: 3, name: 'Cid' } },
      { operation: 'remove', id: 2 },
    ]);
  });

  it('follows join rows: stuff enters and leaves myStuff as userstuffs rows come and go', async () => {
    server = await startServer();
    const a = await connect(ann);
    const b = await connect(ben);
    await a.ready();
    await b.ready();
    server.adapter.insert('userstuffs', { _id: 103, userId: 1, stuffId: 12 });
    await a.until((x) => x.ops('myStuff').length === 1);
    expect(a.ops('myStuff')).toEqual([
      { operation: 'insert', id: 12, data: { _id: 12, name: 'rug', price: 80 } },
    ]);

    server.adapter.remove('userstuffs', { _id: 100 });
    await a.until((x) => x.ops('myStuff').length === 2);
    expect(a.ops('myStuff')[1]).toEqual({ operation: 'remove', id: 10 });

    // a change to a piped-to record reaches everyone whose pipe leads to it
    server.adapter.update('stuffs', { _id: 12 }, { $inc: { price: 1 } });
    await a.until((x) => x.ops('myStuff').length === 3);
    await b.until((x) => x.ops('myStuff').length === 1);
    expect(b.ops('myStuff')).toEqual([{ operation: 'set', id: 12, path: 'price', data: 81 }]);

    // lookup by string: a new red color brings its things in
    server.adapter.insert('colors', { _id: 'c3', name: 'red' });
    server.adapter.insert('things', { _id: 1003, colorId: 'c3', name: 'rose' });
    server.adapter.update('colors', { _id: 'c2' }, { $set: { name: 'red' } });
    await a.until((x) => x.ops('redThings').length === 2);
    expect(a.ops('redThings')).toEqual([
      { operation: 'insert', id: 1003, data: { _id: 1003, colorId: 'c3', name: 'rose' } },
      { operation: 'insert', id: 1001, data: { _id: 1001, colorId: 'c2', name: 'sky' } },
    ]);
  });

  it('S4: never sends fields outside the manifest, in payloads or deltas', async () => {
    server = await startServer();
    const a = await connect(ann);
    await a.ready();
    server.adapter.update('users', { _id: 2 }, { $set: { email: 'new@example.com' } });
    server.adapter.update('users', { _id: 2 }, { $set: { name: 'B', email: 'b@example.com' } });
    await a.until((x) => x.ops('allUsers').length === 3);
    expect(a.ops('visibleUsers')).toEqual([{ operation: 'set', id: 2, path: 'name', data: 'B' }]);
    const frames = a.of('payload', 'visibleUsers').concat(a.of('delta', 'visibleUsers'));
    expect(JSON.stringify(frames)).not.toContain('example.com');
  });

  it('S3: versions count up by one per delta within an epoch', async () => {
    server = await startServer();
    const a = await connect(ann);
    await a.ready();
    // One write per tick: the changes of one tick would go out as one delta.
    for (let i = 0; i < 5; i++) {
      server.adapter.update('users', { _id: 1 }, { $inc: { visits: 1 } });
      await new Promise((r) => setImmediate(r));
    }
    await a.until((x) => x.of('delta', 'allUsers').length === 5);
    const payload = a.of('payload', 'allUsers')[0] as unknown as { epoch: string; version: number };
    const deltas = a.of('delta', 'allUsers') as unknown as { epoch: string; version: number }[];
    expect(deltas.map((d) => d.version)).toEqual([1, 2, 3, 4, 5].map((n) => payload.version + n));
    expect(new Set(deltas.map((d) => d.epoch))).toEqual(new Set([payload.epoch]));
  });

  it('a one-field update travels as a compact delta: short epoch, numeric timestamp, an op array', async () => {
    server = await startServer();
    const a = await connect(ann);
    await a.ready();
    const before = Date.now();
    server.adapter.update('users', { _id: 2 }, { $set: { name: 'B' } });
    await a.until((x) => x.of('delta', 'visibleUsers').length === 1);
    const { epoch, timestamp } = a.of('delta', 'visibleUsers')[0] as unknown as {
      epoch: string;
      timestamp: number;
    };
    expect(epoch).toMatch(/^[0-9a-z]{1,4}$/);
    expect(timestamp).toBeGreaterThanOrEqual(before);
    expect(timestamp).toBeLessThanOrEqual(Date.now());
    const text = `{"type":"delta","root":"visibleUsers","epoch":"${epoch}","version":1,"timestamp":${timestamp},"ops":[["set",2,"name","B"]]}`;
    expect(a.frames).toContain(text);
  });

  it('answers GET <path>/health with JSON and leaves other upgrade paths alone', async () => {
    server = await startServer();
    const a = await connect(ann);
    await a.ready();
    const res = await fetch(`${server.httpUrl}/particle/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok', clients: 1, sessions: 1 });

    let otherUpgrade = false;
    server.server.on('upgrade', (req, socket) => {
      if (req.url === '/other') {
        otherUpgrade = true;
        socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
      }
    });
    const other = new RawClient(server.url.replace('/particle', '/other'));
    await expect(other.opened).rejects.toThrow(/404/);
    expect(otherUpgrade).toBe(true);
  });
});
