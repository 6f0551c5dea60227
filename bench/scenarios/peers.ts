/**
 * S1 (shared fan-out) and S2 (permissioned fan-out) for every system: a server process with
 * its writer, clients of the system's own client library in separate processes. Each run ends
 * with a check of every client's data against the server's, so a system that loses or repeats
 * updates says so instead of being timed.
 */
import { PeerPool } from '../peers/pool.js';
import type { Expected, PeerSystem } from '../peers/protocol.js';
import { rawFrame, startPeer, type PeerDoc } from '../peers/servers.js';
import { sleep } from '../lib/stats.js';

export type Figures = Record<string, number>;

export interface PeerParams {
  system: PeerSystem;
  clients: number;
  procs: number;
  /** S1: how many shared documents the writer goes round. */
  docs: number;
  warmupMs: number;
  measureMs: number;
  /** Updates written and not yet delivered, at most. */
  windowMsgs: number;
  /**
   * Writes made in one turn of the event loop at most, as a busy server sees them (many
   * requests, one write each, handled in one tick); the window still bounds what is in flight.
   */
  writesPerTick: number;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A small deterministic generator, so every system sees the same sequence of writes. */
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

async function run(shared: boolean, params: PeerParams): Promise<Figures> {
  const users = Array.from({ length: params.clients }, (_, u) => u);
  const docs: PeerDoc[] = shared
    ? Array.from({ length: params.docs }, (_, i) => ({ id: i + 1, ownerId: -1, n: 0 }))
    : users.map((u) => ({ id: u + 1, ownerId: u, n: 0 }));
  const server = await startPeer(params.system, shared, docs);
  const pool = await PeerPool.start(params.procs);
  try {
    const ready = await pool.connect(params.system, shared ? 'S1' : 'S2', server.url, users);
    if (ready !== params.clients) throw new Error(`only ${ready} of ${params.clients} connected`);
    await server.settled(params.clients);
    const values = new Map(docs.map((d) => [d.id, d.n]));
    const next = random(7);
    let turn = 0;
    let writeErrors = 0;
    let expected = 0;
    const write = (): void => {
      const doc = shared
        ? (docs[turn++ % docs.length] as PeerDoc)
        : (docs[Math.floor(next() * docs.length)] as PeerDoc);
      const n = (values.get(doc.id) as number) + 1;
      values.set(doc.id, n);
      expected += shared ? params.clients : 1;
      const taken = server.write(doc.id, n);
      if (taken) taken.catch(() => writeErrors++);
    };
    /** Writes while fewer than `windowMsgs` updates are in flight, for `ms`. */
    const drive = async (ms: number): Promise<void> => {
      const end = performance.now() + ms;
      while (performance.now() < end) {
        if (expected - pool.delivered < params.windowMsgs) {
          for (let i = 0; i < params.writesPerTick; i++) {
            write();
            if (expected - pool.delivered >= params.windowMsgs) break;
          }
          await tick();
        } else await Promise.race([pool.nextProgress(), sleep(50)]);
      }
    };
    await pool.progress(20);
    await drive(params.warmupMs);
    await pool.reset();
    const cpuFrom = process.cpuUsage();
    const t0 = performance.now();
    await drive(params.measureMs);
    const measured = await pool.report();
    const cpu = process.cpuUsage(cpuFrom);
    const seconds = (performance.now() - t0) / 1000;
    // What is in flight arrives (or stops arriving) before the check.
    let last = -1;
    let stalledSince = performance.now();
    while (pool.delivered < expected && performance.now() - stalledSince < 5000) {
      if (pool.delivered !== last) {
        last = pool.delivered;
        stalledSince = performance.now();
      }
      await Promise.race([pool.nextProgress(), sleep(50)]);
    }
    await pool.progress(0);
    await sleep(100);
    const want: Expected = {};
    for (const u of users) {
      const own = shared ? docs : [docs[u] as PeerDoc];
      want[u] = Object.fromEntries(own.map((d) => [String(d.id), values.get(d.id) as number]));
    }
    const check = await pool.check(want);
    const updates = Math.max(1, measured.received);
    const sample = docs[0] as PeerDoc;
    return {
      deliveredPerSec: measured.received / seconds,
      serverCpuUsPerUpdate: (cpu.user + cpu.system) / updates,
      clientCpuUsPerUpdate: measured.cpuUs / updates,
      bytesPerUpdate: measured.bytes / updates,
      rawFrameBytes: Buffer.byteLength(rawFrame(sample.id, values.get(sample.id) as number)),
      expected,
      dropped: Math.max(0, expected - (check.total - check.duplicated)),
      duplicated: check.duplicated,
      wrongClients: check.wrong,
      writeErrors,
    };
  } finally {
    await pool.stop();
    await server.close();
  }
}

/** S1: every client follows one shared query over `docs` documents. */
export function s1(params: PeerParams): Promise<Figures> {
  return run(true, params);
}

/** S2: each client its own identity-enforced query; every write lands on one client's document. */
export function s2(params: PeerParams): Promise<Figures> {
  return run(false, params);
}
