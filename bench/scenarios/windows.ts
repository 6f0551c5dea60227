/**
 * P13 (live windows on a source with params): a `window` source over `items`, one room per
 * params value (`criteria: { room: '$room' }`), newest first (`sort: { createdAt: -1 }`), 50
 * documents by default.
 * - `p13ready`: subscribe-to-payload on one registered socket (a subscriber process), cold (a
 *   room nobody holds: its group loads) and warm (a room another subscription holds), beside a
 *   bare `ws` server that answers each `subscribe` with the same MemoryAdapter `find` (sort,
 *   limit), `JSON.stringify` and send, and the same client parse.
 * - `p13churn`: server CPU per change while inserts land at the head of the windows at `rate`
 *   per second, `windows` windows of `perWindow` subscribers each (sockets in client processes).
 * - `p13memory`: server memory per open window subscription beyond a registered socket.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import Type from 'typebox';
import { MemoryAdapter, type DataSource, type Doc } from '../../src/server/index.js';
import { ClientPool } from '../lib/clients.js';
import { startParticle, startRaw } from '../lib/servers.js';
import { memory, percentile, settleMemory, sleep } from '../lib/stats.js';
import type {
  SubscribeFrame,
  SubscriberCommand,
  SubscriberReply,
} from '../lib/subscriberProcess.js';
import type { Figures } from './fanout.js';

const EPOCH = '1';
const SORT = { createdAt: -1 } as const;
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Item `i` of a collection spread over `rooms` rooms; a higher `i` is newer. */
function makeItem(i: number, rooms: number): Doc {
  return {
    _id: i,
    room: `r${i % rooms}`,
    createdAt: 1_700_000_000_000 + i,
    author: `user${(i * 7919) % 1000}`,
    text: `Message ${i} of the room, about as long as a line of chat usually is.`,
  };
}

function makeItems(count: number, rooms: number): Doc[] {
  return Array.from({ length: count }, (_, i) => makeItem(i, rooms));
}

/** The live window a client subscribes to with `{ room }`. */
const windowSource: DataSource = {
  collection: 'items',
  params: Type.Object({ room: Type.String({ maxLength: 100 }) }),
  criteria: { room: '$room' },
  manifest: { room: true, createdAt: true, author: true, text: true },
  sort: SORT,
  limit: { default: 50, max: 200 },
};

