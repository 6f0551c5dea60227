import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Collector, type WebSocketClass } from '../../src/client/index.js';
import { mutator, type Doc } from '../../src/server/index.js';
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

/** Applies one write through the adapter's own API or a mutator's `db`: the same semantics. */
type Writer = {
  find(collection: string, query: Doc): Promise<Doc[]> | Doc[];
  insert(collection: string, doc: Doc): unknown;
  update(collection: string, filter: Doc, update: Record<string, Doc>): unknown;
  replace(collection: string, filter: Doc, doc: Doc): unknown;
  remove(collection: string, filter: Doc): unknown;
};
async function apply(w: Exclude<Write, { kind: 'pause' }>, db: Writer): Promise<void> {
  const filter = { _id: w.id };
  if (w.kind === 'insert') {
    if ((await db.find(w.collection, filter)).length === 0)
      await db.insert(w.collection, { ...w.doc, _id: w.id });
  } else if (w.kind === 'set')
    await db.update(w.collection, filter, { $set: { [w.field]: w.value } });
  else if (w.kind === 'unset') await db.update(w.collection, filter, { $unset: { [w.field]: '' } });
  else if (w.kind === 'replace') await db.replace(w.collection, filter, w.doc);
  else await db.remove(w.collection, filter);
}

/** A roots' documents an optimistic recipe may guess at, with the field it sets. */
const guess = fc.record({
  root: fc.constantFrom('myProfile', 'myStuff', 'visibleUsers', 'allUsers', 'redThings'),
  id: smallId,
  field: fc.constantFrom('name', 'accountId', 'colorId'),
  value,
  insert: fc.boolean(),
});
const step = fc.oneof(
  { weight: 2, arbitrary: write.map((w) => ({ by: 'server' as const, w })) },
  {
    weight: 3,
    arbitrary: fc.record({
      by: fc.constant('client' as const),
      client: fc.integer({ min: 0, max: identities.length - 1 }),
      w: write,
      guess,
    }),
  },
);

describe('convergence', () => {
  it('random mutations from random clients beside random writes: every collector converges to stream.snapshot, nothing is left pending', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 30 }), async (steps) => {
        const server = await startServer({
          mutators: {
            write: mutator({
              run: async ({ args, db }) => {
                const w = args as Exclude<Write, { kind: 'pause' }>;
                // Run concurrently with the server's own writes: some turns in between.
                await new Promise((r) => setTimeout(r, 0));
                await apply(w, db);
                return w.kind;
              },
            }),
          },
        });
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
          const answers: Promise<unknown>[] = [];
          for (const s of steps) {
            if (s.w.kind === 'pause') {
              await new Promise((r) => setTimeout(r, 1));
              continue;
            }
            if (s.by === 'server') {
              await apply(s.w, adapter);
              continue;
            }
            const { guess: g } = s;
            const collector = collectors[s.client] as Collector;
            answers.push(
              collector
                .mutate('write', s.w, {
                  optimistic: (local) =>
                    local.update(g.root, undefined, (docs) => {
                      const doc = docs.find((d) => d._id === g.id);
                      if (doc) doc[g.field] = g.value;
                      else if (g.insert) docs.push({ _id: g.id, [g.field]: g.value });
                    }),
                })
                .catch((error: unknown) => error),
            );
          }
          const outcomes = await Promise.all(answers);
          for (const outcome of outcomes) {
            // A duplicate insert is refused by the store (internal): still an answer.
            if (outcome instanceof Error) expect(outcome).toMatchObject({ code: 'internal' });
          }
          for (const c of collectors) expect(c.pending).toEqual([]);
          await expectConverged(adapter, server.stream, identities, collectors, 5000);
        } finally {
          for (const c of collectors) c.disconnect();
          await server.close();
        }
      }),
      { numRuns: 25 },
    );
  }, 120_000);

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
