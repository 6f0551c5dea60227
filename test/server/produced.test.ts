import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import {
  MemoryAdapter,
  Stream,
  type DataSource,
  type ProducedDataSource,
  type StreamOptions,
} from '../../src/server/index.js';
import { readByServer } from '../support/handled.js';
import { quietFor } from '../support/quiet.js';
import { RawClient, startServer, type TestServer, type WireMessage } from '../support/server.js';

function store(): MemoryAdapter {
  return new MemoryAdapter({
    collections: {
      orders: [
        { _id: 'o1', accountId: 'a1', year: 2026, total: 10 },
        { _id: 'o2', accountId: 'a1', year: 2026, total: 5 },
        { _id: 'o3', accountId: 'a2', year: 2026, total: 7 },
      ],
    },
  });
}

let productions = 0;
let behaviour: 'ok' | 'throw' | 'hang' | 'huge' = 'ok';
let gate: Promise<void> = Promise.resolve();
let rate = 1;

const report: ProducedDataSource = {
  params: z.object({ year: z.number().int() }),
  shareBy: ['accountId'],
  collections: ['orders'],
  produce: async ({ params, identity, find, depend }) => {
    productions++;
    depend('rates');
    await gate;
    if (behaviour === 'throw') throw new Error('the warehouse is on fire');
    if (behaviour === 'hang') await new Promise(() => undefined);
    const orders = await find('orders', { accountId: identity.accountId, year: params.year });
    if (behaviour === 'huge') return { _id: 'report', blob: 'é'.repeat(600_000) };
    return {
      _id: `report-${String(identity.accountId)}-${params.year}`,
      total: orders.reduce((sum, o) => sum + Number(o.total), 0) * rate,
      detail: { count: orders.length, big: 'x'.repeat(2000) },
    };
  },
  manifest: true,
  produceTimeoutMs: 200,
};

let server: TestServer | undefined;
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.close();
  server = undefined;
  productions = 0;
  behaviour = 'ok';
  gate = Promise.resolve();
  rate = 1;
});

const me: DataSource = { collection: 'orders', criteria: { _id: 'none' }, manifest: true };

async function start(options: Partial<StreamOptions> = {}): Promise<TestServer> {
  server = await startServer({
    adapter: store(),
    dataSources: { me, report },
    cacheConfig: {},
    ...options,
  });
  return server;
}
async function client(accountId = 'a1'): Promise<RawClient> {
  const c = await RawClient.register((server as TestServer).url, { accountId });
  clients.push(c);
  await c.ready();
  return c;
}
const subscribe = (c: RawClient, sub: string, year = 2026) =>
  c.send({ type: 'subscribe', sub, source: 'report', params: { year } });
const docs = (c: RawClient, sub: string) =>
  (c.of('payload', sub).at(-1)?.data ?? []) as WireMessage[];

