import fc from 'fast-check';
import { expect, test } from 'vitest';
import { Collector } from '../../src/client/index.js';
import type { Doc, Op } from '../../src/protocol/index.js';
import { fakeStream } from './fakeStream.js';

const id = fc.integer({ min: 1, max: 8 });
const name = fc.constantFrom('a', 'b', 'c');
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    operation: fc.constant('insert' as const),
    id,
    data: fc.record({ name, n: fc.integer({ min: 0, max: 3 }) }),
  }),
  fc.record({ operation: fc.constant('remove' as const), id }),
  fc.record({
    operation: fc.constant('set' as const),
    id,
    path: fc.constantFrom('name', 'n', 'meta.x'),
    data: fc.oneof(name, fc.integer({ min: 0, max: 3 })),
  }),
  fc.record({ operation: fc.constant('unset' as const), id, path: fc.constantFrom('n', 'meta') }),
);

/** The obvious implementation: a list scanned for every op. */
function model(ops: Op[], sorted: boolean): Doc[] {
  let docs: Doc[] = [];
  for (const o of ops) {
    const at = docs.findIndex((d) => d._id === o.id);
    if (o.operation === 'insert') {
      const doc = { ...o.data, _id: o.id };
      if (at === -1) docs.push(doc);
      else docs[at] = doc;
    } else if (o.operation === 'remove') {
      if (at !== -1) docs.splice(at, 1);
    } else if (at !== -1) {
      const doc = structuredClone(docs[at]!) as Record<string, Record<string, unknown>>;
      const [head, tail] = o.path.split('.') as [string, string | undefined];
      if (o.operation === 'set') {
        if (tail === undefined) (doc as Record<string, unknown>)[head] = o.data;
        else {
          if (typeof doc[head] !== 'object' || doc[head] === null) doc[head] = {};
          doc[head]![tail] = o.data;
        }
      } else delete doc[head];
      docs[at] = doc;
    }
  }
  if (sorted) docs = docs.sort((x, y) => key(x).localeCompare(key(y)));
  return docs;
}

// name ascending (numbers before strings, missing first), then n descending.
function key(doc: Doc): string {
  const name =
    doc.name === undefined ? '0' : typeof doc.name === 'number' ? `1${doc.name}` : `2${doc.name}`;
  const n = typeof doc.n === 'number' ? 9 - doc.n : typeof doc.n === 'string' ? 0 : 10;
  return `${name}|${String(n).padStart(2, '0')}`;
}

test.each([[false], [true]])(
  'random op sequences end where a naive model does (sorted: %s)',
  (sorted) => {
    fc.assert(
      fc.property(
        fc.array(fc.array(op, { minLength: 1, maxLength: 5 }), { maxLength: 12 }),
        (batches) => {
          const stream = fakeStream();
          const collector = new Collector({ register: stream.register, identity: {} });
          stream.start({ t: [] }, sorted ? { t: { sort: { name: 1, n: -1 } } } : undefined);
          for (const ops of batches) stream.delta('t', ops);
          const got = collector.data.t!;
          const want = model(batches.flat(), sorted);
          collector.disconnect();
          if (sorted) {
            // Ties may sit in any order; keys must be in order and contents the same.
            expect(got.map(key)).toEqual(want.map(key));
            const byId = (docs: readonly Doc[]) =>
              [...docs].sort((x, y) => Number(x._id) - Number(y._id));
            expect(byId(got)).toEqual(byId(want));
          } else {
            expect(got).toEqual(want);
          }
        },
      ),
      { numRuns: 400 },
    );
  },
);
