/**
 * P6: server RSS per registered idle client in one shared group, beside idle raw `ws` sockets.
 * P7: server RSS while clients stop reading under steady writes: Particle closes them once
 * `maxBufferedBytes` is passed; a raw broadcast server without a bound keeps buffering.
 */
import { ClientPool } from '../lib/clients.js';
import { startParticle, startRaw } from '../lib/servers.js';
import { memory, settleMemory, sleep, wallMs } from '../lib/stats.js';
import { makeDocs } from './payload.js';
import type { Figures } from './fanout.js';

interface Harness {
  url: string;
  readyPayloads: number;
  /** Clients the server holds right now. */
  clients(): number;
  close(): Promise<void>;
}

async function waitFor(check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await sleep(20);
}

export interface P6Params {
  system: 'particle' | 'raw';
  clients: number;
  docs: number;
  procs: number;
}

export async function p6(params: P6Params): Promise<Figures> {
  const pool = await ClientPool.start(params.procs);
  const warmCount = 50;
  let harness: Harness;
  let groups = (): number => 0;
  if (params.system === 'particle') {
    const server = await startParticle({
      collections: { docs: makeDocs(params.docs) },
      dataSources: { docs: { collection: 'docs', manifest: true } },
    });
    groups = () => server.stream.stats().groups;
    harness = {
      url: server.url,
      readyPayloads: 1,
      clients: () => server.stream.stats().clients,
      close: () => server.close(),
    };
  } else {
    const server = await startRaw();
    harness = {
      url: server.url,
      readyPayloads: 0,
      clients: () => server.sockets.size,
      close: () => server.close(),
    };
  }
  const ids = (from: number, count: number): Record<string, unknown>[] =>
    Array.from({ length: count }, (_, i) => ({ userId: from + i }));
  try {
    // Warm up: the group is loaded, code paths are compiled, buffers are pooled.
    await pool.connect(harness.url, ids(0, warmCount), { readyPayloads: harness.readyPayloads });
    await waitFor(() => harness.clients() === warmCount);
    await sleep(500);
    await settleMemory();
    const before = memory();
    const ready = await pool.connect(harness.url, ids(warmCount, params.clients), {
      readyPayloads: harness.readyPayloads,
    });
    await waitFor(() => harness.clients() === warmCount + params.clients);
    if (ready.ready !== params.clients) throw new Error(`only ${ready.ready} clients connected`);
    await sleep(1000);
    await settleMemory();
    const after = memory();
    return {
      rssPerClient: (after.rss - before.rss) / params.clients,
      heapPerClient: (after.heapUsed - before.heapUsed) / params.clients,
      externalPerClient: (after.external - before.external) / params.clients,
      rootBytes: Buffer.byteLength(JSON.stringify(makeDocs(params.docs))),
      groups: groups(),
    };
  } finally {
    await pool.closeAll();
    await harness.close();
    await pool.stop();
  }
}

export interface P7Params {
  system: 'particle' | 'raw';
  clients: number;
  /** Bytes of the field each write replaces. */
  blobBytes: number;
  rate: number;
  durationMs: number;
  maxBufferedBytes: number;
}

export async function p7(params: P7Params): Promise<Figures> {
  const slow = await ClientPool.start(1);
  const reader = await ClientPool.start(1);
  const blob = (i: number): string => String(i % 10).repeat(params.blobBytes);
  const ids = Array.from({ length: params.clients }, (_, i) => ({ userId: i }));
  let write: (i: number) => void;
  let close: () => Promise<void>;
  let url: string;
  let open: () => number;
  if (params.system === 'particle') {
    const server = await startParticle({
      collections: { feed: [{ _id: 1, blob: '', t: 0 }] },
      dataSources: { feed: { collection: 'feed', manifest: true } },
      transport: { maxBufferedBytes: params.maxBufferedBytes },
    });
    url = server.url;
    open = () => server.stream.stats().clients;
    close = () => server.close();
    write = (i) =>
      server.adapter.update('feed', { _id: 1 }, { $set: { blob: blob(i), t: wallMs() } });
  } else {
    const server = await startRaw();
    url = server.url;
    open = () => server.sockets.size;
    close = () => server.close();
    let version = 0;
    write = (i) => {
      const frame = JSON.stringify({
        type: 'delta',
        root: 'feed',
        epoch: '1',
        version: ++version,
        timestamp: Date.now(),
        ops: [
          ['set', 1, 'blob', blob(i)],
          ['set', 1, 't', wallMs()],
        ],
      });
      for (const ws of server.sockets) ws.send(frame);
    };
  }
  const readyPayloads = params.system === 'particle' ? 1 : 0;
  try {
    await reader.connect(url, [{ userId: 'reader' }], { readyPayloads });
    await slow.connect(url, ids, { readyPayloads, pause: true });
    await waitFor(() => open() === params.clients + 1);
    await settleMemory();
    const start = memory();
    const base = start.rss;
    let peak = base;
    let peakHeap = start.heapUsed;
    let peakBuffers = start.arrayBuffers;
    let firstDrop = -1;
    const count = Math.round((params.rate * params.durationMs) / 1000);
    const interval = 1000 / params.rate;
    let next = performance.now();
    let lastSample = 0;
    const trace: number[] = [];
    for (let i = 0; i < count; i++) {
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      write(i);
      next += interval;
      if (performance.now() - lastSample > 250) {
        lastSample = performance.now();
        const m = memory();
        trace.push(m.rss - base);
        peak = Math.max(peak, m.rss);
        peakHeap = Math.max(peakHeap, m.heapUsed);
        peakBuffers = Math.max(peakBuffers, m.arrayBuffers);
        if (firstDrop < 0 && open() <= params.clients) firstDrop = (i * params.blobBytes) / 2 ** 20;
      }
    }
    const heldAtEnd = open();
    await sleep(1500);
    const end = memory().rss;
    const report = await reader.report();
    const slowReport = await slow.report();
    return {
      peakGrowthMiB: (peak - base) / 2 ** 20,
      peakHeapGrowthMiB: (peakHeap - start.heapUsed) / 2 ** 20,
      peakBufferGrowthMiB: (peakBuffers - start.arrayBuffers) / 2 ** 20,
      // MiB written to each socket before the first slow consumer was dropped (-1: never).
      perSocketMiBAtFirstDrop: firstDrop,
      endGrowthMiB: (end - base) / 2 ** 20,
      offeredMiB: (count * params.blobBytes * params.clients) / 2 ** 20,
      readerDeliveredShare: report.received / count,
      // Deltas the non-reading clients took in before they stopped reading (kernel buffers).
      slowDeliveredShare: slowReport.received / (count * params.clients),
      clientsHeldAtEnd: heldAtEnd,
      boundMiB: (params.clients * params.maxBufferedBytes) / 2 ** 20,
      // Growth over the last third of the run: about zero once the bound holds.
      lastThirdGrowthMiB:
        ((trace.at(-1) ?? 0) - (trace[Math.floor((trace.length * 2) / 3)] ?? 0)) / 2 ** 20,
    };
  } finally {
    await slow.closeAll();
    await reader.closeAll();
    await close();
    await slow.stop();
    await reader.stop();
  }
}
