/**
 * P15: one server process, many idle registered clients. Client processes open sockets in steps
 * (each client registers and gets its own identity-enforced root plus a shared one) until the
 * server cannot take more (a refused, reset or unanswered client) or a bound is reached
 * (clients, server RSS, time). At each step: server RSS and JS heap per client after GC, and
 * open-to-answered time per client. At the largest size: server CPU while idle (heartbeats
 * only). Every process of it runs under a raised `ulimit -n`; sockets spread over several
 * loopback source addresses so one server port is not bound by one address's ephemeral ports.
 */
import { fileURLToPath } from 'node:url';
import { RaisedProcess } from '../lib/raisedProcess.js';
import { percentile, sleep } from '../lib/stats.js';
import type { Figures } from './fanout.js';

const serverScript = fileURLToPath(new URL('../lib/capacityServer.ts', import.meta.url));
const clientScript = fileURLToPath(new URL('../lib/capacityClient.ts', import.meta.url));

export interface P15Params {
  system: 'particle' | 'raw';
  /** Clients added per step. */
  step: number;
  maxClients: number;
  maxRssBytes: number;
  /** No new step starts after this long. */
  maxMs: number;
  heartbeatMs: number;
  /** How long server CPU is sampled while idle, at the largest size. */
  idleMs: number;
}

/** Why stepping stopped, as a figure. */
export const STOPPED = { refused: 1, clients: 2, memory: 3, time: 4 } as const;

interface ServerStats {
  held: number;
  rss: number;
  heapUsed: number;
  acceptErrors: number;
  firstAcceptError: string;
}
interface Opened {
  ok: number;
  failed: number;
  firstError: string;
  seconds: number;
  samples: number[];
}

/** Ephemeral ports one source address is given for one server address and port, with room. */
const PORTS_PER_SOURCE = 20_000;
const WARM = 200;

