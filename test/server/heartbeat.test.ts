import { afterEach, describe, expect, it } from 'vitest';
import { RawClient, startServer, type TestServer } from '../support/server.js';

let server: TestServer;
const clients: RawClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.close();
});

describe('heartbeats', () => {
  it('sends a heartbeat message after heartbeatMs of silence', async () => {
    server = await startServer({}, { heartbeatMs: 40 });
    const c = await RawClient.register(server.url, { userId: 1, accountId: 1 });
    clients.push(c);
    await c.ready();
    await c.until((x) => x.of('heartbeat').length >= 2);
    expect(c.closed).toBeUndefined();
  });

  it('terminates a peer that stops answering pings, and its session waits for a resume', async () => {
    server = await startServer({}, { heartbeatMs: 40 });
    const c = await RawClient.register(server.url, { userId: 1, accountId: 1 });
    clients.push(c);
    await c.ready();
    // a half-open link: the peer reads nothing and answers no ping
    c.stopReading();
    await expect.poll(() => server.stream.stats().clients, { timeout: 3000 }).toBe(0);
    expect(server.stream.stats().sessions).toBe(1);
  });
});

describe('shutdown', () => {
  it('stream.disconnect() closes every socket with 1001', async () => {
    server = await startServer();
    const a = await RawClient.register(server.url, { userId: 1, accountId: 1 });
    const idle = new RawClient(server.url);
    clients.push(a, idle);
    await a.ready();
    await idle.opened;
    await server.stream.disconnect();
    expect(await a.closedWith()).toMatchObject({ code: 1001 });
    expect(await idle.closedWith()).toMatchObject({ code: 1001 });
  });
});
