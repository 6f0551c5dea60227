/**
 * P5: 100k documents of about 200 bytes, from opening a socket to a ready Collector (in a client
 * process), beside a bare `ws` server that stringifies the same array, sends it, and a client
 * that parses it.
 */
import { ClientPool } from '../lib/clients.js';
import { startParticle, startRaw } from '../lib/servers.js';
import type { Figures } from './fanout.js';

export function makeDocs(count: number): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, i) => ({
    _id: i,
    name: `User number ${i}`,
    email: `user.${i}@example.com`,
    accountId: i % 100,
    score: (i * 7919) % 1000,
    active: i % 3 !== 0,
    bio: `Writes about sync engines, state and the web; joined in ${2000 + (i % 25)}. Likes tea.`,
  }));
}

export interface P5Params {
  system: 'particle' | 'raw';
  docs: number;
}

export async function p5(params: P5Params): Promise<Figures> {
  const docs = makeDocs(params.docs);
  const bytes = Buffer.byteLength(JSON.stringify(docs));
  const pool = await ClientPool.start(1);
  try {
    if (params.system === 'particle') {
      const server = await startParticle({
        collections: { docs },
        dataSources: { docs: { collection: 'docs', manifest: true } },
      });
      try {
        const cold = await pool.request(0, {
          cmd: 'collectorReady',
          url: server.url,
          identity: { userId: 1 },
        });
        const warm = await pool.request(0, {
          cmd: 'collectorReady',
          url: server.url,
          identity: { userId: 2 },
        });
        if (cold.ev !== 'timed' || warm.ev !== 'timed') throw new Error('no timing');
        if (cold.docs !== params.docs) throw new Error(`ready with ${cold.docs} documents`);
        return { coldMs: cold.ms, warmMs: warm.ms, bytesPerDoc: bytes / params.docs };
      } finally {
        await server.close();
      }
    }
    const server = await startRaw((ws) => ws.send(JSON.stringify(docs)));
    try {
      const first = await pool.request(0, { cmd: 'rawPayload', url: server.url });
      const second = await pool.request(0, { cmd: 'rawPayload', url: server.url });
      if (first.ev !== 'timed' || second.ev !== 'timed') throw new Error('no timing');
      return { coldMs: first.ms, warmMs: second.ms, bytesPerDoc: bytes / params.docs };
    } finally {
      await server.close();
    }
  } finally {
    await pool.stop();
  }
}
