/**
 * P8: the embedded store's own cost, in one process. Time per `MemoryAdapter.update` by `_id`
 * beside the same write through mingo's `update()` (what the store called before), and a
 * `find` with a large `$in` identity list beside mingo's `Query` over the same documents.
 * `p8Index`: updates by an indexed equality filter and finds by an indexed field, each beside
 * the same filter answered by a scan (a store with `autoIndex: false`), in the same process.
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

/** The P8 job: the write and `$in` figures, or with {@link P8IndexParams} the index figures. */
export function p8(params: P8Params | P8IndexParams): Promise<Figures> {
  return 'findDocs' in params ? p8Index(params) : p8Writes(params);
}

async function p8Writes(params: P8Params): Promise<Figures> {
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

export interface P8IndexParams {
  /** Documents of the collection updated by an equality filter. */
  updateDocs: number;
  writes: number;
  /** Writes through the scanning store (each visits every document). */
  scanWrites: number;
  /** Documents of the collection found by an indexed field. */
  findDocs: number;
  /** Documents per value of the indexed field. */
  perValue: number;
  finds: number;
  scanFinds: number;
}

/** Time per call, without a warm-up (for calls that each visit a whole collection). */
function usPerCold(count: number, fn: (i: number) => void): number {
  const t0 = performance.now();
  for (let i = 0; i < count; i++) fn(i);
  return ((performance.now() - t0) * 1000) / count;
}

export async function p8Index(params: P8IndexParams): Promise<Figures> {
  return { ...(await equalityUpdates(params)), ...(await indexedFinds(params)) };
}

/** `$inc` by `{ ownerId }` (one document each) on an indexed store and a scanning one. */
async function equalityUpdates(params: P8IndexParams): Promise<Figures> {
  const inc: UpdateDocument = { $inc: { n: 1 } };
  const owner = (i: number) => ({ ownerId: `user-${(i * 7919) % params.updateDocs}` });
  const docs = Array.from({ length: params.updateDocs }, (_, i) => makeDoc(i));
  const indexed = new MemoryAdapter({ collections: { items: docs } });
  const scanning = new MemoryAdapter({ collections: { items: docs }, autoIndex: false });
  const stops = [
    await indexed.watch(['items'], () => {}),
    await scanning.watch(['items'], () => {}),
  ];
  await settleMemory();
  const t0 = performance.now();
  // The first such filter indexes ownerId: one pass over the collection.
  if (indexed.update('items', owner(0), inc) !== 1) throw new Error('no match');
  const firstMs = performance.now() - t0;
  if (indexed.indexedFields('items').join() !== 'ownerId') throw new Error('not indexed');
  const us = usPer(params.writes, (i) => indexed.update('items', owner(i), inc));
  const scanUs = usPerCold(params.scanWrites, (i) => scanning.update('items', owner(i), inc));
  for (const stop of stops) await stop();
  return { eqUpdateUs: us, eqScanUs: scanUs, eqPerSec: 1e6 / us, eqFirstMs: firstMs };
}

/** A find by `{ accountId }` (`perValue` documents each) with a declared index and by a scan. */
async function indexedFinds(params: P8IndexParams): Promise<Figures> {
  const values = Math.ceil(params.findDocs / params.perValue);
  const account = (i: number) => ({ accountId: `account-${(i * 7919) % values}` });
  const users = () =>
    Array.from({ length: params.findDocs }, (_, i) => ({
      _id: i,
      accountId: `account-${i % values}`,
      n: i,
    }));
  const indexed = new MemoryAdapter({
    collections: { users: users() },
    indexes: { users: ['accountId'] },
  });
  const scanning = new MemoryAdapter({ collections: { users: users() }, autoIndex: false });
  await settleMemory();
  const one = indexed.findNow('users', account(1));
  if (one.length !== params.perValue || !deepEqual(one, scanning.findNow('users', account(1)))) {
    throw new Error('the indexed find and the scan disagree');
  }
  const us = usPer(params.finds, (i) => indexed.findNow('users', account(i)));
  const scanUs = usPerCold(params.scanFinds, (i) => scanning.findNow('users', account(i)));
  return { findUs: us, findScanUs: scanUs, findDocs: params.findDocs };
}
