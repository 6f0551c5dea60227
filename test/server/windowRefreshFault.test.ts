import { afterEach, expect, it } from 'vitest';
import { z } from 'zod';
import { MemoryAdapter, Stream, type Doc, type FindOptions } from '../../src/server/index.js';
import { quietFor } from '../support/quiet.js';
import { seedCacheConfig, seedCollections, seedDataSources } from '../support/seed.js';

/** A MemoryAdapter whose windowed reads of `userstuffs` fail while `failing` is set. */
class FailingAdapter extends MemoryAdapter {
  failing = false;
  override find(collection: string, query: Doc, options?: FindOptions): Promise<Doc[]> {
    if (this.failing && collection === 'userstuffs' && options?.limit !== undefined)
      return Promise.reject(new Error('the database went away'));
    return super.find(collection, query, options);
  }
}

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
process.on('unhandledRejection', onUnhandled);
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
});

it('a window that cannot be read again after a change that also re-runs a pipe is an error the stream handles, not an unhandled rejection', async () => {
  const adapter = new FailingAdapter({ collections: seedCollections() });
  const debug: string[] = [];
  const stream = new Stream({
    adapter,
    cacheConfig: seedCacheConfig,
    onDebug: (message) => debug.push(message),
    dataSources: {
      myStuff: seedDataSources.myStuff!,
      links: {
        collection: 'userstuffs',
        params: z.object({}),
        criteria: { userId: '@userId' },
        manifest: true,
        sort: { _id: 1 },
        limit: { default: 1, max: 1 },
      },
    },
  });
  const frames: { type: string; root?: string }[] = [];
  const unregister = stream.register({ userId: 1 }, (_type, message) =>
    frames.push(message as { type: string; root?: string }),
  );
  unregister.send({ type: 'subscribe', sub: 'w', source: 'links', params: {} });
  await expect.poll(() => frames.some((f) => f.type === 'payload' && f.root === 'w')).toBe(true);

  // userstuffs row 100 is the window's one document (101 is beyond it) and a row myStuff's
  // pipe read: removing it re-runs the pipe, then the window must be read again, which fails.
  adapter.failing = true;
  adapter.remove('userstuffs', { _id: 100 });
  await expect.poll(() => debug.includes('job failed')).toBe(true);
  // Node reports an unhandled rejection after the failed job settles: give it time to appear.
  await quietFor(50);
  expect(unhandled).toEqual([]);
  await stream.disconnect();
});
