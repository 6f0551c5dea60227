import { afterEach, expect, it, vi } from 'vitest';
import { MemoryAdapter, type DataSource } from '../../src/server/index.js';
import { RawClient, startServer, type TestServer } from '../support/server.js';

const me: DataSource = { collection: 'users', criteria: { _id: '@userId' }, manifest: true };
let server: TestServer | undefined;
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.close();
  server = undefined;
});

async function client(userId: string, resume?: string): Promise<RawClient> {
  const c = new RawClient((server as TestServer).url);
  clients.push(c);
  await c.opened;
  c.send({
    type: 'register',
    protocol: 2,
    identity: { userId },
    ...(resume ? { resume: { session: resume, roots: {} } } : {}),
  });
  return c;
}

it('a process holds at most maxSessions: the longest-idle one makes room, and with all live a new client is refused with rate_limited', async () => {
  server = await startServer({
    adapter: new MemoryAdapter({ collections: { users: [] } }),
    dataSources: { me },
    maxSessions: 2,
  });
  const ann = await client('ann');
  const bob = await client('bob');
  await ann.ready();
  await bob.ready();
  const cat = await client('cat');
  expect(await cat.closedWith()).toMatchObject({ code: 4430 });
  expect(cat.of('error')[0]).toMatchObject({ code: 'rate_limited' });
  expect(String(cat.of('error')[0]?.message)).toContain('most sessions (2)');
  expect(server.stream.stats().sessions).toBe(2);

  // Ann's link closes: her session waits for a resume, and is the one to make room.
  const annSession = ann.session();
  ann.ws.terminate();
  await vi.waitFor(() => expect(server?.stream.stats().clients).toBe(1));
  const dan = await client('dan');
  await dan.ready();
  expect(server.stream.stats()).toMatchObject({ sessions: 2, clients: 2 });
  // Her resume finds nothing held (and no room while Bob and Dan are live).
  const back = await client('ann', annSession);
  expect(await back.closedWith()).toMatchObject({ code: 4430 });
  bob.close();
  await vi.waitFor(() => expect(server?.stream.stats().clients).toBe(1));
  const again = await client('ann', annSession);
  await again.ready();
  expect(again.session()).not.toBe(annSession);
});
