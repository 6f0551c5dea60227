/**
 * P3: server CPU per change as the number of distinct equality groups on one collection grows.
 * In-process through `stream.register`, over an adapter whose feed the benchmark drives
 * directly, so the figure is the Stream's own work (routing, ops, serialization, delivery).
 */
import { Query } from 'mingo';
import { Stream, type Adapter, type Change, type Doc } from '../../src/server/index.js';
import { settleMemory } from '../lib/stats.js';
import type { Figures } from './fanout.js';

/** An adapter with one indexed field, as a database with an index on `ownerId` answers. */
class FeedAdapter implements Adapter {
  private readonly byOwner = new Map<unknown, Doc[]>();
  private onChange: ((change: Change) => void) | null = null;

  constructor(readonly docs: Doc[]) {
    for (const doc of docs) {
      const list = this.byOwner.get(doc.ownerId) ?? [];
      list.push(doc);
      this.byOwner.set(doc.ownerId, list);
    }
  }

  find(_collection: string, query: Doc): Promise<Doc[]> {
    const keys = Object.keys(query);
    if (keys.length === 1 && keys[0] === 'ownerId' && typeof query.ownerId !== 'object') {
      return Promise.resolve(this.byOwner.get(query.ownerId) ?? []);
    }
    const q = new Query(query);
    return Promise.resolve(this.docs.filter((d) => q.test(d)));
  }

  watch(_collections: string[], onChange: (change: Change) => void): Promise<() => Promise<void>> {
    this.onChange = onChange;
    return Promise.resolve(async () => {
      this.onChange = null;
    });
  }

  emit(change: Change): void {
    this.onChange?.(change);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

export interface P3Params {
  groups: number;
  docs: number;
  changes: number;
}

export async function p3(params: P3Params): Promise<Figures> {
  const docs = Array.from({ length: params.docs }, (_, i) => ({
    _id: i,
    ownerId: i % params.groups,
    title: `item ${i}`,
    n: 0,
  }));
  const adapter = new FeedAdapter(docs);
  const stream = new Stream({
    adapter,
    dataSources: {
      mine: { collection: 'items', criteria: { ownerId: '@userId' }, manifest: true },
    },
  });
  let delivered = 0;
  const receive = (type: string): void => {
    if (type === 'delta') delivered++;
  };
  await Promise.all(
    Array.from(
      { length: params.groups },
      (_, g) =>
        new Promise<void>((resolve, reject) =>
          stream.register({ userId: g }, receive, (error) => (error ? reject(error) : resolve())),
        ),
    ),
  );
  const groups = stream.stats().groups;
  let n = 0;
  const change = (): void => {
    const doc = docs[(n * 7919) % docs.length] as Doc;
    n++;
    const next = { ...doc, n };
    adapter.emit({
      type: 'update',
      collection: 'items',
      id: doc._id,
      doc: next,
      updatedFields: { n },
      removedFields: [],
    });
  };
  for (let i = 0; i < Math.min(2000, params.changes); i++) change(); // warm up the JIT
  await settleMemory();
  delivered = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < params.changes; i++) change();
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await stream.disconnect();
  return {
    groups,
    cpuUsPerChange: (cpu.user + cpu.system) / params.changes,
    wallUsPerChange: (wall * 1000) / params.changes,
    deliveredPerChange: delivered / params.changes,
  };
}