function windowFrame(sub: string, room: string, limit: number): SubscribeFrame {
  return { sub, source: 'window', params: { room }, limit };
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const subscriberScript = fileURLToPath(new URL('../lib/subscriberProcess.ts', import.meta.url));

/**
 * Subscriber processes (bench/lib/subscriberProcess.ts), driven as one. Socket `g` (in the
 * order sockets were asked for, over every `open`) lives in process `g % size`.
 */
class Subscribers {
  private nextId = 1;
  private readonly pending = new Map<number, (reply: SubscriberReply) => void>();
  private sockets = 0;

  private constructor(private readonly procs: ChildProcess[]) {
    for (const child of procs) {
      child.on('message', (message: SubscriberReply & { id: number }) => {
        const resolve = this.pending.get(message.id);
        this.pending.delete(message.id);
        resolve?.(message);
      });
    }
  }

  static start(count: number): Subscribers {
    return new Subscribers(
      Array.from({ length: count }, () =>
        fork(subscriberScript, [], {
          execArgv: ['--import', 'tsx', '--max-old-space-size=4096'],
          serialization: 'advanced',
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        }),
      ),
    );
  }

  private request(index: number, command: SubscriberCommand): Promise<SubscriberReply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, (reply) =>
        reply.ev === 'error' ? reject(new Error(reply.message)) : resolve(reply),
      );
      (this.procs[index] as ChildProcess).send({ ...command, id });
    });
  }

  /** Opens and registers one socket per identity; resolves with how many are registered. */
  async open(url: string, identities: Record<string, unknown>[]): Promise<number> {
    const shares: Record<string, unknown>[][] = this.procs.map(() => []);
    identities.forEach((identity, i) => shares[(this.sockets + i) % shares.length]?.push(identity));
    this.sockets += identities.length;
    const replies = await Promise.all(
      shares.map((share, i) =>
        this.request(i, { cmd: 'open', url, identities: share, concurrency: 50 }),
      ),
    );
    return replies.reduce((n, r) => n + (r.ev === 'opened' ? r.ready : 0), 0);
  }

  /** Socket `from + i` subscribes with `frames[i]`; resolves once every payload came. */
  async subscribe(
    from: number,
    frames: SubscribeFrame[],
  ): Promise<{ ready: number; docs: number }> {
    const count = this.procs.length;
    const shares: { index: number; frame: SubscribeFrame }[][] = this.procs.map(() => []);
    frames.forEach((frame, i) =>
      shares[(from + i) % count]?.push({ index: Math.floor((from + i) / count), frame }),
    );
    const replies = await Promise.all(
      shares.map((share, i) => this.request(i, { cmd: 'subscribe', subscriptions: share })),
    );
    const out = { ready: 0, docs: 0 };
    for (const r of replies) {
      if (r.ev !== 'subscribed') continue;
      out.ready += r.ready;
      out.docs += r.docs;
    }
    return out;
  }

  /** On socket 0: each subscribe-to-payload time, one after the other. */
  async time(frames: SubscribeFrame[], unsubscribe: boolean): Promise<number[]> {
    const reply = await this.request(0, { cmd: 'time', subscriptions: frames, unsubscribe });
    if (reply.ev !== 'timed') throw new Error('no timing');
    return reply.samples;
  }

  async close(): Promise<void> {
    await Promise.all(this.procs.map((_, i) => this.request(i, { cmd: 'close' })));
    this.sockets = 0;
  }

  /** Ends every subscriber process (by its own handle) and waits for them to exit. */
  async stop(): Promise<void> {
    await Promise.all(
      this.procs.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          }),
      ),
    );
  }
}

export interface P13ReadyParams {
  system: 'particle' | 'raw';
  docs: number;
  rooms: number;
  limit: number;
  /** Subscribes timed, cold and warm each. */
  samples: number;
  /** Cold subscribes first, untimed (the JIT warms up). */
  warmup: number;
}

export async function p13ready(params: P13ReadyParams): Promise<Figures> {
  const items = makeItems(params.docs, params.rooms);
  const room = (i: number): string => `r${i % params.rooms}`;
  const frames = (prefix: string, count: number, roomOf: (i: number) => string): SubscribeFrame[] =>
    Array.from({ length: count }, (_, i) => windowFrame(`${prefix}${i}`, roomOf(i), params.limit));
  let adapter: MemoryAdapter;
  let url: string;
  let close: () => Promise<void>;
  if (params.system === 'particle') {
    const server = await startParticle({
      collections: { items },
      dataSources: { window: windowSource },
      // One socket subscribes and unsubscribes back to back: lift the per-link frame bound.
      transport: { maxMessagesPerSecond: 1_000_000 },
    });
    adapter = server.adapter;
    url = server.url;
    close = () => server.close();
  } else {
    // A hand-written server: each subscribe is one find (sort, limit), stringified and sent.
    const store = new MemoryAdapter({ collections: { items } });
    adapter = store;
    const server = await startRaw((ws, text) => {
      const message = JSON.parse(text) as {
        type?: string;
        sub?: string;
        params?: { room?: unknown };
        limit?: number;
      };
      if (message.type === 'register') {
        ws.send(JSON.stringify({ type: 'registered', session: 'raw' }));
      } else if (message.type === 'unsubscribe') {
        ws.send(JSON.stringify({ type: 'unsubscribed', sub: message.sub }));
      } else if (message.type === 'subscribe') {
        void store
          .find('items', { room: message.params?.room }, { sort: SORT, limit: message.limit ?? 50 })
          .then((data) =>
            ws.send(
              JSON.stringify({
                type: 'payload',
                root: message.sub,
                epoch: EPOCH,
                version: 0,
                data,
              }),
            ),
          );
      }
    });
    url = server.url;
    close = () => server.close();
  }
  const subscribers = Subscribers.start(1);
  try {
    if ((await subscribers.open(url, [{ userId: 1 }])) !== 1) throw new Error('not registered');
    await subscribers.time(frames('w', params.warmup, room), true);
    // Each one ends before the next: its group goes, so the next subscribe loads one again.
    const cold = await subscribers.time(frames('c', params.samples, room), true);
    // Another subscription holds room 0: the next ones on it join its group.
    await subscribers.subscribe(0, [windowFrame('hold', room(0), params.limit)]);
    const warm = await subscribers.time(
      frames('s', params.samples, () => room(0)),
      true,
    );
    const window = adapter.findNow('items', { room: room(0) }, { sort: SORT, limit: params.limit });
    return {
      coldP50Ms: percentile(cold, 50),
      coldP90Ms: percentile(cold, 90),
      warmP50Ms: percentile(warm, 50),
      warmP90Ms: percentile(warm, 90),
      windowDocs: window.length,
      windowBytes: Buffer.byteLength(JSON.stringify(window)),
      roomDocs: params.docs / params.rooms,
    };
  } finally {
    await subscribers.close();
    await close();
    await subscribers.stop();
  }
}