export async function p15(params: P15Params): Promise<Figures> {
  const server = RaisedProcess.start(
    serverScript,
    [params.system, String(params.maxClients + WARM), String(params.heartbeatMs)],
    ['--expose-gc', '--max-old-space-size=16384'],
  );
  const clients: RaisedProcess[] = [];
  try {
    const { url, fdLimit } = await server.request<{ url: string; fdLimit: number }>({
      cmd: 'start',
    });
    // Each client process holds at most its own fd limit; two share the cores.
    const perProc = Math.max(1000, fdLimit - 500);
    const procs = Math.min(8, Math.max(2, Math.ceil((params.maxClients + WARM) / perProc)));
    for (let i = 0; i < procs; i++) clients.push(RaisedProcess.start(clientScript, []));
    // A random 127.a.b.0/24 per job, so TIME_WAIT ports of an earlier run are not in the way.
    const a = 1 + Math.floor(Math.random() * 254);
    const b = 1 + Math.floor(Math.random() * 254);
    const addresses = Math.max(1, Math.ceil((params.maxClients + WARM) / PORTS_PER_SOURCE));
    const sources = Array.from({ length: addresses }, (_, k) => `127.${a}.${b}.${k + 1}`);
    const payloads = params.system === 'particle' ? 2 : 0;
    let total = 0;
    const openStep = async (count: number): Promise<Opened> => {
      const share = Math.ceil(count / procs);
      const parts = await Promise.all(
        clients.map((c, i) => {
          const n = Math.max(0, Math.min(share, count - i * share));
          return c.request<Opened>({
            cmd: 'open',
            url,
            from: total + i * share,
            count: n,
            payloads,
            sources,
            concurrency: 32,
            timeoutMs: 20_000,
          });
        }),
      );
      total += count;
      const out: Opened = { ok: 0, failed: 0, firstError: '', seconds: 0, samples: [] };
      for (const p of parts) {
        out.ok += p.ok;
        out.failed += p.failed;
        out.firstError ||= p.firstError;
        out.seconds = Math.max(out.seconds, p.seconds);
        for (const s of p.samples) out.samples.push(s);
      }
      return out;
    };
    // Warm-up: compiled paths, pooled buffers, the shared group loaded.
    const warm = await openStep(WARM);
    if (warm.ok !== WARM) throw new Error(`warm-up: ${warm.failed} failed (${warm.firstError})`);
    await sleep(300);
    const base = await server.request<ServerStats>({ cmd: 'stats' });
    const figures: Figures = { fdLimit, clientProcs: procs, sourceAddresses: addresses };
    let held = 0;
    let stopped: number = STOPPED.clients;
    let last: Opened | undefined;
    const t0 = Date.now();
    const totalSamples: number[] = [];
    while (held < params.maxClients) {
      if (Date.now() - t0 > params.maxMs) {
        stopped = STOPPED.time;
        break;
      }
      const opened = await openStep(Math.min(params.step, params.maxClients - held));
      held += opened.ok;
      for (const s of opened.samples) totalSamples.push(s);
      await sleep(300);
      const stats = await server.request<ServerStats>({ cmd: 'stats' });
      const size = stats.held - WARM;
      figures[`rssPerClient@${size}`] = (stats.rss - base.rss) / size;
      figures[`heapPerClient@${size}`] = (stats.heapUsed - base.heapUsed) / size;
      figures[`registeredPerSec@${size}`] = opened.ok / opened.seconds;
      figures.rssPerClient = (stats.rss - base.rss) / size;
      figures.heapPerClient = (stats.heapUsed - base.heapUsed) / size;
      figures.serverRssMiB = stats.rss / 2 ** 20;
      figures.serverHeldAtLastStep = size;
      figures.acceptErrors = stats.acceptErrors;
      last = opened;
      if (opened.failed > 0) {
        stopped = STOPPED.refused;
        process.stderr.write(
          `P15 ${params.system}: ${opened.failed} clients failed at ${held + opened.failed} ` +
            `(${opened.firstError}; server accept: ${stats.firstAcceptError || 'no error'})\n`,
        );
        break;
      }
      if (stats.rss > params.maxRssBytes) {
        stopped = STOPPED.memory;
        break;
      }
    }
    // Idle: nothing but heartbeats (a ping each, plus Particle's heartbeat frame).
    const idle = await server.request<{ cpuMs: number; held: number }>({
      cmd: 'cpu',
      ms: params.idleMs,
    });
    const after = await server.request<ServerStats>({ cmd: 'stats' });
    let clientHeld = 0;
    let lost = 0;
    for (const c of clients) {
      const h = await c.request<{ ready: number; lostAfterReady: number }>({ cmd: 'held' });
      clientHeld += h.ready;
      lost += h.lostAfterReady;
    }
    // Held (warm-up clients included): registered, answered, and still held by both ends
    // after idling.
    figures.held = Math.min(after.held, clientHeld);
    // Sockets the server process has open against its fd limit (the rest: its own files).
    figures.serverSockets = after.held;
    figures.lostAfterReady = lost;
    figures.serverMismatch = Math.abs(after.held - clientHeld);
    figures.stopped = stopped;
    figures.idleCpuMsPerSec = idle.cpuMs / (params.idleMs / 1000);
    figures.idleCpuUsPerClientPerTick =
      (idle.cpuMs * 1000) / (idle.held * (params.idleMs / params.heartbeatMs));
    figures.registerP50Ms = percentile(last?.samples ?? [], 50);
    figures.registerP99Ms = percentile(last?.samples ?? [], 99);
    figures.registerAllP99Ms = percentile(totalSamples, 99);
    figures.registeredPerSec = (last?.ok ?? 0) / (last?.seconds ?? Number.NaN);
    return figures;
  } finally {
    for (const c of clients) await c.request({ cmd: 'stop' }).catch(() => undefined);
    await server.request({ cmd: 'stop' }).catch(() => undefined);
    for (const c of clients) await c.stop();
    await server.stop();
  }
}
