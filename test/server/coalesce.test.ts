import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { mutator } from '../../src/server/index.js';
import type { ServerMessage } from '../../src/protocol/messages.js';
import { RawClient, startServer, type TestServer, type WireMessage } from '../support/server.js';
import { withOpObjects } from '../support/wireOps.js';

let server: TestServer;
const clients: RawClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.close();
});

const ann = { userId: 1, accountId: 1 };
const ben = { userId: 2, accountId: 1 };
const tick = () => new Promise((r) => setImmediate(r));

async function connect(identity: Record<string, unknown>): Promise<RawClient> {
  const c = await RawClient.register(server.url, identity);
  clients.push(c);
  await c.ready();
  return c;
}

const names = (ops: unknown[]) => ops.map((op) => (op as { data?: unknown }).data);

describe('the changes of one tick are one delta', () => {
  it('several writes in one tick reach each client as one delta with all their ops and one version', async () => {
    server = await startServer();
    const a = await connect(ann);
    const b = await connect(ben);
    const start = a.of('payload', 'allUsers')[0]?.version as number;
    for (let i = 0; i < 4; i++)
      server.adapter.update('users', { _id: 2 }, { $set: { name: `Ben ${i}` } });
    server.adapter.update('users', { _id: 3 }, { $set: { name: 'Cid 0' } });
    await a.until((c) => c.ops('allUsers').length === 5);
    await b.until((c) => c.ops('allUsers').length === 5);
    for (const c of [a, b]) {
      const deltas = c.of('delta', 'allUsers');
      expect(deltas).toHaveLength(1);
      expect(deltas[0]?.version).toBe(start + 1);
      expect(names(deltas[0]?.ops as unknown[])).toEqual([
        'Ben 0',
        'Ben 1',
        'Ben 2',
        'Ben 3',
        'Cid 0',
      ]);
    }
    // a root that saw only some of the tick's changes gets those, in the same one delta
    expect(a.of('delta', 'visibleUsers')).toHaveLength(1);

    // a write in a later tick is the next delta, one version on
    await tick();
    server.adapter.update('users', { _id: 2 }, { $set: { name: 'Ben later' } });
    await a.until((c) => c.of('delta', 'allUsers').length === 2);
    expect(a.of('delta', 'allUsers')[1]).toMatchObject({
      version: start + 2,
      ops: [{ operation: 'set', id: 2, path: 'name', data: 'Ben later' }],
    });
  });

  it('an in-process consumer (stream.register) gets the changes of one tick as one delta too', async () => {
    server = await startServer();
    const got: ServerMessage[] = [];
    let ready!: () => void;
    const registered = new Promise<void>((r) => (ready = r));
    const unregister = server.stream.register(ann, (_type, message) => {
      got.push(withOpObjects(message));
      if (message.type === 'payload' && message.root === 'redThings') ready();
    });
    await registered;
    for (let i = 0; i < 3; i++)
      server.adapter.update('users', { _id: 3 }, { $set: { name: `Cid ${i}` } });
    await tick();
    const deltas = got.filter((m) => m.type === 'delta' && m.root === 'allUsers');
    expect(deltas).toHaveLength(1);
    expect(names((deltas[0] as { ops: unknown[] }).ops)).toEqual(['Cid 0', 'Cid 1', 'Cid 2']);
    unregister();
  });

  it('a coalesced delta is replayed on resume as the one delta it was', async () => {
    server = await startServer();
    const first = await connect(ann);
    const session = first.session();
    const position = first.of('payload', 'allUsers')[0] as unknown as {
      epoch: string;
      version: number;
    };
    const roots = Object.fromEntries(
      first.of('payload').map((p) => [p.root, { epoch: p.epoch, version: p.version }]),
    );
    first.close();
    await first.closedWith();
    for (let i = 0; i < 3; i++)
      server.adapter.update('users', { _id: 2 }, { $set: { name: `Ben ${i}` } });
    await tick();

    const second = new RawClient(server.url);
    clients.push(second);
    await second.opened;
    second.send({ type: 'register', protocol: 2, identity: ann, resume: { session, roots } });
    await second.until((c) => c.of('resumed').length === 6 && c.ops('allUsers').length === 3);
    expect(second.of('payload')).toEqual([]);
    const deltas = second.of('delta', 'allUsers');
    expect(deltas.map((d) => d.version)).toEqual([position.version + 1]);
    expect(names(deltas[0]?.ops as unknown[])).toEqual(['Ben 0', 'Ben 1', 'Ben 2']);
  });

  it('a client that subscribes in the tick of a change gets it in its payload, not again after', async () => {
    server = await startServer();
    const a = await connect(ann);
    server.adapter.update('users', { _id: 2 }, { $set: { name: 'Ben new' } });
    // the subscription is answered after the change was sent to the members there already were
    a.send({ type: 'subscribe', sub: 's1', source: 'allUsers' });
    await a.until((c) => c.of('payload', 's1').length === 1);
    await a.until((c) => c.of('delta', 'allUsers').length === 1);
    server.adapter.update('users', { _id: 3 }, { $set: { name: 'Cid new' } });
    await a.until((c) => c.of('delta', 'allUsers').length === 2);
    await a.until((c) => c.ops('s1').length === 1);
    const payload = a.payload('s1') as { name: string }[];
    expect(payload.map((u) => u.name)).toEqual(['Ann', 'Ben new', 'Cid']);
    expect(a.ops('s1')).toEqual([{ operation: 'set', id: 3, path: 'name', data: 'Cid new' }]);
  });

  it('a mutation that writes several times is answered after one delta with all its writes, in one batch', async () => {
    server = await startServer({
      mutators: {
        renameTwice: mutator({
          args: z.object({ name: z.string() }),
          run: async ({ args, db }) => {
            await db.update('users', { _id: 2 }, { $set: { name: `${args.name} 1` } });
            await db.update('users', { _id: 3 }, { $set: { name: `${args.name} 2` } });
            await db.update('users', { _id: 2 }, { $set: { name: `${args.name} 3` } });
          },
        }),
      },
    });
    const a = await connect(ann);
    a.send({ type: 'mutate', id: 'c1:1', name: 'renameTwice', args: { name: 'X' } });
    await a.until((c) => c.of('batch').length === 1);
    const batch = a.of('batch')[0] as WireMessage;
    const inner = (batch.messages as ServerMessage[]).filter(
      (m) => m.type !== 'delta' || m.root === 'allUsers',
    ) as unknown as WireMessage[];
    expect(inner.map((m) => m.type)).toEqual(['delta', 'mutated']);
    expect(names(inner[0]?.ops as unknown[])).toEqual(['X 1', 'X 2', 'X 3']);
  });
});
