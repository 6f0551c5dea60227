/**
 * P14: reactive criteria. Every identity follows a source whose criteria pipe through a join
 * collection (users > userstuffs > stuffs); one membership row at a time is inserted and
 * removed, and each change is awaited until its one client got its delta. The figure is the
 * server's CPU per change; the same run with few identities is the baseline.
 */
import type { Doc } from '../../src/server/adapter.js';
import { MemoryAdapter, Stream } from '../../src/server/index.js';
import { settleMemory } from '../lib/stats.js';
import type { Figures } from './fanout.js';

export interface P14Params {
  identities: number;
  changes: number;
}

const STUFFS = 50;

export async function p14(params: P14Params): Promise<Figures> {
  const { identities, changes } = params;
  const adapter = new MemoryAdapter({
    collections: {
      users: Array.from({ length: identities }, (_, i): Doc => ({ _id: i, name: `u${i}` })),
      stuffs: Array.from({ length: STUFFS }, (_, i): Doc => ({ _id: i, name: `s${i}` })),
      userstuffs: Array.from({ length: identities }, (_, i): Doc => ({
        _id: `m${i}`,
        userId: i,
        stuffId: i % STUFFS,
      })),
    },
  });
  const stream = new Stream({
    adapter,
    cacheConfig: { userstuffs: { userId: 'users._id', stuffId: 'stuffs._id' } },
    dataSources: {
      myStuff: {
        collection: 'stuffs',
        criteria: { _id: '@userId|users._id>userstuffs._id>stuffs._id' },
        manifest: true,
      },
    },
  });
  const received = new Array<number>(identities).fill(0);
  let wake: (() => void) | undefined;
  for (let i = 0; i < identities; i++) {
    await new Promise<void>((resolve, reject) =>
      stream.register(
        { userId: i },
        () => {
          received[i] = (received[i] ?? 0) + 1;
          wake?.();
        },
        (error) => (error ? reject(error) : resolve()),
      ),
    );
  }
  const change = async (n: number): Promise<void> => {
    const user = (Math.floor(n / 2) * 7919) % identities;
    const before = received[user] ?? 0;
    const id = `extra${user}`;
    if (n % 2 === 0)
      adapter.insert('userstuffs', { _id: id, userId: user, stuffId: (user + 1) % STUFFS });
    else adapter.remove('userstuffs', { _id: id });
    while ((received[user] ?? 0) === before) await new Promise<void>((r) => (wake = r));
  };
  for (let n = 0; n < Math.min(200, changes); n += 2) {
    await change(n);
    await change(n + 1);
  }
  await settleMemory();
  const cpu0 = process.cpuUsage();
  for (let n = 0; n < changes; n++) await change(n);
  const cpu = process.cpuUsage(cpu0);
  await stream.disconnect();
  return { cpuUsPerChange: (cpu.user + cpu.system) / changes, identities, changes };
}
