/**
 * P9 (mutation round trip with many clients connected) and P10 (optimistic mutation to React
 * commit). P9: a server in this process, clients in separate processes speaking the wire
 * protocol; some of them send `mutate` frames at a steady rate and time each until its
 * `mutated` arrives. Particle beside a bare `ws` server that answers each request with the
 * frame a hand-written server would send after the same in-memory update.
 */
import type { WebSocket } from 'ws';
import { z } from 'zod';
import { mutator } from '../../src/server/index.js';
import { ClientPool } from '../lib/clients.js';
import { startParticle, startRaw } from '../lib/servers.js';
import { percentile, sleep } from '../lib/stats.js';
import type { Figures } from './fanout.js';

/**
 * What each mutation writes. `own`: the caller's own document, which only the caller sees (one
 * delta, to the caller). `unwatched`: a collection no data source shows (no delta at all).
 * `shared`: the one document every client sees (a delta to every client).
 */
export type MutationTarget = 'own' | 'unwatched' | 'shared';

const MUTATOR: Record<MutationTarget, string> = {
  own: 'touchOwn',
  unwatched: 'touchLog',
  shared: 'touchShared',
};

const EPOCH = '1';

async function waitFor(check: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

export interface P9Params {
  system: 'particle' | 'raw';
  clients: number;
  procs: number;
  /** How many of the clients send mutations. */
  senders: number;
  /** Mutations per second (all senders together) for `own` and `unwatched`. */
  rate: number;
  /** Mutations per second for `shared`, each of which reaches every client. */
  sharedRate: number;
  warmupMs: number;
  measureMs: number;
  targets: MutationTarget[];
}

export async function p9(params: P9Params): Promise<Figures> {
  const n = params.clients;
  const identities = Array.from({ length: n }, (_, i) => ({ userId: i }));
  const pool = await ClientPool.start(params.procs);
  let close: () => Promise<void>;
  if (params.system === 'particle') {
    const args = z.object({ n: z.number() });
    const server = await startParticle({
      collections: {
        items: identities.map(({ userId }) => ({
          _id: userId,
          ownerId: userId,
          title: `item ${userId}`,
          n: 0,
        })),
        feed: [{ _id: 1, kind: 'shared', title: 'The shared document', n: 0 }],
        log: identities.map(({ userId }) => ({ _id: userId, n: 0 })),
      },
      dataSources: {
        mine: { collection: 'items', criteria: { ownerId: '@userId' }, manifest: true },
        feed: { collection: 'feed', criteria: { kind: 'shared' }, manifest: true },
      },
      stream: {
        mutators: {
          touchOwn: mutator({
            args,
            run: ({ identity, args, db }) =>
              db.update('items', { _id: identity.userId }, { $set: { n: args.n } }),
          }),
          touchLog: mutator({
            args,
            run: ({ identity, args, db }) =>
              db.update('log', { _id: identity.userId }, { $set: { n: args.n } }),
          }),
          touchShared: mutator({
            args,
            run: ({ args, db }) => db.update('feed', { _id: 1 }, { $set: { n: args.n } }),
          }),
        },
      },
    });
    close = () => server.close();
    const ready = await pool.connect(server.url, identities, { readyPayloads: 2 });
    if (ready.ready !== n) throw new Error(`only ${ready.ready} of ${n} clients registered`);
  } else {
    // A hand-written server: plain maps, one JSON.parse per request, one frame per answer.
    const users = new Map<WebSocket, number>();
    const items = new Map(identities.map(({ userId }) => [userId, { _id: userId, n: 0 }]));
    const log = new Map(identities.map(({ userId }) => [userId, { _id: userId, n: 0 }]));
    const feed = { _id: 1, n: 0 };
    const versions = new Map<number, number>();
    let feedVersion = 0;
    const delta = (root: string, version: number, id: number, value: number): string =>
      JSON.stringify({
        type: 'delta',
        root,
        epoch: EPOCH,
        version,
        timestamp: Date.now(),
        ops: [['set', id, 'n', value]],
      });
    const server = await startRaw((ws, text) => {
      const message = JSON.parse(text) as {
        type: string;
        id?: string;
        name?: string;
        args?: { n?: unknown };
        identity?: { userId: number };
      };
      if (message.type === 'register') {
        users.set(ws, message.identity?.userId ?? -1);
        return;
      }
      const userId = users.get(ws);
      const value = message.args?.n;
      if (message.type !== 'mutate' || userId === undefined || typeof value !== 'number') return;
      const mutated = JSON.stringify({ type: 'mutated', id: message.id, result: 1 });
      switch (message.name) {
        case 'touchOwn': {
          const doc = items.get(userId);
          if (doc) doc.n = value;
          const version = (versions.get(userId) ?? 0) + 1;
          versions.set(userId, version);
          ws.send(
            `{"type":"batch","messages":[${delta('mine', version, userId, value)},${mutated}]}`,
          );
          return;
        }
        case 'touchLog': {
          const doc = log.get(userId);
          if (doc) doc.n = value;
          ws.send(mutated);
          return;
        }
        case 'touchShared': {
          feed.n = value;
          const frame = delta('feed', ++feedVersion, feed._id, value);
          for (const other of server.sockets) if (other !== ws) other.send(frame);
          ws.send(`{"type":"batch","messages":[${frame},${mutated}]}`);
          return;
        }
      }
    });
    close = () => server.close();
    await pool.connect(server.url, identities, { readyPayloads: 0 });
    await waitFor(() => users.size === n, 'registrations');
  }
  try {
    const figures: Figures = {};
    for (const target of params.targets) {
      await sleep(200);
      const r = await pool.mutateLoad({
        name: MUTATOR[target],
        senders: params.senders,
        rate: target === 'shared' ? params.sharedRate : params.rate,
        warmupMs: params.warmupMs,
        measureMs: params.measureMs,
      });
      if (r.errors > 0) throw new Error(`${r.errors} mutations failed, first: ${r.firstError}`);
      figures[`${target}P50Ms`] = percentile(r.samples, 50);
      figures[`${target}P99Ms`] = percentile(r.samples, 99);
      figures[`${target}Samples`] = r.samples.length;
      figures[`${target}Lost`] = r.sent - r.answered;
      figures[`${target}InBatchShare`] = r.answered > 0 ? r.inBatch / r.answered : 0;
    }
    return figures;
  } finally {
    await pool.closeAll();
    await close();
    await pool.stop();
  }
}

export interface P10Params {
  docs: number;
  components: number;
  samples: number;
}

/** The React path, measured by ../mutation-react.ts (under NODE_ENV=production). */
export async function p10(params: P10Params): Promise<Figures> {
  const { benchMutationReact } = await import('../mutation-react.js');
  const r = await benchMutationReact(params);
  return {
    optimisticMedianUs: r.optimisticToCommit.medianMs * 1000,
    optimisticP95Us: r.optimisticToCommit.p95Ms * 1000,
    draftFindMedianUs: r.draftFindToCommit.medianMs * 1000,
    confirmMedianUs: r.confirmToCommit.medianMs * 1000,
    immerFindMedianUs: r.immerProduce.medianMs * 1000,
    immerFindP95Us: r.immerProduce.p95Ms * 1000,
    componentsWokenPerMutation: r.componentsWokenPerMutation,
    componentsWokenPerConfirm: r.componentsWokenPerConfirm,
  };
}
