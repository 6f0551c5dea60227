import fc from 'fast-check';
import { describe, it } from 'vitest';
import WebSocket from 'ws';
import { Collector, type WebSocketClass } from '../../src/client/index.js';
import type { Doc } from '../../src/server/index.js';
import { expectConverged } from '../support/oracle.js';
import { startServer } from '../support/server.js';

const identities: Record<string, unknown>[] = [
  { userId: 1, accountId: 1 },
  { userId: 2, accountId: 1 },
  { userId: 3, accountId: 2 },
  { userId: 4, accountId: 2 },
  { userId: 9 },
  { accountId: 1 },
];

const collection = fc.constantFrom('users', 'stuffs', 'userstuffs', 'colors', 'things');
const smallId = fc.integer({ min: 1, max: 6 });
const value = fc.oneof(
  fc.integer({ min: 1, max: 4 }),
  fc.constantFrom('red', 'blue', 'x'),
  fc.constant(true),
);
const field = fc.constantFrom(
  'name',
  'accountId',
  'userId',
  'stuffId',
  'colorId',
  'notFound',
  'secret',
  'address.state',
);

type Write =
  | { kind: 'insert'; collection: string; id: number; doc: Doc }
  | { kind: 'set'; collection: string; id: number; field: string; value: unknown }
  | { kind: 'unset'; collection: string; id: number; field: string }
  | { kind: 'replace'; collection: string; id: number; doc: Doc }
  | { kind: 'remove'; collection: string; id: number }
  | { kind: 'pause' };

const docArb = fc.dictionary(
  field.filter((f) => !f.includes('.')),
  value,
  { maxKeys: 4 },
);
const write: fc.Arbitrary<Write> = fc.oneof(
  fc.record({ kind: fc.constant('insert' as const), collection, id: smallId, doc: docArb }),
  fc.record({ kind: fc.constant('set' as const), collection, id: smallId, field, value }),
  fc.record({ kind: fc.constant('unset' as const), collection, id: smallId, field }),
  fc.record({ kind: fc.constant('replace' as const), collection, id: smallId, doc: docArb }),
  fc.record({ kind: fc.constant('remove' as const), collection, id: smallId }),
  fc.constant({ kind: 'pause' as const }),
);

describe('convergence', () => {
  it('after any sequence of writes, every collector equals stream.snapshot and the direct evaluation (invariant S1)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(write, { minLength: 1, maxLength: 40 }), async (writes) => {
        const server = await startServer();
        const collectors = identities.map(
          (identity) =>
            new Collector({
              url: server.url,
              identity,
              WebSocket: WebSocket as unknown as WebSocketClass,
            }),
        );
        try {
          await Promise.all(collectors.map((c) => c.ready()));
          const { adapter } = server;
          for (const w of writes) {
            if (w.kind === 'pause') {
              await new Promise((r) => setTimeout(r, 1));
              continue;
            }
            const filter = { _id: w.id };
            if (w.kind === 'insert') {
              if (adapter.findNow(w.collection, filter).length === 0)
                adapter.insert(w.collection, { ...w.doc, _id: w.id });
            } else if (w.kind === 'set')
              adapter.update(w.collection, filter, { $set: { [w.field]: w.value } });
            else if (w.kind === 'unset')
              adapter.update(w.collection, filter, { $unset: { [w.field]: '' } });
            else if (w.kind === 'replace') adapter.replace(w.collection, filter, w.doc);
            else adapter.remove(w.collection, filter);
          }
          await expectConverged(adapter, server.stream, identities, collectors, 5000);
        } finally {
          for (const c of collectors) c.disconnect();
          await server.close();
        }
      }),
      { numRuns: 40 },
    );
  }, 120_000);
});
