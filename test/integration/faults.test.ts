import type { Socket } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Collector, type WebSocketClass } from '../../src/client/index.js';
import { MemoryAdapter } from '../../src/server/index.js';
import { expectConverged } from '../support/oracle.js';
import { seedCollections } from '../support/seed.js';
import { startServer, type TestServer } from '../support/server.js';

const identities: Record<string, unknown>[] = [
  { userId: 1, accountId: 1 },
  { userId: 2, accountId: 1 },
  { userId: 3, accountId: 2 },
  { userId: 4, accountId: 2 },
  { accountId: 1 },
];

const collection = fc.constantFrom('users', 'stuffs', 'userstuffs', 'colors', 'things');
const smallId = fc.integer({ min: 1, max: 6 });
const value = fc.oneof(fc.integer({ min: 1, max: 4 }), fc.constantFrom('red', 'blue'));
const field = fc.constantFrom('name', 'accountId', 'userId', 'stuffId', 'colorId');

type Step =
  | { kind: 'set'; collection: string; id: number; field: string; value: unknown }
  | { kind: 'insert'; collection: string; id: number; field: string; value: unknown }
  | { kind: 'remove'; collection: string; id: number }
  | { kind: 'cut'; which: number }
  | { kind: 'feedError' }
  | { kind: 'restart' }
  | { kind: 'pause'; ms: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('set' as const),
      collection,
      id: smallId,
      field,
      value,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('insert' as const),
      collection,
      id: smallId,
      field,
      value,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('remove' as const), collection, id: smallId }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('cut' as const),
      which: fc.nat(identities.length - 1),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'feedError' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'restart' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('pause' as const),
      ms: fc.integer({ min: 0, max: 30 }),
    }),
  },
);

const tally = { resumed: 0, fresh: 0 };

async function launch(
  adapter: MemoryAdapter,
  port: number,
  sockets: Set<Socket>,
): Promise<TestServer> {
  const server = await startServer(
    {
      adapter,
      onDebug: (message, details) => {
        if (message !== 'registered') return;
        if ((details as { resumed: boolean }).resumed) tally.resumed++;
        else tally.fresh++;
      },
    },
    {},
    port,
  );
  server.server.on('upgrade', (_req, socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return server;
}

describe('convergence under faults', () => {
  it('socket cuts, feed errors and server restarts: every collector converges to its snapshot (invariant S2)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 5, maxLength: 30 }), async (steps) => {
        const adapter = new MemoryAdapter({ collections: seedCollections() });
        const sockets = new Set<Socket>();
        let server = await launch(adapter, 0, sockets);
        const port = Number(new URL(server.url).port);
        const collectors = identities.map(
          (identity) =>
            new Collector({
              url: server.url,
              identity,
              WebSocket: WebSocket as unknown as WebSocketClass,
              reconnect: { minDelayMs: 5, maxDelayMs: 40 },
            }),
        );
        try {
          await Promise.all(collectors.map((c) => c.ready()));
          for (const s of steps) {
            if (s.kind === 'pause') await new Promise((r) => setTimeout(r, s.ms));
            else if (s.kind === 'cut') [...sockets][s.which % Math.max(1, sockets.size)]?.destroy();
            else if (s.kind === 'feedError') adapter.breakFeeds(new Error('injected feed failure'));
            else if (s.kind === 'restart') {
              await server.close();
              server = await launch(adapter, port, sockets);
            } else if (s.kind === 'remove') adapter.remove(s.collection, { _id: s.id });
            else if (s.kind === 'insert') {
              if (adapter.findNow(s.collection, { _id: s.id }).length === 0) {
                adapter.insert(s.collection, { _id: s.id, [s.field]: s.value });
              }
            } else adapter.update(s.collection, { _id: s.id }, { $set: { [s.field]: s.value } });
          }
          await expectConverged(adapter, server.stream, identities, collectors, 8000);
        } finally {
          for (const c of collectors) c.disconnect();
          await server.close();
        }
      }),
      { numRuns: 20 },
    );
    console.log(
      `fault injection: ${tally.resumed} registrations resumed, ${tally.fresh} fresh (payloads)`,
    );
    expect(tally.resumed).toBeGreaterThan(0);
  }, 180_000);
});