export interface P13ChurnParams {
  docs: number;
  windows: number;
  perWindow: number;
  procs: number;
  /** Inserts per second offered. */
  rate: number;
  warmupMs: number;
  measureMs: number;
  /** Inserts not yet delivered to every subscriber past which the next one waits. */
  maxPending: number;
}

/**
 * Each insert is the newest item of one room (the rooms in turn): one window gains it at the
 * head and drops its oldest, one delta to each of its `perWindow` subscribers.
 */
export async function p13churn(params: P13ChurnParams): Promise<Figures> {
  const n = params.windows * params.perWindow;
  const server = await startParticle({
    collections: { items: makeItems(params.docs, params.windows) },
    dataSources: { window: windowSource },
    // Each window's first subscribe loads it with a scan of the whole collection that holds the
    // event loop (0.2 s at 1M documents); 100 back to back outlast the 10 s register timeout of
    // the sockets still waiting to be read.
    transport: { registerTimeoutMs: 120_000 },
  });
  const pool = await ClientPool.start(params.procs);
  const identities = Array.from({ length: n }, (_, i) => ({ userId: i }));
  const subscriptions = identities.map((_, i) => windowFrame('w', `r${i % params.windows}`, 50));
  let seq = params.docs;
  let expected = 0;
  /** Inserts at `rate` for `durationMs`; one waits while `maxPending` are undelivered. */
  const insertFor = async (durationMs: number): Promise<number> => {
    const interval = 1000 / params.rate;
    const end = performance.now() + durationMs;
    let next = performance.now();
    let inserts = 0;
    while (performance.now() < end) {
      const wait = next - performance.now();
      // Behind schedule, the next insert goes out at once, but sockets get their turn first.
      await (wait > 0 ? sleep(wait) : tick());
      if (expected - pool.delivered >= params.maxPending * params.perWindow) {
        while (expected - pool.delivered >= params.maxPending * params.perWindow) {
          await Promise.race([pool.nextProgress(), sleep(50)]);
        }
        next = performance.now();
        if (next >= end) break;
      }
      server.adapter.insert('items', makeItem(seq++, params.windows));
      expected += params.perWindow;
      inserts++;
      next += interval;
    }
    return inserts;
  };
  const drain = async (): Promise<void> => {
    const deadline = performance.now() + 120_000;
    while (pool.delivered < expected && performance.now() < deadline) {
      await Promise.race([pool.nextProgress(), sleep(50)]);
    }
  };
  try {
    const ready = await pool.connect(server.url, identities, { readyPayloads: 1, subscriptions });
    if (ready.ready !== n) {
      const { closes } = await pool.report();
      throw new Error(
        `only ${ready.ready} of ${n} subscribers ready (closes ${JSON.stringify(closes)})`,
      );
    }
    const groups = server.stream.stats().groups;
    await pool.reset();
    await pool.progress(20);
    await insertFor(params.warmupMs);
    await drain();
    await settleMemory();
    const from = pool.delivered;
    const docsBefore = seq;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const inserts = await insertFor(params.measureMs);
    const insertMs = performance.now() - t0;
    // What the measured inserts cost until every subscriber has them counts.
    await drain();
    const cpu = process.cpuUsage(cpu0);
    const totalMs = performance.now() - t0;
    const delivered = pool.delivered - from;
    await pool.progress(0);
    return {
      groups,
      inserts,
      cpuUsPerChange: (cpu.user + cpu.system) / inserts,
      insertsPerSec: inserts / (insertMs / 1000),
      // Inserts per second the server finished (delivered to every subscriber).
      sustainedPerSec: inserts / (totalMs / 1000),
      deliveredPerChange: delivered / inserts,
      docsBefore,
      docsAfter: seq,
    };
  } finally {
    await pool.closeAll();
    await server.close();
    await pool.stop();
  }
}