describe('produced sources', () => {
  it('produces on the first subscriber, shares the instance, and re-produces on a change to what it found, as small ops', async () => {
    const { adapter } = await start();
    const ann = await client('a1');
    const bob = await client('a1');
    const cat = await client('a2');
    subscribe(ann, 's1');
    await ann.until(() => ann.of('payload', 's1').length === 1);
    subscribe(bob, 's1');
    subscribe(cat, 's1');
    await bob.until(() => bob.of('payload', 's1').length === 1);
    await cat.until(() => cat.of('payload', 's1').length === 1);
    expect(docs(ann, 's1')).toMatchObject([
      { _id: 'report-a1-2026', total: 15, detail: { count: 2 } },
    ]);
    expect(docs(cat, 's1')).toMatchObject([{ _id: 'report-a2-2026', total: 7 }]);
    expect(productions).toBe(2);
    adapter.update('orders', { _id: 'o1' }, { $set: { total: 20 } });
    await ann.until(() => ann.of('delta', 's1').length === 1);
    expect(ann.of('delta', 's1')[0]?.ops).toEqual([
      { operation: 'set', id: 'report-a1-2026', path: 'total', data: 25 },
    ]);
    await bob.until(() => bob.of('delta', 's1').length === 1);
    // Cat's instance did not read o1: no production for it.
    await quietFor(30);
    expect(cat.of('delta', 's1')).toEqual([]);
    expect(productions).toBe(3);
  });

  it('a bump during production gives exactly one more production', async () => {
    const { stream } = await start();
    const ann = await client();
    subscribe(ann, 's1');
    await ann.until(() => ann.of('payload', 's1').length === 1);
    let open!: () => void;
    gate = new Promise<void>((r) => (open = r));
    rate = 2;
    expect(stream.bump('rates')).toBe(1);
    await vi.waitFor(() => expect(productions).toBe(2));
    for (let i = 0; i < 5; i++) stream.bump('rates');
    open();
    await ann.until(() => ann.of('delta', 's1').length === 1);
    await quietFor(50);
    expect(productions).toBe(3);
    expect(ann.of('delta', 's1')[0]?.ops).toEqual([
      { operation: 'set', id: 'report-a1-2026', path: 'total', data: 30 },
    ]);
  });

  it('a producer that throws or hangs keeps the last good value and says produce_failed, retrying; the next mark retries', async () => {
    const { stream } = await start();
    const ann = await client();
    subscribe(ann, 's1');
    await ann.until(() => ann.of('payload', 's1').length === 1);
    behaviour = 'throw';
    stream.bump('rates');
    await ann.until(() => ann.of('subscription_error').length === 1);
    expect(ann.of('subscription_error')[0]).toMatchObject({
      sub: 's1',
      code: 'produce_failed',
      retrying: true,
    });
    expect(JSON.stringify(ann.messages)).not.toContain('warehouse');
    behaviour = 'hang';
    stream.bump('rates');
    await ann.until(() => ann.of('subscription_error').length === 2, 2000);
    expect(ann.of('subscription_error')[1]?.message).toContain('longer than 200 ms');
    behaviour = 'ok';
    rate = 3;
    stream.bump('rates');
    await ann.until(() => ann.of('delta', 's1').length === 1);
    expect(ann.of('delta', 's1')[0]?.ops).toMatchObject([{ path: 'total', data: 45 }]);
  });

  it('a producer that returns more than maxBytes fails like a throw: the last good value stays, nothing huge is sent', async () => {
    const { stream } = await start({
      dataSources: { me, report: { ...report, maxBytes: 1_000_000 } },
    });
    const ann = await client();
    subscribe(ann, 's1');
    await ann.until(() => ann.of('payload', 's1').length === 1);
    behaviour = 'huge';
    stream.bump('rates');
    await ann.until(() => ann.of('subscription_error').length === 1);
    expect(ann.of('subscription_error')[0]).toMatchObject({
      code: 'produce_failed',
      retrying: true,
    });
    expect(ann.of('subscription_error')[0]?.message).toContain('maxBytes');
    expect(ann.of('delta', 's1')).toEqual([]);
    behaviour = 'ok';
    rate = 2;
    stream.bump('rates');
    await ann.until(() => ann.of('delta', 's1').length === 1);
    expect(docs(ann, 's1')).toMatchObject([{ total: 15 }]);
  });

  it('a first production that fails ends that subscription with produce_failed; the socket carries on', async () => {
    await start();
    const ann = await client();
    behaviour = 'throw';
    subscribe(ann, 's1');
    await ann.until(() => ann.of('subscription_error').length === 1);
    expect(ann.of('subscription_error')[0]).toMatchObject({ code: 'produce_failed' });
    expect(ann.of('subscription_error')[0]).not.toHaveProperty('retrying');
    behaviour = 'ok';
    subscribe(ann, 's2');
    await ann.until(() => ann.of('payload', 's2').length === 1);
  });

  it('the instance is destroyed with its last subscriber (after lingerMs), and a production still running is discarded', async () => {
    const { stream } = await start({ dataSources: { me, report: { ...report, lingerMs: 50 } } });
    const ann = await client();
    subscribe(ann, 's1');
    await ann.until(() => ann.of('payload', 's1').length === 1);
    expect(stream.stats().groups).toBe(2);
    ann.send({ type: 'unsubscribe', sub: 's1' });
    subscribe(ann, 's2');
    await ann.until(() => ann.of('payload', 's2').length === 1);
    expect(productions).toBe(1);
    ann.send({ type: 'unsubscribe', sub: 's2' });
    await ann.until(() => ann.of('unsubscribed').length === 2);
    let open!: () => void;
    gate = new Promise<void>((r) => (open = r));
    stream.bump('rates');
    // lingerMs passes while the production waits at the gate: the instance goes first.
    await vi.waitFor(() => expect(stream.stats().groups).toBe(1));
    open();
    await quietFor(20);
    expect(stream.stats().groups).toBe(1);
    expect(ann.of('delta')).toEqual([]);
  });

  it('subscribe, unsubscribe, subscribe in one burst while the first production runs: each answered in order, one live subscription, nothing leaked', async () => {
    const { stream, adapter } = await start();
    const ann = await client();
    let open!: () => void;
    gate = new Promise<void>((r) => (open = r));
    subscribe(ann, 's1');
    ann.send({ type: 'unsubscribe', sub: 's1' });
    subscribe(ann, 's1');
    // The first production waits at the gate; the server has the rest of the burst behind it.
    await vi.waitFor(() => expect(productions).toBe(1));
    await readByServer(ann);
    open();
    await ann.until(() => ann.of('payload', 's1').length === 2);
    expect(ann.of('unsubscribed')).toHaveLength(1);
    expect(
      ann.messages.filter((m) => m.root === 's1' || m.sub === 's1').map((m) => m.type),
    ).toEqual(['subscribed', 'payload', 'unsubscribed', 'subscribed', 'payload']);
    // lingerMs 0: the unsubscribe destroyed the first instance, the next subscribe made another.
    expect(productions).toBe(2);
    adapter.update('orders', { _id: 'o1' }, { $set: { total: 20 } });
    await ann.until(() => ann.of('delta', 's1').length === 1);
    expect(ann.of('delta', 's1')[0]?.ops).toMatchObject([{ path: 'total', data: 25 }]);
    ann.send({ type: 'unsubscribe', sub: 's1' });
    await ann.until(() => ann.of('unsubscribed').length === 2);
    expect(stream.stats().groups).toBe(1);
  });

  it('read(): an instance built on another is produced again when that one changes; a cycle is produce_failed naming it', async () => {
    let base = 1;
    const { stream } = await start({
      dataSources: {
        me,
        base: { produce: ({ depend }) => (depend('base'), { _id: 'b', v: base }), manifest: true },
        derived: {
          produce: async ({ read }) => {
            const [b] = await read('base');
            return { _id: 'd', v: Number(b?.v) * 2 };
          },
          manifest: true,
        },
        ping: {
          produce: async ({ read }) => (await read('pong'))[0] ?? { _id: 'x' },
          manifest: true,
        },
        pong: {
          produce: async ({ read }) => (await read('ping'))[0] ?? { _id: 'y' },
          manifest: true,
        },
      },
    });
    const ann = await client();
    ann.send({ type: 'subscribe', sub: 's1', source: 'derived' });
    await ann.until(() => ann.of('payload', 's1').length === 1);
    expect(docs(ann, 's1')).toEqual([{ _id: 'd', v: 2 }]);
    base = 5;
    stream.bump('base');
    await ann.until(() => ann.of('delta', 's1').length === 1);
    expect(ann.of('delta', 's1')[0]?.ops).toEqual([
      { operation: 'set', id: 'd', path: 'v', data: 10 },
    ]);
    ann.send({ type: 'subscribe', sub: 's2', source: 'ping' });
    await ann.until(() => ann.of('subscription_error').length === 1);
    expect(ann.of('subscription_error')[0]).toMatchObject({ sub: 's2', code: 'produce_failed' });
    expect(ann.of('subscription_error')[0]?.message).toContain('read cycle: ping -> pong -> ping');
    // Leaving the reader lets the instance it read go too.
    ann.send({ type: 'unsubscribe', sub: 's1' });
    await ann.until(() => ann.of('unsubscribed').length === 1);
    expect(stream.stats().groups).toBe(1);
  });

  it('is checked when new Stream runs', () => {
    const adapter = store();
    expect(
      () => new Stream({ adapter, dataSources: { r: { ...report, produse: 1 } as never } }),
    ).toThrow("dataSources.r: unknown key 'produse' (did you mean 'produce'?)");
    expect(
      () =>
        new Stream({ adapter, dataSources: { r: { ...report, collection: 'orders' } as never } }),
    ).toThrow(/exactly one kind/);
    expect(
      () => new Stream({ adapter, dataSources: { r: { ...report, wildcard: true } } }),
    ).toThrow(/a wildcard source needs shareBy: \[\]/);
  });

  it('find in a collection the source does not list is produce_failed', async () => {
    await start({ dataSources: { me, report: { ...report, collections: [] } } });
    const ann = await client();
    subscribe(ann, 's1');
    await ann.until(() => ann.of('subscription_error').length === 1);
    expect(ann.of('subscription_error')[0]?.message).toContain('find in orders');
  });
});
