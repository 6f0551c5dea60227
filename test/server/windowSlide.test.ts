import { expect, it, vi } from 'vitest';
import { z } from 'zod';
import type { Doc } from '../../src/server/adapter.js';
import { MemoryAdapter, Stream } from '../../src/server/index.js';
import { opsOf } from '../support/wireOps.js';

type Op = { operation: string; id: unknown; path?: string; data?: unknown };

it('a live window kept by sliding (no re-read for most changes) always equals a fresh query', async () => {
  let seed = 42;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const adapter = new MemoryAdapter({ collections: { items: [] } });
  const stream = new Stream({
    adapter,
    dataSources: {
      items: {
        collection: 'items',
        params: z.object({ room: z.string() }),
        criteria: { room: '$room' },
        manifest: { room: true, rank: true, text: true },
        sort: { rank: -1 },
        limit: { default: 5, max: 5 },
      },
    },
  });
  const view = new Map<unknown, Doc>();
  let more: boolean | undefined;
  let payloads = 0;
  const unregister = stream.register({}, (_type, message) => {
    const m = message as { type: string; root?: string; data?: Doc[]; ops?: Op[]; more?: boolean };
    if (m.root !== 'w') return;
    if (m.more !== undefined) more = m.more;
    if (m.type === 'payload') {
      payloads++;
      view.clear();
      for (const d of m.data ?? []) view.set(d._id, structuredClone(d));
    }
    for (const op of opsOf(m)) {
      if (op.operation === 'insert') view.set(op.id, structuredClone(op.data) as Doc);
      else if (op.operation === 'remove') view.delete(op.id);
      else if (op.operation === 'set') (view.get(op.id) as Doc)[op.path as string] = op.data;
      else delete (view.get(op.id) as Doc)[op.path as string];
    }
  });
  unregister.send({ type: 'subscribe', sub: 'w', source: 'items', params: { room: 'a' } });
  await vi.waitFor(() => expect(payloads).toBe(1));
  const expected = () =>
    adapter
      .findNow('items', { room: 'a' })
      .sort((x, y) => Number(y.rank) - Number(x.rank) || Number(x._id) - Number(y._id))
      .slice(0, 5)
      .map((d) => ({ _id: d._id, room: d.room, rank: d.rank, text: d.text }));
  const shown = () =>
    [...view.values()].sort(
      (x, y) => Number(y.rank) - Number(x.rank) || Number(x._id) - Number(y._id),
    );
  for (let step = 0; step < 400; step++) {
    const id = random(30);
    const exists = adapter.findNow('items', { _id: id }).length > 0;
    const choice = random(4);
    if (!exists) {
      adapter.insert('items', {
        _id: id,
        room: random(3) ? 'a' : 'b',
        rank: random(20),
        text: 't',
      });
    } else if (choice === 0) adapter.remove('items', { _id: id });
    else if (choice === 1)
      adapter.update('items', { _id: id }, { $set: { room: random(2) ? 'a' : 'b' } });
    else if (choice === 2) adapter.update('items', { _id: id }, { $set: { rank: random(20) } });
    else adapter.update('items', { _id: id }, { $set: { text: `t${step}` } });
    await new Promise((r) => setImmediate(r));
    expect(shown(), `step ${step}`).toEqual(expected());
    const matching = adapter.findNow('items', { room: 'a' }).length;
    expect(more, `more at step ${step}`).toBe(matching > 5);
  }
  unregister();
  await stream.disconnect();
});