export interface P13MemoryParams {
  /** Items per room (a window needs more than its 50). */
  docsPerRoom: number;
  /** Sockets, each with one window on its own room. */
  subscriptions: number;
  procs: number;
  /** Sockets opened and subscribed first, before anything is measured. */
  warm: number;
}

export async function p13memory(params: P13MemoryParams): Promise<Figures> {
  const n = params.subscriptions;
  const rooms = n + params.warm;
  const server = await startParticle({
    collections: { items: makeItems(rooms * params.docsPerRoom, rooms) },
    dataSources: { window: windowSource },
  });
  const subscribers = Subscribers.start(params.procs);
  const ids = (from: number, count: number): Record<string, unknown>[] =>
    Array.from({ length: count }, (_, i) => ({ userId: from + i }));
  const clients = (): number => server.stream.stats().clients;
  try {
    // Warm up: code paths compiled, buffers pooled (rooms n.. are theirs).
    await subscribers.open(server.url, ids(n, params.warm));
    await subscribers.subscribe(
      0,
      Array.from({ length: params.warm }, (_, i) => windowFrame('w', `r${n + i}`, 50)),
    );
    await sleep(500);
    await settleMemory();
    const before = memory();
    if ((await subscribers.open(server.url, ids(0, n))) !== n) throw new Error('not registered');
    await waitFor(() => clients() === params.warm + n, 'registrations');
    await sleep(500);
    await settleMemory();
    const registered = memory();
    // Every socket opens a window on its own room: a group each.
    const own = await subscribers.subscribe(
      params.warm,
      Array.from({ length: n }, (_, i) => windowFrame('own', `r${i}`, 50)),
    );
    if (own.ready !== n) throw new Error(`only ${own.ready} of ${n} windows opened`);
    await sleep(500);
    await settleMemory();
    const subscribed = memory();
    const groups = server.stream.stats().groups;
    // And a second one on a room another socket holds: it joins that group.
    const shared = await subscribers.subscribe(
      params.warm,
      Array.from({ length: n }, (_, i) => windowFrame('shared', `r${(i + 1) % n}`, 50)),
    );
    if (shared.ready !== n) throw new Error(`only ${shared.ready} of ${n} shared windows opened`);
    await sleep(500);
    await settleMemory();
    const joined = memory();
    const window = server.adapter.findNow('items', { room: 'r0' }, { sort: SORT, limit: 50 });
    return {
      heapPerSocket: (registered.heapUsed - before.heapUsed) / n,
      rssPerSocket: (registered.rss - before.rss) / n,
      heapPerWindow: (subscribed.heapUsed - registered.heapUsed) / n,
      rssPerWindow: (subscribed.rss - registered.rss) / n,
      heapPerJoin: (joined.heapUsed - subscribed.heapUsed) / n,
      rssPerJoin: (joined.rss - subscribed.rss) / n,
      windowBytes: Buffer.byteLength(JSON.stringify(window)),
      windowDocs: own.docs / n,
      docs: rooms * params.docsPerRoom,
      groups,
    };
  } finally {
    await subscribers.close();
    await server.close();
    await subscribers.stop();
  }
}
