import { describe, expect, it } from 'vitest';
import { MemoryAdapter, Stream, type Doc, type FindOptions } from '../../src/server/index.js';
import { seedCacheConfig, seedCollections, seedDataSources } from '../support/seed.js';
import { withOpObjects } from '../support/wireOps.js';

/** A MemoryAdapter that counts the queries the Stream makes. */
class CountingAdapter extends MemoryAdapter {
  finds = 0;
  override find(collection: string, query: Doc, options?: FindOptions): Promise<Doc[]> {
    this.finds++;
    return super.find(collection, query, options);
  }
}

describe('reactive criteria cost', () => {
  it('a join row re-runs only the pipes whose lookups it can change', async () => {
    const collections = seedCollections();
    for (let id = 100; id < 150; id++)
      collections.users?.push({ _id: id, name: `u${id}`, accountId: 3 });
    const adapter = new CountingAdapter({ collections });
    const stream = new Stream({
      adapter,
      dataSources: { myStuff: seedDataSources.myStuff! },
      cacheConfig: seedCacheConfig,
    });
    const received = new Map<number, unknown[]>();
    for (let id = 100; id < 150; id++) {
      const messages: unknown[] = [];
      received.set(id, messages);
      await new Promise<void>((resolve, reject) =>
        stream.register(
          { userId: id },
          (_t, m) => messages.push(withOpObjects(m)),
          (e) => (e ? reject(e) : resolve()),
        ),
      );
    }
    const before = adapter.finds;
    adapter.insert('userstuffs', { _id: 900, userId: 120, stuffId: 11 });
    await expect.poll(() => received.get(120)?.length).toBe(4);
    // one pipe re-run (three lookups) and one query for the new group: not 50 pipes
    expect(adapter.finds - before).toBeLessThanOrEqual(4);
    expect((received.get(120)?.at(-1) as { ops: unknown[] }).ops).toEqual([
      { operation: 'insert', id: 11, data: { _id: 11, name: 'desk', price: 200 } },
    ]);
    expect(received.get(121)).toHaveLength(3);

    // a change to a field no pipe reads re-runs nothing
    const quiet = adapter.finds;
    adapter.update('users', { _id: 121 }, { $set: { name: 'renamed' } });
    await stream.snapshot({ userId: 1 });
    expect(adapter.finds - quiet).toBe(4); // the snapshot's own pipe and query only
    await stream.disconnect();
  });
});
