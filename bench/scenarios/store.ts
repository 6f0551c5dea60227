/**
 * P8: the embedded store's own cost, in one process. Time per `MemoryAdapter.update` by `_id`
 * beside the same write through mingo's `update()` (what the store called before), and a
 * `find` with a large `$in` identity list beside mingo's `Query` over the same documents.
 */
import { Query, update as mingoUpdate } from 'mingo';
import type { Doc } from '../../src/server/adapter.js';
import { MemoryAdapter, type UpdateDocument } from '../../src/server/memoryAdapter.js';
import { cloneDeep, deepEqual, getPath, hasPath } from '../../src/server/clone.js';
import { settleMemory } from '../lib/stats.js';
import type { Figures } from './fanout.js';

export interface P8Params {
  docs: number;
  writes: number;
  /** Identities in the `$in` list of the find. */
  inIds: number;
}

/** The write path as it was: a copy, mingo's `update()`, the change built from its paths. */
function mingoWrite(store: Map<number, Doc>, id: number, update: UpdateDocument): number {
  const doc = store.get(id);
  if (!doc) return 0;
  const next = cloneDeep(doc);
  const paths = mingoUpdate(next, update);
  if (paths.length === 0 || deepEqual(next, doc)) return 0;
  const updatedFields: Record<string, unknown> = {};
  const removedFields: string[] = [];
  for (const path of paths) {
    if (hasPath(next, path)) updatedFields[path] = getPath(next, path);
    else removedFields.push(path);
  }
  store.set(id, next);
  return Object.keys(updatedFields).length + removedFields.length;
}

function usPer(count: number, fn: (i: number) => void): number {
  for (let i = 0; i < Math.min(count, 5000); i++) fn(i); // warm up the JIT
  const t0 = performance.now();
  for (let i = 0; i < count; i++) fn(i);
  return ((performance.now() - t0) * 1000) / count;
}

const makeDoc = (i: number): Doc => ({ _id: i, title: `item ${i}`, ownerId: `user-${i}`, n: 0 });

export async function p8(params: P8Params): Promise<Figures> {
  const docs = Array.from({ length: params.docs }, (_, i) => makeDoc(i));
  const adapter = new MemoryAdapter({ collections: { items: docs } });
  const stop = await adapter.watch(['items'], () => {});
  const baseline = new Map(docs.map((d) => [d._id as number, cloneDeep(d)]));
  const inc: UpdateDocument = { $inc: { n: 1 } };
  const mixed = (i: number): UpdateDocument => ({
    $set: { title: `item ${i} edited`, 'meta.at': i },
    $push: { tags: { $each: [i], $slice: -5 } },
  });
  const id = (i: number): number => (i * 7919) % params.docs;
  await settleMemory();
  const incUs = usPer(params.writes, (i) => adapter.update('items', { _id: id(i) }, inc));
  const mingoIncUs = usPer(params.writes, (i) => mingoWrite(baseline, id(i), inc));
  const mixedUs = usPer(params.writes, (i) => adapter.update('items', { _id: id(i) }, mixed(i)));
  const mingoMixedUs = usPer(params.writes, (i) => mingoWrite(baseline, id(i), mixed(i)));

  const ids = Array.from({ length: params.inIds }, (_, i) => `user-${i * 3}`);
  const filter = { ownerId: { $in: ids } };
  const all = adapter.findNow('items');
  const t0 = performance.now();
  const found = adapter.findNow('items', filter).length;
  const inMs = performance.now() - t0;
  const t1 = performance.now();
  const q = new Query(filter);
  const mingoFound = all.filter((d) => q.test(d)).length;
  const mingoInMs = performance.now() - t1;
  if (found !== mingoFound) throw new Error(`$in found ${found}, mingo ${mingoFound}`);
  await stop();
  return {
    incUs,
    mingoIncUs,
    mixedUs,
    mingoMixedUs,
    incPerSec: 1e6 / incUs,
    inMs,
    mingoInMs,
    inListBytes: Buffer.byteLength(JSON.stringify(ids)),
  };
}
