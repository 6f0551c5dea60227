/**
 * P11 (produced objects under a fast-changing dependency): `objects` produced objects of about
 * `objectBytes` each, `consumers` clients in separate processes (each subscribed to one object,
 * spread evenly), one shared dependency bumped `rate` times a second for `durationMs`; each bump
 * changes one field (`ticks`) of every object, the rest of it is the same data built anew.
 * Particle: a produced source (`depend('tick')`, `debounceMs`), produced once per instance and
 * diffed into ops that are serialized once for its subscribers. Beside it, Seapig's algorithm
 * on a bare `ws` server: every bump re-produces every object (no coalescing) and computes a JSON
 * Patch per consumer (fast-json-patch `compare`, as seapig-server runs `JsonDiff.generate` per
 * client), sent to it as an `object-update` frame.
 */
import jsonPatch from 'fast-json-patch';
import Type from 'typebox';
import type { WebSocket } from 'ws';
import type { Doc } from '../../src/server/index.js';
import { ClientPool } from '../lib/clients.js';
import { startParticle, startRaw } from '../lib/servers.js';
import { settleMemory, sleep } from '../lib/stats.js';
import type { Figures } from './fanout.js';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** The stable part of object `id`, `rows` rows long, built anew as a producer reading a store would. */
function blobFor(id: number, rows: number): Doc {
  return {
    title: `Statistics of object ${id}`,
    rows: Array.from({ length: rows }, (_, i) => ({
      i,
      name: `series ${id}-${i}`,
      value: (id * 7919 + i * 104_729) % 10_000,
      tags: ['stats', `o${id}`, `r${i % 7}`],
      note: 'Stable text the producer reads again on every production, unchanged.',
    })),
  };
}

/** How many rows make an object of at least `bytes` of JSON. */
function rowsFor(bytes: number): number {
  let rows = 1;
  while (Buffer.byteLength(JSON.stringify({ _id: 0, ticks: 0, blob: blobFor(0, rows) })) < bytes)
    rows++;
  return rows;
}

export interface P11Params {
  system: 'particle' | 'raw';
  objects: number;
  consumers: number;
  procs: number;
  /** The JSON size of one object, about. */
  objectBytes: number;
  /** Bumps per second. */
  rate: number;
  durationMs: number;
  /** Particle's `debounceMs` (the baseline has none). */
  debounceMs: number;
}

export async function p11(params: P11Params): Promise<Figures> {
  const n = params.consumers;
  const rows = rowsFor(params.objectBytes);
  const objectBytes = Buffer.byteLength(
    JSON.stringify({ _id: 0, ticks: 0, blob: blobFor(0, rows) }),
  );
  let ticks = 0;
  let productions = 0;
  const produce = (id: number): Doc => {
    productions++;
    return { _id: id, ticks, blob: blobFor(id, rows) };
  };
  const identities = Array.from({ length: n }, (_, i) => ({ userId: i }));
  const subscriptions = identities.map((_, i) => ({
    sub: 'stats',
    source: 'stats',
    params: { id: i % params.objects },
  }));
  const pool = await ClientPool.start(params.procs);
  let url: string;
  let close: () => Promise<void>;
  let bump: () => void;
  if (params.system === 'particle') {
    const server = await startParticle({
      collections: {},
      dataSources: {
        stats: {
          params: Type.Object({ id: Type.Integer({ minimum: 0 }) }),
          produce: ({ params: p, depend }) => {
            depend('tick');
            return produce(p.id as number);
          },
          manifest: true,
          debounceMs: params.debounceMs,
        },
      },
    });
    url = server.url;
    close = () => server.close();
    bump = () => {
      ticks++;
      server.stream.bump('tick');
    };
  } else {
    // Seapig's server: per object its current value and version and its consumers; on every
    // change one JSON Patch per consumer, from the value it was last sent (all had the last one).
    const objects = new Map<number, { version: number; value: Doc; consumers: WebSocket[] }>();
    const frame = (id: number, from: number, to: number, patch: unknown): string =>
      JSON.stringify({
        action: 'object-update',
        id: `stats:${id}`,
        old_version: from,
        new_version: to,
        patch,
      });
    const server = await startRaw((ws, text) => {
      const message = JSON.parse(text) as { type?: string; params?: { id?: unknown } };
      if (message.type !== 'subscribe') return;
      const id = Number(message.params?.id);
      let object = objects.get(id);
      if (!object) {
        object = { version: 1, value: produce(id), consumers: [] };
        objects.set(id, object);
      }
      object.consumers.push(ws);
      ws.send(frame(id, 0, object.version, jsonPatch.compare({}, object.value)));
    });
    url = server.url;
    close = () => server.close();
    bump = () => {
      ticks++;
      for (const [id, object] of objects) {
        const before = object.value;
        const from = object.version;
        object.value = produce(id);
        object.version++;
        for (const ws of object.consumers) {
          ws.send(frame(id, from, object.version, jsonPatch.compare(before, object.value)));
        }
      }
    };
  }
  try {
    const ready = await pool.connect(url, identities, {
      readyPayloads: 0,
      readyTicks: true,
      subscriptions,
    });
    if (ready.ready !== n) throw new Error(`only ${ready.ready} of ${n} consumers subscribed`);
    const initialProductions = productions;
    await settleMemory();
    await pool.reset();
    const count = Math.max(1, Math.round((params.rate * params.durationMs) / 1000));
    const interval = 1000 / params.rate;
    productions = 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let next = t0;
    for (let i = 0; i < count; i++) {
      const wait = next - performance.now();
      // Behind schedule, the next bump goes out at once, but sockets get their turn first.
      await (wait > 0 ? sleep(wait) : tick());
      bump();
      next += interval;
    }
    const bumpMs = performance.now() - t0;
    // The last value must reach every consumer; the CPU they cost until then counts.
    const deadline = performance.now() + 20_000;
    let check = await pool.ticks(ticks);
    while (check.right < n && performance.now() < deadline) {
      await sleep(20);
      check = await pool.ticks(ticks);
    }
    const cpu = process.cpuUsage(cpu0);
    const totalMs = performance.now() - t0;
    const report = await pool.report();
    return {
      bumps: count,
      objectBytes,
      initialProductions,
      productions,
      productionsPerBump: productions / count,
      productionsPerObject: productions / params.objects,
      productionBound: params.durationMs / params.debounceMs,
      bytesPerBump: report.bytes / count,
      framesPerBump: report.received / count,
      cpuUsPerBump: (cpu.user + cpu.system) / count,
      cpuUsPerProduction: (cpu.user + cpu.system) / Math.max(1, productions),
      bumpsPerSec: count / (bumpMs / 1000),
      settleMs: totalMs - bumpMs,
      wrong: n - check.right,
      missing: check.missing,
      closed: Object.values(report.closes).reduce((a, b) => a + b, 0),
    };
  } finally {
    await pool.closeAll();
    await close();
    await pool.stop();
  }
}
