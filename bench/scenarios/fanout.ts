/**
 * P1 (shared-group fan-out) and P2 (permissioned fan-out): a server process, clients in
 * separate processes, a writer in the server process; Particle beside a bare `ws` server that
 * sends the same frames to the same sockets.
 */
import type { WebSocket } from 'ws';
import { ClientPool } from '../lib/clients.js';
import { saturate, steady } from '../lib/drive.js';
import { startParticle, startRaw, type RawServer } from '../lib/servers.js';
import { sleep, wallMs } from '../lib/stats.js';

export type Figures = Record<string, number>;

const EPOCH = '1';

/** The frame Particle sends for one `$set: { t }`, built the way a hand-written server would. */
function deltaFrame(root: string, version: number, id: number, t: number): string {
  return JSON.stringify({
    type: 'delta',
    root,
    epoch: EPOCH,
    version,
    timestamp: Date.now(),
    ops: [['set', id, 't', t]],
  });
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** A small deterministic generator, so both systems see the same sequence of writes. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface P1Params {
  system: 'particle' | 'raw';
  clients: number;
  procs: number;
  warmupMs: number;
  measureMs: number;
  /** Writes per second of the latency phase. */
  latencyRate: number;
  latencyMs: number;
}

export async function p1(params: P1Params): Promise<Figures> {
  const n = params.clients;
  const pool = await ClientPool.start(params.procs);
  const identities = Array.from({ length: n }, (_, i) => ({ userId: i }));
  let close: () => Promise<void>;
  let write: () => number;
  let groups = 0;
  if (params.system === 'particle') {
    const server = await startParticle({
      collections: { feed: [{ _id: 1, kind: 'shared', title: 'The shared document', t: 0 }] },
      dataSources: { feed: { collection: 'feed', criteria: { kind: 'shared' }, manifest: true } },
    });
    close = () => server.close();
    const ready = await pool.connect(server.url, identities, { readyPayloads: 1 });
    if (ready.ready !== n) throw new Error(`only ${ready.ready} of ${n} clients registered`);
    groups = server.stream.stats().groups;
    write = () => {
      server.adapter.update('feed', { _id: 1 }, { $set: { t: wallMs() } });
      return n;
    };
  } else {
    const server = await startRaw();
    close = () => server.close();
    await pool.connect(
      server.url,
      identities.map(() => null),
      { readyPayloads: 0 },
    );
    await waitFor(() => server.sockets.size === n, 'sockets');
    let version = 0;
    write = () => {
      const frame = deltaFrame('feed', ++version, 1, wallMs());
      for (const ws of server.sockets) ws.send(frame);
      return n;
    };
  }
  try {
    const throughput = await saturate(pool, write, {
      warmupMs: params.warmupMs,
      measureMs: params.measureMs,
      windowMsgs: 8 * n,
    });
    const latency = await steady(pool, write, {
      rate: params.latencyRate,
      durationMs: params.latencyMs,
    });
    return {
      msgsPerSec: throughput.msgsPerSec,
      writesPerSec: throughput.writesPerSec,
      latencyMsgsPerSec: params.latencyRate * n,
      p50Ms: latency.p50,
      p99Ms: latency.p99,
      latencyDeliveredShare: latency.delivered / latency.expected,
      groups,
    };
  } finally {
    await pool.closeAll();
    await close();
    await pool.stop();
  }
}

export interface P2Params {
  system: 'particle' | 'raw';
  clients: number;
  accounts: number;
  procs: number;
  warmupMs: number;
  measureMs: number;
}

/**
 * Each client sees its own item (`ownerId: '@userId'`) and its account's note
 * (`accountId: '@accountId'`). Writes alternate between a random owner's item (one recipient)
 * and a random account's note (every member of the account).
 */
export async function p2(params: P2Params): Promise<Figures> {
  const { clients: n, accounts } = params;
  const members = Array.from({ length: accounts }, () => 0);
  const identities = Array.from({ length: n }, (_, i) => {
    members[i % accounts]!++;
    return { userId: i, accountId: i % accounts };
  });
  const pool = await ClientPool.start(params.procs);
  const next = random(7);
  let step = 0;
  /** The next write: which collection and id, and how many clients may see it. */
  const pick = (): { owner: boolean; id: number; fanout: number } => {
    const owner = step++ % 2 === 0;
    if (owner) return { owner, id: Math.floor(next() * n), fanout: 1 };
    const id = Math.floor(next() * accounts);
    return { owner, id, fanout: members[id] as number };
  };
  let close: () => Promise<void>;
  let write: () => number;
  let groups = 0;
  if (params.system === 'particle') {
    const server = await startParticle({
      collections: {
        items: identities.map(({ userId }) => ({
          _id: userId,
          ownerId: userId,
          title: `item ${userId}`,
          t: 0,
        })),
        notes: members.map((_, a) => ({ _id: a, accountId: a, title: `account ${a}`, t: 0 })),
      },
      dataSources: {
        mine: { collection: 'items', criteria: { ownerId: '@userId' }, manifest: true },
        account: { collection: 'notes', criteria: { accountId: '@accountId' }, manifest: true },
      },
    });
    close = () => server.close();
    const ready = await pool.connect(server.url, identities, { readyPayloads: 2 });
    if (ready.ready !== n) throw new Error(`only ${ready.ready} of ${n} clients registered`);
    groups = server.stream.stats().groups;
    write = () => {
      const w = pick();
      server.adapter.update(w.owner ? 'items' : 'notes', { _id: w.id }, { $set: { t: wallMs() } });
      return w.fanout;
    };
  } else {
    // A hand-written server: it reads each socket's register message and keeps plain maps.
    const byUser = new Map<number, WebSocket>();
    const byAccount = new Map<number, WebSocket[]>();
    const server: RawServer = await startRaw((ws, text) => {
      const { identity } = JSON.parse(text) as { identity: { userId: number; accountId: number } };
      byUser.set(identity.userId, ws);
      const list = byAccount.get(identity.accountId) ?? [];
      list.push(ws);
      byAccount.set(identity.accountId, list);
    });
    close = () => server.close();
    await pool.connect(server.url, identities, { readyPayloads: 0 });
    await waitFor(() => byUser.size === n, 'registrations');
    let version = 0;
    write = () => {
      const w = pick();
      if (w.owner) {
        byUser.get(w.id)?.send(deltaFrame('mine', ++version, w.id, wallMs()));
      } else {
        const frame = deltaFrame('account', ++version, w.id, wallMs());
        for (const ws of byAccount.get(w.id) ?? []) ws.send(frame);
      }
      return w.fanout;
    };
  }
  try {
    const throughput = await saturate(pool, write, {
      warmupMs: params.warmupMs,
      measureMs: params.measureMs,
      windowMsgs: 4 * n,
    });
    return { msgsPerSec: throughput.msgsPerSec, writesPerSec: throughput.writesPerSec, groups };
  } finally {
    await pool.closeAll();
    await close();
    await pool.stop();
  }
}
